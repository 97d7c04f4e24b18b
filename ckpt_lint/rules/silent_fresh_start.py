"""CKP003: a resume lookup that finds nothing, logs, and trains from scratch."""

from __future__ import annotations

import re
from collections.abc import Iterator

import libcst as cst

from ckpt_lint.analysis import FileAnalysis
from ckpt_lint.analysis.resume import LOOKUP_TEXT, FreshStartSite, ResumeCallers, ResumeSites
from ckpt_lint.model import Applicability, Edit, Finding, Fix, Position
from ckpt_lint.rules import Invalid, Rule, RuleContext, Valid

# a bare config object is not a directory; the fix needs the directory itself
CONFIG_NAMES = frozenset(
    {"args", "cfg", "config", "opt", "opts", "hparams", "self", "training_args"}
)


class SilentFreshStart(Rule):
    """Resume lookup that finds no checkpoint, only logs, and trains from step 0.

    ## What it does
    Finds a checkpoint lookup (`get_last_checkpoint(...)`, a `listdir`/`glob` filtered to
    `checkpoint*`/`step_*`, a checked `load_checkpoint` result, an `exists` check on a resume
    path) whose not-found branch only logs, prints or resets state (`step = 0`) and then falls
    through, when a resume was expected: a resume flag or `"latest"` in a dominating condition,
    an explicit resume path, or a lookup directory known to exist (created earlier, or checked
    by a dominating `isdir`). A function whose not-found path logs and returns None is reported
    when a caller treats None as "start fresh" (or no caller is known); not when every caller
    handles None strictly. Branches that raise or exit, code that fails loudly anyway
    (`dirs[-1]`, `os.path.join(None, ...)`) and first-run lookups with no evidence are fine.

    ## Why is this bad?
    A retried job that lost its checkpoints (or looks in the wrong directory) looks exactly like
    a first run: it logs one warning and retrains from step 0. Nobody notices until the compute
    bill arrives.

    ## Example
    ```python
    if args.output_dir and os.path.isdir(args.output_dir):
        last = get_last_checkpoint(args.output_dir)
        if last is None:
            logger.warning("Output directory exists but no checkpoint found. Starting from scratch.")
    ```

    ## Use instead
    ```python
    from ckpt_lint.runtime import check_fresh_start

    if args.output_dir and os.path.isdir(args.output_dir):
        last = get_last_checkpoint(args.output_dir)
        if last is None:
            check_fresh_start(
                args.output_dir,
                "Output directory exists but no checkpoint found. Starting from scratch.",
            )
    ```
    `check_fresh_start` returns when starting fresh is legitimate (directory missing or empty,
    a retry that never committed a checkpoint, `fresh_start=True` or `CKPT_LINT_FRESH_START=1`)
    and raises `ResumeError` otherwise, keeping the original message.

    ## Fix safety
    Unsafe: a job that used to restart silently now stops with `ResumeError` until someone
    passes the fresh-start flag (the config's own `overwrite_output_dir`/`fresh_start` when it
    has one) or sets `CKPT_LINT_FRESH_START=1`. When the searched directory cannot be named the
    fix is display-only.
    """

    code = "CKP003"
    name = "silent-fresh-start"
    message = "resume lookup finds no checkpoint, only logs, and trains from step 0"
    fix_safety = Applicability.UNSAFE
    prefilter = LOOKUP_TEXT

    VALID = [
        # first run: nothing asks for a resume and nothing says the dir exists
        "import os, logging\nlogger = logging.getLogger(__name__)\n\n"
        "def main(args):\n"
        "    ckpt = find_latest_checkpoint(args.output_dir)\n"
        "    if ckpt is None:\n"
        "        logger.info('no checkpoint, starting fresh')\n"
        "    train(ckpt)\n",
        # the not-found branch raises
        "import os\n\ndef main(args):\n"
        "    if args.resume_from_checkpoint:\n"
        "        ckpt = get_last_checkpoint(args.output_dir)\n"
        "        if ckpt is None:\n"
        "            raise ValueError('no checkpoint in ' + args.output_dir)\n",
        Valid(
            # the only caller handles None strictly
            "import logging, os\nlogger = logging.getLogger(__name__)\n\n"
            "def latest(output_dir):\n"
            "    os.makedirs(output_dir, exist_ok=True)\n"
            "    steps = [d for d in os.listdir(output_dir) if d.startswith('step_')]\n"
            "    if not steps:\n"
            "        logger.warning('nothing to resume')\n"
            "        return None\n"
            "    return steps[-1]\n\n"
            "def main(args):\n"
            "    ckpt = latest(args.output_dir)\n"
            "    if ckpt is None:\n"
            "        raise SystemExit('no checkpoint')\n"
        ),
    ]
    INVALID = [
        Invalid(
            "import logging\nimport os\n\nlogger = logging.getLogger(__name__)\n\n\n"
            "def main(args):\n"
            "    if args.resume_from_checkpoint:\n"
            "        ckpt = get_last_checkpoint(args.output_dir)\n"
            "        if ckpt is None:\n"
            "            logger.warning('no checkpoint found, starting from scratch')\n"
            "    train(args)\n",
            fixed="import logging\nimport os\n\nfrom ckpt_lint.runtime import check_fresh_start\n\n"
            "logger = logging.getLogger(__name__)\n\n\n"
            "def main(args):\n"
            "    if args.resume_from_checkpoint:\n"
            "        ckpt = get_last_checkpoint(args.output_dir)\n"
            "        if ckpt is None:\n"
            "            check_fresh_start(\n"
            "                args.output_dir,\n"
            "                'no checkpoint found, starting from scratch',\n"
            "                resume_requested=True,\n"
            "            )\n"
            "    train(args)\n",
        ),
        Invalid(
            # silent: nothing logged, the found-check has no else
            "import os\n\n\ndef main(args):\n"
            "    os.makedirs(args.output_dir, exist_ok=True)\n"
            "    steps = sorted(d for d in os.listdir(args.output_dir) if d.startswith('step_'))\n"
            "    start = 0\n"
            "    if steps:\n"
            "        start = load(steps[-1])\n"
            "    train(start)\n",
            fixed="import os\n\nfrom ckpt_lint.runtime import check_fresh_start\n\n\ndef main(args):\n"
            "    os.makedirs(args.output_dir, exist_ok=True)\n"
            "    steps = sorted(d for d in os.listdir(args.output_dir) if d.startswith('step_'))\n"
            "    start = 0\n"
            "    if steps:\n"
            "        start = load(steps[-1])\n"
            "    else:\n"
            '        check_fresh_start(args.output_dir, "no checkpoint found")\n'
            "    train(start)\n",
        ),
    ]

    def may_fire(self, file: FileAnalysis) -> bool:
        return bool(file.get(ResumeSites).sites)

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        resume = ctx.file.get(ResumeSites)
        callers = ctx.project.get(ResumeCallers)
        for site in resume.sites:
            why = self._why(site, ctx, callers)
            if why is None:
                continue
            yield ctx.finding(site.report_node, self._message(site, why), fix=self._fix(site, ctx))

    def _why(self, site: FreshStartSite, ctx: RuleContext, callers: ResumeCallers) -> str | None:
        """The evidence that a resume was expected, or None when the site is not a finding."""
        lookup = site.lookup
        if site.log_call is None and callers.is_returning(lookup.callee):
            return None  # the callee's own not-found path is the finding
        local = None
        if site.resume_requested is not None:
            local = f"a resume was requested (`{site.resume_requested}`)"
        elif site.dir_known is not None:
            local = f"`{site.dir_known}` is known to exist"
        if not site.returns_to_caller or site.function is None:
            return local
        qualname = ctx.file.get(ResumeSites).structure.qualname(site.function)
        uses = callers.uses_of(qualname)
        fresh = [evidence for usage, evidence in uses if usage == "fresh"]
        if uses and not fresh:
            return None  # every caller handles None strictly
        if local is None and any(fresh):
            local = "a caller's output dir is known to exist"
        if local is None:
            return None
        name = site.function.name.value
        tail = (
            f"`{name}` returns None and a caller starts fresh"
            if fresh
            else (f"`{name}` returns None to callers outside the project")
        )
        return f"{local}; {tail}"

    def _message(self, site: FreshStartSite, why: str) -> str:
        where = f" in `{site.directory}`" if site.directory else ""
        how = "logging and continuing" if site.log_call is not None else "continuing silently"
        return (
            f"no checkpoint found{where} after `{site.lookup.label}` ({why}); {how} trains from "
            "step 0 — a lost checkpoint goes unnoticed"
        )

    def _directory(self, site: FreshStartSite) -> str | None:
        directory = site.directory
        if directory is None or directory in CONFIG_NAMES:
            return site.dir_known if site.dir_known and site.dir_known != directory else None
        return directory

    def _fix(self, site: FreshStartSite, ctx: RuleContext) -> Fix:
        directory = self._directory(site)
        if directory is None:
            return ctx.fix(
                [],
                "replace the log-and-continue with `check_fresh_start(<output dir>, ...)`; the "
                "searched directory could not be identified",
                Applicability.DISPLAY_ONLY,
            )
        resume = ctx.file.get(ResumeSites)
        flag = resume.fresh_start_flag(directory) or "False"
        requested = "True" if site.resume_requested is not None else "False"
        local, import_edits = ctx.import_runtime("check_fresh_start")
        message = (
            self._message_expr(site.log_call, ctx) if site.log_call else '"no checkpoint found"'
        )
        args = [directory, message]
        if requested != "False":  # only what differs from the runtime's defaults
            args.append(f"resume_requested={requested}")
        if flag != "False":
            args.append(f"fresh_start={flag}")
        anchor = site.log_call if site.log_call is not None else (site.insert_before or site.branch)
        indent = _indent(ctx.parsed.source.text.splitlines()[ctx.parsed.start(anchor).line - 1])
        if site.log_call is None and site.insert_before is None:
            indent += "    "  # the call goes into a new `else:` block
        call = _call(local, args, indent, ctx.parsed.source.newline)
        if site.log_call is not None:
            edits = [ctx.replace(site.log_call, call)]
        else:
            edits = [self._insert_silent(site, call, ctx)]
        return ctx.fix(
            [*edits, *import_edits],
            "fail with `ResumeError` unless a fresh start is legitimate or explicit",
        )

    def _message_expr(self, call: cst.Call, ctx: RuleContext) -> str:
        """The logged text as an expression, keeping %-format and f-string expressions."""
        positional = [a.value for a in call.args if a.keyword is None and not a.star]
        if not positional:
            return "''"
        code = [ctx.parsed.code(p) for p in positional]
        is_print = (ctx.parsed.code(call.func).rpartition(".")[2]).endswith("print")
        if len(code) == 1:
            return code[0]
        if is_print:
            return f"' '.join(map(str, ({', '.join(code)},)))"
        return f"{code[0]} % ({', '.join(code[1:])},)"

    def _insert_silent(self, site: FreshStartSite, call: str, ctx: RuleContext) -> Edit:
        lines = ctx.parsed.source.text.splitlines(keepends=True)
        newline = ctx.parsed.source.newline
        if site.insert_before is not None:
            start = ctx.parsed.start(site.insert_before)
            indent = _indent(lines[start.line - 1])
            at = Position(start.line, 1)
            return Edit(at, at, f"{indent}{call}{newline}")
        branch = site.branch
        start = ctx.parsed.start(branch)
        if_indent = _indent(lines[start.line - 1])
        body = branch.body.body
        body_indent = if_indent + "    "
        if body:
            body_indent = _indent(lines[ctx.parsed.start(body[0]).line - 1])
        end = ctx.parsed.range(branch).end
        at = Position(end.line, 1) if end.column == 0 else Position(end.line + 1, 1)
        return Edit(at, at, f"{if_indent}else:{newline}{body_indent}{call}{newline}")


MAX_LINE = 100


def _call(func: str, args: list[str], indent: str, newline: str) -> str:
    """`func(a, b)` on one line, or one argument per line when that would be too long."""
    flat = f"{func}({', '.join(args)})"
    if len(indent) + len(flat) <= MAX_LINE or any("\n" in a for a in args):
        return flat
    inner = "".join(f"{indent}    {a},{newline}" for a in args)
    return f"{func}({newline}{inner}{indent})"


def _indent(line: str) -> str:
    match = re.match(r"[ \t]*", line)
    return match.group(0) if match else ""
