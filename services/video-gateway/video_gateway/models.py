"""Video-gateway's tables (schema `video_gateway`).

`submissions`: one row per job run, claimed before the provider is called, so a redelivery never submits twice; it
records the provider actually used, the key that submitted the task (status and cancel calls use it), the motion
prompt, the poll state and how many status checks were made. `claim_token` names the worker holding the claim (every
later step of that worker is conditional on it); `attempt_id` is set, with the provider and key, before each submit
request goes out and cleared only when the provider provably created nothing: a claim taken over with an attempt
still set was interrupted mid-call, and its task may exist and cost.
`provider_keys`: the key pool, each key encrypted at rest (Fernet), with its LRU stamp, cooldown and validity.
`key_usage`: one row per outbound call made with a key (written in batches).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
)

SCHEMA = "video_gateway"
metadata = MetaData(schema=SCHEMA)

# Submission states.
SUBMITTING = "submitting"
POLLING = "polling"
SUCCEEDED = "succeeded"
FAILED = "failed"
CANCELLED = "cancelled"
TIMED_OUT = "timed_out"
ACTIVE = (SUBMITTING, POLLING)

submissions = Table(
    "submissions",
    metadata,
    Column("job_id", String(64), primary_key=True),
    Column("run", Integer, primary_key=True),
    Column("state", String(16), nullable=False, server_default=POLLING),
    Column("provider", String(16)),
    Column("provider_job_id", String(128)),
    Column("motion_prompt", Text, nullable=False, server_default=""),
    Column("claimed_at", DateTime(timezone=True)),
    Column("submitted_at", DateTime(timezone=True)),
    Column("checks", Integer, nullable=False, server_default="0"),
    Column("last_check_at", DateTime(timezone=True)),
    Column("finished_at", DateTime(timezone=True)),
    Column("reason", Text, nullable=False, server_default=""),
    Column("key_id", Integer),
    Column("claim_token", String(36)),
    Column("attempt_id", String(36)),
    Column("attempt_at", DateTime(timezone=True)),
    # What the task animates and media-store blends: carried over when a retried job resumes the task.
    Column("still_key", Text, nullable=False, server_default=""),
    Column("overlay_key", Text, nullable=False, server_default=""),
    # The run whose submission made the task, when this run resumed it (0: submitted by this run).
    Column("resumed_from_run", Integer, nullable=False, server_default="0"),
    # When the provider started the task (first check that found it out of the provider's queue).
    Column("started_at", DateTime(timezone=True)),
)

# Key states.
KEY_VALID = "valid"
KEY_INVALID = "invalid"
KEY_RETIRED = "retired"  # no longer configured

provider_keys = Table(
    "provider_keys",
    metadata,
    Column("id", Integer, Identity(), primary_key=True),
    Column("provider", String(16), nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("label", String(32), nullable=False),
    Column("ciphertext", LargeBinary, nullable=False),
    Column("status", String(16), nullable=False, server_default=KEY_VALID),
    Column("last_used_at", DateTime(timezone=True)),
    Column("cooldown_until", DateTime(timezone=True)),
    Column("lease_count", BigInteger, nullable=False, server_default="0"),
    Column("invalid_reason", Text, nullable=False, server_default=""),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint("provider", "fingerprint"),
)

key_usage = Table(
    "key_usage",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("key_id", Integer, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("action", String(16), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("http_status", SmallInteger, nullable=False, server_default="0"),
    Column("job_id", String(64), nullable=False, server_default=""),
)
