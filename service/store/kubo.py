"""The content store over a kubo (go-ipfs) node's RPC API, spoken with httpx.

Why httpx and not ``ipfshttpclient``: its last release (0.7.0, 2021) refuses any daemon outside
go-ipfs 0.5-0.8 unless its version check is bypassed, and it predates the current RPC
(POST-only, CIDv1 defaults). The RPC is plain HTTP (POST ``/api/v0/<command>?arg=…``, JSON or
NDJSON answers, ``multipart/form-data`` uploads), so a thin adapter over httpx, already a
dependency, is smaller and under our control.

Trust: the node is not trusted to return the right bytes. ``put`` computes the CID locally
while uploading and checks the node's answer; ``get`` fetches the DAG's internal nodes with
``block/get``, verifies them, then reads the file with ``cat`` and checks every leaf against its
CID before yielding it; ``export_car`` and ``import_car`` pass every block through the verifying
CAR reader.

Connection failures are retried (a few times, with backoff); anything else fails at once with
:class:`StoreUnavailable`, or with the store error that matches kubo's message.
"""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any

import httpx

from service.errors import (
    CarError,
    ContentNotFound,
    IntegrityError,
    StoreError,
    StoreUnavailable,
)
from service.store.base import CarSource, CidLike, ContentStore, PutResult
from service.store.car import CarReader, car_header, section_prefix
from service.store.chunker import ByteSource, IterReader, as_readable, iter_chunks
from service.store.cid import CHUNK_SIZE, CID, MAX_BLOCK_SIZE, RAW, parse_cid
from service.store.unixfs import FileDagBuilder, LeafRef, file_size, iter_file_plan

log = logging.getLogger("govledger.store")

ADD_PARAMS = {
    "cid-version": "1",
    "raw-leaves": "true",
    "chunker": f"size-{CHUNK_SIZE}",
    "hash": "sha2-256",
    "trickle": "false",
    "inline": "false",
    "progress": "false",
}
"""``ipfs add --cid-version=1`` spelled out, so a node's Import.* config cannot change it."""

_NOT_FOUND_HINTS = ("not found", "could not find", "no link named", "failed to find")
_NOT_PINNED_HINTS = ("not pinned",)


class KuboStore(ContentStore):
    """Content store backed by a kubo node (``base_url`` like ``http://127.0.0.1:5001``)."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout_s: float = 60.0,
        connect_retries: int = 3,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._retries = connect_retries
        self._client = httpx.Client(
            base_url=f"{self.base_url}/api/v0/",
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 10.0)),
            transport=transport,
        )

    def close(self) -> None:
        self._client.close()

    # ------------------------------------------------------------------ HTTP plumbing

    @contextlib.contextmanager
    def _call(
        self,
        command: str,
        params: dict[str, str] | None = None,
        *,
        body: Callable[[], Iterable[bytes]] | None = None,
        boundary: str | None = None,
    ) -> Iterator[httpx.Response]:
        """POST one RPC command and yield the streaming response, checked for errors."""
        headers = {}
        if boundary is not None:
            headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
        for attempt in range(self._retries + 1):
            started = [False]
            content = _tracking(body(), started) if body is not None else None
            request = self._client.build_request(
                "POST", command, params=params, content=content, headers=headers
            )
            try:
                response = self._client.send(request, stream=True)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                if attempt < self._retries and not started[0]:
                    time.sleep(0.2 * 2**attempt)
                    continue
                raise StoreUnavailable(
                    f"kubo RPC at {self.base_url} is unreachable ({exc}) after "
                    f"{attempt + 1} attempts; check that the daemon runs and that "
                    "GOVLEDGER_IPFS_API_URL points at its API address"
                ) from exc
            except httpx.TransportError as exc:
                raise StoreUnavailable(
                    f"kubo RPC {command} at {self.base_url} failed: {exc!r}; check the node "
                    "and raise GOVLEDGER_IPFS_TIMEOUT_S for large content"
                ) from exc
            try:
                if response.status_code != 200:
                    response.read()
                    raise self._error(command, params, response)
                yield response
            except httpx.TransportError as exc:
                raise StoreUnavailable(
                    f"kubo RPC {command} at {self.base_url} broke off: {exc!r}"
                ) from exc
            finally:
                response.close()
            return

    def _error(self, command: str, params: object, response: httpx.Response) -> StoreError:
        message = _kubo_message(response)
        cid = _arg_of(params)
        where = f"kubo {command}" + (f" {cid}" if cid else "")
        if response.status_code in (403, 404, 405):
            return StoreUnavailable(
                f"{where}: HTTP {response.status_code} ({message}); {self.base_url} does not "
                "look like a kubo RPC API that allows this call"
            )
        lowered = message.lower()
        if any(hint in lowered for hint in _NOT_FOUND_HINTS):
            return ContentNotFound(
                f"{where}: the node does not have it ({message}); put or import it first",
                cid=cid,
            )
        return StoreError(f"{where} failed: HTTP {response.status_code}: {message}", cid=cid)

    def _json(self, command: str, params: dict[str, str] | None = None) -> Any:
        with self._call(command, params) as response:
            return json.loads(response.read())

    def _ndjson(
        self, command: str, params: dict[str, str] | None = None, **kwargs: Any
    ) -> Iterator[dict[str, Any]]:
        with self._call(command, params, **kwargs) as response:
            for line in response.iter_lines():
                if not line.strip():
                    continue
                item = json.loads(line)
                if isinstance(item, dict) and item.get("Type") == "error":
                    raise StoreError(f"kubo {command} failed: {item.get('Message')}")
                if isinstance(item, dict) and item.get("Error"):
                    raise StoreError(f"kubo {command} failed: {item['Error']}")
                yield item

    # ------------------------------------------------------------------ interface

    def version(self) -> str:
        """The node's kubo version (also a cheap reachability check)."""
        return str(self._json("version")["Version"])

    def put(self, data: ByteSource, *, pin: bool = True) -> PutResult:
        builder = FileDagBuilder()
        boundary = secrets.token_hex(16)

        def body() -> Iterator[bytes]:
            yield (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
                f'filename="blob"\r\nContent-Type: application/octet-stream\r\n\r\n'
            ).encode()
            for chunk in iter_chunks(data):
                builder.add_chunk(chunk)
                yield bytes(chunk)
            yield f"\r\n--{boundary}--\r\n".encode()

        params = {**ADD_PARAMS, "pin": "true" if pin else "false"}
        answers = list(self._ndjson("add", params, body=body, boundary=boundary))
        expected, _ = builder.finish()
        hashes = [item["Hash"] for item in answers if "Hash" in item]
        if not hashes:
            raise StoreError(f"kubo add answered without a Hash: {answers!r}")
        got = parse_cid(hashes[-1])
        if got != expected:
            if pin:
                with contextlib.suppress(StoreError):
                    self.unpin(got)
            raise StoreError(
                f"kubo at {self.base_url} stored the content as {got} but kubo's "
                f"--cid-version=1 layout gives {expected}; its Import settings (chunker, "
                "raw leaves, UnixFSFileMaxLinks) differ from the defaults. Reset them, then "
                "put again.",
                cid=str(expected),
            )
        return PutResult(expected, builder.size)

    def get(self, cid: CidLike) -> Iterator[bytes]:
        root = parse_cid(cid)
        root_block = self._block_get(root)
        if root.codec == RAW:
            return iter([root_block] if root_block else [])
        return self._stream(root, root_block)

    def file_size(self, cid: CidLike) -> int:
        root = parse_cid(cid)
        return file_size(root, self._block_get(root))

    def _stream(self, root: CID, root_block: bytes) -> Iterator[bytes]:
        def load(cid: CID) -> bytes:
            return root_block if cid == root else self._block_get(cid)

        with self._call("cat", {"arg": str(root), "progress": "false"}) as response:
            content = IterReader(response.iter_bytes(CHUNK_SIZE))
            for piece in iter_file_plan(root, load):
                expected = piece.size if isinstance(piece, LeafRef) else len(piece)
                got = _read_exact(content, expected or 0)
                if isinstance(piece, LeafRef):
                    if len(got) != piece.size or not piece.cid.matches(got):
                        raise self._mismatch(piece.cid, "leaf")
                elif got != piece:
                    raise self._mismatch(root, "inline data of a node under")
                if got:
                    yield got
            if content.read(1):
                raise self._mismatch(root, "file (more bytes than the DAG holds)")

    def _mismatch(self, cid: CID, what: str) -> IntegrityError:
        return IntegrityError(
            f"kubo at {self.base_url} returned bytes for {what} {cid} that do not match its "
            "CID; the node's copy is corrupted (run `ipfs repo verify` there) or the node "
            "is not trustworthy",
            cid=str(cid),
        )

    def _block_get(self, cid: CID) -> bytes:
        with self._call("block/get", {"arg": str(cid)}) as response:
            data = _read_bounded(response, MAX_BLOCK_SIZE + 1)
        if len(data) > MAX_BLOCK_SIZE or not cid.matches(data):
            raise self._mismatch(cid, "block")
        return data

    def has(self, cid: CidLike) -> bool:
        target = parse_cid(cid)
        try:
            self._json("block/stat", {"arg": str(target), "offline": "true"})
        except ContentNotFound:
            return False
        return True

    def pin(self, cid: CidLike) -> None:
        target = parse_cid(cid)
        self._json("pin/add", {"arg": str(target), "recursive": "true"})

    def unpin(self, cid: CidLike) -> None:
        target = parse_cid(cid)
        try:
            self._json("pin/rm", {"arg": str(target), "recursive": "true"})
        except StoreError as exc:
            if not any(hint in str(exc).lower() for hint in _NOT_PINNED_HINTS):
                raise

    def pins(self) -> list[CID]:
        found: set[str] = set()
        for item in self._ndjson("pin/ls", {"type": "recursive", "stream": "true"}):
            if "Cid" in item:
                found.add(item["Cid"])
            found.update(item.get("Keys", {}))
        return sorted((parse_cid(text) for text in found), key=str)

    def gc(self, *, keep: Callable[[], Iterable[CidLike]] | None = None) -> int:
        if keep is not None:
            pinned = {c.digest for c in self.pins()}
            held = [c for c in map(parse_cid, keep()) if c.digest not in pinned and self.has(c)]
            if held:  # repo/gc spares pinned blocks only: sweep another time
                log.warning("gc skipped: %s is held unpinned and must be kept", held[0])
                return 0
        return sum(1 for item in self._ndjson("repo/gc") if item.get("Key"))

    def export_car(self, cid: CidLike) -> Iterator[bytes]:
        root = parse_cid(cid)
        self._block_get(root)  # fail now, not mid-stream, if the node lacks the root
        return self._export(root)

    def _export(self, root: CID) -> Iterator[bytes]:
        with self._call("dag/export", {"arg": str(root), "progress": "false"}) as response:
            reader = CarReader(IterReader(response.iter_bytes()))
            if reader.roots != (root,):
                raise self._mismatch(root, "CAR export of")
            yield car_header(reader.roots)
            for block_cid, block in reader.blocks():
                yield section_prefix(block_cid, len(block))
                yield block

    def import_car(self, car: CarSource, *, pin_roots: bool = True) -> list[CID]:
        reader = CarReader(as_readable(car))
        with tempfile.TemporaryFile() as spool:
            spool.write(car_header(reader.roots))
            for block_cid, block in reader.blocks():  # every block verified before upload
                spool.write(section_prefix(block_cid, len(block)))
                spool.write(block)
            spool.seek(0)
            boundary = secrets.token_hex(16)
            params = {"pin-roots": "true" if pin_roots else "false", "stats": "false"}
            answers = list(
                self._ndjson(
                    "dag/import",
                    params,
                    body=lambda: _multipart(spool, boundary),
                    boundary=boundary,
                )
            )
        for item in answers:
            pin_error = (item.get("Root") or {}).get("PinErrorMsg")
            if pin_error:
                raise CarError(
                    f"kubo imported the CAR but could not pin its root: {pin_error}; the CAR "
                    "does not hold the whole DAG (export it with ipfs dag export)"
                )
        return list(reader.roots)


def _tracking(pieces: Iterable[bytes], started: list[bool]) -> Iterator[bytes]:
    for piece in pieces:
        started[0] = True
        yield piece


def _multipart(spool: IO[bytes], boundary: str) -> Iterator[bytes]:
    yield (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="import.car"\r\nContent-Type: application/vnd.ipld.car\r\n\r\n'
    ).encode()
    while piece := spool.read(1 << 20):
        yield piece
    yield f"\r\n--{boundary}--\r\n".encode()


def _read_exact(reader: IterReader, size: int) -> bytes:
    out = bytearray()
    while len(out) < size:
        more = reader.read(size - len(out))
        if not more:
            break
        out += more
    return bytes(out)


def _read_bounded(response: httpx.Response, limit: int) -> bytes:
    out = bytearray()
    for piece in response.iter_bytes():
        out += piece
        if len(out) >= limit:
            break
    return bytes(out)


def _kubo_message(response: httpx.Response) -> str:
    """kubo's error body is JSON ``{"Message": ..., "Code": ..., "Type": "error"}``."""
    text = response.text.strip()
    try:
        body = json.loads(text)
    except ValueError:
        return text[:500] or response.reason_phrase
    if isinstance(body, dict) and "Message" in body:
        return str(body["Message"])
    return text[:500]


def _arg_of(params: object) -> str | None:
    if isinstance(params, dict):
        value = params.get("arg")
        return str(value) if value is not None else None
    return None
