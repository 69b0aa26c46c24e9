"""The client verifies what the service sends: artifact bytes against CIDs and the chain's
digest, and typed data against the action asked for.

The real service cannot be made to lie (it verifies every block it serves), so these tests put
a small real HTTP server (``http.server`` on a loopback port) in its place. It answers like the
service, with the real service's own JSON where that is needed (a version record, prepared
typed data), but with bytes or typed data changed. A real socket rather than a patched httpx
stream, so the client's whole download path (headers, streaming, temp file, rename) runs.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from eth_account.datastructures import SignedMessage
from eth_account.messages import SignableMessage
from eth_account.signers.local import LocalAccount

from service.client import ClientError, ClientFailure, GovLedgerClient, VerificationFailed
from tests.cli.conftest import approved_version, safetensors_bytes, unique
from tests.stack import Stack

Reply = tuple[int, dict[str, str], bytes]


@dataclass
class LyingService:
    """Routes (method, path) to a reply, or to a function of the request body."""

    routes: dict[tuple[str, str], Reply | Callable[[bytes], Reply]] = field(default_factory=dict)
    url: str = ""


@pytest.fixture
def liar() -> Iterator[LyingService]:
    service = LyingService()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, method: str) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            route = service.routes.get((method, self.path.split("?")[0]))
            if route is None:
                status, headers, payload = 404, {"content-type": "text/plain"}, b"no route"
            else:
                status, headers, payload = route(body) if callable(route) else route
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self) -> None:
            self._answer("GET")

        def do_POST(self) -> None:
            self._answer("POST")

        def log_message(self, *args: object) -> None:
            pass

    server = _QuietServer(("127.0.0.1", 0), Handler)
    service.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield service
    server.shutdown()
    server.server_close()


class _QuietServer(ThreadingHTTPServer):
    """The client under test hangs up as soon as it sees a lie; that is the point of these
    tests, not an error worth a traceback in the output."""

    def handle_error(self, request: object, client_address: object) -> None:
        import sys

        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]


def _octets(data: bytes, cid: str) -> Reply:
    return 200, {"content-type": "application/octet-stream", "x-content-cid": cid}, data


def test_tampered_bytes_are_refused_and_not_kept(
    liar: LyingService,
    client: GovLedgerClient,
    accounts: list[LocalAccount],
    weights: Path,
    tmp_path: Path,
) -> None:
    written = approved_version(client, accounts, weights, prefix="tamper")
    version = written.version
    cid = str(version.artifact_cid)
    good = weights.read_bytes()
    bad = bytearray(good)
    bad[-1] ^= 0x01  # one bit of one weight
    liar.routes[("GET", f"/v1/artifacts/{cid}")] = _octets(bytes(bad), cid)
    liar.routes[("GET", f"/v1/versions/{version.version_id}")] = (
        200,
        {"content-type": "application/json"},
        client._http.get(f"/v1/versions/{version.version_id}").content,
    )
    liar.routes[("GET", f"/v1/versions/{version.version_id}/artifact")] = _octets(bytes(bad), cid)

    with GovLedgerClient(base_url=liar.url) as fooled:
        with pytest.raises(VerificationFailed) as by_cid:
            fooled.download_artifact(cid, tmp_path / "a.safetensors")
        assert f"but the service said {cid}" in str(by_cid.value)
        with pytest.raises(VerificationFailed) as by_version:
            fooled.download_version(version.version_id, tmp_path / "b.safetensors")
        assert "but the service said" in str(by_version.value)
    assert [p.name for p in tmp_path.iterdir()] == [weights.name]  # nothing kept, no .part


def test_consistent_lies_are_caught_by_the_cid_asked_for_and_the_chain_digest(
    liar: LyingService,
    client: GovLedgerClient,
    accounts: list[LocalAccount],
    weights: Path,
    tmp_path: Path,
) -> None:
    """Other bytes, with their own correct CID in the header: only the CID the caller asked
    for, or the digest recorded on chain, can tell."""
    written = approved_version(client, accounts, weights, prefix="swap")
    version = written.version
    cid = str(version.artifact_cid)
    other = safetensors_bytes(seed=99)
    from service.store.chunker import iter_chunks
    from service.store.unixfs import compute_cid

    other_cid = str(compute_cid(iter_chunks(other))[0])
    liar.routes[("GET", f"/v1/artifacts/{cid}")] = _octets(other, other_cid)
    liar.routes[("GET", f"/v1/versions/{version.version_id}")] = (
        200,
        {"content-type": "application/json"},
        client._http.get(f"/v1/versions/{version.version_id}").content,
    )
    liar.routes[("GET", f"/v1/versions/{version.version_id}/artifact")] = _octets(other, other_cid)
    with GovLedgerClient(base_url=liar.url) as fooled:
        with pytest.raises(VerificationFailed) as by_cid:
            fooled.download_artifact(cid, tmp_path / "a")
        assert f"not the {cid} asked for" in str(by_cid.value)
        with pytest.raises(VerificationFailed) as by_version:
            fooled.download_version(version.version_id, tmp_path / "b")
        assert f"but the chain records {version.artifact_digest}" in str(by_version.value)
        liar.routes[("GET", f"/v1/artifacts/{cid}")] = _octets(other, "")
        with pytest.raises(VerificationFailed, match="no valid X-Content-CID"):
            fooled.download_artifact(cid, tmp_path / "c")
    assert [p.name for p in tmp_path.iterdir()] == [weights.name]


def test_typed_data_other_than_asked_is_not_signed(
    liar: LyingService,
    client: GovLedgerClient,
    stack: Stack,
    accounts: list[LocalAccount],
    weights: Path,
) -> None:
    """A service that asks to sign a vote Against when the caller votes For gets nothing."""
    written = client.propose_version(
        accounts[1],
        client.register_model(accounts[1], unique("typed")).model.model_id,
        weights,
        artifact_format="safetensors",
    )
    version_id = written.version.version_id

    def prepare_against(body: bytes) -> Reply:
        request = json.loads(body)
        answer = httpx.post(stack.url + "/v1/actions/prepare", json=request).json()
        answer["typed_data"]["message"]["support"] = 0  # Against
        return 200, {"content-type": "application/json"}, json.dumps(answer).encode()

    liar.routes[("POST", "/v1/actions/prepare")] = prepare_against
    signed: list[SignableMessage] = []

    class Watched:
        """Dev account 2, recording what it is asked to sign."""

        address = accounts[2].address

        def sign_message(self, signable_message: SignableMessage) -> SignedMessage:
            signed.append(signable_message)
            return accounts[2].sign_message(signable_message)

    with GovLedgerClient(base_url=liar.url) as fooled, pytest.raises(VerificationFailed) as e:
        fooled.cast_vote(Watched(), version_id, "for")
    assert "differs from the CastVote requested; nothing was signed" in str(e.value)
    assert signed == []
    assert client.list_votes(version_id) == []


def test_an_answer_that_is_not_the_service_is_a_clear_error(liar: LyingService) -> None:
    """A URL that reaches some other HTTP server: no traceback from JSON or schema parsing."""
    liar.routes[("GET", "/v1/info")] = (200, {"content-type": "text/html"}, b"<html></html>")
    liar.routes[("GET", "/v1/consortium")] = (
        200, {"content-type": "application/json"}, b'{"members": "many"}',
    )  # fmt: skip
    with GovLedgerClient(base_url=liar.url) as other:
        with pytest.raises(
            ClientFailure, match=re.escape(f"is not JSON; is {liar.url} a govledger service?")
        ):
            other.info()
        with pytest.raises(ClientFailure, match="answer is not ConsortiumPublic"):
            other.consortium()
        with pytest.raises(ClientError) as plain:  # an error that is not problem+json
            other.get_model(1)
        assert (plain.value.status, str(plain.value)) == (404, "no route")


def test_names_stay_one_path_segment(client: GovLedgerClient) -> None:
    with pytest.raises(ClientError) as e:
        client.get_model_by_name("../../health")
    assert e.value.status == 404
