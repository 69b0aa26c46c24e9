"""Accelerated builds, evaluation sets and predictions, with the checks a signer makes.

Before signing a build's proposal the client checks what it signs: the version metadata
document's bytes hash to the CID whose digest goes into ``ProposeVersion``, and the document
names the candidate's artifact, the job's parent version and the recipe and report whose bytes
it was given (each hashed here too). Reading a build version back
(:meth:`BuildCalls.version_build`) checks the metadata document against the digest on chain and
the recipe and report against the CIDs the document names.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from service.api.build_schemas import BuildJobPublic, PredictionPublic, VersionBuildPublic
from service.api.schemas import StoredContent, VersionWritten
from service.client.base import ClientBase, Signer, _load
from service.client.errors import ClientFailure, InvalidArgument, VerificationFailed
from service.store.chunker import iter_chunks
from service.store.unixfs import compute_cid

ACCELERATED = 2  # VersionKind.ACCELERATED

BuildProgress = Callable[[BuildJobPublic], None]


def _cid(data: bytes) -> str:
    cid, _ = compute_cid(iter_chunks(data))
    return str(cid)


class BuildCalls(ClientBase):
    # ------------------------------------------------------------ evaluation sets

    def store_evaluation_set(
        self, signer: Signer, data: bytes, *, ttl_s: int = 600
    ) -> StoredContent:
        """Store a safetensors evaluation set (``inputs`` F32, ``labels`` I64), signed
        StoreMetadata by a member; its CID (checked against the one computed here)."""
        cid, _ = compute_cid(iter_chunks(data))
        params = self.sign_store_metadata(signer, cid.digest, deadline=int(time.time()) + ttl_s)
        response = self._request(
            "POST",
            "/v1/evaluation-sets",
            params=params,
            content=data,
            headers={"content-type": "application/octet-stream"},
        )
        stored = _load(StoredContent, self._json(response))
        if stored.cid != str(cid):
            raise VerificationFailed(f"the service stored the set as {stored.cid}, not {cid}")
        return stored

    # ------------------------------------------------------------ build jobs

    def start_build(
        self,
        model_id: int,
        version_id: int,
        *,
        budget_points: float = 1.0,
        builds: list[str] | None = None,
        compare_torch: bool = False,
    ) -> BuildJobPublic:
        """Start a build job (needs a sign-in session of the owner or a maintainer)."""
        body: dict[str, Any] = {
            "version_id": version_id,
            "budget_points": float(budget_points),
            "compare_torch": compare_torch,
        }
        if builds:
            body["builds"] = builds
        response = self._request("POST", f"/v1/models/{model_id}/builds", json=body)
        return _load(BuildJobPublic, self._json(response))

    def get_build(self, job_id: int) -> BuildJobPublic:
        return _load(BuildJobPublic, self._get(f"/v1/builds/{job_id}"))

    def list_builds(self, model_id: int, *, limit: int = 50) -> list[BuildJobPublic]:
        """A model's build jobs, newest first."""
        data = self._get(f"/v1/models/{model_id}/builds", limit=limit)
        return [_load(BuildJobPublic, item) for item in data]

    def wait_build(
        self,
        job_id: int,
        *,
        progress: BuildProgress | None = None,
        poll_s: float = 0.5,
        timeout_s: float = 3600.0,
    ) -> BuildJobPublic:
        """Follow a job until it succeeds or fails; ``progress`` sees every state polled."""
        deadline = time.monotonic() + timeout_s
        while True:
            job = self.get_build(job_id)
            if progress:
                progress(job)
            if job.state in ("succeeded", "failed"):
                return job
            if time.monotonic() > deadline:
                raise ClientFailure(f"build job {job_id} did not finish within {timeout_s:g}s")
            time.sleep(poll_s)

    def check_candidate(self, job: BuildJobPublic, name: str) -> dict[str, Any]:
        """The accepted candidate ``name`` of a finished job, once its documents check out
        (see the module docstring); VerificationFailed otherwise."""
        result = job.result
        if job.state != "succeeded" or result is None:
            raise InvalidArgument(f"build job {job.job_id} is {job.state}, not succeeded")
        candidate = next((c for c in result["candidates"] if c["build"] == name), None)
        if candidate is None:
            raise InvalidArgument(f"build job {job.job_id} has no accepted build {name!r}")
        metadata_text = candidate["metadata"]["document"].encode()
        recipe_text = candidate["recipe"]["document"].encode()
        report_text = result["report"]["document"].encode()
        for what, data, cid in (
            ("metadata document", metadata_text, candidate["metadata"]["cid"]),
            ("recipe", recipe_text, candidate["recipe"]["cid"]),
            ("report", report_text, result["report"]["cid"]),
        ):
            if _cid(data) != cid:
                raise VerificationFailed(f"build {name!r}: the {what}'s bytes are not CID {cid}")
        doc = json.loads(metadata_text)
        expected = {
            "artifact cid": (doc["artifact"]["cid"], candidate["artifact"]["cid"]),
            "parent version": (doc["parent"]["version_id"], job.version_id),
            "model": (doc["model_id"], job.model_id),
            "recipe cid": (doc["recipe"]["cid"], candidate["recipe"]["cid"]),
            "report cid": (doc["metrics"]["cid"], result["report"]["cid"]),
        }
        wrong = [k for k, (found, want) in expected.items() if found != want]
        if wrong:
            raise VerificationFailed(
                f"build {name!r}: the metadata document does not name the job's "
                f"{', '.join(wrong)}; nothing was signed"
            )
        return candidate

    def propose_build(self, signer: Signer, job: BuildJobPublic, name: str) -> VersionWritten:
        """Check build ``name`` of a finished job, sign ProposeVersion(model, parent,
        Accelerated, artifact digest, metadata digest) and have the service relay it."""
        candidate = self.check_candidate(job, name)
        artifact_digest = candidate["artifact"]["digest"]
        metadata_digest = candidate["metadata"]["digest"]
        fields = self.act(
            signer,
            "ProposeVersion",
            {
                "modelId": job.model_id,
                "parentId": job.version_id,
                "kind": ACCELERATED,
                "artifactDigest": artifact_digest,
                "metadataDigest": metadata_digest,
            },
        )
        response = self._request(
            "POST", f"/v1/builds/{job.job_id}/candidates/{name}/proposal", json=fields
        )
        written = _load(VersionWritten, self._json(response))
        version = written.version
        if (
            version.artifact_digest.lower() != artifact_digest.lower()
            or version.metadata_digest.lower() != metadata_digest.lower()
            or version.parent_id != job.version_id
        ):
            raise VerificationFailed(
                f"the service recorded version {version.version_id} with other digests or "
                "parent than the ones signed"
            )
        return written

    def version_build(self, version_id: int) -> VersionBuildPublic:
        """A build version's metadata, recipe and report, checked against the chain's digest
        and the CIDs the metadata names."""
        docs = _load(VersionBuildPublic, self._get(f"/v1/versions/{version_id}/build"))
        on_chain = str(self._get(f"/v1/versions/{version_id}")["metadata_digest"]).lower()
        meta = docs.metadata.document.encode()
        cid, _ = compute_cid(iter_chunks(meta))
        if "0x" + cid.digest.hex() != on_chain:
            raise VerificationFailed(
                f"version {version_id}'s metadata document does not have the digest on chain"
            )
        doc = json.loads(meta)
        for key, part in (("recipe", docs.recipe), ("metrics", docs.metrics)):
            if _cid(part.document.encode()) != doc[key]["cid"] or part.cid != doc[key]["cid"]:
                raise VerificationFailed(
                    f"version {version_id}'s {key} document is not the one its metadata names"
                )
        return docs

    # ------------------------------------------------------------ predictions

    def predict(
        self, version_id: int, batch: np.ndarray | list[Any] | dict[str, Any] | Path
    ) -> PredictionPublic:
        """Predictions of an approved ONNX version for ``batch``: an array (sent as .npy), a
        list or a mapping of input names (sent as JSON), or a file (.npy, .safetensors, .json).
        """
        if isinstance(batch, Path):
            suffix = batch.suffix.lower()
            types = {
                ".npy": "application/x-npy",
                ".safetensors": "application/x-safetensors",
                ".json": "application/json",
            }
            if suffix not in types:
                raise InvalidArgument(f"a batch file is .npy, .safetensors or .json, not {suffix}")
            content, content_type = batch.read_bytes(), types[suffix]
        elif isinstance(batch, np.ndarray):
            buffer = io.BytesIO()
            np.save(buffer, batch, allow_pickle=False)
            content, content_type = buffer.getvalue(), "application/x-npy"
        else:
            content = json.dumps({"inputs": batch}).encode()
            content_type = "application/json"
        response = self._request(
            "POST",
            f"/v1/versions/{version_id}/predict",
            content=content,
            headers={"content-type": content_type},
        )
        return _load(PredictionPublic, self._json(response))
