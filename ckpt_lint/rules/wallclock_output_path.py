"""CKP001: a wall-clock or random value reaches a checkpoint directory."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

import libcst as cst

from ckpt_lint.analysis import FileAnalysis, FileFacts, ProjectFacts
from ckpt_lint.analysis.taint import (
    SOURCE_CALL_TEXT,
    Flow,
    TaintAnalysis,
    TaintProject,
    with_extra_words,
)
from ckpt_lint.model import Applicability, Finding, Fix, Related
from ckpt_lint.rules import Invalid, Option, Rule, RuleContext, Valid
from ckpt_lint.textfilter import TextFilter

CONSEQUENCE = "a retried job writes to a new directory and cannot resume"


class WallclockOutputPath(Rule):
    """Wall-clock or random value in a checkpoint directory.

    ## What it does
    Finds `time.time()`, `datetime.now()`, `time.strftime(...)`, `uuid4()`, `secrets.token_*`,
    `random.*` and `os.getpid()` whose value reaches a directory that checkpoints are saved to
    or resumed from: a name, attribute or keyword such as `output_dir`, `save_dir`,
    `checkpoint_dir`, `project_dir`, `default_root_dir` or `dirpath`, or a call that creates or
    saves there (`os.makedirs`, `Path.mkdir`, `save_state`, `save_pretrained`,
    `save_checkpoint`, `torch.save`). The value is followed through variables and attributes
    (`args.exp_name`), f-strings, `+`, `%`, `.format`, `os.path.join`, `Path(...) / ...` and
    functions that return it, also across the project's modules. A clean reassignment clears a
    name, so a path read *before* the timestamp is joined in is not reported.

    The finding points at the non-deterministic expression as a whole (`int(time.time())`,
    `datetime.now().strftime(...)`, `uuid.uuid4().hex[:8]`) and names the checkpoint path it
    reaches; other paths it reaches are listed as related locations. Timestamps that only name
    log, TensorBoard or W&B runs, hub revisions or dataset ids are not reported.

    ## Why is this bad?
    When the scheduler retries a crashed job, the retry computes a new timestamp, so a new
    directory, and never finds the checkpoints the attempt before it wrote: it silently
    trains from step 0. On several nodes each process may even compute a different directory.

    ## Example
    ```python
    import os
    import time


    def main(args):
        args.exp_name = f"{args.exp_name}__{args.seed}__{int(time.time())}"
        args.output_dir = os.path.join(args.output_dir, args.exp_name)
    ```

    ## Use instead
    A run id derived from the hyperparameters: the same command gets the same directory on
    every retry and every node; different hyperparameters get different directories.
    ```python
    import os

    from ckpt_lint.runtime import stable_run_id


    def main(args):
        args.exp_name = f"{args.exp_name}__{args.seed}__{stable_run_id(args)}"
        args.output_dir = os.path.join(args.output_dir, args.exp_name)
    ```

    ## Fix safety
    Unsafe: the directory name changes, and the value becomes a string. The fix replaces the
    non-deterministic expression with `stable_run_id(<config>)`, where the config is the object
    whose attribute is being built (`args` in `args.exp_name = ...`), else the enclosing
    function's `args`/`config`/`cfg`/`opts`/`hparams`/`training_args` parameter (or a local
    assigned earlier), else `self.args`/`self.config` in a method. Without a config object the
    fix is display-only: `stable_run_id()` would hash the command line instead, which you should
    check identifies the run. A timestamp computed once at job *submission* (in a launcher) is
    stable across retries; silence such a line with `# noqa: CKP001`.

    ## Options
    - `extra-sources`: more non-deterministic functions, as dotted names
      (`["mylib.naming.fresh_run_name", "nanoid.*"]`).
    - `extra-sinks`: more checkpoint paths: a bare name is a variable, attribute, keyword or
      dict key (`"experiment_root"`); a dotted name is a function whose first argument is the
      path (`"mylib.io.save_ckpt"`); `.name` is a method whose first argument is the path
      (`".persist"`).
    """

    code = "CKP001"
    name = "wallclock-output-path"
    message = "wall-clock or random value reaches a checkpoint directory"
    fix_safety = Applicability.UNSAFE
    options: ClassVar[dict[str, Option]] = {
        "extra-sources": Option([], "more non-deterministic functions (dotted names, `mod.*`)"),
        "extra-sinks": Option([], "more checkpoint paths: names, dotted functions, `.methods`"),
    }
    # a source *call* (or an aliased import of a source module) must appear in the file
    prefilter: ClassVar[TextFilter | None] = SOURCE_CALL_TEXT

    VALID: ClassVar[list[Valid | str]] = [
        # the timestamp only names the TensorBoard folder
        'import os, time\nlog_dir = os.path.join("runs", time.strftime("%Y%m%d"))\n'
        "os.makedirs(log_dir, exist_ok=True)\n",
        # the output dir is read before the timestamp is joined in
        "import os, time\n\ndef main(args, accelerator_kwargs):\n"
        '    accelerator_kwargs["project_dir"] = args.output_dir\n'
        '    args.exp_name = f"{args.exp_name}__{int(time.time())}"\n'
        "    args.wandb_name = args.exp_name\n",
        # a clean reassignment clears the name
        'import os, time\n\ndef main(args):\n    name = f"run_{time.time()}"\n    name = args.exp_name\n'
        "    args.output_dir = os.path.join(args.output_dir, name)\n",
        # hub revision and dataset ids
        "import time, uuid\n\ndef push(args, example):\n"
        '    args.hf_repo_revision = f"{args.exp_name}__{int(time.time())}"\n'
        '    example["id"] = str(uuid.uuid4())\n',
    ]
    INVALID: ClassVar[list[Invalid]] = [
        Invalid(
            "import os\nimport time\n\n\ndef main(args):\n"
            '    args.exp_name = f"{args.exp_name}__{args.seed}__{int(time.time())}"\n'
            "    args.output_dir = os.path.join(args.output_dir, args.exp_name)\n",
            fixed="import os\n\nfrom ckpt_lint.runtime import stable_run_id\n\n\n"
            "def main(args):\n"
            '    args.exp_name = f"{args.exp_name}__{args.seed}__{stable_run_id(args)}"\n'
            "    args.output_dir = os.path.join(args.output_dir, args.exp_name)\n",
        ),
        Invalid(
            "from datetime import datetime as dt\nfrom pathlib import Path\n\n\n"
            "def build(config):\n"
            '    stamp = dt.now().strftime("%Y%m%d-%H%M%S")\n'
            '    run_dir = Path(config.root) / f"run-{stamp}"\n'
            "    run_dir.mkdir(parents=True)\n",
            fixed="from pathlib import Path\n\n"
            "from ckpt_lint.runtime import stable_run_id\n\n\n"
            "def build(config):\n"
            "    stamp = stable_run_id(config)\n"
            '    run_dir = Path(config.root) / f"run-{stamp}"\n'
            "    run_dir.mkdir(parents=True)\n",
        ),
        Invalid(
            'import os, uuid\nOUTPUT_DIR = os.path.join("ckpt", uuid.uuid4().hex[:8])\n',
            fixed=None,
        ),
        Invalid(
            'import time\n\n\ndef run_name(args):\n    return f"{args.exp_name}_{int(time.time())}"\n',
            files={
                "train.py": "import os\n\nfrom helpers.naming import run_name\n\n\ndef main(args):\n"
                "    args.output_dir = os.path.join(args.output_dir, run_name(args))\n"
            },
            path="helpers/naming.py",
            fixed="from ckpt_lint.runtime import stable_run_id\n\n\n"
            "def run_name(args):\n"
            '    return f"{args.exp_name}_{stable_run_id(args)}"\n',
        ),
    ]

    def text_filter(self) -> TextFilter | None:
        return with_extra_words(SOURCE_CALL_TEXT, self.settings["extra-sources"])

    def may_fire(self, file: FileAnalysis) -> bool:
        taint = file.get(TaintAnalysis)
        # a source that reaches a sink here, or one a function returns to other modules
        return taint.local_flow() or bool(taint.sources and taint.summary()["returns"])

    def may_fire_in(self, facts: FileFacts, project: ProjectFacts) -> bool:
        summary = facts.get(TaintAnalysis.summary_key) or {}
        if summary.get("local"):
            return True
        returned = {i for ret in summary.get("returns", {}).values() for i in ret["sources"]}
        remote = project.get(TaintProject)
        return any(remote.remote_sinks(facts.path, i) for i in returned)

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        taint = ctx.file.get(TaintAnalysis)
        for flow in taint.flows(ctx.project.get(TaintProject)):
            yield ctx.finding(
                flow.piece,
                self.describe(ctx, flow),
                fix=self.stable_run_id_fix(ctx, taint, flow),
                related=self.related(ctx, flow),
            )

    def describe(self, ctx: RuleContext, flow: Flow) -> str:
        piece = ctx.parsed.code(flow.piece)
        if flow.sinks:
            hit, via = flow.sinks[0]
            where = f"`{hit.text}` (line {ctx.parsed.start(hit.node).line})"
        else:
            remote = flow.remote[0]
            hit, via = None, remote.via
            where = f"`{remote.text}` ({remote.path}, line {remote.line})"
        through = f" via {', '.join(f'`{v}`' for v in via)}" if via else ""
        more = len(flow.sinks) + len(flow.remote) - 1
        also = f" (and {more} more)" if more > 0 else ""
        return f"`{_short(piece)}` reaches {where}{through}{also}: {CONSEQUENCE}"

    def related(self, ctx: RuleContext, flow: Flow) -> tuple[Related, ...]:
        out = []
        for hit, _via in flow.sinks:
            pos = ctx.parsed.start(hit.node)
            out.append(
                Related(ctx.parsed.path, pos.line, pos.column, f"checkpoint path `{hit.text}`")
            )
        for remote in flow.remote:
            out.append(
                Related(remote.path, remote.line, remote.column, f"checkpoint path `{remote.text}`")
            )
        return tuple(out)

    def stable_run_id_fix(self, ctx: RuleContext, taint: TaintAnalysis, flow: Flow) -> Fix:
        local, imports = ctx.import_runtime("stable_run_id")
        config = taint.config_for(flow.piece)
        call = f"{local}({config or ''})"
        target: cst.CSTNode = flow.piece
        parent = taint.structure.parent(flow.piece)
        if isinstance(parent, cst.FormattedStringExpression) and (
            parent.format_spec or parent.conversion
        ):
            # a format spec such as `:%Y%m%d` would not apply to the id string
            target, call = parent, "{" + call + "}"
        edits = [ctx.replace(target, call), *imports]
        if config is None:
            return ctx.fix(
                edits,
                f"Use `{local}()`: no config object in scope, so it would hash the command line",
                Applicability.DISPLAY_ONLY,
            )
        return ctx.fix(edits, f"Use `{local}({config})`, a run id derived from the hyperparameters")


def _short(code: str, limit: int = 60) -> str:
    code = " ".join(code.split())
    return code if len(code) <= limit else code[: limit - 3] + "..."
