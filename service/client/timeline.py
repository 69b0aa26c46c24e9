"""Calls of a model's timeline: one page, or every entry by following the cursors."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from service.api.timeline_schemas import TimelineEntryPublic, TimelinePagePublic
from service.client.base import ClientBase, _load


class TimelineCalls(ClientBase):
    def timeline(
        self,
        model_id: int,
        *,
        kinds: Sequence[str] = (),
        from_block: int | None = None,
        to_block: int | None = None,
        cursor: str | None = None,
        limit: int = 100,
    ) -> TimelinePagePublic:
        """One page of what happened to the model, in block order (GET
        /v1/models/{id}/timeline); its ``next_cursor`` names the next page."""
        return _load(
            TimelinePagePublic,
            self._get(
                f"/v1/models/{model_id}/timeline",
                kind=list(kinds) or None,
                from_block=from_block,
                to_block=to_block,
                cursor=cursor,
                limit=limit,
            ),
        )

    def timeline_entries(
        self,
        model_id: int,
        *,
        kinds: Sequence[str] = (),
        from_block: int | None = None,
        to_block: int | None = None,
        page_size: int = 500,
    ) -> Iterator[TimelineEntryPublic]:
        """Every entry of the range, page after page. Without ``to_block`` the range ends at
        the block the first page found latest, so that the walk ends."""
        cursor: str | None = None
        while True:
            page = self.timeline(
                model_id,
                kinds=kinds,
                from_block=from_block,
                to_block=to_block,
                cursor=cursor,
                limit=page_size,
            )
            yield from page.entries
            to_block = page.to_block
            if page.next_cursor is None:
                return
            cursor = page.next_cursor
