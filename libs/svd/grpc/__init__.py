"""gRPC plumbing shared by the services: server bootstrap, API-key auth, error mapping and clients."""
