"""The signed actions: their EIP-712 types, typed data, signing and recovery (pure; no I/O).

Every state-changing function ``f(args...)`` of the contracts has a twin
``fBySig(args..., actor, nonce, deadline, signature)``. The actor signs the EIP-712 struct named
after the action, whose fields are the arguments followed by ``actor``, ``nonce`` and
``deadline``, in the domain ``{name, version: "1", chainId, verifyingContract}`` of the contract
that runs it. This module is the one place in Python that knows those structs.

It also knows the *off-chain statements* (``STATEMENTS``, at the end): structs signed the same
way, in a contract's domain, that no contract function accepts, so they can never be relayed or
replayed as on-chain actions; the service alone checks them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak, to_checksum_address

from service.errors import InvalidInput

ContractName = Literal["Consortium", "ModelRegistry", "FederatedRounds"]

DOMAIN_NAMES: dict[ContractName, str] = {
    "Consortium": "GovLedger Consortium",
    "ModelRegistry": "GovLedger ModelRegistry",
    "FederatedRounds": "GovLedger FederatedRounds",
}
DOMAIN_VERSION = "1"
_TRAILER = (("actor", "address"), ("nonce", "uint256"), ("deadline", "uint256"))


@dataclass(frozen=True, kw_only=True)
class ActionSpec:
    """One signable action: the EIP-712 struct ``name`` and the function that runs it."""

    name: str
    contract: ContractName
    function: str
    fields: tuple[tuple[str, str], ...]  # the function's arguments: (name, solidity type)
    #: the function takes ``fields`` as one struct argument of this name (``openRound(terms)``);
    #: the signed struct lists them flat all the same
    struct_argument: str | None = None

    @property
    def by_sig_function(self) -> str:
        return self.function + "BySig"

    @property
    def eip712_fields(self) -> list[dict[str, str]]:
        return [{"name": n, "type": t} for n, t in (*self.fields, *_TRAILER)]

    @property
    def type_string(self) -> str:
        return f"{self.name}({','.join(f'{t} {n}' for n, t in (*self.fields, *_TRAILER))})"


def _spec(
    name: str,
    contract: ContractName,
    function: str,
    *fields: tuple[str, str],
    struct_argument: str | None = None,
) -> ActionSpec:
    return ActionSpec(
        name=name,
        contract=contract,
        function=function,
        fields=fields,
        struct_argument=struct_argument,
    )


ACTIONS: dict[str, ActionSpec] = {
    s.name: s
    for s in (
        _spec("ProposeChange", "Consortium", "proposeChange",
              ("kind", "uint8"), ("account", "address"), ("value", "uint64")),
        _spec("VoteOnChange", "Consortium", "voteOnChange",
              ("proposalId", "uint256"), ("support", "uint8")),
        _spec("Resign", "Consortium", "resign"),
        _spec("RegisterModel", "ModelRegistry", "registerModel",
              ("name", "string"), ("metadataDigest", "bytes32"), ("restricted", "bool")),
        _spec("SetModelMetadata", "ModelRegistry", "setModelMetadata",
              ("modelId", "uint256"), ("metadataDigest", "bytes32")),
        _spec("TransferModelOwnership", "ModelRegistry", "transferModelOwnership",
              ("modelId", "uint256"), ("newOwner", "address")),
        _spec("AcceptModelOwnership", "ModelRegistry", "acceptModelOwnership",
              ("modelId", "uint256")),
        _spec("SetReadPolicy", "ModelRegistry", "setReadPolicy",
              ("modelId", "uint256"), ("restricted", "bool")),
        _spec("GrantRights", "ModelRegistry", "grantRights",
              ("modelId", "uint256"), ("account", "address"), ("rights", "uint8")),
        _spec("RevokeRights", "ModelRegistry", "revokeRights",
              ("modelId", "uint256"), ("account", "address"), ("rights", "uint8")),
        _spec("ProposeVersion", "ModelRegistry", "proposeVersion",
              ("modelId", "uint256"), ("parentId", "uint256"), ("kind", "uint8"),
              ("artifactDigest", "bytes32"), ("metadataDigest", "bytes32")),
        _spec("CastVote", "ModelRegistry", "castVote",
              ("versionId", "uint256"), ("support", "uint8")),
        _spec("MoveAlias", "ModelRegistry", "moveAlias",
              ("modelId", "uint256"), ("aliasName", "bytes32"), ("versionId", "uint256")),
        _spec("OpenRound", "FederatedRounds", "openRound",
              ("modelId", "uint256"), ("baseVersionId", "uint256"), ("rule", "bytes32"),
              ("paramsDigest", "bytes32"), ("minUpdates", "uint32"), ("maxUpdates", "uint32"),
              ("submissionDeadline", "uint64"), ("maxNorm", "uint256"),
              struct_argument="terms"),
        _spec("SubmitUpdate", "FederatedRounds", "submitUpdate",
              ("roundId", "uint256"), ("baseDigest", "bytes32"), ("updateDigest", "bytes32"),
              ("sampleCount", "uint256")),
        _spec("CloseRound", "FederatedRounds", "closeRound", ("roundId", "uint256")),
        _spec("FinalizeRound", "FederatedRounds", "finalizeRound",
              ("roundId", "uint256"), ("included", "address[]"), ("excluded", "address[]"),
              ("reasons", "uint8[]"), ("aggregateDigest", "bytes32"),
              ("metadataDigest", "bytes32")),
        _spec("CancelRound", "FederatedRounds", "cancelRound", ("roundId", "uint256")),
    )
}  # fmt: skip


def action_spec(name: str) -> ActionSpec:
    try:
        return ACTIONS[name]
    except KeyError:
        raise InvalidInput(
            f"unknown action {name!r}; the actions are {', '.join(sorted(ACTIONS))}"
        ) from None


@dataclass(frozen=True, kw_only=True)
class Domain:
    name: str
    chain_id: int
    verifying_contract: str
    version: str = DOMAIN_VERSION

    def as_eip712(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "chainId": self.chain_id,
            "verifyingContract": to_checksum_address(self.verifying_contract),
        }


@dataclass(frozen=True, kw_only=True)
class Action:
    """An action with its arguments, actor, nonce and deadline: what gets signed."""

    spec: ActionSpec
    args: dict[str, Any]
    actor: str
    nonce: int
    deadline: int
    domain: Domain

    def __post_init__(self) -> None:
        expected = {n for n, _ in self.spec.fields}
        given = set(self.args)
        if given != expected:
            missing, extra = sorted(expected - given), sorted(given - expected)
            raise InvalidInput(
                f"{self.spec.name} takes the arguments {sorted(expected)}; "
                f"missing {missing}, unexpected {extra}"
            )

    @property
    def message(self) -> dict[str, Any]:
        return {**self.args, "actor": self.actor, "nonce": self.nonce, "deadline": self.deadline}

    def typed_data(self) -> dict[str, Any]:
        """The full EIP-712 typed data (``eth_signTypedData_v4`` JSON, bytes as 0x-hex)."""
        return _typed_data(self.spec.name, self.spec.eip712_fields, self.domain, self.message)

    def call_args(self) -> list[Any]:
        """Positional arguments of the plain function, in ABI order (one tuple for a function
        that takes its fields as a struct)."""
        values = [self.args[n] for n, _ in self.spec.fields]
        return [tuple(values)] if self.spec.struct_argument else values


@dataclass(frozen=True, kw_only=True)
class SignedAction:
    action: Action
    signature: bytes = field(repr=False)

    def by_sig_args(self) -> list[Any]:
        a = self.action
        return [*a.call_args(), a.actor, a.nonce, a.deadline, self.signature]


def sign_action(action: Action, private_key: bytes | str) -> SignedAction:
    return SignedAction(action=action, signature=_sign(action.typed_data(), private_key))


def typed_data_digest(action: Action | Statement) -> bytes:
    """The 32-byte EIP-712 digest that is signed (what ERC-1271 ``isValidSignature`` gets)."""
    signable = encode_typed_data(full_message=action.typed_data())
    return bytes(keccak(b"\x19" + signable.version + signable.header + signable.body))


def recover_signer(action: Action | Statement, signature: bytes) -> str:
    """The address whose key made ``signature`` over ``action``; InvalidInput if malformed."""
    if len(signature) != 65:
        raise InvalidInput(f"a signature has 65 bytes (r, s, v), not {len(signature)}")
    signable = encode_typed_data(full_message=action.typed_data())
    try:
        return str(Account.recover_message(signable, signature=signature))
    except Exception as exc:  # eth_keys raises several types for malformed signatures
        raise InvalidInput(f"the signature cannot be recovered: {exc}") from exc


# ---------------------------------------------------------------- off-chain statements
# OFF-CHAIN ONLY. A statement is signed like an action (EIP-712, in a contract's domain) but no
# contract function accepts it: its type string is hashed nowhere in contracts/ (a test checks
# this), so a statement's signature can never be relayed or replayed as an on-chain action. It
# has no nonce; the service checks it against its own clock (deadline) and state.


@dataclass(frozen=True, kw_only=True)
class StatementSpec:
    """One off-chain statement: the EIP-712 struct ``name``, signed in ``contract``'s domain."""

    name: str
    contract: ContractName
    fields: tuple[tuple[str, str], ...]  # (name, solidity type), signer and deadline included

    @property
    def eip712_fields(self) -> list[dict[str, str]]:
        return [{"name": n, "type": t} for n, t in self.fields]

    @property
    def type_string(self) -> str:
        return f"{self.name}({','.join(f'{t} {n}' for n, t in self.fields)})"


STORE_METADATA = StatementSpec(
    name="StoreMetadata",
    contract="ModelRegistry",
    fields=(("digest", "bytes32"), ("actor", "address"), ("deadline", "uint256")),
)
"""A member asks the service to store (and pin) the metadata document whose sha2-256 digest, as
in its CID, is ``digest``; void after ``deadline`` (unix time, the service's clock)."""

STATEMENTS: dict[str, StatementSpec] = {s.name: s for s in (STORE_METADATA,)}


@dataclass(frozen=True, kw_only=True)
class Statement:
    """An off-chain statement with its values: what gets signed."""

    spec: StatementSpec
    values: dict[str, Any]
    domain: Domain

    def __post_init__(self) -> None:
        expected = {n for n, _ in self.spec.fields}
        if set(self.values) != expected:
            raise InvalidInput(
                f"{self.spec.name} has the fields {sorted(expected)}, not {sorted(self.values)}"
            )

    def typed_data(self) -> dict[str, Any]:
        """The full EIP-712 typed data (``eth_signTypedData_v4`` JSON, bytes as 0x-hex)."""
        return _typed_data(self.spec.name, self.spec.eip712_fields, self.domain, self.values)


def store_metadata_statement(
    *, domain: Domain, digest: bytes, actor: str, deadline: int
) -> Statement:
    """The StoreMetadata statement ``actor`` signs to have the document ``digest`` stored."""
    return Statement(
        spec=STORE_METADATA,
        values={"digest": digest, "actor": to_checksum_address(actor), "deadline": deadline},
        domain=domain,
    )


def sign_statement(statement: Statement, private_key: bytes | str) -> bytes:
    return _sign(statement.typed_data(), private_key)


# ---------------------------------------------------------------- internals


def _typed_data(
    primary_type: str, fields: list[dict[str, str]], domain: Domain, message: dict[str, Any]
) -> dict[str, Any]:
    return {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            primary_type: fields,
        },
        "primaryType": primary_type,
        "domain": domain.as_eip712(),
        "message": {k: _jsonable(v) for k, v in message.items()},
    }


def _sign(typed_data: dict[str, Any], private_key: bytes | str) -> bytes:
    signable = encode_typed_data(full_message=typed_data)
    return bytes(Account.sign_message(signable, private_key=private_key).signature)


def _jsonable(value: Any) -> Any:
    if isinstance(value, list | tuple):  # EIP-712 arrays (address[], uint8[])
        return [_jsonable(v) for v in value]
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)  # IntEnum -> int
    return value
