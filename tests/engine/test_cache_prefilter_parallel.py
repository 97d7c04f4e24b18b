"""Speed mechanisms must never change results: prefilter, cache, workers (issue 9)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from ckpt_lint.config import Config
from ckpt_lint.engine.api import make_settings
from ckpt_lint.engine.cache import Cache
from ckpt_lint.engine.runner import Linter
from tests.conftest import FIXTURES, ROOT, run_cli

STDLIB = Path(sysconfig.get_paths()["stdlib"])
# a real corpus slice with deletions, clocks and lookups, plus the project's own fixtures
CORPUS = [
    *(STDLIB / n for n in ("shutil.py", "tempfile.py", "uuid.py", "random.py", "zipfile.py")),
    *(STDLIB / "logging").glob("*.py"),
    *(STDLIB / "importlib").glob("*.py"),
    *FIXTURES.rglob("*.py"),
]


def _keys(result):
    return sorted(
        (f.path, f.start.line, f.start.column, f.code, f.message) for f in result.findings
    )


def _lint(paths, prefilter=True, jobs=1, cache=None):
    linter = Linter(make_settings(prefilter=prefilter), jobs=jobs, cache=cache)
    return linter.lint_paths([str(p) for p in paths], Config(root=ROOT, respect_gitignore=False))


@pytest.fixture(scope="module")
def baseline():
    return _lint(CORPUS, prefilter=False)


def test_prefilter_loses_no_finding_on_a_real_corpus(baseline):
    filtered = _lint(CORPUS)
    assert _keys(filtered) == _keys(baseline)
    assert filtered.files_parsed < baseline.files_parsed  # and it does skip work
    assert _keys(baseline), "the corpus must hold findings for the comparison to mean anything"


def test_workers_give_the_same_findings_in_the_same_order(baseline):
    assert len(CORPUS) >= 48  # above the engine's threshold for starting workers
    parallel = _lint(CORPUS, prefilter=False, jobs=2)
    assert [(f.path, f.start.line, f.code) for f in parallel.findings] == [
        (f.path, f.start.line, f.code) for f in baseline.findings
    ]


def _project(tmp_path: Path, guard: str) -> Path:
    root = tmp_path / "proj"
    (root / "pkg").mkdir(parents=True, exist_ok=True)
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "ckpt.py").write_text(
        "import shutil\n\n\ndef prune(path):\n    shutil.rmtree(path)\n"
    )
    (root / "pkg" / "train.py").write_text(
        "from accelerate import Accelerator\n\nfrom pkg.ckpt import prune\n\n\n"
        f"def loop(accelerator: Accelerator, d):\n    if accelerator.{guard}:\n        prune(d)\n"
    )
    return root


def test_cache_warm_run_equals_cold_and_is_invalidated_by_a_caller_in_another_file(tmp_path):
    root = _project(tmp_path, "is_local_main_process")
    settings = make_settings()
    cache_dir = tmp_path / "cache"

    def run():
        linter = Linter(settings, cache=Cache(cache_dir, settings.digest()))
        return linter.lint_paths([str(root)], Config(root=root))

    cold = run()
    assert [f.code for f in cold.findings] == ["CKP002"]
    warm = run()
    assert _keys(warm) == _keys(cold)
    assert warm.stats["cached_scan"] == warm.stats["files"]  # nothing re-read
    assert warm.stats["checked"] == 0  # nothing re-analysed
    assert warm.stats.get("cached_run") == 1  # replayed from the whole-run record
    cache_file = Cache(cache_dir, settings.digest()).file
    assert cache_file is not None
    before = cache_file.stat().st_mtime_ns
    assert _keys(run()) == _keys(cold)
    assert cache_file.stat().st_mtime_ns == before  # a warm run computes nothing, writes nothing
    # only the *caller* changes: the deletion's file is untouched, yet its finding must go
    (root / "pkg" / "train.py").write_text(
        (root / "pkg" / "train.py").read_text().replace("is_local_main_process", "is_main_process")
    )
    after = run()
    assert after.findings == []
    assert after.stats["cached_scan"] == after.stats["files"] - 1


def test_corrupt_or_foreign_cache_is_ignored(tmp_path):
    root = _project(tmp_path, "is_local_main_process")
    settings = make_settings()
    cache_dir = tmp_path / "cache"
    cache_dir.mkdir()
    Cache(cache_dir, settings.digest()).file.write_bytes(b"not a pickle")  # type: ignore[union-attr]
    linter = Linter(settings, cache=Cache(cache_dir, settings.digest()))
    result = linter.lint_paths([str(root)], Config(root=root))
    assert [f.code for f in result.findings] == ["CKP002"]


def test_concurrent_cli_runs_share_a_cache_safely(tmp_path):
    root = _project(tmp_path, "is_local_main_process")
    shutil.copytree(FIXTURES / "demo_project", root / "demo")
    env = {"CKPT_LINT_CACHE_DIR": str(tmp_path / "cache")}
    cmd = [sys.executable, "-m", "ckpt_lint", "check", "--format", "json", str(root)]
    procs = [
        subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, **env}
        )
        for _ in range(4)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    results = [json.loads(out) for out, _ in outs]
    assert all(p.returncode == 1 for p in procs), [err for _, err in outs]
    assert all(r == results[0] for r in results) and results[0]
    again = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **env})
    assert json.loads(again.stdout) == results[0]


@pytest.mark.parametrize("guard, checked", [("is_local_main_process", 1), ("is_main_process", 0)])
def test_project_facts_decide_which_files_are_checked_again(tmp_path, guard, checked):
    """The deletion's file is re-parsed and checked only when its callers leave it reachable
    by more than one process; the decision comes from the summaries (`Rule.may_fire_in`)."""
    root = _project(tmp_path, guard)
    result = Linter(make_settings()).lint_paths([str(root)], Config(root=root))
    assert result.stats["checked"] == checked
    assert len(result.findings) == checked
    unfiltered = Linter(make_settings(prefilter=False)).lint_paths([str(root)], Config(root=root))
    assert _keys(unfiltered) == _keys(result)


def test_a_caller_is_summarised_for_the_analyses_that_asked_for_it(tmp_path):
    root = _project(tmp_path, "is_local_main_process")
    linter = Linter(make_settings())
    result = linter.lint_paths([str(root)], Config(root=root))
    assert [f.code for f in result.findings] == ["CKP002"]
    caller = next(r for d, r in linter.phase1_results.items() if d.endswith("train.py"))
    assert caller.facts is not None
    # found as a caller of the deleting `prune`: its call graph is needed, not its taint flows
    assert "callgraph" not in caller.facts.skipped
    assert "taint" in caller.facts.skipped  # (its text names `ckpt`: resume words match)
    assert result.stats["callers_parsed"] == 1


def test_an_unchanged_run_is_replayed_but_fix_still_sees_the_project(tmp_path):
    root = _project(tmp_path, "is_local_main_process")
    env = {"CKPT_LINT_CACHE_DIR": str(tmp_path / "cache")}
    cmd = ["check", "--format", "json", str(root)]
    cold = run_cli(*cmd, env=env)
    warm = run_cli(*cmd, env=env)
    assert cold.returncode == warm.returncode == 1
    assert json.loads(warm.stdout) == json.loads(cold.stdout) != []
    fixed = run_cli("fix", str(root), env=env)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "main_process_rmtree" in (root / "pkg" / "ckpt.py").read_text()
    assert run_cli(*cmd, env=env).returncode == 0  # the edited file changed the fingerprint
