"""Exit codes by kind of failure, so that a script can tell what went wrong without reading the
message, and the JSON form of an error (``--json``: on stderr, one object).

A failure's kind comes from what raised it: the service's HTTP status (its problem+json body),
the ledger's exception categories (``service.errors``, the chain's custom errors among them), or
the kind a :class:`~service.cli.output.CliError` names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any


class ExitCode(IntEnum):
    """What ``govledger`` exits with; the names (lower case) are the ``kind`` of a JSON error."""

    OK = 0
    FAILED = 1
    """Anything not below (an unexpected answer, a local file that cannot be written)."""
    BAD_INPUT = 2
    """The command line or a value in it is wrong (click's usage errors exit 2 too)."""
    NOT_FOUND = 3
    """The model, version, alias, proposal, key or file named does not exist."""
    REFUSED = 4
    """The chain or the service refused: not allowed for this account, or not in this state."""
    SIGNATURE = 5
    """The signature, the key or the sign-in session is missing or not accepted."""
    UNAVAILABLE = 6
    """The service, chain or store is not reachable, not ready or busy: retry later."""
    VERIFICATION = 7
    """Bytes or typed data from the service are not what they should be; nothing was kept."""

    @property
    def kind(self) -> str:
        return self.name.lower()


EXIT_CODES_HELP = (
    "Exit codes: 0 done; 1 other failure; 2 bad input (usage); 3 not found; 4 refused by the "
    "chain or the service (rights, state); 5 signature, key or sign-in session; 6 service, "
    "chain or store unavailable (retry later; `govledger status` exits 6 when the stack is not "
    "ready); 7 verification failed. With --json, an error is one JSON object on stderr: "
    '{"error": {"kind", "exit_code", "message", ...}}.'
)

_BY_STATUS = {
    400: ExitCode.BAD_INPUT,
    401: ExitCode.SIGNATURE,
    403: ExitCode.REFUSED,
    404: ExitCode.NOT_FOUND,
    405: ExitCode.BAD_INPUT,
    409: ExitCode.REFUSED,
    413: ExitCode.BAD_INPUT,
    422: ExitCode.BAD_INPUT,
    429: ExitCode.UNAVAILABLE,
    503: ExitCode.UNAVAILABLE,
}


@dataclass(frozen=True, kw_only=True)
class Failure:
    """An expected error as the command reports it."""

    code: ExitCode
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "error": {
                "kind": self.code.kind,
                "exit_code": int(self.code),
                "message": self.message,
                **self.details,
            }
        }


def exit_code_of_status(status: int) -> ExitCode:
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    if status >= 500:
        return ExitCode.FAILED
    return ExitCode.BAD_INPUT if 400 <= status < 500 else ExitCode.FAILED


def exit_code_of_ledger_error(exc: BaseException) -> ExitCode:
    """The kind of one of ``service.errors``' categories (errors raised in this process: local
    chain and store commands)."""
    from service import errors
    from service.chain.accounts import KeystoreError

    order: list[tuple[type[BaseException], ExitCode]] = [
        (errors.PayloadTooLarge, ExitCode.BAD_INPUT),
        (errors.InvalidInput, ExitCode.BAD_INPUT),
        (errors.InvalidCID, ExitCode.BAD_INPUT),
        (errors.UnsupportedCID, ExitCode.BAD_INPUT),
        (errors.CarError, ExitCode.BAD_INPUT),
        (errors.NotFound, ExitCode.NOT_FOUND),
        (errors.ContentNotFound, ExitCode.NOT_FOUND),
        (errors.SignatureRejected, ExitCode.SIGNATURE),
        (errors.Unauthenticated, ExitCode.SIGNATURE),
        (errors.Forbidden, ExitCode.REFUSED),
        (errors.Conflict, ExitCode.REFUSED),
        (errors.QuotaExceeded, ExitCode.UNAVAILABLE),
        (errors.ChainUnavailable, ExitCode.UNAVAILABLE),
        (errors.StoreUnavailable, ExitCode.UNAVAILABLE),
        (errors.ServiceUnavailable, ExitCode.UNAVAILABLE),
        (errors.DeploymentError, ExitCode.UNAVAILABLE),
        (errors.IntegrityError, ExitCode.VERIFICATION),
        (KeystoreError, ExitCode.SIGNATURE),
    ]
    for cls, code in order:
        if isinstance(exc, cls):
            return code
    return ExitCode.FAILED
