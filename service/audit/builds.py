"""Check (f): every accelerated build (a version of kind Accelerated) comes with its documents:
its version metadata document (``domain/build_documents.version_document``) is in the content
source and matches the digest on chain, names the version's own artifact and its parent on
chain (version and artifact digest), and the recipe and
metrics (report) documents it names are present and match their CIDs and digests.

Re-measuring a build's accuracy on its evaluation set (``--remeasure``) is not done yet.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from service.audit.content import ContentProblem, read_verified
from service.audit.context import AuditContext
from service.audit.findings import Finding, failed, passed
from service.audit.naming import Names
from service.chain.types import VersionKind
from service.domain.build_documents import RECIPE_SCHEMA, REPORT_SCHEMA, VERSION_SCHEMA
from service.errors import InvalidCID, UnsupportedCID
from service.store.cid import parse_cid


class BuildCheck:
    name = "builds"
    title = "accelerated builds: recipe and metrics documents match their digests"

    def run(self, ctx: AuditContext) -> Iterator[Finding]:
        names = Names.of(ctx)
        artifacts = {
            int(e.args["versionId"]): bytes(e.args["artifactDigest"])
            for e in ctx.named("VersionProposed")
        }
        for e in ctx.named("VersionProposed"):
            if not ctx.in_scope(e) or int(e.args["kind"]) != VersionKind.ACCELERATED:
                continue
            record = f"{names.version(int(e.args['versionId']))} build"
            problems = _problems(ctx, e.args, artifacts)
            if problems:
                yield failed(self.name, record, "; ".join(problems))
            else:
                yield passed(self.name, record, "recipe and metrics documents present and matching")


def _problems(
    ctx: AuditContext, proposed: dict[str, Any], artifacts: dict[int, bytes]
) -> list[str]:
    metadata = bytes(proposed["metadataDigest"])
    try:
        document = json.loads(read_verified(ctx.store, metadata).data)
    except ContentProblem as exc:
        return [f"its metadata document 0x{metadata.hex()}: {exc}"]
    except ValueError:
        return [f"its metadata document 0x{metadata.hex()} is not JSON"]
    if not isinstance(document, dict) or document.get("schema") != VERSION_SCHEMA:
        return [f"its metadata document is not a {VERSION_SCHEMA} document"]
    problems = []
    artifact = document.get("artifact") or {}
    if artifact.get("digest") != "0x" + bytes(proposed["artifactDigest"]).hex():
        problems.append(
            f"the document names artifact {artifact.get('digest')}, the version "
            f"0x{bytes(proposed['artifactDigest']).hex()}"
        )
    parent = document.get("parent") or {}
    parent_id = int(proposed["parentId"])
    parent_digest = "0x" + artifacts.get(parent_id, bytes(32)).hex()
    if parent.get("version_id") != parent_id or parent.get("artifact_digest") != parent_digest:
        problems.append(
            f"the document names parent version {parent.get('version_id')} with artifact "
            f"{parent.get('artifact_digest')}; on chain the parent is version {parent_id} with "
            f"artifact {parent_digest}"
        )
    for role, schema in (("recipe", RECIPE_SCHEMA), ("metrics", REPORT_SCHEMA)):
        problems += _document_problems(ctx, role, schema, document.get(role))
    return problems


def _document_problems(ctx: AuditContext, role: str, schema: str, ref: Any) -> list[str]:
    if not isinstance(ref, dict) or not isinstance(ref.get("cid"), str):
        return [f"no {role} document is named"]
    try:
        cid = parse_cid(ref["cid"])
    except (InvalidCID, UnsupportedCID) as exc:
        return [f"the {role} CID {ref['cid']!r} is not a CID: {exc}"]
    if ref.get("digest") != "0x" + cid.digest.hex():
        return [f"the {role} digest {ref.get('digest')} is not the one in its CID {cid}"]
    try:
        data = read_verified(ctx.store, cid.digest).data
    except ContentProblem as exc:
        return [f"the {role} document {cid}: {exc}"]
    try:
        found = json.loads(data).get("schema")
    except (ValueError, AttributeError):
        return [f"the {role} document {cid} is not a JSON object"]
    if found != schema:
        return [f"the {role} document {cid} has schema {found!r}, not {schema!r}"]
    return []
