"""The participant's and the coordinator's side of federated rounds, over the REST service.

A participant lists the rounds waiting for it, fetches the round's base (verified against the
digest the chain records), trains on its own data, and submits the update: its CID is computed
locally, ``SubmitUpdate`` (round, base digest, update digest, samples) signed locally, and the
bytes streamed to the service's gate. A coordinator opens a round, closes it, asks the service
for the aggregate, and signs ``FinalizeRound`` over it. Anyone can re-run a round's aggregation
locally from the stored updates and compare bytes (``verify_round``).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from service.api.round_schemas import (
    AggregationPublic,
    RoundDetail,
    RoundFinalized,
    RoundList,
    RoundWritten,
    UpdateStatusPublic,
    UpdateWritten,
)
from service.chain.merkle import inclusion_leaf, verify_proof
from service.chain.types import NORM_SCALE
from service.client.base import (
    ArtifactSource,
    Download,
    ProgressCallback,
    Signer,
    _load,
)
from service.client.errors import InvalidArgument, VerificationFailed
from service.client.resources import ResourceCalls
from service.client.transfer import _as_file, _read
from service.ml.aggregate import (
    Contribution,
    ExclusionReason,
    aggregate_file,
    params_digest,
    rule_from,
    rule_id,
)
from service.ml.tensors import read_safetensors
from service.store.chunker import iter_chunks
from service.store.cid import CID, cid_from_digest, parse_cid
from service.store.unixfs import compute_cid


@dataclass(frozen=True, kw_only=True)
class RoundCheck:
    """What re-running a round's aggregation locally found."""

    round_id: int
    aggregate_cid: str
    recorded_cid: str | None  # the aggregate version's (finalized) or the service's (closed)
    included: tuple[str, ...]
    excluded: tuple[tuple[str, int], ...]
    matches: bool


@dataclass(frozen=True, kw_only=True)
class UpdateCheck:
    """A participant's update as the service reports it, its inclusion proof checked here:
    ``proof_verified`` is True once the leaf recomputed from the recorded update and the proof
    lead to the round's inclusion root, None when there is nothing to prove (not included)."""

    status: UpdateStatusPublic
    proof_verified: bool | None


class RoundCalls(ResourceCalls):
    # ------------------------------------------------------------ reads

    def rounds(
        self,
        *,
        model_id: int | None = None,
        participant: str | None = None,
        state: str | None = None,
        limit: int = 100,
    ) -> RoundList:
        params: dict[str, Any] = {"limit": limit}
        if participant:
            params["participant"] = participant
        if state:
            params["state"] = state
        path = f"/v1/models/{model_id}/rounds" if model_id else "/v1/rounds"
        return _load(RoundList, self._get(path, **params))

    def round(self, round_id: int) -> RoundDetail:
        return _load(RoundDetail, self._get(f"/v1/rounds/{round_id}"))

    def update_status(self, round_id: int, participant: str) -> UpdateCheck:
        """``participant``'s update to the round: recorded (and by which transaction),
        pending, included or excluded with the chain's reason. An included update's proof is
        verified here: the leaf is recomputed from the participant, digest and samples the
        chain records, and the proof must lead from it to the round's inclusion root;
        VerificationFailed if it does not."""
        path = f"/v1/rounds/{round_id}/updates/{participant}"
        status = _load(UpdateStatusPublic, self._get(path))
        if status.outcome != "included":
            return UpdateCheck(status=status, proof_verified=None)
        update, root = status.update, status.round.inclusion_root
        if update is None or root is None or status.proof is None:
            raise VerificationFailed(
                f"the service says {participant}'s update to round {round_id} is included but "
                "gives no update, inclusion root or proof to check it by"
            )
        if update.participant.lower() != participant.lower():
            raise VerificationFailed(
                f"asked about {participant}'s update to round {round_id}, the service answered "
                f"with {update.participant}'s: the service's answer cannot be trusted"
            )
        leaf = inclusion_leaf(
            participant, bytes.fromhex(update.update_digest[2:]), update.sample_count
        )
        proof = [bytes.fromhex(p[2:]) for p in status.proof]
        if not verify_proof(proof, bytes.fromhex(root[2:]), leaf):
            raise VerificationFailed(
                f"the inclusion proof of {participant}'s update to round {round_id} does not "
                f"lead to the round's inclusion root {root}: the service's answer cannot be "
                "trusted; read the root from the chain (FederatedRounds.round(id).inclusionRoot)"
            )
        return UpdateCheck(status=status, proof_verified=True)

    def fetch_base(
        self,
        round_id: int,
        dest: str | os.PathLike[str],
        *,
        progress: ProgressCallback | None = None,
    ) -> Download:
        """Download the round's base weights, verified against the digest the chain records."""
        detail = self.round(round_id)
        digest = bytes.fromhex(detail.round.base_digest[2:])
        return self._download(
            f"/v1/versions/{detail.round.base_version_id}/artifact",
            Path(dest),
            None,
            digest,
            progress,
        )

    # ------------------------------------------------------------ participants

    def submit_update(
        self,
        signer: Signer,
        round_id: int,
        update: ArtifactSource,
        *,
        sample_count: int,
        progress: ProgressCallback | None = None,
    ) -> UpdateWritten:
        """Sign SubmitUpdate over the update's locally computed CID and stream it to the gate."""
        if sample_count < 1:
            raise InvalidArgument("sample_count is the number of samples the update saw: >= 1")
        detail = self.round(round_id)
        with _as_file(update) as path:
            size = path.stat().st_size
            cid, _ = compute_cid(iter_chunks(_read(path, "hashing", size, progress)))
            fields = self.act(
                signer,
                "SubmitUpdate",
                {
                    "roundId": round_id,
                    "baseDigest": detail.round.base_digest,
                    "updateDigest": "0x" + cid.digest.hex(),
                    "sampleCount": sample_count,
                },
            )
            response = self._request(
                "POST",
                f"/v1/rounds/{round_id}/updates",
                params={"update_cid": str(cid), "sample_count": sample_count, **fields},
                content=_read(path, "uploading", size, progress),
                headers={"content-type": "application/octet-stream", "content-length": str(size)},
            )
        written = _load(UpdateWritten, self._json(response))
        if written.update.update_digest.lower() != "0x" + cid.digest.hex():
            raise VerificationFailed(
                f"the service recorded digest {written.update.update_digest} for an update whose "
                f"digest is 0x{cid.digest.hex()}"
            )
        return written

    # ------------------------------------------------------------ coordinators

    def open_round(
        self,
        signer: Signer,
        model_id: int,
        *,
        base_version_id: int,
        rule: str,
        params: Mapping[str, Any],
        min_updates: int,
        max_updates: int,
        submission_deadline: int,
        max_norm: float,
    ) -> RoundWritten:
        """Sign OpenRound (the parameters' digest computed locally, as the service will) and
        open the round."""
        rule_obj = rule_from(rule, dict(params))
        fields = self.act(
            signer,
            "OpenRound",
            {
                "modelId": model_id,
                "baseVersionId": base_version_id,
                "rule": "0x" + rule_id(rule_obj.name).hex(),
                "paramsDigest": "0x" + params_digest(rule_obj).hex(),
                "minUpdates": min_updates,
                "maxUpdates": max_updates,
                "submissionDeadline": submission_deadline,
                "maxNorm": round(max_norm * NORM_SCALE),
            },
        )
        body = {
            "base_version_id": base_version_id,
            "rule": rule_obj.name,
            "params": rule_obj.params,
            "min_updates": min_updates,
            "max_updates": max_updates,
            "submission_deadline": submission_deadline,
            "max_norm": max_norm,
            **fields,
        }
        response = self._request("POST", f"/v1/models/{model_id}/rounds", json=body)
        return _load(RoundWritten, self._json(response))

    def close_round(self, signer: Signer, round_id: int) -> RoundWritten:
        fields = self.act(signer, "CloseRound", {"roundId": round_id})
        response = self._request("POST", f"/v1/rounds/{round_id}/close", json=fields)
        return _load(RoundWritten, self._json(response))

    def cancel_round(self, signer: Signer, round_id: int) -> RoundWritten:
        fields = self.act(signer, "CancelRound", {"roundId": round_id})
        response = self._request("POST", f"/v1/rounds/{round_id}/cancel", json=fields)
        return _load(RoundWritten, self._json(response))

    def aggregate_round(self, round_id: int) -> AggregationPublic:
        """The service's aggregate of a closed round (computed once, stored)."""
        response = self._request("POST", f"/v1/rounds/{round_id}/aggregate")
        return _load(AggregationPublic, self._json(response))

    def finalize_round(self, signer: Signer, round_id: int) -> RoundFinalized:
        """Sign FinalizeRound over the service's aggregate of the round and submit it."""
        aggregation = self.aggregate_round(round_id)
        fields = self.act(signer, "FinalizeRound", dict(aggregation.finalize_args))
        response = self._request("POST", f"/v1/rounds/{round_id}/finalize", json=fields)
        return _load(RoundFinalized, self._json(response))

    # ------------------------------------------------------------ anyone

    def verify_round(self, round_id: int) -> RoundCheck:
        """Re-run a round's aggregation here, from the base and the updates the chain records
        (each download verified against its digest), and compare the aggregate's CID with the
        one recorded (the aggregate version's artifact once finalized, else the service's)."""
        detail = self.round(round_id)
        r = detail.round
        with tempfile.TemporaryDirectory(prefix="govledger-verify-") as tmp:
            base_path = Path(tmp) / "base.safetensors"
            self.fetch_base(round_id, base_path)
            base_bytes = base_path.read_bytes()
            params = self._round_params(r.params_digest)
            rule = rule_from(r.rule, params)
            contributions = []
            for update in detail.updates:
                dest = Path(tmp) / f"{update.participant}.safetensors"
                self._download(
                    f"/v1/artifacts/{update.update_cid}",
                    dest,
                    parse_cid(update.update_cid),
                    bytes.fromhex(update.update_digest[2:]),
                    None,
                )
                contributions.append(
                    Contribution(
                        participant=update.participant,
                        samples=update.sample_count,
                        tensors=read_safetensors(dest.read_bytes()),
                    )
                )
        result = rule.aggregate(contributions)
        aggregate_cid = _aggregate_cid(base_bytes, result.tensors)
        if r.aggregate_version_id is not None:
            version = self.get_version(r.aggregate_version_id)
            recorded: str | None = version.artifact_cid or str(
                cid_from_digest(
                    bytes.fromhex(version.artifact_digest[2:]), file_size=len(base_bytes)
                )
            )
        elif r.state == "closed":
            recorded = self.aggregate_round(round_id).aggregate_cid
        else:
            recorded = None
        return RoundCheck(
            round_id=round_id,
            aggregate_cid=str(aggregate_cid),
            recorded_cid=recorded,
            included=result.included,
            excluded=tuple((e.participant, int(e.reason)) for e in result.excluded),
            matches=recorded is not None and recorded == str(aggregate_cid),
        )

    def _round_params(self, digest_hex: str) -> dict[str, Any]:
        cid = cid_from_digest(bytes.fromhex(digest_hex[2:]), file_size=0)
        import json

        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "params.json"
            self._download(f"/v1/artifacts/{cid}", path, cid, None, None)
            document = json.loads(path.read_text())
        params: dict[str, Any] = document["params"]
        return params


def _aggregate_cid(base_bytes: bytes, delta: Mapping[str, np.ndarray]) -> CID:
    """The CID of the aggregate file the service writes for ``base + delta``."""
    cid, _ = compute_cid(iter_chunks(aggregate_file(base_bytes, delta)))
    return cid


__all__ = ["ExclusionReason", "RoundCalls", "RoundCheck", "UpdateCheck"]
