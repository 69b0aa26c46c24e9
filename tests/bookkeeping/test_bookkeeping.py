"""The bookkeeping database on a real SQLite file: charges are atomic across threads and
processes, repeats are free, refunds undo, pin times survive reopening."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from service.bookkeeping import Bookkeeping
from service.errors import ServiceUnavailable

REPO = Path(__file__).resolve().parents[2]
T0 = 1_800_000_000.0


def charge(book: Bookkeeping, digest: bytes, size: int = 10, now: float = T0) -> str:
    return book.charge(
        account="0xA", digest=digest, size=size, now=now, since=now - 86_400,
        max_documents=5, max_bytes=1_000,
    ).status  # fmt: skip


def test_concurrent_charges_never_exceed_the_quota(tmp_path: Path) -> None:
    book = Bookkeeping(tmp_path / "b.sqlite")
    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(lambda i: charge(book, bytes([i]) * 32), range(40)))
    assert sorted(outcomes) == ["charged"] * 5 + ["over"] * 35
    usage = book.usage("0xA", since=T0 - 86_400)
    assert (usage.documents, usage.bytes, usage.oldest_at) == (5, 50, T0)


def test_charges_from_two_processes_share_one_quota(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import sys
        from pathlib import Path
        from service.bookkeeping import Bookkeeping
        book = Bookkeeping(Path(sys.argv[1]))
        for i in range(20):
            outcome = book.charge(account="0xA", digest=bytes([int(sys.argv[2]), i]) * 16,
                                  size=1, now=1.8e9, since=1.8e9 - 86400, max_documents=25,
                                  max_bytes=10**6)
            print(outcome.status)
        """
    )
    path = tmp_path / "b.sqlite"
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(path), str(n)], cwd=REPO,
                         stdout=subprocess.PIPE, text=True)
        for n in (1, 2)
    ]  # fmt: skip
    statuses = [line for p in procs for line in p.communicate(timeout=60)[0].split()]
    assert all(p.returncode == 0 for p in procs)
    assert sorted(statuses) == ["charged"] * 25 + ["over"] * 15


def test_repeats_are_free_refunds_undo_and_old_charges_expire(tmp_path: Path) -> None:
    book = Bookkeeping(tmp_path / "b.sqlite")
    assert charge(book, b"a" * 32, size=600) == "charged"
    assert charge(book, b"a" * 32, size=600) == "repeat"
    assert charge(book, b"b" * 32, size=600) == "over"  # 1,200 bytes > 1,000
    outcome = book.charge(
        account="0xA", digest=b"c" * 32, size=100, now=T0 + 1, since=T0 + 1 - 86_400,
        max_documents=5, max_bytes=1_000,
    )  # fmt: skip
    assert outcome.status == "charged"
    book.refund(account="0xA", digest=b"c" * 32, at=outcome.at)
    assert book.usage("0xA", since=T0 - 86_400).bytes == 600
    assert charge(book, b"b" * 32, size=600, now=T0 + 86_401) == "charged"  # a day later


def test_pin_times_survive_reopening_and_unpinning_is_conditional(tmp_path: Path) -> None:
    book = Bookkeeping(tmp_path / "b.sqlite")
    assert book.pinned_since(["x", "y"], T0) == {"x": T0, "y": T0}
    book.note_pinned("y", T0 + 100)
    again = Bookkeeping(tmp_path / "b.sqlite")
    assert again.pinned_since(["x", "y", "z"], T0 + 200) == {"x": T0, "y": T0 + 100, "z": T0 + 200}
    unpinned: list[str] = []
    assert again.unpin_if_pinned_before("x", T0 + 50, lambda: unpinned.append("x"))
    assert not again.unpin_if_pinned_before("y", T0 + 50, lambda: unpinned.append("y"))
    assert unpinned == ["x"]
    assert again.pinned_since(["y"], T0 + 300) == {"y": T0 + 100}  # x and z forgotten


def test_a_failing_unpin_forgets_nothing(tmp_path: Path) -> None:
    book = Bookkeeping(tmp_path / "b.sqlite")
    book.note_pinned("x", T0)

    def fail() -> None:
        raise OSError("disk")

    with pytest.raises(OSError):
        book.unpin_if_pinned_before("x", T0 + 1, fail)
    assert book.pinned_since(["x"], T0 + 2) == {"x": T0}


def test_an_unusable_file_is_service_unavailable_naming_it(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    book = Bookkeeping(tmp_path / "dir")  # a directory where the file should be
    with pytest.raises(ServiceUnavailable, match=str(tmp_path / "dir")):
        book.usage("0xA", since=0)
