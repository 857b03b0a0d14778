"""NATS JetStream bus: the topology (streams and consumers), codecs, publishing and consuming."""
