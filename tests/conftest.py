"""Shared fixtures: a real local stack (anvil + contracts + store + uvicorn) per test session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.stack import Stack


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One running stack for the session. Tests that stop or restart parts of it build their own."""
    s = Stack(data_dir=tmp_path_factory.mktemp("stack")).start()
    yield s
    s.stop()
