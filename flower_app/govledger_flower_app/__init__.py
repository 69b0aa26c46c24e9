"""The govledger Flower app: service.flower's governed strategy and participant as components."""
