"""Fuzz `check` and `fix`: generated programs and mutated rule fixtures must never crash the tool,
and every fix it applies must parse, re-lint without the fixed finding, and be idempotent.

Sources of programs:
- `grammar` / `node`: hypothesmith programs (random valid Python), each also spliced with a
  hazard seed so the rules have something to fix next to odd syntax;
- `mutation`: the fixtures and the rules' INVALID examples, mutated (renames, statements wrapped
  in if/try/with/for, guards inserted, imports aliased, lines deleted or re-indented, functions
  duplicated, CRLF line endings) -- often into code the rules were never shown, sometimes into
  syntax errors, which must become CKP900 diagnostics.

Usage (bounded either way; the test suite runs a CI-sized, derandomized slice of this):
    python -m benchmarks.fuzz --examples 2000
    python -m benchmarks.fuzz --seconds 600 --source mutation
"""

from __future__ import annotations

import argparse
import ast
import keyword
import random
import re
import sys
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from ckpt_lint.engine.api import lint_sources, make_settings
from ckpt_lint.engine.fixer import Fixer
from ckpt_lint.engine.runner import LintSettings
from ckpt_lint.engine.source import SourceError, parse
from ckpt_lint.rules import all_rules

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
# every rule plus the diagnostics, prefilter off: fuzzed code rarely matches the cheap regexes
SETTINGS = make_settings(prefilter=False)


class FuzzFailure(AssertionError):
    """check or fix misbehaved on a program; the message names what and carries the program."""


@dataclass
class FuzzStats:
    programs: int = 0
    parse_errors: int = 0  # CKP900 diagnostics (expected for syntax-breaking mutations)
    findings: Counter[str] = field(default_factory=Counter)
    fixes_verified: int = 0
    files_fixed: int = 0
    fix_rejections: list[str] = field(default_factory=list)  # the fixer refused a rule's fix
    failures: list[str] = field(default_factory=list)

    def summary(self) -> str:
        found = ", ".join(f"{c}={n}" for c, n in sorted(self.findings.items())) or "none"
        return (
            f"programs {self.programs}, CKP900 {self.parse_errors}, findings {found}, "
            f"fixes verified {self.fixes_verified} in {self.files_fixed} files, "
            f"fix rejections {len(self.fix_rejections)}, failures {len(self.failures)}"
        )


# ---- the oracle ------------------------------------------------------------------------------


def exercise(
    files: dict[str, str], stats: FuzzStats | None = None, lint: LintSettings = SETTINGS
) -> FuzzStats:
    """check + fix one project in memory; raise FuzzFailure on any broken promise."""
    stats = stats if stats is not None else FuzzStats()
    stats.programs += 1
    try:
        linter, run = lint_sources(files, lint)
    except Exception as exc:
        raise FuzzFailure(f"check raised {_exc(exc)}") from exc
    _no_internal_errors(run.findings, "check")
    stats.parse_errors += sum(f.code == "CKP900" for f in run.findings)
    stats.findings.update(f.code for f in run.findings if f.code not in ("CKP900", "CKP901"))
    try:
        report = Fixer(linter, unsafe=True).run(run, write=False)
    except Exception as exc:
        raise FuzzFailure(f"fix raised {_exc(exc)}") from exc
    stats.fix_rejections.extend(report.errors)
    if report.errors:
        # the fixer rolled the file back, so nothing is corrupted, but a rule offered a bad fix
        raise FuzzFailure(f"fixer rejected a rule's fix: {report.errors}")
    fixed = {ff.path: ff for ff in report.files if ff.changed}
    if not fixed:
        return stats
    after_files = {**files, **{path: ff.fixed for path, ff in fixed.items()}}
    for path, ff in fixed.items():
        try:
            parse(ff.fixed)
        except SourceError as exc:
            raise FuzzFailure(f"fixed {path} does not parse: {exc}") from None
        if not ff.diff():
            raise FuzzFailure(f"{path} changed but the diff is empty")
    linter2, run2 = lint_sources(after_files, lint)
    _no_internal_errors(run2.findings, "re-check of fixed code")
    for path, ff in fixed.items():
        before = Counter(f.code for f in run.findings if f.path == path)
        gone = Counter(f.code for f in ff.fixed_findings)
        after = Counter(f.code for f in run2.findings if f.path == path)
        worse = {c: n for c, n in after.items() if n > before[c] - gone[c]}
        if worse:
            raise FuzzFailure(f"{path}: fixed findings still reported or new ones: {worse}")
        stats.fixes_verified += sum(gone.values())
        stats.files_fixed += 1
    again = Fixer(linter2, unsafe=True).run(run2, write=False)
    changed_again = [ff.path for ff in again.files if ff.changed]
    if changed_again:
        raise FuzzFailure(f"second fix changed {changed_again}: fixes are not idempotent")
    return stats


def _no_internal_errors(findings: list[Any], stage: str) -> None:
    internal = [f.message for f in findings if f.code == "CKP901"]
    if internal:
        raise FuzzFailure(f"{stage}: internal error {internal}")


def _exc(exc: BaseException) -> str:
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)[-3:])


# ---- seeds: fixtures and rule examples -------------------------------------------------------


@dataclass(frozen=True)
class Seed:
    name: str
    files: tuple[tuple[str, str], ...]  # (relpath, text); the first is the one mutated

    @property
    def target(self) -> str:
        return self.files[0][0]


def fixture_seeds() -> list[Seed]:
    """One seed per fixture file; a package fixture brings its sibling modules along."""
    seeds = []
    for path in sorted(FIXTURES.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        rel = path.relative_to(FIXTURES)
        package = FIXTURES / rel.parts[0] / rel.parts[1] if len(rel.parts) > 2 else None
        base = package.parent if package is not None else path.parent
        siblings = sorted(package.rglob("*.py")) if package is not None else []
        files = [(path.relative_to(base).as_posix(), path.read_text(encoding="utf-8"))]
        files += [
            (p.relative_to(base).as_posix(), p.read_text(encoding="utf-8"))
            for p in siblings
            if p != path
        ]
        seeds.append(Seed(rel.as_posix(), tuple(files)))
    return seeds


def example_seeds() -> list[Seed]:
    seeds = []
    for rule in all_rules():
        for i, ex in enumerate(rule.INVALID):
            files = ((ex.path, ex.code), *sorted(ex.files.items()))
            seeds.append(Seed(f"{rule.code}-invalid-{i}", files))
    return seeds


def all_seeds() -> list[Seed]:
    return fixture_seeds() + example_seeds()


# ---- mutations -------------------------------------------------------------------------------

WRAPPERS = [
    ("if cond:", ""),
    ("if rank == 0:", ""),
    ("if accelerator.is_main_process:", ""),
    ("if not dist.is_initialized() or dist.get_rank() == 0:", ""),
    ("if args.local_rank in (-1, 0):", ""),
    ("try:", "except Exception:\n    pass"),
    ("try:", "finally:\n    cleanup()"),
    ("with lock:", ""),
    ("with open(p) as fh, ctx() as (a, b):", ""),
    ("for _i in range(2):", ""),
    ("while retrying:", ""),
    ("if True:", "else:\n    pass"),
    ("match mode:\n    case 'x' | 'y':", ""),
]
GUARDS = [
    "if dist.get_rank() != 0:\n    return",
    "if not accelerator.is_main_process:\n    return None",
    "if (rank := int(os.environ.get('RANK', 0))) != 0:\n    return",
    "assert rank == 0",
    "accelerator.wait_for_everyone()",
    "raise SystemExit(1)",
    "yield",
    "await asyncio.sleep(0)",
    "lambda *a, **k: (yield)",
]
IDENT = re.compile(r"\b[A-Za-z_]\w*\b")


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True) or [""]


def _statements(text: str) -> list[ast.stmt]:
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    lines = _lines(text)
    out = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.stmt) or node.end_lineno is None:
            continue
        first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
        if lines[first - 1][: node.col_offset].strip() == "":  # starts its own line
            out.append(node)
    return out


def _span(node: ast.stmt) -> tuple[int, int]:
    first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
    assert node.end_lineno is not None
    return first - 1, node.end_lineno  # 0-based, end exclusive


def _indented(block: str, prefix: str) -> str:
    return "".join(prefix + line if line.strip() else line for line in _lines(block))


def wrap_statement(text: str, rnd: random.Random) -> str:
    stmts = _statements(text)
    if not stmts:
        return text
    node = rnd.choice(stmts)
    start, end = _span(node)
    lines = _lines(text)
    indent = " " * node.col_offset
    header, footer = rnd.choice(WRAPPERS)
    body = _indented("".join(lines[start:end]), "    " * (2 if "case" in header else 1))
    if not body.endswith("\n"):
        body += "\n"
    new = _indented(header + "\n", indent) + body
    if footer:
        new += _indented(footer + "\n", indent)
    return "".join(lines[:start]) + new + "".join(lines[end:])


def insert_guard(text: str, rnd: random.Random) -> str:
    stmts = _statements(text)
    if not stmts:
        return text
    node = rnd.choice(stmts)
    start, _ = _span(node)
    lines = _lines(text)
    guard = _indented(rnd.choice(GUARDS) + "\n", " " * node.col_offset)
    return "".join(lines[:start]) + guard + "".join(lines[start:])


def rename_identifier(text: str, rnd: random.Random) -> str:
    """Rename every use of one identifier (consistently), or one use only (inconsistently)."""
    names = sorted({m for m in IDENT.findall(text) if not keyword.iskeyword(m)})
    if not names:
        return text
    old = rnd.choice(names)
    new = rnd.choice([old + "_2", "_" + old, old.upper(), "rank", "output_dir", "shutil"])
    pattern = re.compile(rf"\b{re.escape(old)}\b")
    return pattern.sub(new, text, count=0 if rnd.random() < 0.8 else 1)


def alias_import(text: str, rnd: random.Random) -> str:
    """`import m` -> `import m as m_alias`, `from m import n` -> `... n as n_alias`, uses renamed."""
    tree_stmts = [s for s in _statements(text) if isinstance(s, ast.Import | ast.ImportFrom)]
    if not tree_stmts:
        return text
    node = rnd.choice(tree_stmts)
    candidates = [a for a in node.names if a.asname is None and a.name != "*"]
    if not candidates:
        return text
    alias = rnd.choice(candidates)
    if isinstance(node, ast.Import) and "." in alias.name:
        return text  # `import a.b` binds `a`; aliasing it would change what the name means
    local = alias.name
    new_local = f"{local}_alias"
    lines = _lines(text)
    start, end = _span(node)
    stmt = "".join(lines[start:end])
    split = stmt.index("import") + len("import")  # past `from m import` (m may equal the name)
    new_stmt = stmt[:split] + re.sub(
        rf"\b{re.escape(local)}\b(?!\s+as\b)", f"{local} as {new_local}", stmt[split:], count=1
    )
    rest = re.sub(rf"(?<![.\w]){re.escape(local)}\b", new_local, "".join(lines[end:]))
    head = re.sub(rf"(?<![.\w]){re.escape(local)}\b", new_local, "".join(lines[:start]))
    return head + new_stmt + rest


def delete_line(text: str, rnd: random.Random) -> str:
    lines = _lines(text)
    del lines[rnd.randrange(len(lines))]
    return "".join(lines)


def duplicate_definition(text: str, rnd: random.Random) -> str:
    defs = [
        s
        for s in _statements(text)
        if isinstance(s, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
    ]
    if not defs:
        return text
    start, end = _span(rnd.choice(defs))
    lines = _lines(text)
    block = "".join(lines[start:end])
    if not block.endswith("\n"):
        block += "\n"
    return (
        "".join(lines[:end])
        + ("\n" if end == len(lines) and lines[-1][-1:] != "\n" else "")
        + block
        + "".join(lines[end:])
    )


def reindent_line(text: str, rnd: random.Random) -> str:
    """Shift one line left or right: usually an IndentationError, sometimes a new nesting."""
    lines = _lines(text)
    i = rnd.randrange(len(lines))
    if rnd.random() < 0.5:
        lines[i] = " " * rnd.choice([1, 2, 4]) + lines[i]
    else:
        lines[i] = lines[i][min(len(lines[i]) - len(lines[i].lstrip(" ")), 4) :]
    return "".join(lines)


def crlf(text: str, rnd: random.Random) -> str:
    return text.replace("\r\n", "\n").replace("\n", "\r\n")


def async_def(text: str, rnd: random.Random) -> str:
    """Turn one `def` into `async def` (awaits, yields and returns change meaning)."""
    spots = [m.start() for m in re.finditer(r"(?m)^[ \t]*def ", text)]
    if not spots:
        return text
    at = rnd.choice(spots)
    head, tail = text[:at], text[at:]
    return head + tail.replace("def ", "async def ", 1)


MUTATIONS: dict[str, Callable[[str, random.Random], str]] = {
    "wrap": wrap_statement,
    "guard": insert_guard,
    "rename": rename_identifier,
    "alias": alias_import,
    "delete": delete_line,
    "duplicate": duplicate_definition,
    "reindent": reindent_line,
    "crlf": crlf,
    "async": async_def,
}


def mutate(seed_: Seed, ops: list[tuple[str, int]]) -> dict[str, str]:
    files = dict(seed_.files)
    text = files[seed_.target]
    for name, salt in ops:
        text = MUTATIONS[name](text, random.Random(salt))
    files[seed_.target] = text
    return files


def splice(program: str, seed_: Seed, at_end: bool) -> dict[str, str]:
    """A hazard seed next to a generated program, so fixes run beside odd syntax."""
    files = dict(seed_.files)
    hazard = files[seed_.target]
    sep = "" if program.endswith("\n") or not program else "\n"
    files[seed_.target] = program + sep + hazard if at_end else hazard + "\n" + program
    return files


# ---- strategies ------------------------------------------------------------------------------

SEEDS = all_seeds()
mutation_ops = st.lists(
    st.tuples(st.sampled_from(sorted(MUTATIONS)), st.integers(0, 2**32 - 1)),
    min_size=1,
    max_size=4,
)
mutated_projects = st.builds(mutate, st.sampled_from(SEEDS), mutation_ops)


def generated_programs() -> st.SearchStrategy[str]:
    import hypothesmith

    return st.one_of(hypothesmith.from_grammar(), hypothesmith.from_node())


def spliced_projects() -> st.SearchStrategy[dict[str, str]]:
    return st.builds(splice, generated_programs(), st.sampled_from(SEEDS), st.booleans())


SUPPRESS = [
    HealthCheck.too_slow,
    HealthCheck.filter_too_much,
    HealthCheck.data_too_large,
    HealthCheck.large_base_example,
]


# ---- command line ----------------------------------------------------------------------------


def _strategy(source: str) -> st.SearchStrategy[dict[str, str]]:
    generated = generated_programs().map(lambda p: {"generated.py": p})
    return {
        "grammar": generated,
        "splice": spliced_projects(),
        "mutation": mutated_projects,
        "all": st.one_of(generated, spliced_projects(), mutated_projects, mutated_projects),
    }[source]


def run(source: str, examples: int, seconds: float, base_seed: int, batch: int = 100) -> FuzzStats:
    """Batches of seeded hypothesis runs until `examples` or `seconds` is used up."""
    stats = FuzzStats()
    deadline = time.monotonic() + seconds
    strategy = _strategy(source)
    batch_no = 0
    while stats.programs < examples and time.monotonic() < deadline:
        size = min(batch, examples - stats.programs)

        @seed(base_seed + batch_no)
        @settings(
            max_examples=size,
            deadline=None,
            database=None,
            suppress_health_check=SUPPRESS,
            print_blob=True,
        )
        @given(strategy)
        def one(files: dict[str, str]) -> None:
            if time.monotonic() < deadline:
                exercise(files, stats)

        try:
            one()
        except FuzzFailure as exc:
            stats.failures.append(str(exc))
            print(f"FAILURE (batch seed {base_seed + batch_no}): {exc}", file=sys.stderr)
        batch_no += 1
        print(f"[{source}] {stats.summary()}", file=sys.stderr)
    return stats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=1000, help="programs to try (at most)")
    parser.add_argument("--seconds", type=float, default=600.0, help="time budget")
    parser.add_argument("--source", choices=("grammar", "splice", "mutation", "all"), default="all")
    parser.add_argument("--seed", type=int, default=0, help="first batch seed (reproducible)")
    args = parser.parse_args(argv)
    stats = run(args.source, args.examples, args.seconds, args.seed)
    print(stats.summary())
    for rejection in stats.fix_rejections[:20]:
        print(f"rejected fix: {rejection}")
    return 1 if stats.failures else 0


if __name__ == "__main__":
    sys.exit(main())
