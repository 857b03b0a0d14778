"""`RetryJob`: a failed job runs again as a new attempt. `domain` decides where it may start (pure), `usecase` starts
it and records who asked."""

from dispatcher.retry.usecase import JobRetries

__all__ = ["JobRetries"]
