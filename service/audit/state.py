"""Check (d): the state the events imply equals what the contracts' own views return at the
audit's block: members, quorum and voting period; membership proposals; models (owner, pending
owner, read policy, metadata); rights; versions (their fields, tallies and states, a ballot that
expired without an event included: the rule of ``Ballots.sol`` applied at the block's time);
aliases; rounds (their state, a deadline passed without an event included).

An auditor who trusts neither the contracts' views nor this code can replay the same events
with any tool; ``docs/ARCHITECTURE.md`` (Auditing) lists them.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from dataclasses import dataclass
from typing import Any

from eth_utils import to_checksum_address

from service.audit.ballots import BallotFromEvents
from service.audit.context import AuditContext
from service.audit.findings import Finding, failed, passed
from service.audit.naming import Names
from service.chain.types import (
    Event,
    RoundState,
    State,
    Support,
    alias_from_bytes32,
)

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
ALL_RIGHTS = 7


class _Touched:
    """Which records the events in scope made or changed (``--from-block``). With no
    ``--from-block`` every record is compared; with one, a record is compared if an event in
    scope concerns it, or if its window (a ballot's or a round's deadline) ended in scope, which
    no event shows. Every record is still derived from all events since the deploy block."""

    def __init__(self, ctx: AuditContext) -> None:
        self._all = ctx.from_block <= ctx.deployment.deploy_block
        self._from_block = ctx.from_block
        self._from_timestamp = ctx.from_timestamp
        self._now = ctx.block_timestamp
        self._last: dict[Hashable, int] = {}

    def saw(self, key: Hashable, event: Event) -> None:
        self._last[key] = max(self._last.get(key, -1), event.block_number)

    def wanted(self, key: Hashable, *, deadline: int | None = None) -> bool:
        if self._all or self._last.get(key, -1) >= self._from_block:
            return True
        # a window that ended after from_block (and before the audit's block) changed the state
        return deadline is not None and self._from_timestamp <= deadline < self._now


@dataclass
class _Model:
    owner: str
    restricted: bool
    metadata: bytes
    name: str
    pending: str = ZERO_ADDRESS


class StateCheck:
    name = "state"
    title = "state derived from events equals the contracts' views"

    def run(self, ctx: AuditContext) -> Iterator[Finding]:
        names = Names.of(ctx)
        yield from self._membership(ctx)
        yield from self._proposals(ctx)
        models, touched = self._models(ctx)
        yield from self._compare_models(ctx, names, models, touched)
        yield from self._rights(ctx, names, models, touched)
        yield from self._versions(ctx, names)
        yield from self._aliases(ctx, names)
        yield from self._rounds(ctx)

    # ---------------------------------------------------------------- consortium

    def _membership(self, ctx: AuditContext) -> Iterator[Finding]:
        consortium = ctx.contract("Consortium").functions
        members: list[str] = []
        quorum, period = ctx.deployment.quorum_bps, ctx.deployment.voting_period_s
        for e in ctx.named("MemberAdded", "MemberRemoved", "QuorumChanged", "VotingPeriodChanged"):
            if e.name == "MemberAdded":
                members.append(to_checksum_address(e.args["account"]))
            elif e.name == "MemberRemoved":
                account = to_checksum_address(e.args["account"])
                members = [m for m in members if m != account]
            elif e.name == "QuorumChanged":
                quorum = int(e.args["quorumBps"])
            else:
                period = int(e.args["votingPeriod"])
        on_chain = [to_checksum_address(m) for m in ctx.call(consortium.members())]
        yield _compare(
            self.name,
            "membership",
            [
                ("members", sorted(members), sorted(on_chain)),
                ("quorum (bps)", quorum, int(ctx.call(consortium.quorumBps()))),
                ("voting period (s)", period, int(ctx.call(consortium.votingPeriod()))),
            ],
            f"{len(members)} members, quorum {quorum} bps, voting period {period} s",
        )

    def _proposals(self, ctx: AuditContext) -> Iterator[Finding]:
        consortium = ctx.contract("Consortium").functions
        ballots: dict[int, BallotFromEvents] = {}
        touched = _Touched(ctx)
        for e in ctx.named("ChangeProposed", "ChangeVoteCast", "ChangeStatusChanged"):
            pid = int(e.args["proposalId"])
            touched.saw(pid, e)
            if e.name == "ChangeProposed":
                ballots[pid] = BallotFromEvents(
                    deadline=int(e.args["deadline"]),
                    required=int(e.args["requiredVotes"]),
                    eligible=int(e.args["eligibleVoters"]),
                )
            elif e.name == "ChangeVoteCast":
                ballots[pid].count(int(e.args["support"]))
            else:
                ballots[pid].stored = State(int(e.args["current"]))
        count = int(ctx.call(consortium.proposalCount()))
        if count != len(ballots):
            yield failed(
                self.name,
                "membership proposals",
                f"{len(ballots)} ChangeProposed events, but proposalCount() is {count}",
            )
        for pid, ballot in ballots.items():
            if not touched.wanted(pid, deadline=ballot.deadline):
                continue
            view = State(int(ctx.call(consortium.proposalStatus(pid))))
            raw = ctx.call(consortium.proposal(pid))
            yield _ballot_finding(
                self.name, f"membership proposal {pid}", ballot, view, raw[4], ctx.block_timestamp
            )

    # ---------------------------------------------------------------- models and rights

    def _models(self, ctx: AuditContext) -> tuple[dict[int, _Model], _Touched]:
        models: dict[int, _Model] = {}
        touched = _Touched(ctx)
        for e in ctx.named(
            "ModelRegistered",
            "ModelOwnershipTransferStarted",
            "ModelOwnershipTransferred",
            "ReadPolicyChanged",
            "ModelMetadataChanged",
        ):
            a = e.args
            mid = int(a["modelId"])
            touched.saw(mid, e)
            if e.name == "ModelRegistered":
                models[mid] = _Model(
                    owner=to_checksum_address(a["owner"]),
                    restricted=bool(a["restricted"]),
                    metadata=bytes(a["metadataDigest"]),
                    name=str(a["name"]),
                )
            elif e.name == "ModelOwnershipTransferStarted":
                models[mid].pending = to_checksum_address(a["newOwner"])
            elif e.name == "ModelOwnershipTransferred":
                models[mid].owner = to_checksum_address(a["newOwner"])
                models[mid].pending = ZERO_ADDRESS
            elif e.name == "ReadPolicyChanged":
                models[mid].restricted = bool(a["restricted"])
            else:
                models[mid].metadata = bytes(a["metadataDigest"])
        return models, touched

    def _compare_models(
        self, ctx: AuditContext, names: Names, models: dict[int, _Model], touched: _Touched
    ) -> Iterator[Finding]:
        registry = ctx.contract("ModelRegistry").functions
        count = int(ctx.call(registry.modelCount()))
        if count != len(models):
            yield failed(
                self.name,
                "models",
                f"{len(models)} ModelRegistered events, but modelCount() is {count}",
            )
        for mid, m in models.items():
            if not touched.wanted(mid):
                continue
            owner, restricted, metadata, name, pending = ctx.call(registry.model(mid))
            yield _compare(
                self.name,
                names.model(mid),
                [
                    ("owner", m.owner, to_checksum_address(owner)),
                    ("pending owner", m.pending, to_checksum_address(pending)),
                    ("restricted", m.restricted, bool(restricted)),
                    ("metadata digest", "0x" + m.metadata.hex(), "0x" + bytes(metadata).hex()),
                    ("name", m.name, str(name)),
                ],
                f"owner {m.owner}, {'restricted' if m.restricted else 'open'}",
            )

    def _rights(
        self, ctx: AuditContext, names: Names, models: dict[int, _Model], owners: _Touched
    ) -> Iterator[Finding]:
        registry = ctx.contract("ModelRegistry").functions
        masks: dict[tuple[int, str], int] = {}
        touched = _Touched(ctx)
        problems: dict[tuple[int, str], list[str]] = {}
        for e in ctx.named("RightsGranted", "RightsRevoked"):
            key = (int(e.args["modelId"]), str(to_checksum_address(e.args["account"])))
            touched.saw(key, e)
            mask = masks.get(key, 0)
            rights = int(e.args["rights"])
            mask = mask | rights if e.name == "RightsGranted" else mask & ~rights
            masks[key] = mask
            if int(e.args["current"]) != mask:
                problems.setdefault(key, []).append(
                    f"{e.name} at block {e.block_number} says the mask is now "
                    f"{int(e.args['current'])}, the changes before it make {mask}"
                )
        # every owner holds every right, whether or not an event granted any
        for mid, m in models.items():
            masks.setdefault((mid, m.owner), 0)
        for (mid, account), mask in masks.items():
            if not (touched.wanted((mid, account)) or owners.wanted(mid)):
                continue
            expected = ALL_RIGHTS if models[mid].owner == account else mask
            on_chain = int(ctx.call(registry.rightsOf(mid, account)))
            record = f"rights of {account} on {names.model(mid)}"
            trouble = problems.get((mid, account), [])
            if on_chain != expected:
                trouble.append(f"events give {expected}, rightsOf() says {on_chain}")
            if trouble:
                yield failed(self.name, record, "; ".join(trouble))
            else:
                yield passed(self.name, record, f"mask {expected}, as rightsOf() says")

    # ---------------------------------------------------------------- versions and aliases

    def _versions(self, ctx: AuditContext, names: Names) -> Iterator[Finding]:
        registry = ctx.contract("ModelRegistry").functions
        proposed: dict[int, dict[str, Any]] = {}
        ballots: dict[int, BallotFromEvents] = {}
        touched = _Touched(ctx)
        for e in ctx.named("VersionProposed", "VoteCast", "VersionStateChanged"):
            vid = int(e.args["versionId"])
            touched.saw(vid, e)
            if e.name == "VersionProposed":
                proposed[vid] = dict(e.args)
                ballots[vid] = BallotFromEvents(
                    deadline=int(e.args["deadline"]),
                    required=int(e.args["requiredVotes"]),
                    eligible=int(e.args["eligibleVoters"]),
                )
            elif e.name == "VoteCast":
                ballots[vid].count(int(e.args["support"]))
            else:
                ballots[vid].stored = State(int(e.args["current"]))
        count = int(ctx.call(registry.versionCount()))
        if count != len(proposed):
            yield failed(
                self.name,
                "versions",
                f"{len(proposed)} VersionProposed events, but versionCount() is {count}",
            )
        for vid, p in proposed.items():
            if not touched.wanted(vid, deadline=ballots[vid].deadline):
                continue
            record = names.version(vid)
            raw = ctx.call(registry.version(vid))
            proposer, model_id, parent_id, kind, ballot, artifact, metadata = raw
            view = State(int(ctx.call(registry.versionState(vid))))
            fields = [
                ("proposer", to_checksum_address(p["proposer"]), to_checksum_address(proposer)),
                ("model", int(p["modelId"]), int(model_id)),
                ("parent", int(p["parentId"]), int(parent_id)),
                ("kind", int(p["kind"]), int(kind)),
                ("artifact digest", bytes(p["artifactDigest"]).hex(), bytes(artifact).hex()),
                ("metadata digest", bytes(p["metadataDigest"]).hex(), bytes(metadata).hex()),
            ]
            mismatches = [
                f"{w}: events say {d}, version() says {c}" for w, d, c in fields if d != c
            ]
            finding = _ballot_finding(
                self.name, record, ballots[vid], view, ballot, ctx.block_timestamp
            )
            if mismatches:
                yield failed(self.name, record, "; ".join([*mismatches, finding.detail]))
            else:
                yield finding

    def _aliases(self, ctx: AuditContext, names: Names) -> Iterator[Finding]:
        registry = ctx.contract("ModelRegistry").functions
        aliases: dict[tuple[int, bytes], int] = {}
        touched = _Touched(ctx)
        for e in ctx.named("AliasMoved"):
            key = (int(e.args["modelId"]), bytes(e.args["aliasName"]))
            aliases[key] = int(e.args["versionId"])
            touched.saw(key, e)
        for (mid, alias), vid in aliases.items():
            if not touched.wanted((mid, alias)):
                continue
            on_chain = int(ctx.call(registry.aliasOf(mid, alias)))
            yield _compare(
                self.name,
                f"alias {alias_from_bytes32(alias)!r} of {names.model(mid)}",
                [("version", vid, on_chain)],
                f"points at {names.version(vid) if vid else 'nothing (cleared)'}",
            )

    # ---------------------------------------------------------------- rounds

    def _rounds(self, ctx: AuditContext) -> Iterator[Finding]:
        rounds = ctx.contract("FederatedRounds").functions
        opened: dict[int, dict[str, Any]] = {}
        stored: dict[int, RoundState] = {}
        updates: dict[int, int] = {}
        touched = _Touched(ctx)
        finalized: dict[int, tuple[int, str]] = {}  # aggregate version, inclusion root
        for e in ctx.named("RoundOpened", "RoundStateChanged", "UpdateSubmitted", "RoundFinalized"):
            rid = int(e.args["roundId"])
            touched.saw(rid, e)
            if e.name == "RoundFinalized":
                finalized[rid] = (
                    int(e.args["aggregateVersionId"]),
                    bytes(e.args["inclusionRoot"]).hex(),
                )
            elif e.name == "RoundOpened":
                opened[rid] = dict(e.args)
                stored[rid] = RoundState.OPEN
                updates[rid] = 0
            elif e.name == "RoundStateChanged":
                stored[rid] = RoundState(int(e.args["current"]))
            else:
                updates[rid] += 1
        count = int(ctx.call(rounds.roundCount()))
        if count != len(opened):
            yield failed(
                self.name, "rounds", f"{len(opened)} RoundOpened events, roundCount() is {count}"
            )
        for rid, o in opened.items():
            if not touched.wanted(rid, deadline=int(o["submissionDeadline"])):
                continue
            effective = stored[rid]
            if effective == RoundState.OPEN and ctx.block_timestamp > int(o["submissionDeadline"]):
                effective = RoundState.CLOSED  # the deadline passed: no event says so
            raw = ctx.call(rounds.round(rid))
            yield _compare(
                self.name,
                f"round {rid}",
                [
                    (
                        "state",
                        effective.name,
                        RoundState(int(ctx.call(rounds.roundState(rid)))).name,
                    ),
                    ("stored state", stored[rid].name, RoundState(int(raw[12])).name),
                    ("updates", updates[rid], int(raw[9])),
                    ("model", int(o["modelId"]), int(raw[0])),
                    ("base version", int(o["baseVersionId"]), int(raw[1])),
                    ("base digest", bytes(o["baseDigest"]).hex(), bytes(raw[2]).hex()),
                    ("rule", bytes(o["rule"]).hex(), bytes(raw[3]).hex()),
                    ("parameters digest", bytes(o["paramsDigest"]).hex(), bytes(raw[4]).hex()),
                    (
                        "aggregate version and inclusion root",
                        finalized.get(rid, (0, bytes(32).hex())),
                        (int(raw[13]), bytes(raw[14]).hex()),
                    ),
                ],
                f"{effective.name.lower()}, {updates[rid]} updates",
            )


def _compare(check: str, record: str, pairs: list[tuple[str, Any, Any]], summary: str) -> Finding:
    """One finding: ``pairs`` of (what, from events, from the views)."""
    wrong = [f"{w}: events say {d}, the contract says {c}" for w, d, c in pairs if d != c]
    if wrong:
        return failed(check, record, "; ".join(wrong))
    return passed(check, record, f"{summary}, as the contract says")


def _ballot_finding(
    check: str,
    record: str,
    ballot: BallotFromEvents,
    view: State,
    raw: Any,
    timestamp: int,
) -> Finding:
    """A ballot's events against its view: state (the expiry rule applied), tallies, and
    whether the recorded state follows from the votes."""
    deadline, _, for_v, against_v, abstain_v, required, eligible, status = raw
    derived = ballot.effective(timestamp)
    v = ballot.votes
    wrong = list(ballot.problems())
    if derived != view:
        wrong.append(f"events and the expiry rule give {derived.name}, the view says {view.name}")
    pairs = [
        ("stored state", ballot.stored.name, State(int(status)).name),
        ("deadline", ballot.deadline, int(deadline)),
        ("for", v[Support.FOR], int(for_v)),
        ("against", v[Support.AGAINST], int(against_v)),
        ("abstain", v[Support.ABSTAIN], int(abstain_v)),
        ("required", ballot.required, int(required)),
        ("eligible", ballot.eligible, int(eligible)),
    ]
    wrong += [f"{w}: events say {d}, the contract says {c}" for w, d, c in pairs if d != c]
    if wrong:
        return failed(check, record, "; ".join(wrong))
    expired = ballot.stored == State.PROPOSED and derived == State.REJECTED
    how = " (its window ended without a decision: no event, the expiry rule)" if expired else ""
    return passed(check, record, f"{derived.name}{how}; {ballot.tally()}")
