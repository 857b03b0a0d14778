"""The conform step: every provider output becomes the platform deliverable before it is recorded as Media.

`deliverable` decides (pure), `inspect` probes, `transcode` does the PyAV work on a thread, `step` runs it against
the object store with its own temporary files, a timeout and the storing step's failure rules.
"""
