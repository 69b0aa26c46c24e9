"""The exception tree of the ledger: one root, typed subclasses per layer.

Every message says what was wrong and what to do about it.
"""

from __future__ import annotations


class LedgerError(Exception):
    """Root of every error the ledger raises on purpose."""


# ---------------------------------------------------------------- chain


class ChainError(LedgerError):
    """Something about the chain or the contracts went wrong."""


class CompilationError(ChainError):
    """The contracts could not be compiled."""


class ChainUnavailable(ChainError):
    """The JSON-RPC endpoint cannot be reached."""


class DeploymentError(ChainError):
    """The contracts are not deployed where the deployment record says."""


# ---------------------------------------------------------------- content store
# Owned by service/store. Each error keeps the CID it is about (``cid``), when there is one,
# so that the API layer can name it in a problem+json body.


class StoreError(LedgerError):
    """Something about the content store went wrong."""

    def __init__(self, message: str, *, cid: str | None = None) -> None:
        super().__init__(message)
        self.cid = cid


class InvalidCID(StoreError):
    """A CID is malformed: not a multibase string or byte string that decodes to a CID."""


class UnsupportedCID(StoreError):
    """A well-formed CID this store cannot hold (a codec or hash function other than
    raw or dag-pb over sha2-256)."""


class ContentNotFound(StoreError):
    """The content (or one block of it) is not in the store."""


class IntegrityError(StoreError):
    """Bytes read back do not match the CID that names them (corruption or a lying node)."""


class StoreUnavailable(StoreError):
    """The store cannot be reached (kubo node down, RPC failing) or the disk refused a write."""


class CarError(StoreError):
    """A CAR file is malformed or holds a block that does not match its CID; nothing was
    imported."""


# ---------------------------------------------------------------- categories
# Each category maps to one HTTP status in the API layer; contract reverts (service.chain.reverts)
# and input checks raise subclasses of these.


class InvalidInput(LedgerError):
    """The request's values are invalid (HTTP 422)."""


class NotFound(LedgerError):
    """The thing asked for does not exist (HTTP 404)."""


class Forbidden(LedgerError):
    """The acting account may not do this (HTTP 403)."""


class Conflict(LedgerError):
    """The request conflicts with the current state (HTTP 409)."""


class SignatureRejected(LedgerError):
    """The action's signature, nonce or deadline is not acceptable (HTTP 401)."""


class Unauthenticated(LedgerError):
    """The request needs a sign-in session and has none, or an expired one (HTTP 401)."""


class InvalidMetadataDocument(Conflict):
    """A metadata digest on chain names a block that is not a JSON object (HTTP 409)."""


class PayloadTooLarge(InvalidInput):
    """The request body is larger than the configured bound (HTTP 413)."""


class QuotaExceeded(LedgerError):
    """The acting account has used its quota; retry after ``retry_after`` seconds (HTTP 429)."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ServiceUnavailable(LedgerError):
    """A backend the request needs is not reachable now; retry later (HTTP 503)."""


# ---------------------------------------------------------------- relaying
# Owned by service/journal: the journal of signed actions and the relayer in front of the chain.


class ActionInFlight(Conflict):
    """Another action of the same actor with the same nonce on the same contract is being
    relayed; at most one may be in flight (HTTP 409)."""


class RelayingSuspended(Forbidden):
    """A transaction relayed for this actor passed its simulation and then reverted on chain,
    at the relayer's cost; the service relays nothing for the actor until ``retry_after_s``
    has passed (HTTP 403 with Retry-After)."""

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class ActionPending(ServiceUnavailable):
    """The action is journaled and its transaction sent, but the chain did not confirm it in
    time; the journal applies it exactly once when the chain answers (HTTP 503)."""


# ---------------------------------------------------------------- ml
# Owned by service/ml.


class InvalidArtifact(InvalidInput):
    """Artifact bytes are not a well-formed file of their declared format (safetensors, a
    torch.export archive or ONNX), or the format is unknown; the message names what is wrong."""
