"""One method per resource endpoint: models, versions and votes, aliases, rights, consortium."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from service.api.schemas import (
    KIND_BY_NAME,
    AliasMovePublic,
    AliasPublic,
    AliasWritten,
    ConsortiumPublic,
    MemberPublic,
    ModelList,
    ModelPublic,
    ModelWritten,
    ProposalPublic,
    ProposalWritten,
    RightsPublic,
    RightsWritten,
    StoredContent,
    VersionList,
    VersionPublic,
    VersionUpdated,
    VersionWritten,
    VotePublic,
    VoteWritten,
    Written,
)
from service.client.base import (
    ZERO_DIGEST,
    ArtifactSource,
    Download,
    ProgressCallback,
    Signer,
    _list_of,
    _load,
    _rights_mask,
    _seg,
    _support,
)
from service.client.errors import ClientError, InvalidArgument, VerificationFailed
from service.client.transfer import TransferCalls, _as_file, _read
from service.errors import InvalidArtifact, LedgerError
from service.store.chunker import iter_chunks
from service.store.cid import CID
from service.store.unixfs import compute_cid


def _checked_cid(path: Path, artifact_format: str, chunks: Iterator[bytes]) -> CID:
    """The CID of ``chunks`` (the file at ``path``), which must be a well-formed
    ``artifact_format`` file: else InvalidArgument says what the file is and what to do."""
    from service.ml.formats import artifact_validator
    from service.ml.sniff import identify, not_an_artifact

    try:
        validator = artifact_validator(artifact_format)

        def validated() -> Iterator[bytes]:
            for chunk in chunks:
                validator.feed(chunk)
                yield chunk

        cid, _ = compute_cid(iter_chunks(validated()))
        validator.finish()
    except InvalidArtifact as exc:
        with path.open("rb") as f:
            head = f.read(64)
        found = identify(head, _read(path, "checking", path.stat().st_size, None))
        if found.format == artifact_format:
            message = f"{path.name} is not a well-formed {artifact_format} file: {exc}"
        else:
            message = not_an_artifact(path.name, found, declared=artifact_format)
        raise InvalidArgument(f"{message}; nothing was uploaded") from None
    return cid


class ResourceCalls(TransferCalls):
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
        from service.chain.types import validate_model_name

        try:
            validate_model_name(name)
        except LedgerError as exc:
            raise InvalidArgument(str(exc)) from None
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
        """Name ``new_owner`` the model's pending owner (the zero address cancels); the signer
        stays owner until ``new_owner`` accepts (``accept_model``)."""
        args = {"modelId": model_id, "newOwner": new_owner}
        path = f"/v1/models/{model_id}/owner"
        return self._signed(
            ModelWritten, "PUT", path, signer, "TransferModelOwnership", args,
            {"new_owner": new_owner},
        )  # fmt: skip

    def accept_model(self, signer: Signer, model_id: int) -> ModelWritten:
        """Take over a model whose pending owner the signer is."""
        path = f"/v1/models/{model_id}/owner/accept"
        return self._signed(
            ModelWritten, "POST", path, signer, "AcceptModelOwnership", {"modelId": model_id}, {}
        )

    def set_read_policy(self, signer: Signer, model_id: int, *, restricted: bool) -> ModelWritten:
        args = {"modelId": model_id, "restricted": restricted}
        path = f"/v1/models/{model_id}/read-policy"
        return self._signed(
            ModelWritten, "PUT", path, signer, "SetReadPolicy", args, {"restricted": restricted}
        )

    def store_metadata(
        self, signer: Signer, document: dict[str, Any] | bytes, *, ttl_s: int = 600
    ) -> StoredContent:
        """Store a metadata document (a JSON object) and get its CID and digest. The signer (a
        member) signs StoreMetadata over the document's digest, computed here, valid for
        ``ttl_s`` seconds; the stored CID is checked against it."""
        if isinstance(document, dict):
            import json

            document = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
        cid, _ = compute_cid(iter_chunks(document))
        params = self.sign_store_metadata(signer, cid.digest, deadline=int(time.time()) + ttl_s)
        response = self._request(
            "POST",
            "/v1/metadata",
            params=params,
            content=document,
            headers={"content-type": "application/json"},
        )
        stored = _load(StoredContent, self._json(response))
        if stored.cid != str(cid):
            raise VerificationFailed(
                f"the service stored the document as {stored.cid}, but its CID is {cid}"
            )
        return stored

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
        allow_duplicate: bool = False,
    ) -> VersionWritten:
        """Check the artifact's format and compute its CID locally (one pass; a file that is
        not ``artifact_format`` is refused here, before anything is sent), sign ProposeVersion
        over its digest, then stream the file to the service, which stores it and proposes it
        in one call. Bytes that are already a version of the model are refused (409
        duplicate-artifact) unless ``allow_duplicate``."""
        if kind not in KIND_BY_NAME:
            raise InvalidArgument(f"kind must be one of {', '.join(KIND_BY_NAME)}, not {kind!r}")
        if kind != "base" and not parent_id:
            raise InvalidArgument(
                f"an {kind} version needs a parent: give parent_id, the Approved version of the "
                "same model it derives from"
            )
        with _as_file(artifact) as path:
            size = path.stat().st_size
            cid = _checked_cid(path, artifact_format, _read(path, "hashing", size, progress))
            digest = "0x" + cid.digest.hex()
            if not allow_duplicate:
                self._refuse_duplicate(model_id, digest)
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
                "artifact_cid": str(cid),
                "kind": kind,
                "parent_id": parent_id,
                "metadata_digest": metadata_digest,
                **({"allow_duplicate": "true"} if allow_duplicate else {}),
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

    def _refuse_duplicate(self, model_id: int, digest: str) -> None:
        """The service's duplicate-artifact refusal, before the upload rather than after: a
        version of the model with these bytes is a 409 (the service checks again)."""
        from service.domain.prechecks import duplicate_message

        offset = 0
        while True:
            page = self.list_versions(model_id, offset=offset, limit=500)
            for v in page.items:
                if v.artifact_digest.lower() == digest:
                    detail = duplicate_message(
                        v.model_name or str(model_id), v.number or 0, v.version_id, v.state
                    )
                    raise ClientError(
                        409,
                        {
                            "type": "/problems/duplicate-artifact",
                            "title": "Conflict",
                            "status": 409,
                            "detail": f"{detail}; nothing was uploaded",
                        },
                    )
            offset += len(page.items)
            if not page.items or offset >= page.total:
                return

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

    def get_version_by_number(self, model_id: int, number: int) -> VersionPublic:
        """The model's ``number``th version (1 is its first)."""
        return _load(VersionPublic, self._get(f"/v1/models/{model_id}/versions/{number}"))

    def resolve_version(self, ref: str | int) -> VersionPublic:
        """The version a reference names: ``digits-mlp@3`` (the model's third version),
        ``digits-mlp:production`` (the alias's version now) or a version id."""
        return _load(VersionPublic, self._get(f"/v1/versions/by-ref/{_seg(str(ref))}"))

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

    # ------------------------------------------------------------ a version's artifact

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
