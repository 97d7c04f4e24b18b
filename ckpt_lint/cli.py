"""Command line: parse arguments, load config, wire engine -> fixer -> reporter. Nothing else."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TextIO

from ckpt_lint import __version__
from ckpt_lint.config import (
    ENGINE_CODES,
    Config,
    ConfigError,
    load_config,
    parse_size,
    validate_selectors,
)
from ckpt_lint.report import FORMATS, Report, render
from ckpt_lint.rules import all_rules, rule_by_code_or_name

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # type: ignore[override]
        raise ConfigError(f"{self.prog}: {message}")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="*", default=None, help="files or directories (default: .)")
    p.add_argument("--select", help="rule codes or prefixes to enable (comma-separated)")
    p.add_argument("--extend-select", help="codes or prefixes to enable on top of the config")
    p.add_argument("--ignore", help="codes or prefixes to disable")
    p.add_argument("--config", type=Path, help="pyproject.toml or ckpt-lint.toml to use")
    p.add_argument(
        "--format",
        choices=[*sorted(FORMATS), "auto"],
        default=None,
        help="output format; auto = github under GitHub Actions, else text",
    )
    p.add_argument("--output-file", type=Path, help="write the report here instead of stdout")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the cache")
    p.add_argument("--no-prefilter", action="store_true", help="parse every file (slower)")
    p.add_argument(
        "--max-file-size",
        help="skip (and report as CKP900) files bigger than this, e.g. 2MB; 0: no limit "
        "(default 1MB)",
    )
    p.add_argument("-j", "--jobs", type=int, default=0, help="worker processes (default: CPUs)")
    p.add_argument("--force-exclude", action="store_true", help="apply excludes to explicit files")
    p.add_argument(
        "--no-respect-gitignore",
        dest="respect_gitignore",
        action="store_false",
        default=None,
        help="lint files that .gitignore excludes",
    )
    p.add_argument("--stdin-filename", help="name for source read from stdin (path '-')")
    p.add_argument("--statistics", action="store_true", help="counts by rule code")
    p.add_argument("--exit-zero", action="store_true", help="exit 0 even when findings remain")
    p.add_argument("--color", choices=("auto", "always", "never"), default="auto")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="ckpt-lint", description="Find and fix checkpoint/resume hazards.")
    parser.add_argument("--version", action="version", version=f"ckpt-lint {__version__}")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    check = sub.add_parser("check", help="report findings")
    _common(check)
    fix = sub.add_parser("fix", help="apply fixes")
    _common(fix)
    fix.add_argument("--diff", action="store_true", help="print a unified diff; write nothing")
    fix.add_argument(
        "--unsafe-fixes", action="store_true", default=None, help="apply unsafe fixes too"
    )
    fix.add_argument("--no-unsafe-fixes", dest="unsafe_fixes", action="store_false")
    fix.add_argument(
        "--vendor-runtime",
        metavar="DEST.py",
        help="write ckpt_lint.runtime to DEST.py and point the fixes' imports at it",
    )
    rule = sub.add_parser("rule", help="show a rule's documentation")
    rule.add_argument("code", nargs="?")
    rule.add_argument("--all", action="store_true", help="list every rule")
    vendor = sub.add_parser("vendor-runtime", help="copy the runtime into a project as one file")
    vendor.add_argument("dest", type=Path)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(sys.argv[1:] if argv is None else argv)
    except ConfigError as exc:
        print(f"ckpt-lint: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("ckpt-lint: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_ERROR


def _main(argv: list[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_ERROR
    if args.command == "rule":
        return _rule(args)
    if args.command == "vendor-runtime":
        from ckpt_lint.vendor import vendor_runtime

        print(vendor_runtime(args.dest))
        return EXIT_CLEAN
    return _lint(args)


def _rule(args: argparse.Namespace) -> int:
    if args.all or not args.code:
        for cls in all_rules():
            fix = cls.fix_safety.value if cls.fix_safety else "none"
            print(f"{cls.code}  {cls.name:<28} fix: {fix:<12} {cls.summary()}")
        return EXIT_CLEAN
    found = rule_by_code_or_name(args.code)
    if found is None:
        raise ConfigError(f"unknown rule {args.code!r} (see `ckpt-lint rule --all`)")
    print(f"# {found.code} {found.name}\n")
    print(found.docs())
    return EXIT_CLEAN


def resolve_config(args: argparse.Namespace, paths: list[str]) -> Config:
    anchor = Path(paths[0]) if paths and paths[0] != "-" else Path.cwd()
    if args.stdin_filename:
        anchor = Path(args.stdin_filename)
    config = load_config(args.config, search_from=anchor if anchor.exists() else Path.cwd())
    if args.select:
        config.select = validate_selectors(args.select, "--select")
        config.extend_select = []
    if args.extend_select:
        config.extend_select += validate_selectors(args.extend_select, "--extend-select")
    if args.ignore:
        config.ignore += validate_selectors(args.ignore, "--ignore")
    if args.force_exclude:
        config.force_exclude = True
    if args.respect_gitignore is not None:
        config.respect_gitignore = args.respect_gitignore
    if getattr(args, "unsafe_fixes", None) is not None:
        config.unsafe_fixes = args.unsafe_fixes
    if getattr(args, "max_file_size", None) is not None:
        config.max_file_size = parse_size(args.max_file_size, "--max-file-size")
    return config


def _lint(args: argparse.Namespace) -> int:
    from ckpt_lint.engine.runner import Linter, LintSettings

    paths = args.paths or ["."]
    config = resolve_config(args, paths)
    vendor_dest = getattr(args, "vendor_runtime", None)
    if vendor_dest:
        from ckpt_lint.vendor import module_name_for_path

        config.runtime_module = module_name_for_path(Path(vendor_dest))
    settings = LintSettings.from_config(config, prefilter=not args.no_prefilter)
    jobs = args.jobs if args.jobs > 0 else (os.cpu_count() or 1)
    cache = None
    if not args.no_cache and paths != ["-"]:
        from ckpt_lint.engine.cache import Cache

        cache_dir = Path(os.environ.get("CKPT_LINT_CACHE_DIR") or config.root / config.cache_dir)
        cache = Cache(cache_dir, settings.digest())
    with _progress_bar() as progress:
        linter = Linter(
            settings, jobs=jobs, cache=cache, progress=progress, reuse_runs=args.command != "fix"
        )
        run = _run(linter, args, paths, config)
    return _report(linter, run, args, config, paths, vendor_dest)


def _run(linter, args: argparse.Namespace, paths: list[str], config: Config):  # type: ignore[no-untyped-def]
    from ckpt_lint.engine.runner import Unit, module_name_for

    if paths == ["-"]:
        name = args.stdin_filename or "stdin.py"
        data = sys.stdin.buffer.read()
        unit = Unit(name, Path(name), module_name_for(Path(name)), data=data)
        return linter.lint_units([unit])
    return linter.lint_paths(paths, config)


class _progress_bar:
    """A rich progress bar on stderr for long runs on a terminal; silent otherwise."""

    MIN_FILES = 200

    def __enter__(self):  # type: ignore[no-untyped-def]
        self.bar = None
        self.tasks: dict[str, object] = {}
        if not sys.stderr.isatty() or os.environ.get("CI"):
            return None
        return self.update

    def update(self, stage: str, done: int, total: int) -> None:
        if total < self.MIN_FILES:
            return
        if self.bar is None:
            from rich.console import Console
            from rich.progress import Progress

            self.bar = Progress(console=Console(stderr=True), transient=True)
            self.bar.start()
        if stage not in self.tasks:
            self.tasks[stage] = self.bar.add_task(stage, total=total)
        self.bar.update(self.tasks[stage], completed=done)  # type: ignore[arg-type]

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()


def _report(linter, run, args, config, paths, vendor_dest) -> int:  # type: ignore[no-untyped-def]
    fmt = output_format(args.format)
    report = Report(
        findings=run.findings,
        files_checked=run.files_checked,
        statistics=args.statistics,
        unsafe_fixes=config.unsafe_fixes,
        rule_docs={
            **{code: (name, name, "") for code, name in ENGINE_CODES.items()},
            **{r.code: (r.name, r.summary(), r.docs()) for r in all_rules()},
        },
    )
    exit_code = EXIT_FINDINGS if report.findings else EXIT_CLEAN

    if args.command == "fix":
        from ckpt_lint.engine.fixer import Fixer

        if paths == ["-"] and not args.diff:
            raise ConfigError("fixing stdin needs --diff")
        fixer = Fixer(linter, unsafe=config.unsafe_fixes)
        write = not args.diff
        if write and vendor_dest:
            from ckpt_lint.vendor import vendor_runtime

            vendor_runtime(Path(vendor_dest))
        fixes = fixer.run(run, write=write)
        report.findings = sorted(
            (f for ff in fixes.files for f in ff.remaining), key=lambda f: f.sort_key
        )
        report.fixed = fixes.fixed_count
        report.errors = fixes.errors
        out = _open_out(args)
        if args.diff:
            diffs = [ff.diff() for ff in fixes.files if ff.changed]
            for d in diffs:
                out.write(d)
            exit_code = EXIT_FINDINGS if diffs else EXIT_CLEAN
            if fixes.errors:
                for err in fixes.errors:
                    print(f"ckpt-lint: {err}", file=sys.stderr)
            return _finish(args, exit_code, out)
        report.color = _color(args, out)
        _render(fmt, report, out)
        exit_code = EXIT_FINDINGS if report.findings or fixes.errors else EXIT_CLEAN
        return _finish(args, exit_code, out)

    out = _open_out(args)
    report.color = _color(args, out)
    _render(fmt, report, out)
    if any(f.code == "CKP901" for f in report.findings):
        exit_code = EXIT_ERROR
    return _finish(args, exit_code, out)


def _render(fmt: str, report: Report, out: TextIO) -> None:
    render(fmt, report, out)
    if report.statistics and fmt == "json":  # keep stdout one JSON document
        for code, count in sorted(report.counts().items()):
            print(f"{count:>5}  {code}  {report.rule_docs.get(code, ('',))[0]}", file=sys.stderr)


def output_format(requested: str | None) -> str:
    """`auto` picks GitHub annotations only inside GitHub Actions; plain runs stay text."""
    if requested == "auto":
        return "github" if os.environ.get("GITHUB_ACTIONS") == "true" else "text"
    return requested or "text"


def _finish(args: argparse.Namespace, code: int, out: TextIO) -> int:
    if out is not sys.stdout:
        out.close()
    if args.exit_zero and code == EXIT_FINDINGS:
        return EXIT_CLEAN
    return code


def _open_out(args: argparse.Namespace) -> TextIO:
    if args.output_file:
        try:
            return open(args.output_file, "w", encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot write {args.output_file}: {exc.strerror}") from None
    return sys.stdout


def _color(args: argparse.Namespace, out: TextIO) -> bool:
    if args.color != "auto":
        return args.color == "always"
    if os.environ.get("NO_COLOR"):
        return False
    return bool(getattr(out, "isatty", lambda: False)())
