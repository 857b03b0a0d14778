"""PostgreSQL access: async engines and sessions, and Alembic migrations with one schema per service."""

from svd.db.engine import create_engine, session_factory, transaction
from svd.db.migrate import migrate

__all__ = ["create_engine", "migrate", "session_factory", "transaction"]
