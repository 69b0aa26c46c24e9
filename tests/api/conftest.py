"""Helpers for the REST API tests: an HTTP client on a real stack (anvil, contracts, embedded
store, uvicorn), EIP-712 and EIP-4361 signing as a wallet would do it, problem+json checks and
a few JSON-RPC calls to the stack's anvil. Requests go over HTTP to the real processes; the only
stand-in is the kubo RPC fake of tests/store behind the store-outage test (no kubo daemon can
be installed here)."""

from __future__ import annotations

import itertools
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from eth_account import Account
from eth_account.messages import encode_defunct, encode_typed_data
from eth_account.signers.local import LocalAccount
from safetensors.numpy import save as save_safetensors

from service.chain.accounts import dev_account
from service.chain.actions import DOMAIN_NAMES, Domain, store_metadata_statement
from service.domain.auth import siwe_message
from service.store.chunker import iter_chunks
from service.store.cid import CID
from service.store.embedded import EmbeddedStore
from service.store.unixfs import compute_cid
from tests.stack import Stack, free_port

PROBLEM_JSON = "application/problem+json"
ZERO32 = "0x" + "00" * 32
ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"

RELAYER = dev_account(0)
FOUNDERS = [dev_account(i) for i in (1, 2, 3)]
OWNER, MEMBER2, MEMBER3 = FOUNDERS
NEWCOMER = dev_account(4)  # joins and leaves the consortium in the membership test
OUTSIDER = dev_account(5)
READER = dev_account(6)

_names = itertools.count(1)
_run = os.urandom(3).hex()


def unique_name(prefix: str = "model") -> str:
    """A model name no other test of this run uses (names are unique on chain)."""
    return f"{prefix}-{_run}-{next(_names)}"


def safetensors_bytes(seed: int, shape: tuple[int, ...] = (300, 300)) -> bytes:
    """A real safetensors file of random float32 weights; 300x300 spans two 256 KiB chunks."""
    rng = np.random.default_rng(seed)
    return save_safetensors(
        {
            "weight": rng.standard_normal(shape).astype(np.float32),
            "bias": np.zeros(shape[-1:], dtype=np.float32),
        },
        metadata={"seed": str(seed)},
    )


_seeds = itertools.count(int.from_bytes(os.urandom(4), "big"))


def fresh_artifact(shape: tuple[int, ...] = (300, 300)) -> bytes:
    return safetensors_bytes(next(_seeds), shape)


def cid_of(data: bytes) -> CID:
    """The CID kubo would give ``data`` (256 KiB chunks, raw leaves, balanced dag-pb)."""
    cid, size = compute_cid(iter_chunks(data))
    assert size == len(data)
    return cid


def digest_of(data: bytes) -> str:
    return "0x" + cid_of(data).digest.hex()


def assert_problem(
    response: httpx.Response, status: int, type_: str, *mentions: object
) -> dict[str, Any]:
    """An RFC 9457 body of ``status`` and ``type_`` whose detail names every one of
    ``mentions``; returns the body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].split(";")[0] == PROBLEM_JSON, response.headers
    body: dict[str, Any] = response.json()
    assert body["type"] == type_, body
    assert body["status"] == status
    assert body["title"]
    for m in mentions:
        assert str(m) in body["detail"], (m, body["detail"])
    return body


def assert_contract_error(
    response: httpx.Response, status: int, error: str, /, **arguments: Any
) -> dict[str, Any]:
    """A problem+json answer to a call the chain refused: the contract's custom error by name
    with (at least) the given arguments, the error named in the type and the detail."""
    slug = "".join("-" + c.lower() if c.isupper() else c for c in error).lstrip("-")
    body = assert_problem(response, status, f"/problems/{slug}", error)
    contract_error = body["contract_error"]
    assert contract_error["name"] == error, contract_error
    for key, value in arguments.items():
        assert contract_error["arguments"][key] == value, (key, contract_error["arguments"])
    return body


@dataclass
class Api:
    """An HTTP client on one stack, with the signing a wallet or the CLI would do."""

    stack: Stack
    http: httpx.Client

    # ------------------------------------------------------------ plain HTTP

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.http.get(path, **kw)

    def post(self, path: str, **kw: Any) -> httpx.Response:
        return self.http.post(path, **kw)

    def put(self, path: str, **kw: Any) -> httpx.Response:
        return self.http.put(path, **kw)

    def wait_ready(self, timeout: float = 60.0) -> dict[str, Any]:
        """Poll /ready until it answers 200 (after a start the journal is checked against the
        chain first; after an outage the keeper catches up); its body."""
        deadline = time.monotonic() + timeout
        last = ""
        while True:
            try:
                r = self.http.get("/ready")
                if r.status_code == 200:
                    body: dict[str, Any] = r.json()
                    return body
                last = r.text
            except httpx.HTTPError as exc:
                last = repr(exc)
            assert time.monotonic() < deadline, f"not ready after {timeout}s: {last}"
            time.sleep(0.2)

    def ok(self, path: str, **kw: Any) -> Any:
        """GET ``path`` and return its JSON, which must come with a 200."""
        r = self.http.get(path, **kw)
        assert r.status_code == 200, r.text
        return r.json()

    # ------------------------------------------------------------ signed actions

    def prepare(
        self, action: str, actor: LocalAccount | str, args: dict[str, Any], **kw: Any
    ) -> dict[str, Any]:
        address = actor if isinstance(actor, str) else actor.address
        r = self.http.post(
            "/v1/actions/prepare", json={"action": action, "actor": address, "args": args, **kw}
        )
        assert r.status_code == 200, r.text
        prepared: dict[str, Any] = r.json()
        return prepared

    def signed(
        self,
        action: str,
        actor: LocalAccount,
        args: dict[str, Any],
        *,
        signer: LocalAccount | None = None,
        deadline: int | None = None,
    ) -> dict[str, Any]:
        """The signed fields of a request: ``signer`` (default: the actor) signs the typed
        data the service prepares for ``actor``."""
        prepared = self.prepare(action, actor, args, deadline=deadline)
        return {
            "actor": actor.address,
            "nonce": prepared["nonce"],
            "deadline": prepared["deadline"],
            "signature": sign_typed_data(prepared["typed_data"], signer or actor),
        }

    def nonce(self, contract_action: str, actor: LocalAccount) -> int:
        """The actor's current nonce on the contract that runs ``contract_action``."""
        args = {"Resign": {}, "CastVote": {"versionId": 1, "support": 1}}[contract_action]
        return int(self.prepare(contract_action, actor, args)["nonce"])

    def register(
        self,
        owner: LocalAccount = OWNER,
        name: str | None = None,
        *,
        restricted: bool = False,
        metadata_digest: str = ZERO32,
    ) -> dict[str, Any]:
        name = name or unique_name()
        sig = self.signed(
            "RegisterModel",
            owner,
            {"name": name, "metadataDigest": metadata_digest, "restricted": restricted},
        )
        r = self.http.post(
            "/v1/models",
            json={
                "name": name,
                "restricted": restricted,
                "metadata_digest": metadata_digest,
                **sig,
            },
        )
        assert r.status_code == 201, r.text
        model: dict[str, Any] = r.json()["model"]
        return model

    def upload(
        self,
        model_id: int,
        data: bytes,
        *,
        actor: LocalAccount = OWNER,
        artifact_format: str = "safetensors",
        kind: str = "base",
        parent_id: int = 0,
        metadata_digest: str = ZERO32,
        signed_digest: str | None = None,
        artifact_cid: str | None = None,
        signer: LocalAccount | None = None,
        allow_duplicate: bool = False,
    ) -> httpx.Response:
        """POST the artifact and the actor's ProposeVersion signature over ``signed_digest``
        (default: the artifact's own digest), naming ``artifact_cid`` (default: its own)."""
        kinds = {"base": 0, "aggregate": 1, "accelerated": 2}
        sig = self.signed(
            "ProposeVersion",
            actor,
            {
                "modelId": model_id,
                "parentId": parent_id,
                "kind": kinds[kind],
                "artifactDigest": signed_digest or digest_of(data),
                "metadataDigest": metadata_digest,
            },
            signer=signer,
        )
        params = {
            "artifact_format": artifact_format,
            "artifact_cid": artifact_cid or str(cid_of(data)),
            **({"allow_duplicate": "true"} if allow_duplicate else {}),
            "kind": kind,
            "parent_id": parent_id,
            "metadata_digest": metadata_digest,
            **sig,
        }
        return self.post_bytes(f"/v1/models/{model_id}/versions", params, data)

    def post_bytes(self, path: str, params: dict[str, Any], data: bytes) -> httpx.Response:
        """POST ``data`` as an upload's body (application/octet-stream) with ``params``."""
        return self.http.post(
            path, params=params, content=data, headers={"content-type": "application/octet-stream"}
        )

    def propose(self, model_id: int, data: bytes | None = None, **kw: Any) -> dict[str, Any]:
        r = self.upload(model_id, fresh_artifact() if data is None else data, **kw)
        assert r.status_code == 201, r.text
        version: dict[str, Any] = r.json()["version"]
        return version

    def vote(self, voter: LocalAccount, version_id: int, support: str = "for") -> httpx.Response:
        codes = {"against": 0, "for": 1, "abstain": 2}
        sig = self.signed("CastVote", voter, {"versionId": version_id, "support": codes[support]})
        return self.http.post(f"/v1/versions/{version_id}/votes", json={"support": support, **sig})

    def approve(self, version_id: int) -> None:
        """Founders vote For until the version is Approved."""
        for voter in FOUNDERS:
            r = self.vote(voter, version_id)
            assert r.status_code == 201, r.text
            if r.json()["state"] == "approved":
                return
        raise AssertionError(f"version {version_id} was not approved by the founders")

    def approved_version(self, model_id: int, data: bytes | None = None, **kw: Any) -> int:
        version_id = int(self.propose(model_id, data, **kw)["version_id"])
        self.approve(version_id)
        return version_id

    def move_alias(
        self, model_id: int, alias: str, version_id: int, actor: LocalAccount = OWNER
    ) -> httpx.Response:
        sig = self.signed(
            "MoveAlias",
            actor,
            {"modelId": model_id, "aliasName": alias_hex(alias), "versionId": version_id},
        )
        return self.http.put(
            f"/v1/models/{model_id}/aliases/{alias}", json={"version_id": version_id, **sig}
        )

    def change_rights(
        self,
        verb: str,
        model_id: int,
        account: str,
        rights: list[str],
        actor: LocalAccount = OWNER,
    ) -> httpx.Response:
        bits = {"submit_updates": 1, "read_artifacts": 2, "maintain": 4}
        action = {"grant": "GrantRights", "revoke": "RevokeRights"}[verb]
        sig = self.signed(
            action,
            actor,
            {"modelId": model_id, "account": account, "rights": sum(bits[r] for r in rights)},
        )
        return self.http.post(
            f"/v1/models/{model_id}/rights/{account}/{verb}", json={"rights": rights, **sig}
        )

    # ------------------------------------------------------------ metadata documents

    def metadata_request(
        self,
        document: dict[str, Any] | bytes,
        actor: LocalAccount = OWNER,
        *,
        signer: LocalAccount | None = None,
        deadline: int | None = None,
        signed_digest: bytes | None = None,
    ) -> httpx.Response:
        """POST a metadata document with ``signer``'s (default: the actor's) StoreMetadata
        signature over ``signed_digest`` (default: the document's own digest)."""
        raw = document if isinstance(document, bytes) else json.dumps(document).encode()
        info = self.ok("/v1/info")
        registry = info["contracts"]["ModelRegistry"]
        assert registry["eip712_name"] == DOMAIN_NAMES["ModelRegistry"]
        domain = Domain(
            name=registry["eip712_name"],
            chain_id=info["chain_id"],
            verifying_contract=registry["address"],
        )
        digest = cid_of(raw).digest if signed_digest is None else signed_digest
        deadline = int(time.time()) + 600 if deadline is None else deadline
        statement = store_metadata_statement(
            domain=domain, digest=digest, actor=actor.address, deadline=deadline
        )
        return self.http.post(
            "/v1/metadata",
            params={
                "actor": actor.address,
                "digest": "0x" + digest.hex(),
                "deadline": deadline,
                "signature": sign_typed_data(statement.typed_data(), signer or actor),
            },
            content=raw,
            headers={"content-type": "application/json"},
        )

    def store_metadata(
        self, document: dict[str, Any] | bytes, actor: LocalAccount = OWNER
    ) -> dict[str, Any]:
        """Store a metadata document signed by ``actor`` (a member); its CID, digest, size."""
        r = self.metadata_request(document, actor)
        assert r.status_code == 201, r.text
        stored: dict[str, Any] = r.json()
        return stored

    # ------------------------------------------------------------ sign-in

    def siwe(self, account: LocalAccount, **overrides: Any) -> tuple[str, str]:
        """A fresh nonce's EIP-4361 message for ``account`` (fields overridable) and the
        account's signature of it."""
        n = self.ok("/v1/auth/nonce")
        fields = {
            "domain": n["domain"],
            "uri": n["uri"],
            "address": account.address,
            "chain_id": n["chain_id"],
            "nonce": n["nonce"],
            **overrides,
        }
        message = siwe_message(**fields)
        return message, sign_text(message, account)

    def login(self, account: LocalAccount) -> str:
        message, signature = self.siwe(account)
        r = self.http.post("/v1/auth/login", json={"message": message, "signature": signature})
        assert r.status_code == 200, r.text
        token: str = r.json()["token"]
        return token

    # ------------------------------------------------------------ the chain and the store

    def rpc(self, method: str, *params: Any) -> Any:
        """A JSON-RPC call straight to the stack's anvil (not through the service)."""
        r = httpx.post(
            self.stack.settings.rpc_url,
            json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)},
            timeout=30,
        )
        body = r.json()
        assert "error" not in body, body
        return body["result"]

    def increase_time(self, seconds: int) -> None:
        self.rpc("evm_increaseTime", seconds)
        self.rpc("evm_mine")

    def block_number(self) -> int:
        return int(self.rpc("eth_blockNumber"), 16)

    def block_timestamp(self, block: int) -> int:
        return int(self.rpc("eth_getBlockByNumber", hex(block), False)["timestamp"], 16)

    def relayer_tx_count(self) -> int:
        return int(self.rpc("eth_getTransactionCount", RELAYER.address, "latest"), 16)

    def rewind_past_a_read(self) -> None:
        """Snapshot the chain, mine 30 blocks, have the service read them (a download asks
        which models reference its CID), then revert to the snapshot: the chain is now below
        blocks the service has read, as after anvil restarts from an older state dump. Only
        for a stack of the test's own: the revert undoes whatever else happened meanwhile."""
        snapshot = self.rpc("evm_snapshot")
        for _ in range(30):
            self.rpc("evm_mine")
        r = self.http.get(f"/v1/artifacts/{cid_of(unique_name('nobody refers to').encode())}")
        assert_problem(r, 404, "/problems/not-found", "no model or version on chain references")
        assert self.rpc("evm_revert", snapshot) is True
        self.wait_ready()

    def pins(self) -> set[str]:
        """The roots the stack's embedded store holds pinned (read from its directory)."""
        return {str(c) for c in EmbeddedStore(self.stack.settings.store_dir).pins()}


def sign_typed_data(typed_data: dict[str, Any], account: LocalAccount) -> str:
    signed = Account.sign_message(encode_typed_data(full_message=typed_data), account.key)
    return "0x" + bytes(signed.signature).hex()


def sign_text(message: str, account: LocalAccount) -> str:
    signed = Account.sign_message(encode_defunct(text=message), account.key)
    return "0x" + bytes(signed.signature).hex()


def alias_hex(alias: str) -> str:
    return "0x" + alias.encode("ascii").ljust(32, b"\0").hex()


def tampered(signature: str) -> str:
    """The signature with one bit of ``s`` flipped: still well-formed, no longer valid."""
    raw = bytearray(bytes.fromhex(signature[2:]))
    raw[40] ^= 0x01
    return "0x" + raw.hex()


class TcpSwitch:
    """A loopback TCP forwarder to ``target_port`` that can be cut (its port refuses
    connections, open ones are closed) and restored on the same port: a network outage
    between the service and a backend, with the backend itself untouched."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._open: list[socket.socket] = []
        self.up()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def up(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, args=(self._listener,), daemon=True).start()

    def down(self) -> None:
        if self._listener is not None:
            with suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)  # wakes accept(); close() would not
            self._listener.close()
            self._listener = None
        for s in self._open:
            with suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)  # wakes the pumps; close() alone would not
            s.close()
        self._open.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:  # shut by down()
                return
            backend = socket.create_connection(("127.0.0.1", self.target_port))
            self._open += [client, backend]
            for a, b in ((client, backend), (backend, client)):
                threading.Thread(target=_pump, args=(a, b), daemon=True).start()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for s in (source, sink):
            with suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)


@contextmanager
def api_on(stack: Stack) -> Iterator[Api]:
    with httpx.Client(base_url=stack.url, timeout=60) as http:
        yield Api(stack=stack, http=http)


@pytest.fixture(scope="session")
def api(stack: Stack) -> Iterator[Api]:
    """A client on the session's stack."""
    with api_on(stack) as a:
        yield a


@pytest.fixture
def private_stack(tmp_path: Path) -> Iterator[Stack]:
    """A stack of the test's own, for tests that stop or restart its parts."""
    s = Stack(data_dir=tmp_path / "stack").start()
    yield s
    s.stop()
