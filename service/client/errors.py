"""What the client raises: every failure is a ClientFailure; HTTP problems are ClientError."""

from __future__ import annotations

from typing import Any

import httpx


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
