"""Fair admission: jobs wait `queued` until a slot in the paid pipeline is free, and slots go round-robin across
tenants (`JOBS_MAX_IN_FLIGHT` in all, `TENANT_MAX_IN_FLIGHT` per tenant).

`domain` holds the pure rules (plan, position, label, credit check), `repository` the SQL (the decision lock, the
trigger-kept counters, taking jobs off the queue), `usecases` the passes, `runner` the loop each replica runs (woken
by `NOTIFY svd_admission` when a job arrives or ends, plus a tick), `settings` the caps and timings.
"""

from dispatcher.admission.runner import ADMISSION_CHANNEL, QUEUE_TOPIC, run_admission
from dispatcher.admission.settings import AdmissionSettings
from dispatcher.admission.usecases import Admission, positions

__all__ = ["ADMISSION_CHANNEL", "QUEUE_TOPIC", "Admission", "AdmissionSettings", "positions", "run_admission"]
