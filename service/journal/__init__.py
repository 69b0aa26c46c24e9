"""The durable journal of signed actions, the relayer that writes it, and its recovery after a
crash or a chain rollback (the one place that knows about either)."""
