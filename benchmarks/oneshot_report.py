"""Report what the one-shot fix does to a checkout, without touching the checkout.

    python benchmarks/oneshot_report.py CHECKOUT [--paths PKG ...] [--fix] [--json OUT]

Without `--fix`: the findings by code (read-only). With `--fix`: the checkout is copied to a
temporary directory and `ckpt-lint fix --unsafe-fixes --vendor-runtime PKG/ckpt_runtime.py PKG`
runs there, exactly as a user would run it; then the report says which files changed, how many
lines were added and removed, whether every changed file compiles, whether a second run changes
nothing, and whether a re-check is clean at the sites the first run reported.

Everything goes through the `ckpt-lint` command line in a subprocess, so the numbers describe
the command the README documents, not an in-process shortcut.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

SKIPPED_DIRS = frozenset({".git", "__pycache__", ".ckpt_lint_cache", ".mypy_cache", ".ruff_cache"})


@dataclasses.dataclass
class Finding:
    code: str
    path: str
    line: int
    message: str

    @classmethod
    def from_json(cls, item: dict[str, Any]) -> Finding:
        return cls(item["code"], item["path"], int(item["line"]), item["message"])


@dataclasses.dataclass
class ChangedFile:
    path: str
    added: int
    removed: int
    compiles: bool
    error: str = ""


@dataclasses.dataclass
class Report:
    checkout: str
    paths: list[str]
    findings: list[Finding]
    seconds: dict[str, float] = dataclasses.field(default_factory=dict)
    fixed: bool = False
    vendored: str | None = None
    changed: list[ChangedFile] = dataclasses.field(default_factory=list)
    created: list[ChangedFile] = dataclasses.field(default_factory=list)
    second_run_noop: bool | None = None
    second_run_changed: list[str] = dataclasses.field(default_factory=list)
    remaining: list[Finding] = dataclasses.field(default_factory=list)
    unfixed_sites: list[Finding] = dataclasses.field(default_factory=list)
    fix_exit_code: int | None = None
    fix_stderr: str = ""

    def by_code(self, findings: list[Finding]) -> dict[str, int]:
        return dict(sorted(Counter(f.code for f in findings).items()))

    @property
    def all_compile(self) -> bool:
        return all(c.compiles for c in [*self.changed, *self.created])

    @property
    def sites_clean(self) -> bool:
        return not self.unfixed_sites

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["findings_by_code"] = self.by_code(self.findings)
        if self.fixed:
            data["remaining_by_code"] = self.by_code(self.remaining)
            data["lines_added"] = sum(c.added for c in self.changed)
            data["lines_removed"] = sum(c.removed for c in self.changed)
            data["all_compile"] = self.all_compile
            data["fixed_sites_clean"] = self.sites_clean
        return data


def ckpt_lint(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the installed ckpt-lint CLI (this interpreter's) in `cwd`."""
    env = dict(os.environ, NO_COLOR="1")
    env.pop("CKPT_LINT_FRESH_START", None)
    return subprocess.run(
        [sys.executable, "-m", "ckpt_lint", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def check(cwd: Path, paths: list[str]) -> list[Finding]:
    done = ckpt_lint(cwd, "check", "--no-cache", "--format", "json", *paths)
    if done.returncode not in (0, 1):
        raise SystemExit(f"ckpt-lint check failed ({done.returncode}):\n{done.stderr}")
    return [Finding.from_json(item) for item in json.loads(done.stdout)]


def snapshot(root: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file under `root` (tool caches and .git skipped)."""
    hashes: dict[str, str] = {}
    for directory, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS)
        for name in files:
            path = Path(directory, name)
            if path.is_symlink():
                continue
            rel = path.relative_to(root).as_posix()
            hashes[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return hashes


def read_lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8", errors="surrogateescape").splitlines(keepends=True)


def compiles(path: Path) -> tuple[bool, str]:
    if path.suffix != ".py":
        return True, ""
    try:
        compile(path.read_bytes(), str(path), "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as exc:
        return False, f"{type(exc).__name__}: {exc}"
    return True, ""


def line_map(old: list[str], new: list[str]) -> dict[int, int]:
    """1-based old line -> 1-based new line, for lines that survived or were replaced in place."""
    mapping: dict[int, int] = {}
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            for k in range(i2 - i1):
                mapping[i1 + k + 1] = j1 + k + 1
        elif tag == "replace":
            # an edited line keeps its place; a one-line call wrapped over several lines maps
            # to the first of them
            for k in range(i2 - i1):
                mapping[i1 + k + 1] = min(j1 + k, j2 - 1) + 1
    return mapping


def diff_counts(old: list[str], new: list[str]) -> tuple[int, int]:
    added = removed = 0
    for line in difflib.unified_diff(old, new, n=0):
        if line.startswith(("+++", "---")):
            continue
        if line.startswith("+"):
            added += 1
        elif line.startswith("-"):
            removed += 1
    return added, removed


def default_vendor_path(checkout: Path, paths: list[str]) -> str | None:
    """`PKG/ckpt_runtime.py` when the one path given is a package directory, else None."""
    if len(paths) == 1 and (checkout / paths[0] / "__init__.py").is_file():
        return (Path(paths[0]) / "ckpt_runtime.py").as_posix()
    return None


def report(
    checkout: Path, paths: list[str], fix: bool, vendor: str | None, keep: Path | None
) -> Report:
    started = time.perf_counter()
    findings = check(checkout, paths)
    result = Report(str(checkout), paths, findings)
    result.seconds["check"] = round(time.perf_counter() - started, 2)
    if not fix:
        return result
    with tempfile.TemporaryDirectory(prefix="ckpt-oneshot-") as tmp:
        work = Path(tmp) / checkout.name
        shutil.copytree(checkout, work, symlinks=True, ignore=shutil.ignore_patterns(".git"))
        fix_and_measure(result, work, paths, vendor)
        if keep is not None:
            shutil.copytree(work, keep, symlinks=True, dirs_exist_ok=True)
    return result


def fix_and_measure(result: Report, work: Path, paths: list[str], vendor: str | None) -> None:
    fix_args = ["fix", "--no-cache", "--unsafe-fixes"]
    if vendor:
        fix_args += ["--vendor-runtime", vendor]
        result.vendored = vendor
    fix_args += paths
    before = snapshot(work)
    originals = {rel: read_lines(work / rel) for rel in before if rel.endswith(".py")}

    started = time.perf_counter()
    done = ckpt_lint(work, *fix_args)
    result.seconds["fix"] = round(time.perf_counter() - started, 2)
    result.fixed = True
    result.fix_exit_code = done.returncode
    result.fix_stderr = done.stderr.strip()
    after = snapshot(work)

    maps: dict[str, dict[int, int]] = {}
    for rel in sorted(after):
        if rel in before and before[rel] == after[rel]:
            continue
        ok, error = compiles(work / rel)
        new = read_lines(work / rel) if rel.endswith(".py") else []
        if rel not in before:
            result.created.append(ChangedFile(rel, len(new), 0, ok, error))
            continue
        old = originals.get(rel, [])
        added, removed = diff_counts(old, new)
        result.changed.append(ChangedFile(rel, added, removed, ok, error))
        maps[rel] = line_map(old, new)

    started = time.perf_counter()
    ckpt_lint(work, *fix_args)
    result.seconds["second_fix"] = round(time.perf_counter() - started, 2)
    again = snapshot(work)
    result.second_run_changed = sorted(
        rel for rel in set(after) | set(again) if after.get(rel) != again.get(rel)
    )
    result.second_run_noop = not result.second_run_changed

    started = time.perf_counter()
    result.remaining = check(work, paths)
    result.seconds["recheck"] = round(time.perf_counter() - started, 2)
    result.unfixed_sites = unfixed(result.findings, result.remaining, maps)


def unfixed(
    before: list[Finding], after: list[Finding], maps: dict[str, dict[int, int]]
) -> list[Finding]:
    """Re-check findings that sit where a first-run finding of the same code was."""
    sites = set()
    for f in before:
        line = maps[f.path].get(f.line) if f.path in maps else f.line
        if line is not None:
            sites.add((f.code, f.path, line))
    return [f for f in after if (f.code, f.path, f.line) in sites]


def render(result: Report) -> str:
    rows = [f"checkout   {result.checkout}  (paths: {' '.join(result.paths)})"]
    counts = result.by_code(result.findings)
    rows.append(
        f"findings   {len(result.findings)}  "
        + "  ".join(f"{code}={n}" for code, n in counts.items())
    )
    for f in result.findings:
        rows.append(f"  {f.path}:{f.line}  {f.code}  {f.message}")
    if result.fixed:
        added = sum(c.added for c in result.changed)
        removed = sum(c.removed for c in result.changed)
        rows.append(
            f"fix exit   {result.fix_exit_code}"
            + (f"  ({result.fix_stderr})" if result.fix_stderr else "")
        )
        rows.append(f"changed    {len(result.changed)} files, +{added} -{removed} lines")
        width = max((len(c.path) for c in [*result.changed, *result.created]), default=4)
        for c in result.changed:
            mark = "ok" if c.compiles else f"DOES NOT COMPILE: {c.error}"
            rows.append(f"  {c.path:<{width}}  +{c.added:<3} -{c.removed:<3} {mark}")
        for c in result.created:
            mark = "ok" if c.compiles else f"DOES NOT COMPILE: {c.error}"
            rows.append(f"  {c.path:<{width}}  new file ({c.added} lines) {mark}")
        rows.append(f"compiles   {'yes' if result.all_compile else 'NO'}")
        rows.append(
            "second run "
            + ("no-op" if result.second_run_noop else f"CHANGED {result.second_run_changed}")
        )
        remaining = result.by_code(result.remaining)
        rows.append(
            f"re-check   {len(result.remaining)} findings "
            + "  ".join(f"{code}={n}" for code, n in remaining.items())
            + ("; fixed sites clean" if result.sites_clean else "; NOT clean at fixed sites")
        )
        for f in result.unfixed_sites:
            rows.append(f"  still at {f.path}:{f.line}  {f.code}")
    rows.append("seconds    " + "  ".join(f"{k}={v}" for k, v in result.seconds.items()))
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkout", type=Path, help="path to the repository checkout")
    parser.add_argument(
        "--paths", nargs="+", default=["."], help="paths inside the checkout to lint (default: .)"
    )
    parser.add_argument("--fix", action="store_true", help="fix a temporary copy and measure")
    parser.add_argument(
        "--vendor-runtime",
        metavar="REL.py",
        help="where to vendor the runtime, relative to the checkout (default: PKG/ckpt_runtime.py "
        "when --paths is one package directory)",
    )
    parser.add_argument("--no-vendor", action="store_true", help="import ckpt_lint.runtime")
    parser.add_argument("--json", metavar="OUT", help="also write the report as JSON ('-': stdout)")
    parser.add_argument("--keep", type=Path, help="copy the fixed checkout here")
    args = parser.parse_args(argv)

    checkout = args.checkout.resolve()
    if not checkout.is_dir():
        parser.error(f"not a directory: {checkout}")
    vendor = None
    if not args.no_vendor:
        vendor = args.vendor_runtime or default_vendor_path(checkout, args.paths)
    result = report(checkout, args.paths, args.fix, vendor, args.keep)
    if args.json == "-":
        json.dump(result.to_json(), sys.stdout, indent=2)
        print()
    else:
        print(render(result))
        if args.json:
            Path(args.json).write_text(json.dumps(result.to_json(), indent=2) + "\n")
    healthy = not result.fixed or (
        result.all_compile and result.second_run_noop and result.sites_clean
    )
    return 0 if healthy else 1


if __name__ == "__main__":
    raise SystemExit(main())
