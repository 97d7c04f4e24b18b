"""Speed of ckpt-lint against peers, as ratios from one run on this machine.

Rows: cold `ckpt-lint check` vs `flake8 -j2 --select F` (target <= 0.2x); warm check (nothing
changed) vs `ruff check --no-cache --select F` (target <= 1.0x); ckpt-lint cold vs a bare
LibCST parse of the files it parsed, same parallelism (target <= 1.5x); peak RSS (target
<= 300 MB); lines/s; time on 1x, 2x, 4x copies of a tree (target: 4x <= 4.4x time).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

BIN = Path(sys.executable).parent


def run(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, int, int]:
    """(wall seconds, exit code, peak RSS in KiB of the command and its waited children)."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, **(env or {})}
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    return wall, os.waitstatus_to_exitcode(status), usage.ru_maxrss


def count_lines(paths: list[Path]) -> tuple[int, int]:
    files = lines = 0
    for root in paths:
        for p in root.rglob("*.py"):
            try:
                lines += p.read_bytes().count(b"\n")
                files += 1
            except OSError:
                pass
    return files, lines


def _parse(path: str) -> int:
    import libcst

    try:
        data = Path(path).read_bytes()
        libcst.parse_module(data)
        return data.count(b"\n")
    except Exception:
        return 0


def bare_parse(files: list[str], jobs: int) -> float:
    start = time.perf_counter()
    with ProcessPoolExecutor(jobs) as pool:
        list(pool.map(_parse, files, chunksize=max(1, len(files) // (jobs * 16))))
    return time.perf_counter() - start


def parsed_files(trees: list[Path]) -> tuple[list[str], dict[str, int]]:
    """The files ckpt-lint parses for these trees (prefilter + callers), from its own engine."""
    from ckpt_lint.config import Config
    from ckpt_lint.engine.runner import Linter, LintSettings

    config = Config(root=Path.cwd(), respect_gitignore=False)
    linter = Linter(LintSettings.from_config(config), jobs=2)
    result = linter.lint_paths([str(t) for t in trees], config)
    files = [str(r.unit.path) for r in linter.phase1_results.values() if r.facts and r.unit.path]
    return files, result.stats


def ckpt(trees: list[Path], cache_dir: Path, cold: bool) -> tuple[float, int, int]:
    if cold:
        shutil.rmtree(cache_dir, ignore_errors=True)
    cmd = [str(BIN / "ckpt-lint"), "check", "--no-respect-gitignore", "-j", "2", "--exit-zero"]
    return run([*cmd, *map(str, trees)], env={"CKPT_LINT_CACHE_DIR": str(cache_dir)})


def scaling(tree: Path, work: Path) -> list[tuple[int, float]]:
    """The stdlib's top-level modules (a few hundred files) copied 1, 2 and 4 times."""
    files = sorted(tree.glob("*.py"))
    rows = []
    for copies in (1, 2, 4):
        root = work / f"x{copies}"
        if not root.exists():
            for i in range(copies):
                (root / f"copy{i}").mkdir(parents=True)
                for f in files:
                    shutil.copy2(f, root / f"copy{i}" / f.name)
        times = []
        for _ in range(2):  # best of two: the machine is shared
            cmd = [str(BIN / "ckpt-lint"), "check", "--no-cache", "--no-respect-gitignore"]
            times.append(run([*cmd, "-j", "2", "--exit-zero", str(root)])[0])
        rows.append((copies, min(times)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a slice of the stdlib only")
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args()
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    site = Path(sysconfig.get_paths()["purelib"])
    trees = (
        [stdlib / "email", stdlib / "asyncio", stdlib / "json"] if args.quick else [stdlib, site]
    )
    files, lines = count_lines(trees)
    print(f"trees: {', '.join(map(str, trees))}\n{files} files, {lines} lines, 2 cores\n")

    work = Path(tempfile.mkdtemp(prefix="ckpt-bench-"))
    cache_dir = work / "cache"
    out: dict[str, float] = {}
    flake8 = run([str(BIN / "flake8"), "-j2", "--select", "F", *map(str, trees)])
    ruff = run([str(BIN / "ruff"), "check", "--no-cache", "--no-respect-gitignore", "--select", "F",
                "--exit-zero", *map(str, trees)])  # fmt: skip
    cold = ckpt(trees, cache_dir, cold=True)
    warm = ckpt(trees, cache_dir, cold=False)
    parsed, stats = parsed_files(trees)
    parse = bare_parse(parsed, jobs=2)
    parsed_lines = sum(Path(p).read_bytes().count(b"\n") for p in parsed)

    out.update(
        flake8_s=flake8[0], ruff_s=ruff[0], cold_s=cold[0], warm_s=warm[0], bare_parse_s=parse,
        cold_vs_flake8=cold[0] / flake8[0], warm_vs_ruff=warm[0] / ruff[0],
        cold_vs_bare_parse=cold[0] / parse, peak_rss_mb=cold[2] / 1024,
        lines_per_s=lines / cold[0], parsed_files=len(parsed), parsed_lines=parsed_lines,
    )  # fmt: skip
    print(f"{'what':<44}{'seconds':>9}{'ratio':>9}  target")
    print(f"{'flake8 -j2 --select F':<44}{flake8[0]:>9.2f}")
    print(f"{'ruff check --no-cache --select F':<44}{ruff[0]:>9.2f}")
    print(
        f"{'ckpt-lint check, cold':<44}{cold[0]:>9.2f}{cold[0] / flake8[0]:>9.3f}  <= 0.2 x flake8"
    )
    print(f"{'ckpt-lint check, warm':<44}{warm[0]:>9.2f}{warm[0] / ruff[0]:>9.3f}  <= 1.0 x ruff")
    print(
        f"{f'bare LibCST parse of its {len(parsed)} parsed files':<44}{parse:>9.2f}"
        f"{cold[0] / parse:>9.3f}  <= 1.5 (cold / parse)"
    )
    print(f"{'peak RSS, cold (MB)':<44}{cold[2] / 1024:>9.0f}{'':>9}  <= 300")
    print(f"{'lines/s, cold (whole tree)':<44}{lines / cold[0]:>9.0f}")
    print(f"engine stats: {stats}")
    base = stdlib
    rows = scaling(base, work)
    for copies, seconds in rows:
        ratio = seconds / rows[0][1]
        out[f"scale_{copies}x_s"] = seconds
        print(
            f"{f'scaling: {copies}x stdlib top-level modules':<44}{seconds:>9.2f}{ratio:>9.2f}  <= {copies * 1.1:.1f}"
        )
    shutil.rmtree(work, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
