"""Check (e): every finalized round is what its updates make it.

For each ``RoundFinalized`` in scope: the updates the events record equal the contract's
``updateOf`` and ``submitters``; the inclusion commitment rebuilt from the included updates
(``chain/merkle.py``: leaves of (participant, digest, samples) in ascending address order)
equals the one the round stores and its event names, and the exclusions and counts agree; and
the aggregate recomputed from the stored base and updates (the round's rule and parameters, as
``domain/rounds.py`` computes it, ``ml/aggregate``) has, byte for byte, the digest the chain
records for the aggregate version. Updates recorded as UNAVAILABLE are taken as recorded (they
were missing when the round was aggregated); an update recorded as INVALID must still fail the
update validator.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from eth_utils import to_checksum_address

from service.audit.content import ContentProblem, read_verified
from service.audit.context import AuditContext
from service.audit.findings import Finding, failed, passed
from service.chain.merkle import inclusion_leaf, inclusion_root, sort_participants
from service.chain.types import NORM_SCALE
from service.errors import InvalidArtifact, InvalidInput
from service.ml.aggregate import (
    Contribution,
    Exclusion,
    ExclusionReason,
    aggregate_file,
    rule_from,
    rule_name,
)
from service.ml.safetensors_format import SafetensorsValidator
from service.ml.tensors import read_safetensors
from service.ml.updates import UpdateValidator
from service.store.chunker import iter_chunks
from service.store.unixfs import compute_cid


class _Unverifiable(Exception):
    """The aggregate cannot be recomputed (an input is missing or corrupt)."""


class RoundCheck:
    name = "rounds"
    title = "finalized rounds: updates, inclusion commitment, exclusions, aggregate"

    def run(self, ctx: AuditContext) -> Iterator[Finding]:
        for event in ctx.named("RoundFinalized"):
            if ctx.in_scope(event):
                yield from self._round(ctx, event.args)

    def _round(self, ctx: AuditContext, finalized: dict[str, Any]) -> Iterator[Finding]:
        rounds = ctx.contract("FederatedRounds").functions
        rid = int(finalized["roundId"])
        record = f"round {rid}"
        raw = ctx.call(rounds.round(rid))
        updates: dict[str, tuple[bytes, int, int]] = {}  # participant -> digest, samples, index
        excluded: dict[str, int] = {}
        for e in ctx.named("UpdateSubmitted", "UpdateExcluded"):
            if int(e.args["roundId"]) != rid:
                continue
            who = str(to_checksum_address(e.args["participant"]))
            if e.name == "UpdateSubmitted":
                updates[who] = (
                    bytes(e.args["updateDigest"]),
                    int(e.args["sampleCount"]),
                    int(e.args["index"]),
                )
            else:
                excluded[who] = int(e.args["reason"])

        # the updates: events against updateOf / submitters
        wrong = []
        submitters = [to_checksum_address(a) for a in ctx.call(rounds.submitters(rid))]
        by_index = sorted(updates, key=lambda p: updates[p][2])
        if submitters != by_index:
            wrong.append(f"events list the submitters {by_index}, submitters() {submitters}")
        for who, (digest, samples, index) in updates.items():
            d, s, i = ctx.call(rounds.updateOf(rid, who))
            if (bytes(d), int(s), int(i)) != (digest, samples, index):
                wrong.append(
                    f"{who}: events say digest 0x{digest.hex()}, {samples} samples, position "
                    f"{index}; updateOf() says 0x{bytes(d).hex()}, {int(s)}, {int(i)}"
                )
        if wrong:
            yield failed(self.name, f"{record} updates", "; ".join(wrong))
        else:
            yield passed(
                self.name, f"{record} updates", f"{len(updates)} updates, as updateOf() says"
            )

        # the inclusion commitment and the exclusions
        included = sort_participants([p for p in updates if p not in excluded])
        root = inclusion_root([inclusion_leaf(p, *updates[p][:2]) for p in included])
        pairs = [
            ("root in RoundFinalized", bytes(finalized["inclusionRoot"]).hex()),
            ("root in round()", bytes(raw[14]).hex()),
        ]
        wrong = [f"{w} is 0x{v}" for w, v in pairs if v != root.hex()]
        unknown = sorted(set(excluded) - set(updates))
        if unknown:
            wrong.append(f"excluded but never submitted: {unknown}")
        counts = (int(finalized["includedCount"]), int(finalized["excludedCount"]))
        if counts != (len(included), len(excluded)):
            wrong.append(
                f"RoundFinalized counts {counts[0]} included and {counts[1]} excluded; the "
                f"events give {len(included)} and {len(excluded)}"
            )
        if wrong:
            yield failed(
                self.name,
                f"{record} inclusion commitment",
                f"the included updates give root 0x{root.hex()}; " + "; ".join(wrong),
            )
        else:
            yield passed(
                self.name,
                f"{record} inclusion commitment",
                f"root 0x{root.hex()} over {len(included)} included updates; "
                f"{len(excluded)} excluded",
            )

        # the aggregate, recomputed
        recorded = bytes(finalized["aggregateDigest"])
        version_id = int(finalized["aggregateVersionId"])
        version = ctx.call(ctx.contract("ModelRegistry").functions.version(version_id))
        label = f"{record} aggregate (version {version_id})"
        if bytes(version[5]) != recorded:
            yield failed(
                self.name,
                label,
                f"RoundFinalized names digest 0x{recorded.hex()}, the version records "
                f"0x{bytes(version[5]).hex()}",
            )
            return
        try:
            digest, result_included, result_excluded = _recompute(ctx, raw, updates, excluded)
        except _Unverifiable as exc:
            yield failed(self.name, label, f"cannot be recomputed: {exc}")
            return
        wrong = []
        if sort_participants(list(result_included)) != included:
            wrong.append(f"the rule includes {list(result_included)}, the chain {included}")
        if result_excluded != excluded:
            wrong.append(f"the rule excludes {result_excluded}, the chain records {excluded}")
        if digest != recorded:
            wrong.append(
                f"the recomputed aggregate has digest 0x{digest.hex()}, the chain records "
                f"0x{recorded.hex()}: not the aggregate of the stored updates"
            )
        if wrong:
            yield failed(self.name, label, "; ".join(wrong))
        else:
            yield passed(
                self.name,
                label,
                f"{rule_name(bytes(raw[3]))} over the stored updates gives the recorded bytes "
                f"(digest 0x{digest.hex()})",
            )


def _recompute(
    ctx: AuditContext,
    raw: Any,
    updates: dict[str, tuple[bytes, int, int]],
    excluded: dict[str, int],
) -> tuple[bytes, tuple[str, ...], dict[str, int]]:
    """The aggregate's digest, who the rule included and who is excluded (with reasons)."""
    base_digest, rule_id, params_digest, max_norm = (
        bytes(raw[2]),
        bytes(raw[3]),
        bytes(raw[4]),
        int(raw[5]),
    )
    try:
        base = read_verified(ctx.store, base_digest).data
        document = json.loads(read_verified(ctx.store, params_digest).data)
        params = document["params"]
    except ContentProblem as exc:
        raise _Unverifiable(f"the base or the rule's parameters: {exc}") from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise _Unverifiable(f"the parameter document is not {{rule, params}}: {exc}") from exc
    try:
        rule = rule_from(rule_name(rule_id), params)
        validator = SafetensorsValidator()
        validator.feed(base)
        summary = validator.finish()
    except (InvalidInput, InvalidArtifact) as exc:
        raise _Unverifiable(str(exc)) from exc
    contributions: list[Contribution] = []
    unusable: list[Exclusion] = []
    for who in sorted(updates, key=lambda p: updates[p][2]):
        digest, samples, _ = updates[who]
        reason = excluded.get(who)
        if reason == ExclusionReason.UNAVAILABLE:
            unusable.append(Exclusion(who, ExclusionReason.UNAVAILABLE, "recorded unavailable"))
            continue
        try:
            data = read_verified(ctx.store, digest).data
        except ContentProblem as exc:
            raise _Unverifiable(f"the update of {who}: {exc}") from exc
        checker = UpdateValidator(summary, norm_bound=max_norm / NORM_SCALE)
        try:
            checker.feed(data)
            checker.finish()
        except InvalidArtifact as exc:
            unusable.append(Exclusion(who, ExclusionReason.INVALID, str(exc)))
            continue
        contributions.append(
            Contribution(participant=who, samples=samples, tensors=read_safetensors(data))
        )
    if not contributions:
        raise _Unverifiable("no update can be read")
    try:
        result = rule.aggregate(contributions).with_exclusions(unusable)
        data = aggregate_file(base, result.tensors)
    except InvalidInput as exc:
        raise _Unverifiable(f"the rule refuses the updates: {exc}") from exc
    cid, _ = compute_cid(iter_chunks(data))
    return (
        cid.digest,
        tuple(to_checksum_address(p) for p in result.included),
        {to_checksum_address(e.participant): int(e.reason) for e in result.excluded},
    )
