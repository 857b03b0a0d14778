"""Dispatcher use cases: the state machine of a video job, driven by upstream events, pipeline events and the API.

`lifecycle` holds what every flow shares (start, fail, cancel); `upstream` and `pipeline` hold one use case per
event; `recovery` ends jobs the pipeline cannot finish (dead letters, deadlines). Every use case is idempotent: a
redelivered event finds its own earlier effects and only completes what is
missing, so a crash between any two steps is repaired by the redelivery.
"""

from dispatcher.usecases.lifecycle import JobLifecycle
from dispatcher.usecases.pipeline import PipelineEvents
from dispatcher.usecases.recovery import Recovery
from dispatcher.usecases.upstream import UpstreamEvents

__all__ = ["JobLifecycle", "PipelineEvents", "Recovery", "UpstreamEvents"]
