"""The interface every aggregation rule implements, and the records it takes and returns.

A rule is a pure function of its parameters and a list of contributions: no I/O, no clock, no
randomness. :meth:`AggregationRule.aggregate` checks and orders the input once (here), then hands
it to the rule's :meth:`~AggregationRule._combine`.
"""

from __future__ import annotations

import itertools
import math
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import IntEnum
from typing import Any, ClassVar, Final

import numpy as np
from eth_utils import is_checksum_address

from service.errors import InvalidInput
from service.ml.tensors import FLOAT_DTYPES, float_dtype_code

#: The largest sample count of one contribution and of a whole round: integers up to 2**53 are
#: exact in float64, where FedAvg weighs with them.
MAX_SAMPLES: Final = 2**53


class ExclusionReason(IntEnum):
    """Why a contribution is not in an aggregate; recorded on chain as a ``uint8``."""

    NOT_SELECTED = 1
    """The rule did not select it (Krum, Multi-Krum)."""
    UNAVAILABLE = 2
    """Its bytes were missing or corrupt when the aggregate was computed."""
    INVALID = 3
    """It failed validation."""


@dataclass(frozen=True)
class Contribution:
    """One participant's update: the delta of its tensors against the round's base version.

    ``participant`` is the EIP-55 checksummed address that submitted it; ``samples`` the number
    of training examples it reports (the weight of FedAvg).
    """

    participant: str
    samples: int
    tensors: Mapping[str, np.ndarray]


@dataclass(frozen=True)
class Exclusion:
    """A contribution left out of an aggregate, why, and a sentence that explains it."""

    participant: str
    reason: ExclusionReason
    detail: str


def address_key(participant: str) -> str:
    """The order of participants everywhere in aggregation: lowercase hex, ascending."""
    return participant.lower()


@dataclass(frozen=True)
class AggregateResult:
    """The aggregated delta and who is in it; participants in ascending address order."""

    tensors: dict[str, np.ndarray]
    included: tuple[str, ...]
    excluded: tuple[Exclusion, ...] = field(default=())

    def with_exclusions(self, exclusions: Iterable[Exclusion]) -> AggregateResult:
        """This result with more exclusions (for example UNAVAILABLE or INVALID updates the
        caller left out before aggregating), kept in ascending address order.

        A participant may appear once in all: included or excluded, never both, never twice.
        """
        extra = tuple(exclusions)
        seen: set[str] = set()
        for participant in (*self.included, *(e.participant for e in (*self.excluded, *extra))):
            key = address_key(participant)
            if key in seen:
                raise InvalidInput(
                    f"participant {participant} appears twice in the aggregate's record; "
                    "each participant is either included or excluded, once"
                )
            seen.add(key)
        merged = sorted((*self.excluded, *extra), key=lambda e: address_key(e.participant))
        return replace(self, excluded=tuple(merged))


@dataclass(frozen=True)
class Inputs:
    """Contributions that passed the common checks, sorted by address, with their layout.

    ``names`` are sorted (Python string order), and every contribution holds exactly these
    tensors with the same shape and dtype (``dtypes`` are little-endian numpy dtypes).
    """

    contributions: tuple[Contribution, ...]
    names: tuple[str, ...]
    shapes: Mapping[str, tuple[int, ...]]
    dtypes: Mapping[str, np.dtype]

    @property
    def n(self) -> int:
        """How many contributions."""
        return len(self.contributions)

    @property
    def participants(self) -> tuple[str, ...]:
        """The participants, in ascending address order."""
        return tuple(c.participant for c in self.contributions)

    def arrays(self, name: str) -> list[np.ndarray]:
        """Tensor ``name`` of every contribution, flattened, in address order (views if they
        can be)."""
        return [np.ravel(c.tensors[name]) for c in self.contributions]


class AggregationRule(ABC):
    """An aggregation rule: a name, canonical parameters, and a pure ``aggregate``.

    Subclasses set :attr:`name`, implement :attr:`params` (exactly what
    :func:`~service.ml.aggregate.rule_from` takes back), :meth:`from_params` and
    :meth:`_combine`. :meth:`aggregate` refuses bad input with InvalidInput before the rule
    sees it.
    """

    name: ClassVar[str]
    #: Each parameter the rule takes and what it means (listed in error messages).
    PARAMS: ClassVar[Mapping[str, str]] = {}

    @property
    @abstractmethod
    def params(self) -> dict[str, Any]:
        """The rule's parameters as JSON values; ``rule_from(name, params)`` rebuilds the rule."""

    @classmethod
    @abstractmethod
    def from_params(cls, params: Mapping[str, Any]) -> AggregationRule:
        """The rule with these parameters; InvalidInput names what is wrong."""

    def aggregate(self, contributions: Sequence[Contribution]) -> AggregateResult:
        """Combine the contributions into one delta; the order of the input never matters."""
        inputs = check_contributions(contributions)
        # infinities and NaNs are found and refused by the rules themselves, naming the value
        with np.errstate(over="ignore", invalid="ignore"):
            return self._combine(inputs)

    @abstractmethod
    def _combine(self, inputs: Inputs) -> AggregateResult:
        """The rule proper, over checked inputs in address order."""

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in sorted(self.params.items()))
        return f"{type(self).__name__}({args})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AggregationRule):
            return NotImplemented
        return self.name == other.name and self.params == other.params

    def __hash__(self) -> int:
        return hash((self.name, repr(sorted(self.params.items()))))


def check_params(rule: str, params: Mapping[str, Any], accepted: Mapping[str, str]) -> None:
    """Refuse params that are not a mapping or that name a parameter the rule does not take."""
    if not isinstance(params, Mapping):
        raise InvalidInput(
            f"params of rule {rule!r} must be a JSON object, not {type(params).__name__}"
        )
    unknown = sorted(str(k) for k in params if k not in accepted)
    if unknown:
        raise InvalidInput(
            f"rule {rule!r} does not take {', '.join(map(repr, unknown))}; "
            f"it takes {describe_params(accepted)}"
        )


def describe_params(accepted: Mapping[str, str]) -> str:
    """``"f (…), m (…)"`` or ``"no parameters"``."""
    if not accepted:
        return "no parameters"
    return "; ".join(f"{name} ({meaning})" for name, meaning in accepted.items())


def int_param(rule: str, params: Mapping[str, Any], name: str, *, minimum: int) -> int:
    """A required integer parameter (``True`` is not an integer here)."""
    if name not in params:
        raise InvalidInput(f"rule {rule!r} needs parameter {name!r} (an integer ≥ {minimum})")
    value = params[name]
    if type(value) is not int or value < minimum:
        raise InvalidInput(
            f"rule {rule!r}: parameter {name!r} must be an integer ≥ {minimum}, not {value!r}"
        )
    return value


# ---------------------------------------------------------------- the common checks


def check_contributions(contributions: Sequence[Contribution]) -> Inputs:
    """Check what every rule needs and sort by address; InvalidInput says what to fix.

    Checked here: at least one contribution; each a :class:`Contribution` from a distinct
    checksummed address with a positive integer sample count; all holding the same tensor
    names, shapes and floating dtypes. Finiteness is checked by each rule in its own pass over
    the data (:func:`find_non_finite` names the culprit), so that the data is read once.
    """
    if isinstance(contributions, Contribution) or not isinstance(contributions, Sequence):
        raise InvalidInput(
            f"contributions must be a sequence of Contribution, not {type(contributions).__name__}"
        )
    if not contributions:
        raise InvalidInput(
            "nothing to aggregate: the list of contributions is empty; an aggregate needs at "
            "least one accepted update"
        )
    for item in contributions:
        _check_one(item)
    ordered = sorted(contributions, key=lambda c: address_key(c.participant))
    for before, after in itertools.pairwise(ordered):
        if address_key(before.participant) == address_key(after.participant):
            raise InvalidInput(
                f"participant {after.participant} contributes twice; pass one contribution "
                "per participant"
            )
    total = sum(c.samples for c in ordered)
    if total > MAX_SAMPLES:
        raise InvalidInput(
            f"the contributions report {total} samples in all, more than 2**53 (exact in "
            "float64); report samples in a coarser unit"
        )
    reference = ordered[0]
    names = tuple(sorted(reference.tensors))
    shapes = {name: tuple(reference.tensors[name].shape) for name in names}
    dtypes = {name: reference.tensors[name].dtype.newbyteorder("<") for name in names}
    for other in ordered[1:]:
        _check_same_layout(reference, other, shapes, dtypes)
    return Inputs(contributions=tuple(ordered), names=names, shapes=shapes, dtypes=dtypes)


def _check_one(item: object) -> None:
    if not isinstance(item, Contribution):
        raise InvalidInput(f"expected a Contribution, got {type(item).__name__}")
    who = item.participant
    if not isinstance(who, str) or not is_checksum_address(who):
        raise InvalidInput(
            f"participant {who!r} is not a checksummed Ethereum address (0x and 40 hex digits "
            "in EIP-55 mixed case); pass eth_utils.to_checksum_address(address)"
        )
    if type(item.samples) is not int or not 1 <= item.samples <= MAX_SAMPLES:
        raise InvalidInput(
            f"contribution from {who}: samples must be an integer from 1 to 2**53, "
            f"not {item.samples!r}"
        )
    if not isinstance(item.tensors, Mapping) or not item.tensors:
        raise InvalidInput(
            f"contribution from {who} holds no tensors; an update holds the base's tensors"
        )
    for name, array in item.tensors.items():
        if not isinstance(name, str):
            raise InvalidInput(f"contribution from {who}: tensor name {name!r} is not a string")
        if not isinstance(array, np.ndarray):
            raise InvalidInput(
                f"contribution from {who}: tensor {name!r} is a {type(array).__name__}, "
                "not a numpy array"
            )
        if float_dtype_code(array.dtype) is None:
            raise InvalidInput(
                f"contribution from {who}: tensor {name!r} has dtype {array.dtype}; updates "
                f"are floating point ({', '.join(FLOAT_DTYPES)})"
            )


def _check_same_layout(
    reference: Contribution,
    other: Contribution,
    shapes: Mapping[str, tuple[int, ...]],
    dtypes: Mapping[str, np.dtype],
) -> None:
    if other.tensors.keys() != reference.tensors.keys():
        missing = sorted(reference.tensors.keys() - other.tensors.keys())
        extra = sorted(other.tensors.keys() - reference.tensors.keys())
        parts = [f"lacks {_names(missing)}"] if missing else []
        parts += [f"has {_names(extra)} that {reference.participant} does not"] if extra else []
        raise InvalidInput(
            f"contributions hold different tensors: {other.participant} {' and '.join(parts)}; "
            "every update must hold exactly the base's tensors"
        )
    for name in sorted(shapes):
        array = other.tensors[name]
        if tuple(array.shape) != shapes[name]:
            raise InvalidInput(
                f"tensor {name!r} has shape {list(array.shape)} in {other.participant} but "
                f"{list(shapes[name])} in {reference.participant}; every update must have the "
                "base's shapes"
            )
        if array.dtype.newbyteorder("<") != dtypes[name]:
            raise InvalidInput(
                f"tensor {name!r} is {float_dtype_code(array.dtype)} in {other.participant} but "
                f"{float_dtype_code(dtypes[name])} in {reference.participant}; every update "
                "must have the base's dtypes"
            )


def _names(names: list[str]) -> str:
    shown = ", ".join(map(repr, names[:5]))
    return shown + (f" and {len(names) - 5} more" if len(names) > 5 else "")


def find_non_finite(inputs: Inputs, names: Iterable[str] | None = None) -> InvalidInput | None:
    """The error naming the first non-finite value (address order, then tensor name, then
    element), or None if every value is finite. Called when a rule's pass saw a non-finite
    result, so the slow scan runs only on bad input."""
    for contribution in inputs.contributions:
        for name in inputs.names if names is None else names:
            flat = np.ravel(contribution.tensors[name])
            finite = np.isfinite(flat)
            if not finite.all():
                index = int(np.argmin(finite))
                value = float(flat[index])
                kind = "NaN" if math.isnan(value) else ("+inf" if value > 0 else "-inf")
                return InvalidInput(
                    f"contribution from {contribution.participant}: tensor {name!r} holds "
                    f"{kind} at element {index}; updates must be finite (leave it out as "
                    "INVALID: the update validator refuses such uploads)"
                )
    return None
