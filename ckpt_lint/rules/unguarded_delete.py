"""CKP002: a checkpoint deletion that more than one process of the job can reach."""

from __future__ import annotations

from collections.abc import Iterator

import libcst as cst

from ckpt_lint.analysis import FileAnalysis, FileFacts, ProjectFacts
from ckpt_lint.analysis.callgraph import (
    DELETION_TEXT,
    CallGraph,
    CallGraphProject,
    CallGraphSummary,
    Deletion,
    Reach,
)
from ckpt_lint.analysis.guards import GuardLevel
from ckpt_lint.model import Applicability, Finding, Fix, Related
from ckpt_lint.rules import Invalid, Option, Rule, RuleContext, Valid

RUNTIME_REPLACEMENT = {
    "shutil.rmtree": "main_process_rmtree",
    "os.remove": "main_process_remove",
    "os.unlink": "main_process_remove",
    "Path.unlink": "main_process_remove",
    "os.rmdir": "main_process_rmdir",
    "Path.rmdir": "main_process_rmdir",
}
# keyword -> whether its literal value is subsumed by "tolerate an already-gone path"
SUBSUMED = {"missing_ok": ("True", "False"), "ignore_errors": ("False",)}
SPREAD = {
    GuardLevel.PER_NODE: "runs on one process per node",
    GuardLevel.NONE: "runs on every process",
}


class UnguardedDelete(Rule):
    """Checkpoint deletion that more than one process can reach.

    ## What it does
    Finds `shutil.rmtree`, `os.remove`, `os.unlink`, `os.rmdir`, `Path.unlink` and `Path.rmdir`
    in a distributed job (the module, or a module calling into it, uses torch.distributed,
    accelerate, DeepSpeed, Lightning, Ray, ... or the launcher's rank variables) that are not
    dominated by a guard letting exactly one process through. When the deletion's own function
    has no such guard, every call site in the project is examined, across modules and through
    callers' callers; it is safe only if each of them is globally guarded. The message names the
    weakest call site; the JSON/SARIF output lists every weak one as a related location.

    Global guards: `accelerator.is_main_process`, `trainer.is_global_zero`,
    `dist.get_rank() == 0`, `int(os.environ["RANK"]) == 0`, Ray actors' `self.rank == 0`,
    variables assigned from these, early `if not ...: return`, `@rank_zero_only`,
    `@accelerator.on_main_process`. Per node only: `accelerator.is_local_main_process`,
    `local_rank in [-1, 0]`, `LOCAL_RANK`. `is_main_process or is_deepspeed` admits every
    process. Deletions that tolerate an already-gone path (`ignore_errors=True`,
    `missing_ok=True`, `try/except FileNotFoundError`, `contextlib.suppress(OSError)`) are
    reported only with `report-mitigated`.

    ## Why is this bad?
    On shared storage every process that reaches the deletion removes the same directory; the
    first one wins and the others raise `FileNotFoundError`, which kills the job. That is how a
    7B DPO run died at step 2000 of 2031: checkpoint rotation guarded by
    `accelerator.is_local_main_process` ran once per node. Do not move the *save* under a rank
    guard instead: under DeepSpeed/FSDP saving is a collective and gating it hangs the job.

    ## Example
    ```python
    import shutil

    from accelerate import Accelerator


    def rotate(output_dir, old):
        for name in old:
            shutil.rmtree(f"{output_dir}/{name}")


    def train(accelerator: Accelerator, output_dir, old):
        accelerator.save_state(output_dir)
        if accelerator.is_local_main_process:
            rotate(output_dir, old)
    ```

    ## Use instead
    ```python
    from ckpt_lint.runtime import main_process_rmtree


    def rotate(output_dir, old):
        for name in old:
            main_process_rmtree(f"{output_dir}/{name}")
    ```
    `main_process_rmtree` deletes on global rank 0 only (local rank 0 with
    `shared_filesystem=False`) and tolerates a path that is already gone; every other process
    returns at once, so the call is safe from any guard or none.

    ## Fix safety
    Safe: the deletion is replaced by the runtime's main-process-only, already-gone-tolerant
    equivalent with the same path (`shutil.rmtree` -> `main_process_rmtree`, `os.remove`,
    `os.unlink`, `Path.unlink` -> `main_process_remove`, `os.rmdir`, `Path.rmdir` ->
    `main_process_rmdir`) and the import is added. `missing_ok=` and `ignore_errors=False` are
    dropped (subsumed); a call with `ignore_errors=True`, `onerror=`/`onexc=`, `dir_fd=` or
    unpacked arguments is reported without a fix.

    ## Options
    - `shared-filesystem` (default `true`): checkpoints live on storage all nodes share, so one
      process per node is not enough. Set to `false` for node-local checkpoint dirs; per-node
      guards then suffice and fixes pass `shared_filesystem=False`.
    - `report-mitigated` (default `false`): also report deletions that only survive the race
      because errors are ignored (`ignore_errors=True`, `missing_ok=True`, `try/except OSError`,
      `contextlib.suppress`), which also hides permission errors and NFS hiccups.
    """

    code = "CKP002"
    name = "unguarded-delete"
    message = "checkpoint deletion reachable by more than one process"
    fix_safety = Applicability.SAFE
    options = {
        "shared-filesystem": Option(
            True, "checkpoints are on storage shared by all nodes; per-node guards are not enough"
        ),
        "report-mitigated": Option(
            False, "also report deletions that only survive by ignoring errors"
        ),
    }
    # deletion calls; `x.remove(` is list.remove, only `os.remove`/bare `remove(` count
    prefilter = DELETION_TEXT

    VALID = [
        # globally guarded caller
        "import shutil\nfrom accelerate import Accelerator\n\n"
        "def rotate(d):\n    shutil.rmtree(d)\n\n"
        "def train(accelerator: Accelerator, d):\n"
        "    if accelerator.is_main_process:\n        rotate(d)\n",
        # early return
        "import os\nimport torch.distributed as dist\n\n"
        "def cleanup(path):\n    if dist.get_rank() != 0:\n        return\n    os.remove(path)\n",
        # single-process script
        "import shutil\nimport sys\n\nshutil.rmtree(sys.argv[1])\n",
        # mitigated (reported only with report-mitigated)
        "import shutil\nimport torch.distributed as dist\n\n"
        "def cleanup(path):\n    shutil.rmtree(path, ignore_errors=True)\n",
        # node-local storage: per-node guard is enough
        Valid(
            "import os\nfrom accelerate import Accelerator\n\n"
            "def cleanup(accelerator: Accelerator, path):\n"
            "    if accelerator.is_local_main_process:\n        os.remove(path)\n",
            options={"shared-filesystem": False},
        ),
    ]
    INVALID = [
        Invalid(
            "import shutil\nfrom accelerate import Accelerator\n\n"
            "def train(accelerator: Accelerator, d):\n"
            "    if accelerator.is_local_main_process:\n        shutil.rmtree(d)\n",
            "from accelerate import Accelerator\n"
            "from ckpt_lint.runtime import main_process_rmtree\n\n"
            "def train(accelerator: Accelerator, d):\n"
            "    if accelerator.is_local_main_process:\n        main_process_rmtree(d)\n",
        ),
        # the seed's shape: per-node guard in a caller in another module
        Invalid(
            "import os\nimport shutil\n\n"
            "def rotate(output_dir, keep):\n"
            "    steps = sorted(os.listdir(output_dir))\n"
            "    for name in steps[: len(steps) - keep]:\n"
            "        shutil.rmtree(os.path.join(output_dir, name))\n",
            "import os\n\nfrom ckpt_lint.runtime import main_process_rmtree\n\n"
            "def rotate(output_dir, keep):\n"
            "    steps = sorted(os.listdir(output_dir))\n"
            "    for name in steps[: len(steps) - keep]:\n"
            "        main_process_rmtree(os.path.join(output_dir, name))\n",
            path="ckpt_utils.py",
            files={
                "train.py": "from accelerate import Accelerator\n\nfrom ckpt_utils import rotate\n\n"
                "def main(accelerator: Accelerator, out):\n"
                "    accelerator.save_state(out)\n"
                "    if accelerator.is_local_main_process:\n        rotate(out, 2)\n"
            },
        ),
        # `or` lets every rank in; Path.unlink with missing_ok=False
        Invalid(
            "from pathlib import Path\n\nfrom accelerate import Accelerator\n\n"
            "def prune(accelerator: Accelerator, p: Path, deepspeed: bool):\n"
            "    if accelerator.is_main_process or deepspeed:\n        p.unlink(missing_ok=False)\n",
            "from pathlib import Path\n\nfrom accelerate import Accelerator\n"
            "from ckpt_lint.runtime import main_process_remove\n\n"
            "def prune(accelerator: Accelerator, p: Path, deepspeed: bool):\n"
            "    if accelerator.is_main_process or deepspeed:\n        main_process_remove(p)\n",
        ),
        Invalid(
            "import shutil\nimport torch.distributed as dist\n\n"
            "def cleanup(path):\n    shutil.rmtree(path, ignore_errors=True)\n",
            None,
            options={"report-mitigated": True},
        ),
        Invalid(
            "import os\nimport torch.distributed as dist\n\ndef cleanup(path):\n    os.rmdir(path)\n",
            "import torch.distributed as dist\n"
            "from ckpt_lint.runtime import main_process_rmdir\n\n"
            "def cleanup(path):\n    main_process_rmdir(path, shared_filesystem=False)\n",
            options={"shared-filesystem": False},
        ),
    ]

    def may_fire(self, file: FileAnalysis) -> bool:
        graph = file.get(CallGraph)
        return any(graph.reportable(d) for d in graph.deletions)

    def may_fire_in(self, facts: FileFacts, project: ProjectFacts) -> bool:
        summary = facts.get(CallGraph.summary_key)
        if not isinstance(summary, CallGraphSummary):
            return False
        graph = project.get(CallGraphProject)
        return any(
            self._decide(d.level, d.function, d.mitigated, facts.module_name, graph) is not None
            for d in summary.deletions
            if d.reportable
        )

    def _decide(
        self,
        local: GuardLevel,
        qualname: str | None,
        mitigated: str,
        module: str,
        project: CallGraphProject,
    ) -> tuple[Reach, GuardLevel, str] | None:
        """(reach, level, mitigation) when a deletion under a `local` guard, in function
        `qualname` of `module`, is a finding: the one decision `check` and the project-phase
        gate share."""
        required = GuardLevel.GLOBAL if self.settings["shared-filesystem"] else GuardLevel.PER_NODE
        if local >= required:
            return None
        reach = project.reach(qualname, required) if qualname else project.entry(module)
        level = max(local, reach.level)
        if level >= required:
            return None
        mitigated = mitigated or reach.mitigated
        if mitigated and not self.settings["report-mitigated"]:
            return None
        return reach, level, mitigated

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        graph = ctx.file.get(CallGraph)
        if not graph.deletions:
            return
        project = ctx.project.get(CallGraphProject)
        shared = bool(ctx.settings["shared-filesystem"])
        for deletion in graph.deletions:
            if deletion.per_process:
                continue
            decided = self._decide(
                deletion.guard.level,
                deletion.qualname,
                deletion.mitigated,
                ctx.file.module_name,
                project,
            )
            if decided is None:
                continue
            reach, level, mitigated = decided
            yield ctx.finding(
                deletion.call,
                _message(deletion, reach, level, mitigated),
                fix=_fix(ctx, deletion, shared),
                related=tuple(_related(reach)),
            )


def _message(deletion: Deletion, reach: Reach, level: GuardLevel, mitigated: str) -> str:
    where = f" in `{deletion.function.name.value}`" if deletion.function is not None else ""
    head = f"`{deletion.kind}`{where} {SPREAD[level]}"
    local = deletion.guard
    if local.text and local.level >= reach.level:
        why = f"under `{local.text}`"
        if local.note:
            why += f", {local.note}"
    elif reach.chain:
        deciding = reach.chain[-1]
        why = f"called from `{deciding.where}`"
        if reach.entry:
            why += f" with no main-process guard, {reach.reason}"
        else:
            why += f" under `{reach.reason}`"
            if reach.note:
                why += f", {reach.note}"
        via = [link.site.caller.rsplit(".", 1)[-1] for link in reach.chain[:-1] if link.site.caller]
        if via:
            why += " (via " + ", ".join(f"`{name}`" for name in via) + ")"
    else:
        why = f"no main-process guard, {reach.reason}"
    text = f"{head}: {why}"
    if mitigated:
        text += f"; only `{mitigated}` keeps the losers from crashing, and it hides other errors"
    return text


def _related(reach: Reach) -> Iterator[Related]:
    for link in sorted(reach.weak, key=lambda link: (link.path, link.site.line, link.site.column)):
        guard = f"under `{link.site.guard}`" if link.site.guard else "with no main-process guard"
        yield Related(link.path, link.site.line, link.site.column, f"called here {guard}")


def _fix(ctx: RuleContext, deletion: Deletion, shared: bool) -> Fix | None:
    call = deletion.call
    func = call.func
    args = list(call.args)
    if deletion.kind.startswith("Path.") and isinstance(func, cst.Attribute):
        target: cst.BaseExpression = func.value.with_changes(lpar=[], rpar=[])
        path_code = ctx.parsed.code(target)
    else:
        first = args[0] if args else None
        if (
            first is None
            or first.star
            or (first.keyword is not None and first.keyword.value != "path")
        ):
            return None
        path_code = ctx.parsed.code(args[0].value)
        args = args[1:]
    for arg in args:
        if arg.star or arg.keyword is None:
            return None  # a positional `ignore_errors`/`onerror`: meaning unclear, decline
        allowed = SUBSUMED.get(arg.keyword.value)
        if allowed is None or ctx.parsed.code(arg.value) not in allowed:
            return None
    name = RUNTIME_REPLACEMENT[deletion.kind]
    local, edits = ctx.import_runtime(name)
    extra = "" if shared else ", shared_filesystem=False"
    replacement = f"{local}({path_code}{extra})"
    return ctx.fix(
        [ctx.replace(call, replacement), *edits],
        f"delete on the main process only with `{name}`",
    )
