"""A typed Python client of the govledger REST service (httpx).

Signed writes never send a key anywhere: :meth:`GovLedgerClient.act` asks the service for the
EIP-712 typed data of an action (``POST /v1/actions/prepare``), checks that it says exactly what
was asked (rebuilt locally with :mod:`service.chain.actions`; only the nonce, deadline and the
contract's domain come from the service), signs it locally and returns the signed fields that
the resource request carries.

Artifacts are verified on the client too: an upload's CID is computed locally before signing
``ProposeVersion`` over its digest, and every download is streamed to a temporary file while its
CID is recomputed, then compared with the ``X-Content-CID`` header, with the CID asked for and,
for a version, with the ``artifact_digest`` on chain; a mismatch raises
:class:`VerificationFailed` and leaves no file behind.

Usage::

    with GovLedgerClient(base_url="http://127.0.0.1:8000") as client:
        model = client.register_model(owner, "digits-mlp").model
        written = client.propose_version(owner, model.model_id, "w.safetensors",
                                         artifact_format="safetensors")
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar
from urllib.parse import quote

import httpx
from eth_account.datastructures import SignedMessage
from eth_account.messages import SignableMessage, encode_defunct, encode_typed_data
from pydantic import BaseModel, TypeAdapter, ValidationError

from service.api.schemas import (
    KIND_BY_NAME,
    AliasMovePublic,
    AliasPublic,
    AliasWritten,
    ConsortiumPublic,
    HealthPublic,
    InfoPublic,
    MemberPublic,
    ModelList,
    ModelPublic,
    ModelWritten,
    NoncePublic,
    PreparedAction,
    ProposalPublic,
    ProposalWritten,
    ReadinessPublic,
    RightsPublic,
    RightsWritten,
    SessionPublic,
    StoredContent,
    VersionList,
    VersionPublic,
    VersionUpdated,
    VersionWritten,
    VotePublic,
    VoteWritten,
    Written,
)
from service.chain.actions import DOMAIN_NAMES, Action, Domain, action_spec
from service.errors import LedgerError
from service.store.chunker import iter_chunks
from service.store.cid import CHUNK_SIZE, CID, parse_cid
from service.store.unixfs import compute_cid

ZERO_DIGEST = "0x" + "00" * 32
PROBLEM_JSON = "application/problem+json"

ProgressCallback = Callable[[str, int, int | None], None]
"""``progress(phase, bytes_done, bytes_total)``; phase is ``hashing``, ``uploading`` or
``downloading``; the total is None when unknown."""

ArtifactSource = str | os.PathLike[str] | bytes | Iterable[bytes]
"""A file path, the bytes themselves, or an iterable of byte strings (spooled to a temporary
file first, since the CID must be known before the upload starts)."""

_M = TypeVar("_M", bound=BaseModel)


class Signer(Protocol):
    """What signs: an address and ``sign_message`` (an eth_account ``LocalAccount`` fits)."""

    @property
    def address(self) -> str: ...

    def sign_message(self, signable_message: SignableMessage) -> SignedMessage: ...


# ---------------------------------------------------------------- errors


class ClientFailure(Exception):
    """Root of everything the client raises on purpose."""


class ClientError(ClientFailure):
    """The service answered with an error (a problem+json body, RFC 9457)."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        self.status = status
        self.problem = problem
        super().__init__(status, problem)

    @property
    def detail(self) -> str:
        return str(self.problem.get("detail") or self.problem.get("title") or "")

    @property
    def contract_error(self) -> dict[str, Any] | None:
        error = self.problem.get("contract_error")
        return error if isinstance(error, dict) else None

    def __str__(self) -> str:
        text = self.detail or f"the service answered HTTP {self.status}"
        error = self.contract_error
        if error and str(error.get("name")) not in text:
            args = ", ".join(f"{k}={v}" for k, v in dict(error.get("arguments") or {}).items())
            text += f" (contract error {error.get('name')}({args}))"
        return text


class ServiceUnreachable(ClientFailure):
    """Nothing answers at the service URL."""

    def __init__(self, url: str) -> None:
        self.url = url
        super().__init__(f"service not reachable at {url}; start it with `govledger up`")


class VerificationFailed(ClientFailure):
    """Bytes or typed data from the service are not what they should be."""


class InvalidArgument(ClientFailure, ValueError):
    """An argument is invalid before anything is sent."""


# ---------------------------------------------------------------- results


@dataclass(frozen=True, kw_only=True)
class Download:
    """A verified download: where it is, its CID (recomputed locally) and its size."""

    path: Path
    cid: str
    size: int


_lists: dict[type[BaseModel], TypeAdapter[Any]] = {}


def _load(model: type[_M], data: Any) -> _M:
    """``data`` as a ``model``; ClientFailure if the service answered something else."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ClientFailure(_unexpected(model.__name__, exc)) from None


def _list_of(model: type[_M], data: Any) -> list[_M]:
    adapter = _lists.setdefault(model, TypeAdapter(list[model]))  # type: ignore[valid-type]
    try:
        items: list[_M] = adapter.validate_python(data)
    except ValidationError as exc:
        raise ClientFailure(_unexpected(f"a list of {model.__name__}", exc)) from None
    return items


def _unexpected(what: str, exc: ValidationError) -> str:
    return (
        f"the service's answer is not {what} ({exc.error_count()} fields differ); is the URL a "
        "govledger service of this version?"
    )


# ---------------------------------------------------------------- the client


class GovLedgerClient:
    """Typed access to every endpoint of the service; see the module docstring."""

    def __init__(
        self,
        *,
        base_url: str,
        timeout: float = 60.0,
        session_token: str | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout, transport=transport)
        self.session_token = session_token

    @property
    def session_token(self) -> str | None:
        """The SIWE session token sent as ``Authorization: Bearer`` (None: anonymous)."""
        return self._token

    @session_token.setter
    def session_token(self, token: str | None) -> None:
        self._token = token
        if token:
            self._http.headers["Authorization"] = f"Bearer {token}"
        else:
            self._http.headers.pop("Authorization", None)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> GovLedgerClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ transport

    def _request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        content: Iterable[bytes] | bytes | None = None,
        headers: dict[str, str] | None = None,
        stream: bool = False,
        ok: tuple[int, ...] = (),
    ) -> httpx.Response:
        query = {k: v for k, v in (params or {}).items() if v is not None}
        request = self._http.build_request(
            method, path, json=json, params=query, content=content, headers=headers
        )
        try:
            response = self._http.send(request, stream=stream)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise ServiceUnreachable(self.base_url) from exc
        except httpx.TimeoutException as exc:
            raise ClientFailure(
                f"{method} {path}: the service at {self.base_url} did not answer within "
                f"{self.timeout:g}s"
            ) from exc
        except httpx.HTTPError as exc:
            raise ClientFailure(f"{method} {path} failed: {exc}") from exc
        if response.status_code >= 400 and response.status_code not in ok:
            if stream:
                response.read()
                response.close()
            raise _error_of(response)
        return response

    def _json(self, response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            raise ClientFailure(
                f"{response.request.method} {response.request.url.path}: the answer (HTTP "
                f"{response.status_code}) is not JSON; is {self.base_url} a govledger service?"
            ) from None

    def _get(self, path: str, **params: Any) -> Any:
        return self._json(self._request("GET", path, params=params))

    # ------------------------------------------------------------ health, info, signing

    def health(self) -> HealthPublic:
        """Liveness (GET /health)."""
        return _load(HealthPublic, self._get("/health"))

    def ready(self) -> ReadinessPublic:
        """Readiness (GET /ready): chain, contracts and store; a 503 is returned, not raised."""
        return _load(ReadinessPublic, self._json(self._request("GET", "/ready", ok=(503,))))

    def metrics(self) -> str:
        """Prometheus metrics text (GET /metrics)."""
        return self._request("GET", "/metrics").text

    def info(self) -> InfoPublic:
        """The chain, the contracts and their EIP-712 domains (GET /v1/info)."""
        return _load(InfoPublic, self._get("/v1/info"))

    def prepare(
        self, action: str, actor: str, args: dict[str, Any], *, deadline: int | None = None
    ) -> PreparedAction:
        """The typed data ``actor`` signs for ``action`` (POST /v1/actions/prepare)."""
        body = {"action": action, "actor": actor, "args": args, "deadline": deadline}
        return _load(
            PreparedAction, self._json(self._request("POST", "/v1/actions/prepare", json=body))
        )

    def act(
        self,
        signer: Signer,
        action: str,
        args: dict[str, Any],
        *,
        deadline: int | None = None,
    ) -> dict[str, Any]:
        """Prepare ``action``, check and sign its typed data locally; return the signed fields
        (actor, nonce, deadline, signature) a resource request carries."""
        prepared = self.prepare(action, signer.address, args, deadline=deadline)
        _check_prepared(prepared, action, signer.address, args)
        signed = signer.sign_message(encode_typed_data(full_message=prepared.typed_data))
        return {
            "actor": prepared.actor,
            "nonce": prepared.nonce,
            "deadline": prepared.deadline,
            "signature": "0x" + bytes(signed.signature).hex(),
        }

    # ------------------------------------------------------------ models

    def register_model(
        self,
        signer: Signer,
        name: str,
        *,
        metadata_digest: str = ZERO_DIGEST,
        restricted: bool = False,
    ) -> ModelWritten:
        """Register a model; the signer (a member) becomes its owner."""
        args = {"name": name, "metadataDigest": metadata_digest, "restricted": restricted}
        body = {"name": name, "metadata_digest": metadata_digest, "restricted": restricted}
        return self._signed(ModelWritten, "POST", "/v1/models", signer, "RegisterModel", args, body)

    def get_model(self, model_id: int) -> ModelPublic:
        return _load(ModelPublic, self._get(f"/v1/models/{model_id}"))

    def get_model_by_name(self, name: str) -> ModelPublic:
        return _load(ModelPublic, self._get(f"/v1/models/by-name/{_seg(name)}"))

    def list_models(
        self,
        *,
        name: str | None = None,
        owner: str | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> ModelList:
        """Models, searched by part of the name and by owner."""
        return _load(
            ModelList, self._get("/v1/models", name=name, owner=owner, offset=offset, limit=limit)
        )

    def get_model_metadata(self, model_id: int) -> dict[str, Any]:
        """The model's metadata document (the service checks it against the chain's digest)."""
        doc: dict[str, Any] = self._get(f"/v1/models/{model_id}/metadata")
        return doc

    def set_model_metadata(
        self, signer: Signer, model_id: int, metadata_digest: str
    ) -> ModelWritten:
        args = {"modelId": model_id, "metadataDigest": metadata_digest}
        body = {"metadata_digest": metadata_digest}
        path = f"/v1/models/{model_id}/metadata"
        return self._signed(ModelWritten, "PUT", path, signer, "SetModelMetadata", args, body)

    def transfer_model(self, signer: Signer, model_id: int, new_owner: str) -> ModelWritten:
        args = {"modelId": model_id, "newOwner": new_owner}
        path = f"/v1/models/{model_id}/owner"
        return self._signed(
            ModelWritten, "PUT", path, signer, "TransferModelOwnership", args,
            {"new_owner": new_owner},
        )  # fmt: skip

    def set_read_policy(self, signer: Signer, model_id: int, *, restricted: bool) -> ModelWritten:
        args = {"modelId": model_id, "restricted": restricted}
        path = f"/v1/models/{model_id}/read-policy"
        return self._signed(
            ModelWritten, "PUT", path, signer, "SetReadPolicy", args, {"restricted": restricted}
        )

    def store_metadata(self, document: dict[str, Any] | bytes) -> StoredContent:
        """Store a metadata document (a JSON object) and get its CID and digest."""
        if isinstance(document, dict):
            import json

            document = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
        response = self._request(
            "POST", "/v1/metadata", content=document, headers={"content-type": "application/json"}
        )
        return _load(StoredContent, self._json(response))

    # ------------------------------------------------------------ versions and votes

    def propose_version(
        self,
        signer: Signer,
        model_id: int,
        artifact: ArtifactSource,
        *,
        artifact_format: str,
        kind: str = "base",
        parent_id: int = 0,
        metadata_digest: str = ZERO_DIGEST,
        progress: ProgressCallback | None = None,
    ) -> VersionWritten:
        """Compute the artifact's CID locally, sign ProposeVersion over its digest, then stream
        the file to the service, which stores it and proposes it in one call."""
        if kind not in KIND_BY_NAME:
            raise InvalidArgument(f"kind must be one of {', '.join(KIND_BY_NAME)}, not {kind!r}")
        with _as_file(artifact) as path:
            size = path.stat().st_size
            cid, _ = compute_cid(iter_chunks(_read(path, "hashing", size, progress)))
            digest = "0x" + cid.digest.hex()
            fields = self.act(
                signer,
                "ProposeVersion",
                {
                    "modelId": model_id,
                    "parentId": parent_id,
                    "kind": int(KIND_BY_NAME[kind]),
                    "artifactDigest": digest,
                    "metadataDigest": metadata_digest,
                },
            )
            params = {
                "artifact_format": artifact_format,
                "kind": kind,
                "parent_id": parent_id,
                "metadata_digest": metadata_digest,
                **fields,
            }
            response = self._request(
                "POST",
                f"/v1/models/{model_id}/versions",
                params=params,
                content=_read(path, "uploading", size, progress),
                headers={"content-type": "application/octet-stream", "content-length": str(size)},
            )
        written = _load(VersionWritten, self._json(response))
        if written.version.artifact_digest.lower() != digest:
            raise VerificationFailed(
                f"the service recorded digest {written.version.artifact_digest} for an upload "
                f"whose digest is {digest}"
            )
        return written

    def list_versions(
        self,
        model_id: int,
        *,
        kind: str | None = None,
        state: str | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> VersionList:
        """A model's versions, filtered by kind (base, aggregate, accelerated) and state."""
        return _load(
            VersionList,
            self._get(
                f"/v1/models/{model_id}/versions",
                kind=kind,
                state=state,
                offset=offset,
                limit=limit,
            ),
        )

    def get_version(self, version_id: int) -> VersionPublic:
        return _load(VersionPublic, self._get(f"/v1/versions/{version_id}"))

    def finalize_version(self, version_id: int) -> VersionUpdated:
        """Record that the version's window ended without approval (needs no signature)."""
        response = self._request("POST", f"/v1/versions/{version_id}/finalize")
        return _load(VersionUpdated, self._json(response))

    def cast_vote(self, signer: Signer, version_id: int, support: str) -> VoteWritten:
        """Vote ``for``, ``against`` or ``abstain`` on a proposed version."""
        args = {"versionId": version_id, "support": _support(support)}
        path = f"/v1/versions/{version_id}/votes"
        return self._signed(
            VoteWritten, "POST", path, signer, "CastVote", args, {"support": support}
        )

    def list_votes(self, version_id: int) -> list[VotePublic]:
        return _list_of(VotePublic, self._get(f"/v1/versions/{version_id}/votes"))

    # ------------------------------------------------------------ aliases

    def move_alias(
        self, signer: Signer, model_id: int, alias: str, version_id: int
    ) -> AliasWritten:
        """Point ``alias`` at an Approved version (0 clears it)."""
        from service.chain.types import alias_to_bytes32

        try:
            name = "0x" + alias_to_bytes32(alias).hex()
        except LedgerError as exc:
            raise InvalidArgument(str(exc)) from exc
        args = {"modelId": model_id, "aliasName": name, "versionId": version_id}
        path = f"/v1/models/{model_id}/aliases/{_seg(alias)}"
        return self._signed(
            AliasWritten, "PUT", path, signer, "MoveAlias", args, {"version_id": version_id}
        )

    def get_alias(self, model_id: int, alias: str, *, block: int | None = None) -> AliasPublic:
        """The alias's version now, or once ``block`` was mined."""
        return _load(
            AliasPublic, self._get(f"/v1/models/{model_id}/aliases/{_seg(alias)}", block=block)
        )

    def list_aliases(self, model_id: int) -> list[AliasPublic]:
        return _list_of(AliasPublic, self._get(f"/v1/models/{model_id}/aliases"))

    def alias_history(self, model_id: int, alias: str) -> list[AliasMovePublic]:
        path = f"/v1/models/{model_id}/aliases/{_seg(alias)}/history"
        return _list_of(AliasMovePublic, self._get(path))

    # ------------------------------------------------------------ rights

    def grant_rights(
        self, signer: Signer, model_id: int, account: str, rights: list[str]
    ) -> RightsWritten:
        """Grant rights (``submit_updates``, ``read_artifacts``, ``maintain``) on a model."""
        return self._rights("grant", "GrantRights", signer, model_id, account, rights)

    def revoke_rights(
        self, signer: Signer, model_id: int, account: str, rights: list[str]
    ) -> RightsWritten:
        return self._rights("revoke", "RevokeRights", signer, model_id, account, rights)

    def _rights(
        self, verb: str, action: str, signer: Signer, model_id: int, account: str, rights: list[str]
    ) -> RightsWritten:
        args = {"modelId": model_id, "account": account, "rights": _rights_mask(rights)}
        path = f"/v1/models/{model_id}/rights/{_seg(account)}/{verb}"
        return self._signed(RightsWritten, "POST", path, signer, action, args, {"rights": rights})

    def get_rights(self, model_id: int, account: str) -> RightsPublic:
        return _load(RightsPublic, self._get(f"/v1/models/{model_id}/rights/{_seg(account)}"))

    def rights_on_model(self, model_id: int) -> list[RightsPublic]:
        return _list_of(RightsPublic, self._get(f"/v1/models/{model_id}/rights"))

    def rights_of_account(self, account: str) -> list[RightsPublic]:
        return _list_of(RightsPublic, self._get(f"/v1/accounts/{_seg(account)}/rights"))

    # ------------------------------------------------------------ consortium

    def members(self) -> list[MemberPublic]:
        return _list_of(MemberPublic, self._get("/v1/members"))

    def consortium(self) -> ConsortiumPublic:
        return _load(ConsortiumPublic, self._get("/v1/consortium"))

    def propose_change(
        self, signer: Signer, kind: str, *, account: str | None = None, value: int = 0
    ) -> ProposalWritten:
        """Propose ``add_member`` / ``remove_member`` (account), ``set_quorum`` (basis points)
        or ``set_voting_period`` (seconds)."""
        from service.api.schemas import CHANGE_BY_NAME

        if kind not in CHANGE_BY_NAME:
            raise InvalidArgument(f"kind must be one of {', '.join(CHANGE_BY_NAME)}, not {kind!r}")
        args = {
            "kind": int(CHANGE_BY_NAME[kind]),
            "account": account or "0x" + "00" * 20,
            "value": value,
        }
        body = {"kind": kind, "account": account, "value": value}
        return self._signed(
            ProposalWritten, "POST", "/v1/membership-proposals", signer, "ProposeChange", args, body
        )

    def list_proposals(self, *, offset: int = 0, limit: int = 100) -> list[ProposalPublic]:
        data = self._get("/v1/membership-proposals", offset=offset, limit=limit)
        return _list_of(ProposalPublic, data)

    def get_proposal(self, proposal_id: int) -> ProposalPublic:
        return _load(ProposalPublic, self._get(f"/v1/membership-proposals/{proposal_id}"))

    def vote_on_change(self, signer: Signer, proposal_id: int, support: str) -> ProposalWritten:
        args = {"proposalId": proposal_id, "support": _support(support)}
        path = f"/v1/membership-proposals/{proposal_id}/votes"
        return self._signed(
            ProposalWritten, "POST", path, signer, "VoteOnChange", args, {"support": support}
        )

    def finalize_change(self, proposal_id: int) -> ProposalWritten:
        response = self._request("POST", f"/v1/membership-proposals/{proposal_id}/finalize")
        return _load(ProposalWritten, self._json(response))

    def resign(self, signer: Signer) -> Written:
        """Leave the consortium."""
        return self._signed(Written, "POST", "/v1/members/resign", signer, "Resign", {}, {})

    # ------------------------------------------------------------ artifacts

    def download_artifact(
        self, cid: str, dest: str | os.PathLike[str], *, progress: ProgressCallback | None = None
    ) -> Download:
        """Download content by CID into ``dest`` (a file, or a directory to put ``<cid>`` in),
        verified against the CID asked for and the one the service names."""
        try:
            expected = parse_cid(cid)
        except LedgerError as exc:
            raise InvalidArgument(str(exc)) from exc
        return self._download(f"/v1/artifacts/{expected}", Path(dest), expected, None, progress)

    def download_version(
        self,
        version_id: int,
        dest: str | os.PathLike[str],
        *,
        progress: ProgressCallback | None = None,
    ) -> Download:
        """Download a version's artifact, verified against the digest recorded on chain."""
        digest = bytes.fromhex(self.get_version(version_id).artifact_digest.removeprefix("0x"))
        return self._download(
            f"/v1/versions/{version_id}/artifact", Path(dest), None, digest, progress
        )

    def _download(
        self,
        path: str,
        dest: Path,
        expected_cid: CID | None,
        expected_digest: bytes | None,
        progress: ProgressCallback | None,
    ) -> Download:
        response = self._request("GET", path, stream=True)
        with contextlib.closing(response):
            try:
                claimed = parse_cid(response.headers.get("x-content-cid", ""))
            except LedgerError:
                raise VerificationFailed(
                    f"the service sent no valid X-Content-CID header for {path}"
                ) from None
            if dest.is_dir():
                dest = dest / str(claimed)
            length = response.headers.get("content-length")
            total = int(length) if length and length.isdigit() else None
            fd, tmp_name = tempfile.mkstemp(
                prefix=f".{dest.name}.", suffix=".part", dir=dest.parent
            )
            tmp = Path(tmp_name)
            try:
                with os.fdopen(fd, "wb") as out:

                    def received() -> Iterator[bytes]:
                        done = 0
                        for piece in response.iter_bytes():
                            out.write(piece)
                            done += len(piece)
                            if progress:
                                progress("downloading", done, total)
                            yield piece

                    actual, size = compute_cid(iter_chunks(received()))
                _verify(actual, claimed, expected_cid, expected_digest)
                os.replace(tmp, dest)
            except httpx.HTTPError as exc:
                tmp.unlink(missing_ok=True)
                raise ClientFailure(f"the download of {path} was interrupted: {exc}") from exc
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
        return Download(path=dest, cid=str(actual), size=size)

    # ------------------------------------------------------------ sign-in

    def nonce(self) -> NoncePublic:
        return _load(NoncePublic, self._get("/v1/auth/nonce"))

    def login(self, signer: Signer, *, ttl_s: int = 3600) -> SessionPublic:
        """Sign in with Ethereum (EIP-4361) and keep the session token for later requests."""
        from service.domain.auth import siwe_message

        n = self.nonce()
        message = siwe_message(
            domain=n.domain,
            uri=n.uri,
            address=signer.address,
            chain_id=n.chain_id,
            nonce=n.nonce,
            ttl_s=ttl_s,
        )
        signature = signer.sign_message(encode_defunct(text=message)).signature
        body = {"message": message, "signature": "0x" + bytes(signature).hex()}
        session = _load(
            SessionPublic, self._json(self._request("POST", "/v1/auth/login", json=body))
        )
        self.session_token = session.token
        return session

    def logout(self) -> None:
        """End the current session on the service and forget its token."""
        try:
            self._request("DELETE", "/v1/auth/session")
        finally:
            self.session_token = None

    # ------------------------------------------------------------ helpers

    def _signed(
        self,
        model: type[_M],
        method: str,
        path: str,
        signer: Signer,
        action: str,
        args: dict[str, Any],
        body: dict[str, Any],
    ) -> _M:
        fields = self.act(signer, action, args)
        return _load(model, self._json(self._request(method, path, json={**body, **fields})))


def _error_of(response: httpx.Response) -> ClientError:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and "detail" in body:
        return ClientError(response.status_code, body)
    text = response.text.strip()[:500] or response.reason_phrase
    return ClientError(
        response.status_code,
        {"title": response.reason_phrase, "status": response.status_code, "detail": text},
    )


def _check_prepared(
    prepared: PreparedAction, action: str, actor: str, args: dict[str, Any]
) -> None:
    """Refuse to sign typed data that is not the action asked for: rebuild it locally (only the
    nonce, deadline, chain id and contract address come from the service) and compare the
    EIP-712 digests."""
    spec = action_spec(action)
    domain = prepared.typed_data.get("domain", {})
    try:
        expected = Action(
            spec=spec,
            args=args,
            actor=actor,
            nonce=prepared.nonce,
            deadline=prepared.deadline,
            domain=Domain(
                name=DOMAIN_NAMES[spec.contract],
                chain_id=int(domain["chainId"]),
                verifying_contract=str(domain["verifyingContract"]),
            ),
        )
        same = _digest(expected.typed_data()) == _digest(prepared.typed_data)
    except (KeyError, TypeError, ValueError, LedgerError) as exc:
        raise VerificationFailed(
            f"the service sent typed data that cannot be checked: {exc}"
        ) from exc
    if not same or prepared.actor.lower() != actor.lower():
        raise VerificationFailed(
            f"the service asked to sign a {prepared.typed_data.get('primaryType')} that differs "
            f"from the {action} requested; nothing was signed"
        )


def _digest(typed_data: dict[str, Any]) -> bytes:
    signable = encode_typed_data(full_message=typed_data)
    return signable.header + signable.body


def _verify(
    actual: CID, claimed: CID, expected_cid: CID | None, expected_digest: bytes | None
) -> None:
    if actual != claimed:
        raise VerificationFailed(
            f"the downloaded bytes have CID {actual}, but the service said {claimed}; the file "
            "was not kept"
        )
    if expected_cid is not None and actual != expected_cid:
        raise VerificationFailed(
            f"the downloaded bytes have CID {actual}, not the {expected_cid} asked for; the file "
            "was not kept"
        )
    if expected_digest is not None and actual.digest != expected_digest:
        raise VerificationFailed(
            f"the downloaded bytes have digest 0x{actual.digest.hex()}, but the chain records "
            f"0x{expected_digest.hex()}; the file was not kept"
        )


def _seg(value: str) -> str:
    """``value`` as one URL path segment (a name with ``/`` cannot reach another route)."""
    return quote(value, safe="")


def _support(name: str) -> int:
    from service.api.schemas import SUPPORT_BY_NAME

    if name not in SUPPORT_BY_NAME:
        raise InvalidArgument(f"a vote is one of {', '.join(SUPPORT_BY_NAME)}, not {name!r}")
    return int(SUPPORT_BY_NAME[name])


def _rights_mask(names: list[str]) -> int:
    from service.api.schemas import rights_mask

    known = {"submit_updates", "read_artifacts", "maintain"}
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise InvalidArgument(
            f"rights are some of {', '.join(sorted(known))}, not {unknown or names}"
        )
    return int(rights_mask(names))  # type: ignore[arg-type]


def _read(path: Path, phase: str, total: int, progress: ProgressCallback | None) -> Iterator[bytes]:
    """The file in 256 KiB chunks, reporting progress."""
    done = 0
    with path.open("rb") as f:
        while chunk := f.read(CHUNK_SIZE):
            done += len(chunk)
            if progress:
                progress(phase, done, total)
            yield chunk
    if progress and total == 0:
        progress(phase, 0, 0)


@contextlib.contextmanager
def _as_file(source: ArtifactSource) -> Iterator[Path]:
    """A path to the artifact's bytes: the file itself, or a temporary spool of them."""
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"no artifact file at {path}")
        yield path
        return
    pieces: Iterable[bytes] = [source] if isinstance(source, bytes | bytearray) else source
    fd, name = tempfile.mkstemp(prefix="govledger-upload-")
    try:
        with os.fdopen(fd, "wb") as f:
            for piece in pieces:
                f.write(piece)
        yield Path(name)
    finally:
        Path(name).unlink(missing_ok=True)
