"""Crash-freedom on real code: `check` and `fix --diff` over the CPython stdlib and site-packages.

Every file is parsed (prefilter off), no cache. Files LibCST cannot handle must come out as CKP900
diagnostics with the run carrying on; CKP901 (an internal error) must never appear. Every fix is
verified independently of the fixer (the result parses, re-lints without the fixed finding and
with nothing new) and a second fix must change nothing.

The files are linted in chunks (each chunk one project, so cross-file facts stay bounded).

Usage:
    python -m benchmarks.corpus                  # everything (many minutes on 2 cores)
    python -m benchmarks.corpus --sample 300     # a seeded random sample
    python -m benchmarks.corpus --limit 100 --paths /some/tree --json out.json
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import sysconfig
import time
import traceback
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ckpt_lint.engine.api import make_settings
from ckpt_lint.engine.fixer import Fixer
from ckpt_lint.engine.runner import Linter, RunResult, Unit, module_name_for
from ckpt_lint.engine.source import SourceError, SourceText, parse
from ckpt_lint.model import Finding

SETTINGS = make_settings(prefilter=False)


@dataclass
class CorpusStats:
    files_checked: int = 0
    files_parsed: int = 0
    ckp900_by_reason: Counter[str] = field(default_factory=Counter)
    internal_errors: list[str] = field(default_factory=list)  # CKP901 + crashes of the run itself
    findings: Counter[str] = field(default_factory=Counter)
    files_with_fixes: int = 0
    fixes_verified: int = 0
    fix_rejections: list[str] = field(default_factory=list)  # the fixer refused a rule's fix
    verification_failures: list[str] = field(default_factory=list)
    idempotence_failures: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        reasons = ", ".join(f"{r}: {n}" for r, n in self.ckp900_by_reason.most_common()) or "none"
        found = ", ".join(f"{c}={n}" for c, n in sorted(self.findings.items())) or "none"
        return "\n".join(
            [
                f"files checked          {self.files_checked} ({self.files_parsed} parsed)",
                f"CKP900 (unparsable)    {sum(self.ckp900_by_reason.values())} -- {reasons}",
                f"internal errors        {len(self.internal_errors)}",
                f"findings               {found}",
                f"fixes verified         {self.fixes_verified} in {self.files_with_fixes} files",
                f"fix rejections         {len(self.fix_rejections)}",
                f"verification failures  {len(self.verification_failures)}",
                f"idempotence failures   {len(self.idempotence_failures)}",
                f"time                   {self.seconds:.0f} s",
            ]
        )

    def to_json(self) -> dict[str, object]:
        out = asdict(self)
        out["ckp900_by_reason"] = dict(self.ckp900_by_reason)
        out["findings"] = dict(self.findings)
        return out


def ckp900_reason(message: str) -> str:
    """A short bucket for a CKP900 message: 'syntax error', 'too deeply nested', ..."""
    if message.startswith("parser failure:"):
        return "parser failure " + message.split(":")[1].strip()
    if "deeply nested" in message:
        return "too deeply nested"
    return message.split(":")[0].split("(")[0].strip()


def default_roots() -> list[Path]:
    paths = sysconfig.get_paths()
    return [Path(paths["stdlib"]), Path(paths["purelib"])]


def corpus_files(roots: Iterable[Path]) -> list[Path]:
    """Every .py file under the roots; the stdlib walk skips installed packages."""
    out: list[Path] = []
    seen: set[Path] = set()
    for root in roots:
        if root.is_file():
            candidates = [root]
        else:
            candidates = sorted(root.rglob("*.py"))
        for path in candidates:
            inside = path.relative_to(root).parts if root.is_dir() else ()
            if root.is_dir() and any(p in ("site-packages", "dist-packages") for p in inside):
                continue
            if "__pycache__" in path.parts or not path.is_file():
                continue
            key = path.resolve()
            if key not in seen:
                seen.add(key)
                out.append(path)
    return out


def _record_run(run: RunResult, stats: CorpusStats) -> None:
    for finding in run.findings:
        if finding.code == "CKP900":
            stats.ckp900_by_reason[ckp900_reason(finding.message)] += 1
        elif finding.code == "CKP901":
            stats.internal_errors.append(f"{finding.path}: {finding.message}")
        else:
            stats.findings[finding.code] += 1


def lint_chunk(paths: list[Path], stats: CorpusStats, jobs: int) -> None:
    """check + fix --diff (no writes) over one chunk, then verify every fix independently."""
    units = [Unit(str(p), p, module_name_for(p)) for p in paths]
    try:
        linter = Linter(SETTINGS, jobs=jobs)
        run = linter.lint_units(units)
        report = Fixer(linter, unsafe=True).run(run, write=False)
    except Exception as exc:
        if len(paths) == 1:
            stats.internal_errors.append(f"{paths[0]}: run crashed: {_exc(exc)}")
            stats.files_checked += 1
            return
        for path in paths:  # find which file takes the run down; the others still count
            lint_chunk([path], stats, jobs=1)
        return
    stats.files_checked += run.files_checked
    stats.files_parsed += run.files_parsed
    _record_run(run, stats)
    stats.fix_rejections.extend(report.errors)
    fixed = {ff.path: ff for ff in report.files if ff.changed}
    if not fixed:
        return
    for ff in fixed.values():
        ff.diff()  # what `fix --diff` prints
        try:
            parse(ff.fixed)
        except SourceError as exc:
            stats.verification_failures.append(f"{ff.path}: fixed code does not parse: {exc}")
    _verify_fixes(units, run, fixed, stats, jobs)


def _verify_fixes(
    units: list[Unit], run: RunResult, fixed: dict, stats: CorpusStats, jobs: int
) -> None:  # type: ignore[type-arg]
    """Re-lint the chunk with the fixed texts: fixed findings gone, nothing new, fix idempotent."""
    overridden = []
    for unit in units:
        ff = fixed.get(unit.display)
        if ff is None:
            overridden.append(unit)
            continue
        source: SourceText = ff.source
        data = source.encode(ff.fixed)
        overridden.append(Unit(unit.display, unit.path, unit.module_name, data=data))
    linter = Linter(SETTINGS, jobs=jobs)
    after = linter.lint_units(overridden)
    for path, ff in fixed.items():
        before = Counter(f.code for f in run.findings if f.path == path)
        gone = Counter(f.code for f in ff.fixed_findings)
        now = Counter(f.code for f in _of(after.findings, path))
        worse = {c: n for c, n in now.items() if n > before[c] - gone[c]}
        if worse:
            stats.verification_failures.append(f"{path}: after fixing, {worse}")
            continue
        stats.fixes_verified += sum(gone.values())
        stats.files_with_fixes += 1
    again = Fixer(linter, unsafe=True).run(after, write=False)
    for ff in again.files:
        if ff.changed:
            stats.idempotence_failures.append(f"{ff.path}: second fix changed it\n{ff.diff()}")


def _of(findings: list[Finding], path: str) -> list[Finding]:
    return [f for f in findings if f.path == path]


def _exc(exc: BaseException) -> str:
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)[-3:])


def run_corpus(
    paths: list[Path], jobs: int = 1, chunk: int = 300, progress: bool = False
) -> CorpusStats:
    stats = CorpusStats()
    started = time.monotonic()
    for i in range(0, len(paths), chunk):
        lint_chunk(paths[i : i + chunk], stats, jobs)
        if progress:
            elapsed = time.monotonic() - started
            print(
                f"  {stats.files_checked}/{len(paths)} files, {elapsed:.0f} s, "
                f"internal errors {len(stats.internal_errors)}",
                file=sys.stderr,
                flush=True,
            )
    stats.seconds = time.monotonic() - started
    return stats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--paths", nargs="*", type=Path, help="roots (default: stdlib + venv)")
    parser.add_argument("--limit", type=int, help="only the first N files")
    parser.add_argument("--sample", type=int, help="a random sample of N files (see --seed)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", "-j", type=int, default=2)
    parser.add_argument("--chunk", type=int, default=300, help="files per project")
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args(argv)
    files = corpus_files(args.paths or default_roots())
    if args.sample:
        files = sorted(random.Random(args.seed).sample(files, min(args.sample, len(files))))
    if args.limit:
        files = files[: args.limit]
    print(f"linting {len(files)} files", file=sys.stderr)
    stats = run_corpus(files, jobs=args.jobs, chunk=args.chunk, progress=True)
    print(stats.summary())
    for label, items in (
        ("internal error", stats.internal_errors),
        ("verification failure", stats.verification_failures),
        ("idempotence failure", stats.idempotence_failures),
        ("fix rejected", stats.fix_rejections),
    ):
        for item in items[:20]:
            print(f"{label}: {item}")
    if args.json:
        args.json.write_text(json.dumps(stats.to_json(), indent=2), encoding="utf-8")
    bad = stats.internal_errors or stats.verification_failures or stats.idempotence_failures
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
