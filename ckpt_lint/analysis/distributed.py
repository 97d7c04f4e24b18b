"""Is a module part of a multi-process job?

Per file (`Distributed`): it imports torch.distributed, accelerate, deepspeed, Lightning, Ray,
composer, Megatron, OLMo-core's distributed helpers, Horovod or jax.distributed, or reads a
launcher's rank variables (`RANK`, `LOCAL_RANK`, `WORLD_SIZE`, ...) from the environment.
Project-wide (`DistributedModules`): a module that a distributed module calls into is
distributed too (a helper module without any import of its own runs inside the training job).
A plain single-process script is neither.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ckpt_lint.analysis import Analysis, FileFacts, ProjectAnalysis
from ckpt_lint.analysis.names import Names

DISTRIBUTED_MODULES = (
    "torch.distributed",
    "torch.nn.parallel",
    "torch.multiprocessing",
    "accelerate",
    "deepspeed",
    "lightning",
    "pytorch_lightning",
    "lightning_fabric",
    "ray",
    "composer",
    "megatron",
    "olmo_core.distributed",
    "horovod",
    "jax.distributed",
    "torch_xla.core.xla_model",
    "torch_xla.distributed",
)
RAY_MODULES = ("ray",)
LAUNCHER_ENV = re.compile(
    r"""(?:environ\s*(?:\[|\.get\s*\()|getenv\s*\()\s*['"](?:LOCAL_RANK|RANK|WORLD_SIZE|LOCAL_WORLD_SIZE|"""
    r"""OMPI_COMM_WORLD_RANK|OMPI_COMM_WORLD_LOCAL_RANK|PMI_RANK|SLURM_PROCID|SLURM_LOCALID)['"]"""
)


@dataclass(frozen=True)
class DistributedInfo:
    """Why a module runs in several processes ("" when it does not), and whether it drives Ray."""

    reason: str = ""
    uses_ray: bool = False

    @property
    def distributed(self) -> bool:
        return bool(self.reason)


class Distributed(Analysis):
    """This file's own signals of running in a distributed job."""

    summary_key = "distributed"

    def __init__(self, file) -> None:  # type: ignore[no-untyped-def]
        super().__init__(file)
        names = file.get(Names)
        reason = ""
        for prefix in DISTRIBUTED_MODULES:
            if names.uses_any((prefix,)):
                reason = f"imports {prefix}"
                break
        if not reason:
            match = LAUNCHER_ENV.search(file.parsed.source.text)
            if match:
                reason = "reads the launcher's rank variables"
        self.info = DistributedInfo(reason, names.uses_any(RAY_MODULES))

    @property
    def distributed(self) -> bool:
        return self.info.distributed

    def summary(self) -> DistributedInfo:
        return self.info


class DistributedModules(ProjectAnalysis):
    """Distributed modules project-wide: own signals, plus every module they call into."""

    def __init__(self, files: dict[str, FileFacts], options: dict[str, Any]) -> None:
        super().__init__(files, options)
        self.info: dict[str, DistributedInfo] = {}
        for facts in files.values():
            own = facts.get(Distributed.summary_key)
            if isinstance(own, DistributedInfo):
                self.info[facts.module_name] = own
        self.reason: dict[str, str] = {m: i.reason for m, i in self.info.items() if i.distributed}
        self._propagate(files)

    def _propagate(self, files: dict[str, FileFacts]) -> None:
        from ckpt_lint.analysis.callgraph import CallGraph

        modules = set(self.info)
        edges: dict[str, set[str]] = {}
        for facts in files.values():
            summary = facts.get(CallGraph.summary_key)
            if summary is None:
                continue
            for site in summary.calls:
                target = _module_of(site.callee, modules)
                if target is not None and target != facts.module_name:
                    edges.setdefault(facts.module_name, set()).add(target)
        todo = list(self.reason)
        while todo:
            module = todo.pop()
            for target in edges.get(module, ()):
                if target not in self.reason:
                    self.reason[target] = f"called from {module}"
                    todo.append(target)

    def is_distributed(self, module: str) -> bool:
        return module in self.reason

    def why(self, module: str) -> str:
        return self.reason.get(module, "")

    def own(self, module: str) -> DistributedInfo:
        return self.info.get(module, DistributedInfo())


def _module_of(qualname: str, modules: set[str]) -> str | None:
    """The longest known module name that `qualname` lies in."""
    parts = qualname.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in modules:
            return candidate
    return None
