"""The test stack lives in the package (benchmarks use it too); tests import it from here."""

from service.devstack import Stack, free_port

__all__ = ["Stack", "free_port"]
