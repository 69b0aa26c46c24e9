"""CAR files as the audit's content source: their blocks imported into a throwaway embedded
store (every block verified against its CID as it is imported; a CAR with a block that does not
match, or a root whose DAG it does not hold, is refused whole, naming the file)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from service.errors import CarError
from service.store.embedded import EmbeddedStore


@contextmanager
def store_of_cars(paths: Sequence[Path]) -> Iterator[EmbeddedStore]:
    """An embedded store holding the blocks of ``paths``, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="govledger-audit-cars-") as tmp:
        store = EmbeddedStore(Path(tmp) / "store")
        try:
            for path in paths:
                with open(path, "rb") as car:
                    try:
                        store.import_car(car, pin_roots=False)
                    except CarError as exc:
                        raise CarError(f"the CAR file {path} is refused: {exc}") from exc
            yield store
        finally:
            store.close()
