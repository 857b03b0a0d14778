"""svd_stack: the embedded development stack (NATS, PostgreSQL, S3, provider simulator, services).

Public API: `up`, `down`, `status` (see `svd_stack.stack`) and the `svd` CLI in `svd_stack.cli`.
"""

from svd_stack.stack import ComponentStatus, StackError, down, status, up

__all__ = ["ComponentStatus", "StackError", "down", "status", "up"]
