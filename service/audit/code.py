"""Check (a): the code at each recorded address is what ``contracts/`` compiles to, with the
compiler version and settings the deployment record names, immutables masked, like a block
explorer's source verification. The comparison itself is ``deploy.code_mismatch``, the one the
service runs on every start."""

from __future__ import annotations

from collections.abc import Iterator

from eth_utils import keccak, to_checksum_address

from service.audit.context import CONTRACTS, AuditContext
from service.audit.findings import Finding, failed, passed
from service.chain.deploy import code_mismatch


class CodeCheck:
    name = "code"
    title = "deployed bytecode equals the compiled sources"

    def run(self, ctx: AuditContext) -> Iterator[Finding]:
        record, build = ctx.deployment, ctx.build
        compiler = f"solc {build.compiler_version}"
        if record.compiler_version != build.compiler_version or record.settings != build.settings:
            yield failed(
                self.name,
                "compiler",
                f"the deployment record names solc {record.compiler_version} with settings "
                f"{record.settings}; contracts/ compiles here with {compiler} and "
                f"{build.settings}: check out the sources and compiler of the deployment",
            )
            return
        for name in CONTRACTS:
            address = to_checksum_address(record.address_of(name))
            problem = code_mismatch(
                w3=ctx.w3, deployment=record, build=build, contract=name, block=ctx.block
            )
            label = f"{name} at {address}"
            if problem == "missing":
                yield failed(self.name, label, f"no code at {address} at block {ctx.block}")
                continue
            code = bytes(ctx.w3.eth.get_code(address, block_identifier=ctx.block))
            code_hash = "0x" + keccak(code).hex()
            if problem is not None:
                yield failed(
                    self.name,
                    label,
                    f"the runtime code ({len(code)} bytes, keccak {code_hash}) is not what "
                    f"{build[name].source} compiles to with {compiler} "
                    f"({len(build[name].deployed_bytecode)} bytes), immutables aside",
                )
                continue
            yield passed(
                self.name,
                label,
                f"{len(code)} bytes equal {build[name].source} compiled with {compiler} "
                f"({len(build[name].immutable_ranges)} immutable ranges masked)",
            )
        rounds = str(ctx.call(ctx.contract("ModelRegistry").functions.rounds()))
        if rounds == to_checksum_address(record.rounds):
            yield passed(self.name, "ModelRegistry.rounds()", f"names {rounds}, as recorded")
        else:
            yield failed(
                self.name,
                "ModelRegistry.rounds()",
                f"names {rounds}, not {record.rounds} as the deployment record says",
            )
