"""How a finding names a record: as people name it elsewhere in the project (``digits-mlp@3``,
a model's name), from the registry's events alone (pure; no I/O)."""

from __future__ import annotations

from dataclasses import dataclass

from service.audit.context import AuditContext


@dataclass(frozen=True)
class Names:
    models: dict[int, str]
    versions: dict[int, tuple[int, int]]  # version id -> (model id, number in the model)

    @classmethod
    def of(cls, ctx: AuditContext) -> Names:
        models = {int(e.args["modelId"]): str(e.args["name"]) for e in ctx.named("ModelRegistered")}
        versions: dict[int, tuple[int, int]] = {}
        counts: dict[int, int] = {}
        for e in ctx.named("VersionProposed"):
            model_id = int(e.args["modelId"])
            counts[model_id] = counts.get(model_id, 0) + 1
            versions[int(e.args["versionId"])] = (model_id, counts[model_id])
        return cls(models, versions)

    def model(self, model_id: int) -> str:
        name = self.models.get(int(model_id))
        return f"model {model_id} ({name})" if name else f"model {model_id}"

    def version(self, version_id: int) -> str:
        found = self.versions.get(int(version_id))
        if found is None:
            return f"version {version_id}"
        model_id, number = found
        name = self.models.get(model_id, f"model {model_id}")
        return f"version {version_id} ({name}@{number})"
