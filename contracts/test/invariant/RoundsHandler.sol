// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {FederatedRounds} from "../../FederatedRounds.sol";
import {ModelRegistry} from "../../ModelRegistry.sol";
import {Consortium} from "../../Consortium.sol";
import {IFederatedRounds} from "../../interfaces/IFederatedRounds.sol";
import {IModelRegistry} from "../../interfaces/IModelRegistry.sol";
import {Ballots} from "../../utils/Ballots.sol";
import {Signing} from "../utils/Signing.sol";
import {VM} from "../utils/Vm.sol";
import {LedgerHandler} from "./LedgerHandler.sol";

/**
 * @title RoundsHandler
 * @notice The invariant tests' second target: random actions on the federated rounds of the
 * ledger that {LedgerHandler} drives, by the same seven actors, plain or signed (singly and in
 * batches), steered towards calls that can succeed (a model with an approved base, an open
 * round, a contributor that has not submitted yet, a ready round and a maintainer). The ledger
 * handler's actions (rights changed, ownership moved, members leaving) interleave with these.
 *
 * Ghost state: the signed actions the rounds contract accepted per actor, how many updates each
 * actor got accepted per round, and the state each round was last seen in. A violation seen
 * during a call (a state leaving the lifecycle, an update accepted from an account without the
 * SubmitUpdates right at that moment, a second update of one account to one round) is recorded,
 * not reverted, and the invariants assert it.
 */
contract RoundsHandler is Signing {
    LedgerHandler public immutable ledger;
    ModelRegistry public immutable registry;
    Consortium public immutable consortium;
    FederatedRounds public immutable rounds;

    mapping(address actor => uint256) public acceptedSignedActions;
    mapping(uint256 roundId => mapping(address participant => uint256)) public acceptedUpdates;
    mapping(uint256 roundId => IFederatedRounds.RoundState) internal _seen; // Open (0) until seen otherwise
    string public stateViolation; // a round's state left its lifecycle
    string public updateViolation; // an update that the rules do not allow was accepted

    address[] internal _actors;
    bytes internal _lastSignedCall;

    uint256 public calls;
    uint256 public succeeded;
    uint256 public finalized;

    constructor(LedgerHandler ledger_) {
        ledger = ledger_;
        registry = ledger_.registry();
        consortium = ledger_.consortium();
        rounds = FederatedRounds(registry.rounds());
        _actors = ledger_.actors();
    }

    // ================================================================ set-up of bases

    /// The owner of a model proposes a base version and the members approve it (direct calls).
    function prepareBase(uint256 modelSeed) external {
        _begin();
        uint256 models = registry.modelCount();
        if (models == 0) return;
        uint256 modelId = 1 + (modelSeed % models);
        VM.prank(registry.model(modelId).owner);
        (bool ok, bytes memory out) = address(registry)
            .call(
                abi.encodeCall(
                    IModelRegistry.proposeVersion,
                    (modelId, 0, IModelRegistry.VersionKind.Base, keccak256(abi.encode("base", calls)), bytes32(0))
                )
            );
        if (!ok) return;
        uint256 versionId = abi.decode(out, (uint256));
        VM.roll(block.number + 1);
        address[] memory members = consortium.members();
        for (uint256 k = 0; k < members.length; ++k) {
            if (registry.versionState(versionId) != Ballots.Status.Proposed) break;
            VM.prank(members[k]);
            (ok,) = address(registry).call(abi.encodeCall(IModelRegistry.castVote, (versionId, Ballots.Support.For)));
        }
        _checkRounds();
    }

    /// The owner of a model grants SubmitUpdates to an actor (a direct call); the ledger
    /// handler's random rights changes revoke it now and then, also mid-round.
    function enrol(uint256 modelSeed, uint256 accountSeed) external {
        _begin();
        uint256 models = registry.modelCount();
        if (models == 0) return;
        uint256 modelId = 1 + (modelSeed % models);
        address account = _actors[accountSeed % _actors.length];
        VM.prank(registry.model(modelId).owner);
        (bool ok,) = address(registry).call(abi.encodeCall(IModelRegistry.grantRights, (modelId, account, 1)));
        ok; // refused only for the owner itself, which holds every right
        _checkRounds();
    }

    // ================================================================ round actions

    function openRound(
        uint256 actorSeed,
        uint256 modelSeed,
        uint8 minSeed,
        uint8 extraSeed,
        uint8 periodSeed,
        bool signed
    ) external {
        _begin();
        (uint256 modelId, uint256 baseId) = _approvedBase(modelSeed);
        if (modelId == 0) return;
        (uint256 i, address actor) = _maintainerOr(actorSeed, modelId);
        uint64[3] memory periods = [uint64(5 minutes), 30 minutes, 2 hours];
        uint32 minUpdates = 1 + uint32(minSeed % 2);
        IFederatedRounds.RoundTerms memory terms = IFederatedRounds.RoundTerms({
            modelId: modelId,
            baseVersionId: baseId,
            rule: "fedavg",
            paramsDigest: bytes32(0),
            minUpdates: minUpdates,
            maxUpdates: minUpdates + uint32(extraSeed % 4),
            submissionDeadline: uint64(block.timestamp) + periods[periodSeed % 3],
            maxNorm: 1_000_000
        });
        bytes memory data;
        if (signed) {
            (uint256 nonce, uint256 deadline) = _nonceAndDeadline(actor);
            bytes32 h = keccak256(abi.encode(_typeHash(OPEN_ROUND_TYPE), terms, actor, nonce, deadline));
            data = abi.encodeCall(IFederatedRounds.openRoundBySig, (terms, actor, nonce, deadline, _signAs(i, h)));
        } else {
            data = abi.encodeCall(IFederatedRounds.openRound, (terms));
        }
        _send(actor, signed, data);
    }

    function submitUpdate(uint256 actorSeed, uint256 roundSeed, uint256 samplesSeed, bool signed) external {
        _begin();
        uint256 roundId = _roundSteered(roundSeed, IFederatedRounds.RoundState.Open, false);
        if (roundId == 0) return;
        (uint256 i, address actor) = _contributorOr(actorSeed, roundId);
        bool holds = registry.canSubmitUpdates(rounds.round(roundId).modelId, actor);
        if (_send(actor, signed, _submitCall(i, actor, roundId, samplesSeed, signed))) {
            _accepted(roundId, actor, holds);
        }
    }

    /// @dev Mostly a valid update; one time in sixteen no samples, one in sixteen another base.
    function _submitCall(uint256 i, address actor, uint256 roundId, uint256 samplesSeed, bool signed)
        internal
        view
        returns (bytes memory)
    {
        IFederatedRounds.SignedUpdate memory u;
        u.roundId = roundId;
        u.sampleCount = samplesSeed % 16 == 0 ? 0 : 1 + (samplesSeed >> 4) % 1_000;
        u.baseDigest = samplesSeed % 16 == 1 ? keccak256("another base") : rounds.round(roundId).baseDigest;
        u.updateDigest = keccak256(abi.encode(roundId, actor, samplesSeed));
        if (!signed) {
            return abi.encodeCall(IFederatedRounds.submitUpdate, (roundId, u.baseDigest, u.updateDigest, u.sampleCount));
        }
        u.actor = actor;
        (u.nonce, u.deadline) = _nonceAndDeadline(actor);
        u.signature = _signAs(i, _submitHash(u));
        return abi.encodeCall(
            IFederatedRounds.submitUpdateBySig,
            (u.roundId, u.baseDigest, u.updateDigest, u.sampleCount, u.actor, u.nonce, u.deadline, u.signature)
        );
    }

    function _submitHash(IFederatedRounds.SignedUpdate memory u) internal pure returns (bytes32) {
        return keccak256(
            abi.encode(
                _typeHash(SUBMIT_UPDATE_TYPE),
                u.roundId,
                u.baseDigest,
                u.updateDigest,
                u.sampleCount,
                u.actor,
                u.nonce,
                u.deadline
            )
        );
    }

    /// Two to four signed updates to one round in one transaction, from distinct actors.
    function submitBatch(uint256 roundSeed, uint256 actorsSeed, uint8 sizeSeed) external {
        _begin();
        uint256 roundId = _roundSteered(roundSeed, IFederatedRounds.RoundState.Open, false);
        if (roundId == 0) return;
        IFederatedRounds.Round memory r = rounds.round(roundId);
        uint256[] memory picked = _batchActors(roundId, r.modelId, actorsSeed, 2 + sizeSeed % 3);
        uint256 size = picked.length;
        IFederatedRounds.SignedUpdate[] memory batch = new IFederatedRounds.SignedUpdate[](size);
        bool[] memory holds = new bool[](size);
        for (uint256 k = 0; k < size; ++k) {
            address actor = _actors[picked[k]];
            holds[k] = registry.canSubmitUpdates(r.modelId, actor);
            IFederatedRounds.SignedUpdate memory u = batch[k];
            (u.roundId, u.baseDigest, u.updateDigest, u.sampleCount) =
            (roundId, r.baseDigest, keccak256(abi.encode(roundId, actor, "batch")), 7);
            u.actor = actor;
            (u.nonce, u.deadline) = _nonceAndDeadline(actor);
            u.signature = _signAs(picked[k], _submitHash(u));
        }
        (bool ok,) = address(rounds).call(abi.encodeCall(IFederatedRounds.submitUpdatesBySig, (batch)));
        if (ok) {
            succeeded += 1;
            for (uint256 k = 0; k < size; ++k) {
                acceptedSignedActions[batch[k].actor] += 1;
                _accepted(roundId, batch[k].actor, holds[k]);
            }
        }
        _checkRounds();
    }

    function closeRound(uint256 actorSeed, uint256 roundSeed, bool signed) external {
        _begin();
        uint256 roundId = _roundSteered(roundSeed, IFederatedRounds.RoundState.Open, true);
        if (roundId == 0) return;
        (uint256 i, address actor) = _maintainerOr(actorSeed, rounds.round(roundId).modelId);
        _send(actor, signed, _simpleAction(CLOSE_ROUND_TYPE, i, actor, roundId, signed));
    }

    /// Three times in four a closed round short of its minimum, by anyone (as anyone may); else
    /// any round, by a maintainer mostly.
    function cancelRound(uint256 actorSeed, uint256 roundSeed, bool signed) external {
        _begin();
        uint256 count = rounds.roundCount();
        if (count == 0) return;
        uint256 roundId = 1 + (roundSeed >> 2) % count;
        (uint256 i, address actor) = _maintainerOr(actorSeed, rounds.round(roundId).modelId);
        if (roundSeed % 4 != 0) {
            for (uint256 id = count; id >= 1; --id) {
                IFederatedRounds.Round memory r = rounds.round(id);
                if (rounds.roundState(id) == IFederatedRounds.RoundState.Closed && r.updateCount < r.minUpdates) {
                    (roundId, i) = (id, actorSeed % _actors.length);
                    actor = _actors[i];
                    break;
                }
            }
        }
        _send(actor, signed, _simpleAction(CANCEL_ROUND_TYPE, i, actor, roundId, signed));
    }

    /// The round's submitters split by `maskSeed` into included and excluded (sorted, one
    /// included at least three times in four; reasons 1..3), finalized by a maintainer mostly.
    function finalizeRound(uint256 actorSeed, uint256 roundSeed, uint256 maskSeed, bool signed) external {
        _begin();
        uint256 roundId = _roundSteered(roundSeed, IFederatedRounds.RoundState.Closed, true);
        if (roundId == 0) return;
        (uint256 i, address actor) = _maintainerOr(actorSeed, rounds.round(roundId).modelId);
        (address[] memory included, address[] memory excluded, uint8[] memory reasons) =
            _split(rounds.submitters(roundId), maskSeed);
        bytes32 aggregate = keccak256(abi.encode("aggregate", roundId, calls));
        bytes memory data;
        if (signed) {
            data = _finalizeBySig(i, actor, roundId, included, excluded, reasons, aggregate);
        } else {
            data = abi.encodeCall(IFederatedRounds.finalizeRound, (roundId, included, excluded, reasons, aggregate, 0));
        }
        if (_send(actor, signed, data)) finalized += 1;
    }

    /// A relayer sends the last accepted signed round action again: the nonce makes it fail.
    function replayLastSigned() external {
        _begin();
        if (_lastSignedCall.length == 0) return;
        (bool ok,) = address(rounds).call(_lastSignedCall);
        if (ok) updateViolation = "a replayed signed action was accepted";
        _checkRounds();
    }

    // ================================================================ internals

    function _begin() internal {
        calls += 1;
        VM.roll(block.number + 1);
        VM.warp(block.timestamp + 12);
        _checkRounds(); // time moved: Open rounds past their deadline now read Closed
    }

    function _send(address actor, bool signed, bytes memory data) internal returns (bool ok) {
        if (!signed) VM.prank(actor);
        (ok,) = address(rounds).call(data);
        if (ok) {
            succeeded += 1;
            if (signed) {
                acceptedSignedActions[actor] += 1;
                _lastSignedCall = data;
            }
        }
        _checkRounds();
    }

    function _accepted(uint256 roundId, address actor, bool held) internal {
        if (!held) updateViolation = "an update was accepted from an account without SubmitUpdates";
        acceptedUpdates[roundId][actor] += 1;
        if (acceptedUpdates[roundId][actor] > 1) updateViolation = "a second update of one account to one round";
    }

    function _simpleAction(string memory typeString, uint256 i, address actor, uint256 roundId, bool signed)
        internal
        view
        returns (bytes memory)
    {
        bool close = keccak256(bytes(typeString)) == keccak256(bytes(CLOSE_ROUND_TYPE));
        if (!signed) {
            return close
                ? abi.encodeCall(IFederatedRounds.closeRound, (roundId))
                : abi.encodeCall(IFederatedRounds.cancelRound, (roundId));
        }
        (uint256 nonce, uint256 deadline) = _nonceAndDeadline(actor);
        bytes memory signature =
            _signAs(i, keccak256(abi.encode(_typeHash(typeString), roundId, actor, nonce, deadline)));
        return close
            ? abi.encodeCall(IFederatedRounds.closeRoundBySig, (roundId, actor, nonce, deadline, signature))
            : abi.encodeCall(IFederatedRounds.cancelRoundBySig, (roundId, actor, nonce, deadline, signature));
    }

    /// @dev A FinalizeRound action's fields (kept together: there are more than the stack reaches).
    struct Finalization {
        uint256 roundId;
        address[] included;
        address[] excluded;
        uint8[] reasons;
        bytes32 aggregate;
        address actor;
        uint256 nonce;
        uint256 deadline;
    }

    function _finalizeBySig(
        uint256 i,
        address actor,
        uint256 roundId,
        address[] memory included,
        address[] memory excluded,
        uint8[] memory reasons,
        bytes32 aggregate
    ) internal view returns (bytes memory) {
        Finalization memory f = Finalization(roundId, included, excluded, reasons, aggregate, actor, 0, 0);
        (f.nonce, f.deadline) = _nonceAndDeadline(actor);
        bytes memory signature = _signAs(i, _finalizeHash(f));
        return abi.encodeCall(
            IFederatedRounds.finalizeRoundBySig,
            (f.roundId, f.included, f.excluded, f.reasons, f.aggregate, 0, f.actor, f.nonce, f.deadline, signature)
        );
    }

    function _finalizeHash(Finalization memory f) internal pure returns (bytes32) {
        return keccak256(
            abi.encode(
                _typeHash(FINALIZE_ROUND_TYPE),
                f.roundId,
                keccak256(abi.encodePacked(f.included)),
                keccak256(abi.encodePacked(f.excluded)),
                keccak256(abi.encodePacked(f.reasons)),
                f.aggregate,
                bytes32(0),
                f.actor,
                f.nonce,
                f.deadline
            )
        );
    }

    function _split(address[] memory submitted, uint256 maskSeed)
        internal
        pure
        returns (address[] memory included, address[] memory excluded, uint8[] memory reasons)
    {
        uint256 mask = maskSeed % 4 != 0 ? (maskSeed >> 2) & ~uint256(1) : maskSeed >> 2; // keep the first mostly
        uint256 out;
        for (uint256 k = 0; k < submitted.length; ++k) {
            if (mask >> k & 1 != 0) ++out;
        }
        included = new address[](submitted.length - out);
        excluded = new address[](out);
        reasons = new uint8[](out);
        (uint256 a, uint256 b) = (0, 0);
        for (uint256 k = 0; k < submitted.length; ++k) {
            if (mask >> k & 1 != 0) {
                reasons[b] = uint8(1 + (maskSeed >> (8 + k)) % 3);
                excluded[b++] = submitted[k];
            } else {
                included[a++] = submitted[k];
            }
        }
        _sort(included);
        _sort(excluded);
    }

    function _sort(address[] memory accounts) internal pure {
        for (uint256 k = 1; k < accounts.length; ++k) {
            address x = accounts[k];
            uint256 j = k;
            while (j > 0 && accounts[j - 1] > x) {
                accounts[j] = accounts[j - 1];
                --j;
            }
            accounts[j] = x;
        }
    }

    /// @dev A model and its newest Approved version (three times in four the first model that
    /// has one, from `seed` on); (0, 0) if none has.
    function _approvedBase(uint256 seed) internal view returns (uint256 modelId, uint256 versionId) {
        uint256 versions = registry.versionCount();
        for (uint256 id = versions; id >= 1; --id) {
            if (registry.versionState(id) == Ballots.Status.Approved) {
                modelId = registry.version(id).modelId;
                if (seed % 4 == 0 || modelId == 1 + seed % registry.modelCount()) return (modelId, id);
                if (versionId == 0) versionId = id; // the newest approved, whatever its model
            }
        }
        if (versionId != 0) return (registry.version(versionId).modelId, versionId);
        return (0, 0);
    }

    /// @dev Three times in four the newest round whose effective state is `state` (and, if
    /// `full`, that has its minimum of updates: one worth closing or finalizing), else any; 0 if none.
    function _roundSteered(uint256 seed, IFederatedRounds.RoundState state, bool full) internal view returns (uint256) {
        uint256 count = rounds.roundCount();
        if (count == 0) return 0;
        if (seed % 4 != 0) {
            for (uint256 id = count; id >= 1; --id) {
                if (rounds.roundState(id) != state) continue;
                IFederatedRounds.Round memory r = rounds.round(id);
                if (!full || r.updateCount >= r.minUpdates) return id;
            }
        }
        return 1 + (seed >> 2) % count;
    }

    /// @dev The model's owner or a maintainer three times in four, else any actor.
    function _maintainerOr(uint256 seed, uint256 modelId) internal view returns (uint256 index, address actor) {
        if (seed % 4 != 0) {
            for (uint256 k = 0; k < _actors.length; ++k) {
                index = ((seed >> 2) + k) % _actors.length;
                if (registry.rightsOf(modelId, _actors[index]) & 4 != 0) return (index, _actors[index]);
            }
        }
        index = (seed >> 2) % _actors.length;
        actor = _actors[index];
    }

    /// @dev Three times in four an actor holding SubmitUpdates that has not submitted to the round, else any.
    function _contributorOr(uint256 seed, uint256 roundId) internal view returns (uint256 index, address actor) {
        uint256 modelId = rounds.round(roundId).modelId;
        if (seed % 4 != 0) {
            for (uint256 k = 0; k < _actors.length; ++k) {
                index = ((seed >> 2) + k) % _actors.length;
                actor = _actors[index];
                if (registry.canSubmitUpdates(modelId, actor) && rounds.updateOf(roundId, actor).sampleCount == 0) {
                    return (index, actor);
                }
            }
        }
        index = (seed >> 2) % _actors.length;
        actor = _actors[index];
    }

    /// @dev `size` distinct actors: three times in four those that may submit to the round now
    /// (fewer if there are not enough), else any.
    function _batchActors(uint256 roundId, uint256 modelId, uint256 seed, uint256 size)
        internal
        view
        returns (uint256[] memory picked)
    {
        uint256[] memory found = new uint256[](size);
        uint256 n;
        for (uint256 k = 0; k < _actors.length && n < size; ++k) {
            uint256 index = ((seed >> 2) + k) % _actors.length;
            address actor = _actors[index];
            bool fits = registry.canSubmitUpdates(modelId, actor) && rounds.updateOf(roundId, actor).sampleCount == 0;
            if (seed % 4 == 0 || fits) found[n++] = index;
        }
        picked = new uint256[](n);
        for (uint256 k = 0; k < n; ++k) {
            picked[k] = found[k];
        }
    }

    function _signAs(uint256 index, bytes32 structHash) internal view returns (bytes memory) {
        return _sign(ledger.keyOf(index), address(rounds), structHash);
    }

    function _nonceAndDeadline(address actor) internal view returns (uint256, uint256) {
        return (rounds.nonces(actor), block.timestamp + 1 hours);
    }

    /// @dev Records a violation if a round's state left its lifecycle: Open -> Closed -> Finalized,
    /// Open | Closed -> Cancelled; a stored state that is not Open is the state read; a stored
    /// Open reads Closed exactly when its deadline has passed.
    function _checkRounds() internal {
        uint256 count = rounds.roundCount();
        for (uint256 id = 1; id <= count; ++id) {
            IFederatedRounds.RoundState seen = _seen[id];
            IFederatedRounds.RoundState effective = rounds.roundState(id);
            IFederatedRounds.Round memory r = rounds.round(id);
            if (!_allowed(seen, effective)) stateViolation = "a round's state left its lifecycle";
            if (r.state != IFederatedRounds.RoundState.Open && r.state != effective) {
                stateViolation = "a round's stored and reported states differ";
            }
            bool ended = block.timestamp > r.submissionDeadline;
            if (
                r.state == IFederatedRounds.RoundState.Open
                    && (effective == IFederatedRounds.RoundState.Closed) != ended
            ) {
                stateViolation = "an open round reads closed before its deadline, or open after it";
            }
            _seen[id] = effective;
        }
    }

    function _allowed(IFederatedRounds.RoundState from, IFederatedRounds.RoundState to) internal pure returns (bool) {
        if (from == to) return true;
        if (from == IFederatedRounds.RoundState.Open) {
            return to == IFederatedRounds.RoundState.Closed || to == IFederatedRounds.RoundState.Cancelled;
        }
        if (from == IFederatedRounds.RoundState.Closed) {
            return to == IFederatedRounds.RoundState.Finalized || to == IFederatedRounds.RoundState.Cancelled;
        }
        return false; // Finalized and Cancelled are final
    }
}
