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

from service.client.base import ZERO_DIGEST, ArtifactSource, Download, ProgressCallback, Signer
from service.client.builds import BuildCalls
from service.client.errors import (
    ClientError,
    ClientFailure,
    InvalidArgument,
    ServiceUnreachable,
    VerificationFailed,
)
from service.client.registry import RegistryCalls
from service.client.rounds import RoundCalls
from service.client.timeline import TimelineCalls

__all__ = [
    "ZERO_DIGEST",
    "ArtifactSource",
    "ClientError",
    "ClientFailure",
    "Download",
    "GovLedgerClient",
    "InvalidArgument",
    "ProgressCallback",
    "ServiceUnreachable",
    "Signer",
    "VerificationFailed",
]


class GovLedgerClient(RegistryCalls, RoundCalls, BuildCalls, TimelineCalls):
    """Typed access to every endpoint of the service; see the module docstring."""
