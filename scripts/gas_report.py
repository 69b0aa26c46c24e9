"""Measure the gas of every external state-changing function, plain and signed, on a fresh
local anvil, and write the table to docs/gas.md.

    .venv/bin/python scripts/gas_report.py [--out docs/gas.md]

Each plain call and its signed twin run in equivalent states (same storage slots fresh or
already written), so the difference is the cost of the signature check. Signed calls are made by
actors whose nonce slot is already non-zero (the steady state); the first signed action of an
account costs about 17k more, for writing its nonce slot from zero.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from web3 import Web3

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from service.chain.accounts import dev_accounts
from service.chain.actions import action_spec
from service.chain.compile import load_build
from service.chain.deploy import deploy
from service.chain.ledger import Ledger
from service.chain.node import LocalChain
from service.chain.types import ChangeKind, Rights, Support, VersionKind, alias_to_bytes32
from service.devstack import free_port

AIMS = {  # issue 2's aims; signed variants aim at <= plain + 10k
    "proposeVersion": 120_000,
    "castVote": 80_000,
    "moveAlias": 60_000,
}


@dataclass
class Row:
    contract: str
    function: str
    case: str
    plain: int
    signed: int | None


def measure() -> tuple[list[Row], dict[str, int], int]:
    build = load_build()
    acc = dev_accounts(12)
    relayer, m1, m2, m3, m4, m5 = acc[:6]
    outsider_a, outsider_b, newcomer_a, newcomer_b = acc[6:10]
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        node = LocalChain(chain_dir=Path(tmp), port=free_port())
        node.start()
        try:
            w3 = Web3(Web3.HTTPProvider(node.rpc_url))
            deployment = deploy(
                w3=w3, deployer=relayer, build=build,
                founders=[m.address for m in (m1, m2, m3, m4, m5)],
                quorum_bps=5001, voting_period_s=3600,
            )  # fmt: skip
            deploy_gas = {
                name: int(w3.eth.get_transaction_receipt(h)["gasUsed"])
                for name, h in deployment.transactions.items()
            }
            L = Ledger(w3=w3, deployment=deployment, build=build, relayer=relayer)

            def pair(
                contract: str,
                case: str,
                name: str,
                plain_actor,
                plain_args,
                signed_actor,
                signed_args,
            ):
                plain = L.act(plain_actor, name, plain_args, direct=True).gas_used
                signed = L.act(signed_actor, name, signed_args).gas_used
                rows.append(Row(contract, action_spec(name).function, case, plain, signed))

            # warm every actor's nonce slots in both contracts, so signed rows show steady state
            warm_a = L.register_model(m1, "warm-a")
            L.register_model(m2, "warm-b")
            for m in (m3, m4, m5):
                L.act(
                    m,
                    "RegisterModel",
                    {
                        "name": f"warm-{m.address[2:8].lower()}",
                        "metadataDigest": bytes(32),
                        "restricted": False,
                    },
                )
            for m in (m1, m2, m3, m4, m5):
                p = L.propose_change(m, ChangeKind.SET_QUORUM, value=5001)
                del p

            digest = b"\x11" * 32
            meta = b"\x22" * 32
            L.propose_version(
                m1, warm_a, digest
            )  # the versions array's length slot is now non-zero
            pair(
                "ModelRegistry",
                "new model",
                "RegisterModel",
                m1,
                {"name": "model-plain-1", "metadataDigest": meta, "restricted": False},
                m2,
                {"name": "model-signd-1", "metadataDigest": meta, "restricted": False},
            )
            ma = L.model_id_by_name("model-plain-1")
            mb = L.model_id_by_name("model-signd-1")
            assert ma and mb
            pair(
                "ModelRegistry",
                "replace digest",
                "SetModelMetadata",
                m1,
                {"modelId": ma, "metadataDigest": b"\x33" * 32},
                m2,
                {"modelId": mb, "metadataDigest": b"\x33" * 32},
            )
            pair(
                "ModelRegistry",
                "restrict",
                "SetReadPolicy",
                m1,
                {"modelId": ma, "restricted": True},
                m2,
                {"modelId": mb, "restricted": True},
            )
            pair(
                "ModelRegistry",
                "first right of an account",
                "GrantRights",
                m1,
                {
                    "modelId": ma,
                    "account": outsider_a.address,
                    "rights": int(Rights.READ_ARTIFACTS),
                },
                m2,
                {
                    "modelId": mb,
                    "account": outsider_a.address,
                    "rights": int(Rights.READ_ARTIFACTS),
                },
            )
            pair(
                "ModelRegistry",
                "revoke one of two",
                "RevokeRights",
                m1,
                {
                    "modelId": ma,
                    "account": outsider_a.address,
                    "rights": int(Rights.READ_ARTIFACTS),
                },
                m2,
                {
                    "modelId": mb,
                    "account": outsider_a.address,
                    "rights": int(Rights.READ_ARTIFACTS),
                },
            )
            pair(
                "ModelRegistry",
                "base, no parent",
                "ProposeVersion",
                m1,
                {
                    "modelId": ma,
                    "parentId": 0,
                    "kind": 0,
                    "artifactDigest": digest,
                    "metadataDigest": meta,
                },
                m2,
                {
                    "modelId": mb,
                    "parentId": 0,
                    "kind": 0,
                    "artifactDigest": digest,
                    "metadataDigest": meta,
                },
            )
            va, vb = L.version_count() - 1, L.version_count()
            pair(
                "ModelRegistry",
                "first vote (undecided)",
                "CastVote",
                m3,
                {"versionId": va, "support": int(Support.FOR)},
                m3,
                {"versionId": vb, "support": int(Support.FOR)},
            )
            pair(
                "ModelRegistry",
                "second vote (undecided)",
                "CastVote",
                m4,
                {"versionId": va, "support": int(Support.FOR)},
                m4,
                {"versionId": vb, "support": int(Support.FOR)},
            )
            pair(
                "ModelRegistry",
                "deciding vote (approves)",
                "CastVote",
                m5,
                {"versionId": va, "support": int(Support.FOR)},
                m5,
                {"versionId": vb, "support": int(Support.FOR)},
            )
            pair(
                "ModelRegistry",
                "aggregate with approved parent",
                "ProposeVersion",
                m1,
                {
                    "modelId": ma,
                    "parentId": va,
                    "kind": int(VersionKind.AGGREGATE),
                    "artifactDigest": digest,
                    "metadataDigest": meta,
                },
                m2,
                {
                    "modelId": mb,
                    "parentId": vb,
                    "kind": int(VersionKind.AGGREGATE),
                    "artifactDigest": digest,
                    "metadataDigest": meta,
                },
            )
            prod = alias_to_bytes32("production")
            pair(
                "ModelRegistry",
                "first value of an alias",
                "MoveAlias",
                m1,
                {"modelId": ma, "aliasName": prod, "versionId": va},
                m2,
                {"modelId": mb, "aliasName": prod, "versionId": vb},
            )
            L.move_alias(m1, ma, "staging", va)
            L.move_alias(m2, mb, "staging", vb)
            pair(
                "ModelRegistry",
                "move a set alias",
                "MoveAlias",
                m1,
                {"modelId": ma, "aliasName": alias_to_bytes32("staging"), "versionId": va},
                m2,
                {"modelId": mb, "aliasName": alias_to_bytes32("staging"), "versionId": vb},
            )
            pair(
                "ModelRegistry",
                "name a pending owner",
                "TransferModelOwnership",
                m1,
                {"modelId": ma, "newOwner": m3.address},
                m2,
                {"modelId": mb, "newOwner": m3.address},
            )
            pair(
                "ModelRegistry",
                "the pending owner takes over",
                "AcceptModelOwnership",
                m3,
                {"modelId": ma},
                m3,
                {"modelId": mb},
            )
            # both models go on to outsider_b, which accepts directly: it has never signed
            for model in (ma, mb):
                L.transfer_model_ownership(m3, model, outsider_b.address)
                L.accept_model_ownership(outsider_b, model, direct=True)

            # finalize: permissionless, no signed twin
            v_late = L.propose_version(m1, warm_a, digest)
            w3.provider.make_request("evm_increaseTime", [3601])  # type: ignore[arg-type]
            w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
            rows.append(
                Row(
                    "ModelRegistry",
                    "finalizeVersion",
                    "window ended",
                    L.finalize_version(v_late).gas_used,
                    None,
                )
            )

            # consortium
            pair(
                "Consortium",
                "add a member",
                "ProposeChange",
                m1,
                {"kind": int(ChangeKind.ADD_MEMBER), "account": newcomer_a.address, "value": 0},
                m2,
                {"kind": int(ChangeKind.ADD_MEMBER), "account": newcomer_b.address, "value": 0},
            )
            pa, pb = L.proposal_count() - 1, L.proposal_count()
            pair(
                "Consortium",
                "first vote (undecided)",
                "VoteOnChange",
                m1,
                {"proposalId": pa, "support": int(Support.FOR)},
                m1,
                {"proposalId": pb, "support": int(Support.FOR)},
            )
            pair(
                "Consortium",
                "second vote (undecided)",
                "VoteOnChange",
                m2,
                {"proposalId": pa, "support": int(Support.FOR)},
                m2,
                {"proposalId": pb, "support": int(Support.FOR)},
            )
            pair(
                "Consortium",
                "deciding vote (adds the member)",
                "VoteOnChange",
                m3,
                {"proposalId": pa, "support": int(Support.FOR)},
                m3,
                {"proposalId": pb, "support": int(Support.FOR)},
            )
            # removing the set's last element both times: newcomer_b (last) first, then newcomer_a
            L.propose_change(newcomer_a, ChangeKind.SET_QUORUM, value=5001)  # warm its nonce slot
            pair("Consortium", "the newest member leaves", "Resign", newcomer_b, {}, newcomer_a, {})
            p_late = L.propose_change(m1, ChangeKind.SET_VOTING_PERIOD, value=7200)
            w3.provider.make_request("evm_increaseTime", [3601])  # type: ignore[arg-type]
            w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
            rows.append(
                Row(
                    "Consortium",
                    "finalizeChange",
                    "window ended",
                    L.finalize_change(p_late).gas_used,
                    None,
                )
            )

            # the first signed action of an account writes its nonce slot from zero: outsider_b
            # (owner of both models now) has never signed before
            first = L.act(outsider_b, "SetReadPolicy", {"modelId": ma, "restricted": False})
            steady = L.act(outsider_b, "SetReadPolicy", {"modelId": mb, "restricted": False})
            first_nonce_extra = first.gas_used - steady.gas_used
        finally:
            node.stop()
    return rows, deploy_gas, first_nonce_extra


def render(rows: list[Row], deploy_gas: dict[str, int], first_nonce_extra: int) -> str:
    out = [
        "# Gas used by the ledger's contracts",
        "",
        "Written by `.venv/bin/python scripts/gas_report.py` on a fresh local anvil "
        "(solc 0.8.28, optimizer 200 runs, cancun). Each plain call and its `...BySig` twin run "
        "in equivalent storage states; the signed twin is relayed and its signer's nonce slot is "
        "already non-zero (steady state).",
        "",
        "| contract | function | case | plain | signed (`BySig`) | signed - plain | aim |",
        "|---|---|---|---:|---:|---:|---|",
    ]
    for r in rows:
        signed = f"{r.signed:,}" if r.signed is not None else "n/a (anyone may call)"
        delta = f"{r.signed - r.plain:+,}" if r.signed is not None else ""
        aim = AIMS.get(r.function)
        verdict = ""
        if aim is not None:
            verdict = f"<= {aim:,}: " + ("met" if r.plain <= aim else "missed, see below")
        if r.signed is not None:
            verdict += ("; " if verdict else "") + (
                "signed <= +10k: met"
                if r.signed - r.plain <= 10_000
                else "signed <= +10k: missed, see below"
            )
        cells = [r.contract, f"`{r.function}`", r.case, f"{r.plain:,}", signed, delta, verdict]
        out.append("| " + " | ".join(cells) + " |")
    out += [
        "",
        "Deployment: " + ", ".join(f"{k} {v:,} gas" for k, v in sorted(deploy_gas.items())) + ".",
        "",
        "## Notes",
        "",
        f"- The first signed action of an account cost {first_nonce_extra:,} gas more than its "
        "second (measured: `setReadPolicyBySig` twice by a new signer): OpenZeppelin `Nonces` "
        "writes the account's nonce slot from zero (20,000 gas) instead of updating it (2,900).",
        "- **Signed overhead, aim +10k missed by about 2.5k.** The overhead is intrinsic to the "
        "scheme the issue asks for: the per-account nonce (cold read 2,100 + update 2,900 = "
        "5,000), `ecrecover` (3,000 + ~700 for the call), and the extra calldata: a 65-byte "
        "signature as `bytes` plus actor, nonce and deadline, about 2,100 gas. That is ~10,800 "
        "before hashing the typed struct and copying the signature (~1,500). Already done: the "
        "signature check tries ECDSA before asking for the actor's code size, which saves a cold "
        "EXTCODESIZE (2,600) on every action by an ordinary account (OpenZeppelin's "
        "`SignatureChecker` asks first); ERC-1271 contract accounts (multisigs) still work. "
        "Left alone on purpose: ERC-2098 compact signatures would save ~400 gas but drop "
        "ERC-1271 signatures of other lengths; implicit nonces would save ~100 but turn a "
        "replay's clear `InvalidAccountNonce` into a bare signature error.",
        "- **`proposeVersion`, aim 120k missed by about 15k.** A version writes four fresh "
        "storage slots (proposer with lineage and kind, the packed ballot, the artifact digest, "
        "the metadata digest: 4 x 22,100 = 88,400), updates the version counter and reads the "
        "ballot parameters from the Consortium (a cold external call). Keeping the metadata "
        "digest only in the `VersionProposed` event would save 22,100 and meet the aim; it stays "
        "in storage so that `version(id)` returns the whole record to auditors and to other "
        "contracts, as the house style asks for digests. Versions are proposed a few times a "
        "day, votes and alias moves far more often, and those meet their aims.",
        "- `castVote` records the voter's choice in a fresh slot (22,100), updates the packed "
        "ballot, and reads `memberSince` from the Consortium (a cold external call, 2,600 + "
        "2,100). The deciding vote also writes the state and emits `VersionStateChanged`.",
        "- `moveAlias` costs most on an alias's first value (a fresh slot); later moves update it.",
        "- A model changes hands in two transactions: `transferModelOwnership` writes the pending "
        "owner into a fresh slot (about 20k more than the one-step transfer it replaced, which "
        "only updated the owner), and `acceptModelOwnership` updates the owner and clears that "
        "slot (part of the 20k comes back as a refund). Worth it for a transfer that is rare and "
        "cannot be undone: a mistyped address or an account nobody can sign for no longer takes "
        "a model.",
        "- `voteOnChange` reads the proposal's kind and account on every vote (a cold slot, 2,100 "
        "gas), to refuse the vote of the member a removal would remove; membership votes are rare.",
        "",
    ]
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parent.parent / "docs" / "gas.md"
    )
    args = parser.parse_args()
    rows, deploy_gas, extra = measure()
    text = render(rows, deploy_gas, extra)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
