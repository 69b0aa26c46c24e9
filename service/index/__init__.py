"""The event index: the contracts' events in SQLite, followed from the chain, rebuildable."""
