"""The client's transport, signing and shared helpers (see :mod:`service.client`)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, Self, TypeVar
from urllib.parse import quote

import httpx
from eth_account.datastructures import SignedMessage
from eth_account.messages import SignableMessage, encode_typed_data
from pydantic import BaseModel, TypeAdapter, ValidationError

from service.api.schemas import (
    HealthPublic,
    InfoPublic,
    PreparedAction,
    ReadinessPublic,
)
from service.chain.actions import (
    DOMAIN_NAMES,
    Action,
    Domain,
    action_spec,
    store_metadata_statement,
)
from service.client.errors import (
    ClientFailure,
    InvalidArgument,
    ServiceUnreachable,
    VerificationFailed,
    _error_of,
)
from service.errors import LedgerError

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


# ---------------------------------------------------------------- results


@dataclass(frozen=True, kw_only=True)
class Download:
    """A verified download: where it is, its CID (recomputed locally), its size, and a warning
    when loading the file may run code (a torch.export archive or another zip: see
    ``service.ml.sniff.unsafe_to_load``), else None."""

    path: Path
    cid: str
    size: int
    warning: str | None = None


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


class ClientBase:
    """Transport, health and info, and signing of actions; the resource calls build on it."""

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

    def __enter__(self) -> Self:
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

    def sign_store_metadata(
        self, signer: Signer, digest: bytes, *, deadline: int
    ) -> dict[str, Any]:
        """The query of POST /v1/metadata: ``signer``'s StoreMetadata signature over ``digest``
        (an off-chain statement in the ModelRegistry's domain, read from GET /v1/info)."""
        info = self.info()
        registry = info.contracts["ModelRegistry"]
        statement = store_metadata_statement(
            domain=Domain(
                name=DOMAIN_NAMES["ModelRegistry"],
                chain_id=info.chain_id,
                verifying_contract=registry.address,
            ),
            digest=digest,
            actor=signer.address,
            deadline=deadline,
        )
        signed = signer.sign_message(encode_typed_data(full_message=statement.typed_data()))
        return {
            "actor": signer.address,
            "digest": "0x" + digest.hex(),
            "deadline": deadline,
            "signature": "0x" + bytes(signed.signature).hex(),
        }

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
