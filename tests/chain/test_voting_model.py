"""Property-based test: voting and aliases on chain behave like a plain Python model of the rules.

Hypothesis drives random sequences of proposals, votes, time jumps, finalizations and alias
moves against the real contracts on anvil, and after every step compares the chain with
``RulesModel``, which knows nothing of Solidity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import hypothesis.strategies as st
from hypothesis import HealthCheck, settings
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)
from web3 import Web3

from service.chain import reverts
from service.chain.ledger import Ledger
from service.chain.types import State, Support

from .conftest import QUORUM_BPS, VOTING_PERIOD

ALIASES = ("production", "staging")


@dataclass
class VersionModel:
    deadline: int
    votes: dict[str, Support] = field(default_factory=dict)
    stored: State = State.PROPOSED


@dataclass
class RulesModel:
    """The rules of the issue, written plainly."""

    members: list[str]
    quorum_bps: int
    versions: dict[int, VersionModel] = field(default_factory=dict)
    aliases: dict[str, int] = field(default_factory=dict)

    @property
    def required(self) -> int:
        return max(1, math.ceil(len(self.members) * self.quorum_bps / 10_000))

    def state(self, version_id: int, now: int) -> State:
        v = self.versions[version_id]
        if v.stored is State.PROPOSED and now > v.deadline:
            return State.REJECTED
        return v.stored

    def vote(self, version_id: int, voter: str, support: Support, now: int) -> str | None:
        """Apply a vote; return the name of the error the contract must raise, if any."""
        v = self.versions[version_id]
        if v.stored is not State.PROPOSED:
            return "RegistryUnexpectedState"
        if now > v.deadline:
            return "RegistryVotingClosed"
        if voter in v.votes:
            return "RegistryAlreadyVoted"
        v.votes[voter] = support
        yes = sum(1 for s in v.votes.values() if s is Support.FOR)
        outstanding = len(self.members) - len(v.votes)
        if yes >= self.required:
            v.stored = State.APPROVED
        elif yes + outstanding < self.required:
            v.stored = State.REJECTED
        return None


def test_voting_and_aliases_follow_the_rules(ledger: Ledger, w3: Web3, owner, members) -> None:
    model_id = ledger.register_model(owner, "property-model")
    addresses = [m.address for m in members]
    by_address = {m.address: m for m in members}

    def latest() -> int:
        return int(w3.eth.get_block("latest")["timestamp"])

    def now() -> int:
        """Pin the timestamp of the next block (the next transaction's) and return it, so that
        the model and the chain judge deadlines at the same instant."""
        t = latest() + 1
        w3.provider.make_request("evm_setNextBlockTimestamp", [t])  # type: ignore[arg-type]
        return t

    class VotingMachine(RuleBasedStateMachine):
        versions = Bundle("versions")

        def __init__(self) -> None:
            super().__init__()
            self.snapshot = w3.provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
            self.model = RulesModel(members=addresses, quorum_bps=QUORUM_BPS)

        def teardown(self) -> None:
            w3.provider.make_request("evm_revert", [self.snapshot])  # type: ignore[arg-type]
            ledger.relayer._nonce = None

        @rule(target=versions, digest=st.binary(min_size=32, max_size=32).filter(any))
        def propose(self, digest: bytes) -> int:
            now()
            version_id = ledger.propose_version(owner, model_id, digest)
            record = ledger.version(version_id)
            self.model.versions[version_id] = VersionModel(deadline=record.ballot.deadline)
            assert record.artifact_digest == digest
            assert record.ballot.required == self.model.required
            return version_id

        @rule(
            version_id=versions, voter=st.sampled_from(addresses), support=st.sampled_from(Support)
        )
        def vote(self, version_id: int, voter: str, support: Support) -> None:
            expected_error = self.model.vote(version_id, voter, support, now())
            try:
                ledger.cast_vote(by_address[voter], version_id, support)
            except reverts.ContractRevert as exc:
                assert exc.error == expected_error, exc
            else:
                assert expected_error is None

        @rule(seconds=st.sampled_from([1, 600, VOTING_PERIOD // 2, VOTING_PERIOD + 1]))
        def wait(self, seconds: int) -> None:
            w3.provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
            w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]

        @rule(version_id=versions)
        def finalize(self, version_id: int) -> None:
            v = self.model.versions[version_id]
            t = now()
            try:
                ledger.finalize_version(version_id)
            except reverts.RegistryUnexpectedState:
                assert v.stored is not State.PROPOSED
            except reverts.RegistryVotingOpen:
                assert v.stored is State.PROPOSED and t <= v.deadline
            else:
                assert v.stored is State.PROPOSED and t > v.deadline
                v.stored = State.REJECTED

        @rule(alias=st.sampled_from(ALIASES), version_id=versions)
        def move_alias(self, alias: str, version_id: int) -> None:
            state = self.model.state(version_id, now())
            try:
                ledger.move_alias(owner, model_id, alias, version_id)
            except reverts.RegistryUnexpectedState as exc:
                assert state is not State.APPROVED
                assert exc.arguments["current"] == state
            else:
                assert state is State.APPROVED
                self.model.aliases[alias] = version_id

        @rule(alias=st.sampled_from(ALIASES))
        def clear_alias(self, alias: str) -> None:
            now()
            ledger.move_alias(owner, model_id, alias, 0)
            self.model.aliases.pop(alias, None)

        @invariant()
        def chain_matches_model(self) -> None:
            t = latest()  # views run at the latest block
            for version_id, v in self.model.versions.items():
                assert ledger.version_state(version_id) == self.model.state(version_id, t)
                for voter in addresses:
                    assert ledger.vote_of(version_id, voter) == v.votes.get(voter)
            for alias in ALIASES:
                assert ledger.alias_of(model_id, alias) == self.model.aliases.get(alias)

    run_state_machine_as_test(
        VotingMachine,
        settings=settings(
            max_examples=25,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
