"""A loopback HTTP server that answers the kubo RPC commands the adapter uses.

Why not a real kubo node: no kubo binary can be installed on these machines (the npm ``kubo``
and ``go-ipfs`` packages download the binary at install time, which the network forbids; there
is no Debian or PyPI package of the daemon). So the adapter is tested against this real HTTP
server, which follows the request and response formats of kubo's RPC reference
(docs.ipfs.tech/reference/kubo/rpc): POST only, arguments in ``arg``, ``multipart/form-data``
uploads (sent chunked), NDJSON answers for ``add``/``pin/ls``/``dag/import``/``repo/gc``, raw
bytes for ``cat``/``block/get``/``dag/export``, and errors as HTTP 500 with
``{"Message": ..., "Code": 0, "Type": "error"}``. When ``IPFS_API_URL`` is set, the same suite
also runs against that real node.

Blocks live in an :class:`EmbeddedStore`, but the server reads block files *without* verifying
them, as a corrupted or lying node would serve them, so the adapter's own checks are what the
tests exercise. ``add`` refuses parameters other than kubo's ``--cid-version=1`` settings, so a
test fails if the adapter stops sending them.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from service.errors import CarError, ContentNotFound, StoreError
from service.store.car import car_header, section_prefix
from service.store.cid import CID, RAW, parse_cid
from service.store.embedded import EmbeddedStore
from service.store.unixfs import LeafRef, iter_file_plan, walk_dag

EXPECTED_ADD = {
    "cid-version": "1",
    "raw-leaves": "true",
    "chunker": "size-262144",
    "hash": "sha2-256",
}


class _QuietServer(ThreadingHTTPServer):
    """A client that hangs up mid-answer (tests that stop reading on purpose) is not an error
    worth a traceback in the test output; anything else still is."""

    def handle_error(self, request: object, client_address: object) -> None:
        import sys

        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]


class FakeKubo:
    """Serve the kubo RPC subset on 127.0.0.1 (random port) until :meth:`stop`."""

    def __init__(self, root: Path) -> None:
        self.store = EmbeddedStore(root)
        self.lie_on_add = False
        self.disabled: set[str] = set()
        self.requests: list[tuple[str, dict[str, str]]] = []
        handler = type("Handler", (_Handler,), {"kubo": self})
        self._server = _QuietServer(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def block_path(self, cid: CID) -> Path:
        return self.store._fs.path(cid.digest)

    def raw_block(self, cid: CID) -> bytes:
        """The block file's bytes as they are on disk, unverified (what a bad node serves)."""
        try:
            return self.block_path(cid).read_bytes()
        except FileNotFoundError:
            raise ContentNotFound(
                f"block was not found locally (offline): ipld: could not find {cid}"
            ) from None


class _Handler(BaseHTTPRequestHandler):
    kubo: FakeKubo
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:
        self._send(405, b"405 - Method Not Allowed", "text/plain")

    def do_POST(self) -> None:
        url = urlparse(self.path)
        query = {key: values[0] for key, values in parse_qs(url.query).items()}
        command = url.path.removeprefix("/api/v0/")
        self.kubo.requests.append((command, query))
        body = self._read_body()
        action = None if command in self.kubo.disabled else _COMMANDS.get(command)
        if action is None:
            self._send(404, b"404 page not found", "text/plain")
            return
        try:
            status, payload, kind = action(self.kubo, query, body, self.headers)
        except StoreError as exc:
            error = {"Message": str(exc), "Code": 0, "Type": "error"}
            self._send(500, json.dumps(error).encode(), "application/json")
            return
        self._send(status, payload, kind)

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    return bytes(out)
                out += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, payload: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


Answer = tuple[int, bytes, str]


def _json(value: Any) -> Answer:
    return 200, json.dumps(value).encode(), "application/json"


def _ndjson(values: list[Any]) -> Answer:
    text = "".join(json.dumps(value) + "\n" for value in values)
    return 200, text.encode(), "application/json"


def _bad_request(message: str) -> Answer:
    body = {"Message": message, "Code": 1, "Type": "error"}
    return 400, json.dumps(body).encode(), "application/json"


def _first_file(body: bytes, headers: Any) -> bytes:
    """The payload of the first part of a multipart/form-data body."""
    content_type = headers.get("Content-Type", "")
    boundary = content_type.split("boundary=")[1].strip().encode()
    part = body.split(b"--" + boundary)[1]
    payload = part.split(b"\r\n\r\n", 1)[1]
    return payload.removesuffix(b"\r\n")


def _version(kubo: FakeKubo, query: dict[str, str], body: bytes, headers: Any) -> Answer:
    return _json({"Version": "0.39.0", "Commit": "", "Repo": "18", "System": "amd64/linux"})


def _add(kubo: FakeKubo, query: dict[str, str], body: bytes, headers: Any) -> Answer:
    for key, value in EXPECTED_ADD.items():
        if query.get(key) != value:
            return _bad_request(f"fake kubo: add expects {key}={value}, got {query.get(key)}")
    data = _first_file(body, headers)
    result = kubo.store.put(data, pin=query.get("pin", "true") == "true")
    cid = result.cid
    if kubo.lie_on_add:
        cid = CID(RAW, bytes(32))
    return _ndjson([{"Name": "blob", "Hash": str(cid), "Size": str(result.size)}])


def _cat(kubo: FakeKubo, query: dict[str, str], body: bytes, headers: Any) -> Answer:
    root = parse_cid(query["arg"])
    out = bytearray()
    for piece in iter_file_plan(root, kubo.raw_block):
        out += kubo.raw_block(piece.cid) if isinstance(piece, LeafRef) else piece
    return 200, bytes(out), "text/plain"


def _block_get(kubo: FakeKubo, query: dict[str, str], body: bytes, headers: Any) -> Answer:
    return 200, kubo.raw_block(parse_cid(query["arg"])), "text/plain"


def _block_stat(kubo: FakeKubo, query: dict[str, str], body: bytes, headers: Any) -> Answer:
    cid = parse_cid(query["arg"])
    return _json({"Key": str(cid), "Size": len(kubo.raw_block(cid))})


def _pin_add(kubo: FakeKubo, query: dict[str, str], body: bytes, headers: Any) -> Answer:
    cid = parse_cid(query["arg"])
    try:
        kubo.store.pin(cid)
    except ContentNotFound as exc:
        raise StoreError(
            f"pin: block was not found locally (offline): ipld: could not find {exc.cid}"
        ) from exc
    return _json({"Pins": [str(cid)]})


def _pin_rm(kubo: FakeKubo, query: dict[str, str], body: bytes, headers: Any) -> Answer:
    cid = parse_cid(query["arg"])
    if cid not in kubo.store.pins():
        raise StoreError("not pinned or pinned indirectly")
    kubo.store.unpin(cid)
    return _json({"Pins": [str(cid)]})


def _pin_ls(kubo: FakeKubo, query: dict[str, str], body: bytes, headers: Any) -> Answer:
    pins = [str(cid) for cid in kubo.store.pins()]
    if query.get("stream") == "true":
        return _ndjson([{"Cid": cid, "Name": "", "Type": "recursive"} for cid in pins])
    return _json({"Keys": {cid: {"Type": "recursive", "Name": ""} for cid in pins}})


def _dag_export(kubo: FakeKubo, query: dict[str, str], body: bytes, headers: Any) -> Answer:
    root = parse_cid(query["arg"])

    def sections() -> Iterator[bytes]:
        yield car_header([root])
        for cid, block in walk_dag(root, kubo.raw_block):
            data = block if block is not None else kubo.raw_block(cid)
            yield section_prefix(cid, len(data)) + data

    return 200, b"".join(sections()), "application/vnd.ipld.car"


def _dag_import(kubo: FakeKubo, query: dict[str, str], body: bytes, headers: Any) -> Answer:
    car = _first_file(body, headers)
    try:
        roots = kubo.store.import_car(car, pin_roots=query.get("pin-roots", "true") == "true")
    except CarError as exc:
        raise StoreError(str(exc)) from exc
    return _ndjson([{"Root": {"Cid": {"/": str(root)}, "PinErrorMsg": ""}} for root in roots])


def _repo_gc(kubo: FakeKubo, query: dict[str, str], body: bytes, headers: Any) -> Answer:
    before = set(kubo.store._fs.digests())
    kubo.store.gc()
    removed = before - set(kubo.store._fs.digests())
    return _ndjson([{"Key": {"/": str(CID(RAW, digest))}} for digest in sorted(removed)])


_COMMANDS = {
    "version": _version,
    "add": _add,
    "cat": _cat,
    "block/get": _block_get,
    "block/stat": _block_stat,
    "pin/add": _pin_add,
    "pin/rm": _pin_rm,
    "pin/ls": _pin_ls,
    "dag/export": _dag_export,
    "dag/import": _dag_import,
    "repo/gc": _repo_gc,
}
