"""Contract custom errors as typed Python exceptions carrying the error's arguments.

Each class is named after the Solidity error it stands for and is also one of the categories of
``service.errors`` (NotFound, Forbidden, Conflict, InvalidInput, SignatureRejected), which the API
maps to HTTP statuses. Its message names the offending values and says what to do.
"""

from __future__ import annotations

from typing import Any, ClassVar

from eth_abi import decode as abi_decode
from eth_utils import function_signature_to_4byte_selector

from service.chain.abi import checksummed
from service.errors import (
    ChainError,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    SignatureRejected,
)
from service.timefmt import human_time, utc

_STATES = {0: "Proposed", 1: "Approved", 2: "Rejected"}
_ROUND_STATES = {0: "Open", 1: "Closed", 2: "Finalized", 3: "Cancelled"}
_KINDS = {0: "Base", 1: "Aggregate", 2: "Accelerated"}
_TIMES = ("deadline", "submissionDeadline", "timestamp")


class ContractRevert(ChainError):
    """A contract call reverted; ``error`` and ``arguments`` are the custom error's (raw, as
    the chain gave them); the message shows them as people read them (state and kind names,
    times with their time zone)."""

    hint: ClassVar[str] = "the call reverted"
    #: names of the lifecycle states in ``current`` / ``expected`` arguments
    states: ClassVar[dict[int, str]] = _STATES

    def __init__(self, error: str, arguments: dict[str, Any]) -> None:
        self.error = error
        self.arguments = arguments
        # times relative to the chain's clock when the error gives it, else to this machine's
        chain_now = arguments.get("timestamp")
        now = chain_now if isinstance(chain_now, int) and chain_now > 0 else None
        shown = {k: _show(k, v, self.states, now=now, times=True) for k, v in arguments.items()}
        try:
            hint = self.explain(shown)
        except (KeyError, IndexError):
            hint = self.hint
        rendered = ", ".join(f"{k}={_show(k, v, self.states)}" for k, v in arguments.items())
        super().__init__(f"{error}({rendered}): {hint}")

    def explain(self, shown: dict[str, Any]) -> str:
        """What went wrong and what to do, from the arguments as shown."""
        return self.hint.format(**shown)


def _show(
    name: str,
    value: Any,
    states: dict[int, str] = _STATES,
    *,
    now: int | None = None,
    times: bool = False,
) -> Any:
    """An argument as people read it: hex bytes, state and kind names; with ``times``, Unix
    times as dates (the chain's own time without a distance, a deadline with its distance from
    ``now``)."""
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, bool) or not isinstance(value, int):
        return value
    if name in ("current", "expected"):
        return states.get(value, value)
    if name == "kind":
        return _KINDS.get(value, value)
    if times and name in _TIMES and 0 < value < 2**40:
        return utc(value, seconds=False) if name == "timestamp" else human_time(value, now=now)
    return value


# ---------------------------------------------------------------- signed actions


class SignedActionExpired(ContractRevert, SignatureRejected):
    hint = (
        "the signature's deadline {deadline} is before chain time {timestamp}; "
        "sign again with a later deadline"
    )


class SignedActionInvalidSignature(ContractRevert, SignatureRejected):
    hint = (
        "this is not {actor}'s signature of these arguments for this chain and contract; "
        "sign the action's typed data again with {actor}'s key"
    )


class InvalidAccountNonce(ContractRevert, SignatureRejected):
    hint = "the nonce was already used or is out of order; sign again with nonce {currentNonce}"


# ---------------------------------------------------------------- consortium


class ConsortiumNotMember(ContractRevert, Forbidden):
    hint = "{account} is not a consortium member; only members may do this"


class ConsortiumAlreadyMember(ContractRevert, Conflict):
    hint = "{account} is already a member"


class ConsortiumInvalidMember(ContractRevert, InvalidInput):
    hint = "{account} cannot be a member; give a non-zero address"


class ConsortiumLastMember(ContractRevert, Conflict):
    hint = "the consortium cannot be left without members; add a member first"


class ConsortiumTooManyMembers(ContractRevert, Conflict):
    hint = "a consortium counts at most 65535 members"


class ConsortiumInvalidQuorum(ContractRevert, InvalidInput):
    hint = "quorum {quorumBps} is out of range; give 1..10000 basis points of the members"


class ConsortiumInvalidVotingPeriod(ContractRevert, InvalidInput):
    hint = "voting period {votingPeriod}s is out of range; give 60..31536000 seconds"


class ConsortiumUnknownProposal(ContractRevert, NotFound):
    hint = "there is no membership proposal {proposalId}; list the proposals to find its id"


class ConsortiumUnexpectedProposalState(ContractRevert, Conflict):
    hint = "proposal {proposalId} is {current}; this needs it {expected}"

    def explain(self, shown: dict[str, Any]) -> str:
        return _decided("proposal", shown["proposalId"], shown, "membership show")


class ConsortiumVotingClosed(ContractRevert, Conflict):
    hint = (
        "voting on proposal {proposalId} closed at {deadline}, before chain time {timestamp}; "
        "it can only be finalized now (`govledger membership finalize {proposalId}`)"
    )


class ConsortiumVotingOpen(ContractRevert, Conflict):
    hint = (
        "voting on proposal {proposalId} is open until {deadline}; it can be finalized only "
        "after that"
    )


class ConsortiumAlreadyVoted(ContractRevert, Conflict):
    hint = "{voter} already voted on proposal {proposalId}; a member votes once"


class ConsortiumNotEligible(ContractRevert, Forbidden):
    hint = (
        "{voter} joined at block {memberSince}, not before proposal {proposalId}'s snapshot "
        "block {snapshotBlock}, so it may not vote on it"
    )


class ConsortiumVoterIsSubject(ContractRevert, Forbidden):
    hint = (
        "{voter} is the member proposal {proposalId} would remove; the other members decide "
        "on it without {voter}"
    )


# ---------------------------------------------------------------- registry


class RegistryUnknownModel(ContractRevert, NotFound):
    hint = "there is no model {modelId}; list the models to find its id"


class RegistryUnknownVersion(ContractRevert, NotFound):
    hint = "there is no version {versionId}; list the model's versions to find its id"


class RegistryInvalidName(ContractRevert, InvalidInput):
    hint = (
        "model name {name!r} is invalid: a name has 1 to 64 characters, each a lower-case "
        "letter a-z, a digit 0-9, a dot, an underscore or a hyphen"
    )


class RegistryDuplicateName(ContractRevert, Conflict):
    hint = "the name {name!r} is taken by model {existingModelId}; choose another name"


class RegistryNotMember(ContractRevert, Forbidden):
    hint = "{account} is not a consortium member; only members may do this"


class RegistryNotModelOwner(ContractRevert, Forbidden):
    hint = "{account} does not own model {modelId}; only its owner may do this"


class RegistryNotPendingOwner(ContractRevert, Forbidden):
    hint = (
        "{account} is not the pending owner of model {modelId} (pending owner: {pendingOwner}, "
        "the zero address if none); the owner must first transfer the model to {account}"
    )


class RegistryAlreadyOwner(ContractRevert, Conflict):
    hint = "{account} already owns model {modelId}; name another account as new owner"


class RegistryNoPendingTransfer(ContractRevert, Conflict):
    hint = "model {modelId} has no pending transfer to cancel"


class RegistryNotMaintainer(ContractRevert, Forbidden):
    hint = "{account} may not maintain model {modelId}; its owner can grant the Maintain right (4)"


class RegistryInvalidAccount(ContractRevert, InvalidInput):
    hint = "{account} is not a usable account; give a non-zero address"


class RegistryInvalidDigest(ContractRevert, InvalidInput):
    hint = "artifact digest {digest} is empty; give the sha2-256 digest inside the artifact's CID"


class RegistryInvalidRights(ContractRevert, InvalidInput):
    hint = (
        "rights {rights} is not a non-zero mask of SubmitUpdates (1), ReadArtifacts (2), "
        "Maintain (4)"
    )


class RegistryMissingParent(ContractRevert, InvalidInput):
    hint = (
        "an {kind} version needs a parent: give the Approved version it derives from "
        "(--parent in the CLI)"
    )


class RegistryVersionOfOtherModel(ContractRevert, InvalidInput):
    hint = "version {versionId} belongs to model {actualModelId}, not model {modelId}"


class RegistryUnexpectedState(ContractRevert, Conflict):
    hint = "version {versionId} is {current}; this needs it {expected}"

    def explain(self, shown: dict[str, Any]) -> str:
        if shown["expected"] == "Approved":
            return (
                f"version {shown['versionId']} is {shown['current']}, not Approved: only an "
                "Approved version can be a parent or carry an alias"
                + (
                    "; wait for the vote to approve it"
                    if shown["current"] == "Proposed"
                    else "; propose the bytes again to vote anew"
                )
            )
        return _decided("version", shown["versionId"], shown, "versions show")


def _decided(what: str, item: Any, shown: dict[str, Any], command: str) -> str:
    current = str(shown["current"])
    if shown["expected"] == "Proposed" and current in ("Approved", "Rejected"):
        return (
            f"voting on {what} {item} is closed: {current.lower()} (`govledger {command} "
            f"{item}` shows its tally)"
        )
    return f"{what} {item} is {current}; this needs it {shown['expected']}"


class RegistryVotingClosed(ContractRevert, Conflict):
    hint = (
        "voting on version {versionId} closed at {deadline}, before chain time {timestamp}; "
        "it can only be finalized now (`govledger versions finalize {versionId}`)"
    )


class RegistryVotingOpen(ContractRevert, Conflict):
    hint = (
        "voting on version {versionId} is open until {deadline}; it can be finalized only "
        "after that"
    )


class RegistryAlreadyVoted(ContractRevert, Conflict):
    hint = "{voter} already voted on version {versionId}; a member votes once"


class RegistryNotEligible(ContractRevert, Forbidden):
    hint = (
        "{voter} joined at block {memberSince}, not before version {versionId}'s snapshot "
        "block {snapshotBlock}, so it may not vote on it"
    )


class RegistryInvalidAlias(ContractRevert, InvalidInput):
    hint = "alias {aliasName} is empty; give a name such as 'production'"


class RegistryNotRoundsContract(ContractRevert, Forbidden):
    hint = (
        "only the registry's FederatedRounds contract may record a round's aggregate; "
        "finalize the round there (finalizeRound) instead"
    )


# ---------------------------------------------------------------- federated rounds


class RoundsUnknownRound(ContractRevert, NotFound):
    hint = "there is no round {roundId}; list the model's rounds to find its id"


class RoundsUnexpectedState(ContractRevert, Conflict):
    states = _ROUND_STATES
    hint = "round {roundId} is {current}; this needs it {expected}"

    def explain(self, shown: dict[str, Any]) -> str:
        round_id, current = shown["roundId"], str(shown["current"]).lower()
        if shown["expected"] == "Open":
            return (
                f"round {round_id} takes no more updates: it is {current}, so it can be neither "
                "submitted to nor closed; submit to a later round (`govledger rounds list "
                "--mine` lists the open ones)"
            )
        if shown["expected"] == "Closed":
            then = {
                "open": f"close it first (`govledger rounds close {round_id}`) or wait for its "
                "deadline",
                "finalized": f"its aggregate is a version already (`govledger rounds show "
                f"{round_id}`)",
                "cancelled": "open a new round",
            }.get(current, "")
            return (
                f"round {round_id} is {current}, not closed: only a closed round can be "
                f"aggregated, finalized or cancelled; {then}"
            )
        return self.hint.format(**shown)


class RoundsNotMaintainer(ContractRevert, Forbidden):
    hint = (
        "{account} may not maintain model {modelId}: only its owner or a holder of the Maintain "
        "right (4) may open, finalize, close early or cancel its rounds (anyone may close a round "
        "past its deadline, or cancel a closed one short of its minimum)"
    )


class RoundsBaseNotApproved(ContractRevert, Conflict):
    hint = (
        "version {versionId} is {current}; a round starts from an Approved version: "
        "choose an approved one or wait for the vote"
    )


class RoundsVersionOfOtherModel(ContractRevert, InvalidInput):
    hint = "version {versionId} belongs to model {actualModelId}, not model {modelId}"


class RoundsInvalidRule(ContractRevert, InvalidInput):
    hint = "the round's aggregation rule is empty; name it (e.g. 'fedavg', 'krum')"


class RoundsInvalidUpdateBounds(ContractRevert, InvalidInput):
    hint = (
        "minimum {minUpdates} and maximum {maxUpdates} updates are invalid: "
        "give 1 <= minimum <= maximum"
    )


class RoundsInvalidSubmissionDeadline(ContractRevert, InvalidInput):
    hint = (
        "the submission deadline {submissionDeadline} is not after chain time {timestamp}; "
        "give a later one"
    )


class RoundsInvalidNormBound(ContractRevert, InvalidInput):
    hint = "the norm bound is 0; give a positive bound in micro-units (1000000 = L2 norm 1.0)"


class RoundsSubmissionClosed(ContractRevert, Conflict):
    hint = (
        "round {roundId} took updates until {submissionDeadline}, and chain time is "
        "{timestamp}: submit to a later round"
    )


class RoundsWrongBaseDigest(ContractRevert, InvalidInput):
    hint = (
        "the update names base {given}, but round {roundId} trains from {baseDigest}: "
        "train from the round's base version and sign again"
    )


class RoundsInvalidUpdateDigest(ContractRevert, InvalidInput):
    hint = "the update digest is empty; give the sha2-256 digest inside the update's CID"


class RoundsInvalidSampleCount(ContractRevert, InvalidInput):
    hint = "sample count {sampleCount} is out of range; give 1 to 2**64 - 1 samples"


class RoundsNotContributor(ContractRevert, Forbidden):
    hint = (
        "{account} does not hold the SubmitUpdates right (1) on model {modelId} now; "
        "the model's owner can grant it"
    )


class RoundsAlreadySubmitted(ContractRevert, Conflict):
    hint = "{participant} already submitted its update to round {roundId}; one per participant"


class RoundsTooFewUpdates(ContractRevert, Conflict):
    hint = (
        "round {roundId} has {updateCount} updates, fewer than its minimum {minUpdates}: "
        "it cannot be finalized; cancel it"
    )


class RoundsLengthMismatch(ContractRevert, InvalidInput):
    hint = "{excludedCount} excluded participants but {reasonCount} reasons; give one reason each"


class RoundsNothingIncluded(ContractRevert, InvalidInput):
    hint = "round {roundId}'s aggregate includes no update; include at least one, or cancel it"


class RoundsParticipantsNotAscending(ContractRevert, InvalidInput):
    hint = (
        "{next} follows {previous}: list the participants in strictly ascending address order "
        "(as numbers), each once"
    )


class RoundsNotSubmitter(ContractRevert, InvalidInput):
    hint = "{account} submitted no update to round {roundId}; list only its submitters"


class RoundsListedTwice(ContractRevert, InvalidInput):
    hint = "{participant} is both included and excluded in round {roundId}; list it once"


class RoundsParticipantsMissing(ContractRevert, InvalidInput):
    hint = (
        "the lists name {listed} of round {roundId}'s {updateCount} submitters; "
        "include or exclude every one"
    )


class RoundsInvalidExclusionReason(ContractRevert, InvalidInput):
    hint = (
        "reason {reason} for {participant} is not a reason code: 1 (not selected by the rule), "
        "2 (unavailable or corrupt), 3 (fails validation)"
    )


class RoundsEmptyBatch(ContractRevert, InvalidInput):
    hint = "the batch holds no signed update; give at least one"


REVERT_CLASSES: dict[str, type[ContractRevert]] = {
    cls.__name__: cls
    for cls in list(globals().values())
    if isinstance(cls, type) and issubclass(cls, ContractRevert) and cls is not ContractRevert
}


class RevertDecoder:
    """Turns revert data into the matching ContractRevert, using the contracts' ABIs."""

    def __init__(self, abis: list[list[dict[str, Any]]]) -> None:
        self._errors: dict[bytes, tuple[str, list[str], list[str]]] = {}
        for abi in abis:
            for item in abi:
                if item.get("type") != "error":
                    continue
                types = [_abi_type(i) for i in item["inputs"]]
                names = [i["name"] for i in item["inputs"]]
                selector = function_signature_to_4byte_selector(
                    f"{item['name']}({','.join(types)})"
                )
                self._errors[selector] = (item["name"], types, names)

    @property
    def error_names(self) -> set[str]:
        return {name for name, _, _ in self._errors.values()}

    def decode(self, data: bytes | str) -> ContractRevert:
        raw = (
            bytes.fromhex(data[2:] if data.startswith("0x") else data)
            if isinstance(data, str)
            else data
        )
        entry = self._errors.get(raw[:4])
        if entry is None:
            return ContractRevert("UnknownRevert", {"data": raw})
        name, types, names = entry
        # addresses checksummed, as in events and reads, so that they compare equal to them
        values = checksummed(types, abi_decode(types, raw[4:]))
        # errors of OpenZeppelin's libraries (SafeCast, Strings, ...) that no path of the
        # contracts is meant to reach get the generic class
        cls = REVERT_CLASSES.get(name, ContractRevert)
        return cls(name, dict(zip(names, values, strict=True)))


def _abi_type(item: dict[str, Any]) -> str:
    if item["type"].startswith("tuple"):
        inner = ",".join(_abi_type(c) for c in item["components"])
        return f"({inner}){item['type'][5:]}"
    return str(item["type"])
