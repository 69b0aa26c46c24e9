"""Calls a registry user reaches for next to the basics: versions' metadata documents and
search, reasons given with votes, and the ballots waiting for a member's vote."""

from __future__ import annotations

import time
from typing import Any

from service.api.schemas import OpenBallotPublic, VersionSearchList, VoteReasonPublic
from service.client.base import Signer, _list_of, _load
from service.client.resources import ResourceCalls
from service.store.chunker import iter_chunks
from service.store.unixfs import compute_cid


class RegistryCalls(ResourceCalls):
    def get_version_metadata(self, version_id: int) -> dict[str, Any]:
        """The version's metadata document (description, tags, metrics), checked by the
        service against the digest on chain (restricted models: a session with read right)."""
        doc: dict[str, Any] = self._get(f"/v1/versions/{version_id}/metadata")
        return doc

    def search_versions(
        self,
        *,
        text: str | None = None,
        tags: list[str] | None = None,
        model_id: int | None = None,
        state: str | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> VersionSearchList:
        """Versions whose metadata holds every word of ``text`` (description, tags, model
        name) and every tag (``key`` or ``key=value``), of one model or all."""
        return _load(
            VersionSearchList,
            self._get(
                "/v1/versions",
                text=text,
                tag=tags or None,
                model_id=model_id,
                state=state,
                offset=offset,
                limit=limit,
            ),
        )

    def attach_vote_reason(
        self, signer: Signer, version_id: int, support: str, reason: str, *, ttl_s: int = 600
    ) -> VoteReasonPublic:
        """Give the reason of ``signer``'s vote on a version: a document naming the vote, with
        ``signer``'s StoreMetadata signature over its digest (the service checks it against
        the vote on chain and keeps it with the vote)."""
        from service.domain.reasons import reason_document

        document = reason_document(
            version_id=version_id, voter=signer.address, support=support, reason=reason
        )
        cid, _ = compute_cid(iter_chunks(document))
        params = self.sign_store_metadata(signer, cid.digest, deadline=int(time.time()) + ttl_s)
        response = self._request(
            "POST",
            f"/v1/versions/{version_id}/votes/reason",
            params=params,
            content=document,
            headers={"content-type": "application/json"},
        )
        return _load(VoteReasonPublic, self._json(response))

    def open_ballots(
        self, *, voter: str | None = None, waiting: bool = False
    ) -> list[OpenBallotPublic]:
        """Ballots still open; with ``voter`` its part in each, with ``waiting`` only those it
        may vote on and has not."""
        params: dict[str, Any] = {"voter": voter}
        if waiting:
            params["waiting"] = "true"
        return _list_of(OpenBallotPublic, self._get("/v1/ballots", **params))
