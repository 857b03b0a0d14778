"""Shared runtime of the Social Video Designer services: settings, bus, database, gRPC, storage, telemetry."""
