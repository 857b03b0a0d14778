"""Operator tools: dead letters listed, shown, replayed and purged over the admin-only `Operations` gRPC service,
every action recorded with the API key that did it.

`letters` is the pure part (what a letter says, filters, replay ids), `store` the DEAD_LETTER stream adapter,
`records` the record of operator actions, `dead_letters` the use cases, `servicer` the gRPC service.
"""

from dispatcher.operations.dead_letters import DeadLetters
from dispatcher.operations.servicer import OperationsServicer
from dispatcher.operations.store import DeadLetterStore

__all__ = ["DeadLetterStore", "DeadLetters", "OperationsServicer"]
