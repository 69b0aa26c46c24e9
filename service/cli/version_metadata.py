"""A version's metadata document as the CLI writes and shows it: a JSON object whose
``description`` (text), ``tags`` (text to text) and ``metrics`` (names to numbers) are what
``versions show`` prints and ``versions search`` searches; any other keys are kept as given."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from service.api.schemas import VersionPublic
from service.cli.output import CliError
from service.client import ClientError, GovLedgerClient

ZERO_DIGEST = "0x" + "00" * 32


def parse_tags(items: list[str]) -> dict[str, str]:
    """``["stage=candidate", "data=digits"]`` as a mapping; CliError for a malformed one."""
    tags: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise CliError(f"--tag takes KEY=VALUE (e.g. --tag stage=candidate), not {item!r}")
        tags[key.strip()] = value.strip()
    return tags


def version_document(
    path: Path | None, description: str | None, tags: dict[str, str]
) -> dict[str, Any] | None:
    """The document to store: the JSON object at ``path`` (if any) with the description and
    tags given on the command line added (they win over the file's); None if nothing."""
    doc: dict[str, Any] = {}
    if path is not None:
        try:
            loaded = json.loads(path.read_bytes())
        except FileNotFoundError:
            raise CliError(f"no metadata file at {path}") from None
        except ValueError as exc:
            raise CliError(f"{path} is not JSON: {exc}") from None
        if not isinstance(loaded, dict):
            raise CliError(f"{path} must hold a JSON object ({{...}}), not {type(loaded).__name__}")
        doc = loaded
    if "tags" in doc and not _is_text_map(doc["tags"]):
        raise CliError(f'{path}: "tags" must map names to text, e.g. {{"stage": "candidate"}}')
    if description is not None:
        doc["description"] = description
    if tags:
        doc["tags"] = {**doc.get("tags", {}), **tags}
    return doc or None


def _is_text_map(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(v, str) for v in value.values())


def read_version_metadata(
    client: GovLedgerClient, v: VersionPublic
) -> tuple[dict[str, Any] | None, str | None]:
    """The version's metadata document, or None and why it is not shown."""
    from service.cli.session import signed_in_if_asked

    if v.metadata_digest == ZERO_DIGEST:
        return None, None
    try:
        return signed_in_if_asked(lambda: client.get_version_metadata(v.version_id)), None
    except CliError as exc:  # restricted, and no key to sign in with
        return None, f"not shown: {exc}"
    except ClientError as exc:
        if exc.status in (403, 404, 409):
            return None, f"not shown: {exc.detail}"
        raise


def metadata_rows(doc: dict[str, Any] | None, note: str | None) -> list[tuple[str, object]]:
    """Rows for ``versions show``: description, tags, each metric."""
    if doc is None:
        return [("metadata", note)] if note else []
    rows: list[tuple[str, object]] = []
    if isinstance(doc.get("description"), str):
        rows.append(("description", doc["description"]))
    tags = doc.get("tags")
    if isinstance(tags, dict) and tags:
        rows.append(("tags", ", ".join(f"{k}={v}" for k, v in sorted(tags.items()))))
    metrics = doc.get("metrics")
    if isinstance(metrics, dict):
        rows += [(f"metric {k}", _number(v)) for k, v in sorted(metrics.items())]
    return rows


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)
