"""Signed webhooks: every tenant's own systems hear about their jobs and posts, reliably, from a durable outbox.

`domain` (pure rules: URLs, event types, signatures, retry decisions) and `events` (payloads) are the core;
`repository` and `models` persist endpoints, the outbox, deliveries and attempts (migration 0005's triggers write
the outbox in the transaction of each job or post change); `fanout` turns events into deliveries, `delivery` and
`sender` make the signed attempts, `worker` runs them on every replica, `wakeup` listens for new events;
`servicer` is the `Webhooks` gRPC API; `settings` holds the budgets.
"""

from dispatcher.webhooks.delivery import Deliverer
from dispatcher.webhooks.fanout import Fanout, media_lookup
from dispatcher.webhooks.sender import Sender
from dispatcher.webhooks.servicer import WebhooksServicer
from dispatcher.webhooks.settings import WebhookSettings
from dispatcher.webhooks.wakeup import listen
from dispatcher.webhooks.worker import WebhookWorker

__all__ = [
    "Deliverer",
    "Fanout",
    "Sender",
    "WebhookSettings",
    "WebhookWorker",
    "WebhooksServicer",
    "listen",
    "media_lookup",
]
