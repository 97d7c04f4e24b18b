"""One-shot fix of a whole package, end to end, on fixtures/oneshot_pkg (self-written, seed-shaped).

`ckpt-lint fix --unsafe-fixes --vendor-runtime trainpkg/ckpt_runtime.py trainpkg/` runs on a
copy; then the fixed helpers are executed by an interpreter that cannot import ckpt_lint
(`python -I -S`: no site-packages), with the vendored runtime as the only extra module.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, ROOT, run_cli

PACKAGE = FIXTURES / "oneshot_pkg"
FIXED_FILES = {"trainpkg/utils.py", "trainpkg/train_dpo.py"}
ONESHOT = ("fix", "--no-cache", "--unsafe-fixes", "--vendor-runtime", "trainpkg/ckpt_runtime.py")


def _snapshot(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


def _isolated(code: str, repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run `code` where only the stdlib and `repo` are importable (no ckpt_lint, no torch)."""
    env = {"PATH": os.environ.get("PATH", ""), "LC_ALL": "C.UTF-8"}
    return subprocess.run(
        [sys.executable, "-I", "-S", "-c", code, str(repo), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


PRELUDE = textwrap.dedent(
    """
    import importlib.util, json, sys
    sys.path.insert(0, sys.argv[1])
    assert importlib.util.find_spec("ckpt_lint") is None, "ckpt_lint must not be importable"
    """
)


@pytest.fixture(scope="module")
def fixed_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = tmp_path_factory.mktemp("oneshot") / "repo"
    shutil.copytree(PACKAGE, repo)
    result = run_cli(*ONESHOT, "trainpkg/", cwd=repo)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Fixed 4 findings; none remain." in result.stdout
    return repo


@pytest.fixture(scope="module")
def original_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = tmp_path_factory.mktemp("original") / "repo"
    shutil.copytree(PACKAGE, repo)
    return repo


def test_fixture_findings_are_the_seed_three() -> None:
    result = run_cli("check", "--no-cache", "--format", "json", str(PACKAGE))
    found = sorted((f["code"], Path(f["path"]).name) for f in json.loads(result.stdout))
    assert found == [
        ("CKP001", "train_dpo.py"),
        ("CKP001", "utils.py"),
        ("CKP002", "utils.py"),
        ("CKP003", "utils.py"),
    ]


def test_only_the_hazard_files_change_and_the_runtime_is_vendored(fixed_repo: Path) -> None:
    before, after = _snapshot(PACKAGE), _snapshot(fixed_repo)
    changed = {rel for rel in before if before[rel] != after.get(rel)}
    assert changed == FIXED_FILES
    assert set(after) - set(before) == {"trainpkg/ckpt_runtime.py"}
    vendored = (fixed_repo / "trainpkg" / "ckpt_runtime.py").read_text()
    assert "# ckpt-lint: skip-file" in vendored.splitlines()[:5]


def test_fixed_files_import_the_vendored_runtime_only(fixed_repo: Path) -> None:
    utils = (fixed_repo / "trainpkg" / "utils.py").read_text()
    dpo = (fixed_repo / "trainpkg" / "train_dpo.py").read_text()
    assert (
        "from trainpkg.ckpt_runtime import check_fresh_start, main_process_rmtree, stable_run_id"
        in utils
    )
    assert "from trainpkg.ckpt_runtime import stable_run_id" in dpo
    for path in (fixed_repo / "trainpkg").glob("*.py"):
        assert "ckpt_lint" not in _imported_modules(path), path


def _imported_modules(path: Path) -> set[str]:
    tops = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            tops |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            tops.add(node.module.split(".")[0])
    return tops


def test_every_file_compiles(fixed_repo: Path) -> None:
    for path in sorted((fixed_repo / "trainpkg").glob("*.py")):
        compile(path.read_bytes(), str(path), "exec", dont_inherit=True)


def test_second_run_changes_nothing_and_recheck_is_clean(fixed_repo: Path) -> None:
    before = _snapshot(fixed_repo)
    again = run_cli(*ONESHOT, "trainpkg/", cwd=fixed_repo)
    assert again.returncode == 0, again.stdout + again.stderr
    assert _snapshot(fixed_repo) == before
    check = run_cli("check", "--no-cache", "trainpkg/", cwd=fixed_repo)
    assert check.returncode == 0, check.stdout


def test_vendored_runtime_imports_without_ckpt_lint(fixed_repo: Path) -> None:
    code = PRELUDE + "import trainpkg.ckpt_runtime as rt, trainpkg.utils\nprint(rt.__name__)"
    result = _isolated(code, fixed_repo)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "trainpkg.ckpt_runtime"


ROTATION = PRELUDE + textwrap.dedent(
    """
    import multiprocessing as mp, os
    from trainpkg.utils import prune_old_checkpoints

    out, keep = sys.argv[2], 2
    for step in range(10, 90, 10):
        os.makedirs(os.path.join(out, f"step_{step}", "shard"))
        for i in range(30):
            with open(os.path.join(out, f"step_{step}", "shard", f"part{i}"), "w") as f:
                f.write("x" * 512)
        open(os.path.join(out, f"step_{step}", "DONE"), "w").close()

    def worker(rank, barrier):
        # 2 nodes x 4 processes, as torchrun would export them; every process calls the
        # rotation (stricter than the per-node guard in the trainers)
        os.environ.update(RANK=str(rank), WORLD_SIZE="8", LOCAL_RANK=str(rank % 4),
                          LOCAL_WORLD_SIZE="4")
        barrier.wait()
        prune_old_checkpoints(out, keep)

    ctx = mp.get_context("fork")
    barrier = ctx.Barrier(8)
    procs = [ctx.Process(target=worker, args=(r, barrier)) for r in range(8)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    print(json.dumps({"exit_codes": [p.exitcode for p in procs],
                      "left": sorted(os.listdir(out))}))
    """
)


def test_fixed_rotation_survives_eight_processes(fixed_repo: Path, tmp_path: Path) -> None:
    result = _isolated(ROTATION, fixed_repo, str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout)
    assert outcome == {"exit_codes": [0] * 8, "left": ["step_70", "step_80"]}, result.stderr


RUN_NAME = PRELUDE + textwrap.dedent(
    """
    import ast, dataclasses, os, time
    attempt, rank, lr = int(sys.argv[3]), sys.argv[4], float(sys.argv[5])
    os.environ.update(RANK=rank, WORLD_SIZE="8")
    time.time = lambda: 1_700_000_000.0 + 3600 * attempt  # each retry starts an hour later
    from trainpkg.utils import prepare_run_dir

    @dataclasses.dataclass
    class SFTLike:
        run_name: str = "sft"
        output_dir: str = "output/"
        resume_from: str | None = None
        seed: int = 1
        learning_rate: float = 2e-5
        stamp_run_name: bool = True

    @dataclasses.dataclass
    class DPOLike(SFTLike):
        run_name: str = "dpo"
        timestamp_run_name: bool = True
        keep_output_dir: bool = False

    helper = SFTLike(learning_rate=lr)
    prepare_run_dir(helper)

    # the trainer's inline naming code, lifted out of train() as the fix left it
    tree = ast.parse(open(sys.argv[2]).read())
    train = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "train")
    naming = [s for s in train.body if isinstance(s, ast.If) and "run_name" in ast.unparse(s)]
    imports = [s for s in tree.body if isinstance(s, (ast.Import, ast.ImportFrom))
               and "accelerate" not in ast.unparse(s)]
    scope = {"cfg": DPOLike(learning_rate=lr)}
    exec(compile(ast.Module(body=imports + naming, type_ignores=[]), "train_dpo", "exec"), scope)
    print(json.dumps([helper.output_dir, scope["cfg"].output_dir]))
    """
)


def _run_dirs(repo: Path, attempt: int, rank: int, lr: float = 2e-5) -> list[str]:
    dpo = repo / "trainpkg" / "train_dpo.py"
    result = _isolated(RUN_NAME, repo, str(dpo), str(attempt), str(rank), str(lr))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_fixed_run_dirs_are_the_same_on_retry_and_on_every_rank(fixed_repo: Path) -> None:
    first = _run_dirs(fixed_repo, attempt=0, rank=0)
    assert _run_dirs(fixed_repo, attempt=1, rank=0) == first
    assert _run_dirs(fixed_repo, attempt=2, rank=5) == first
    assert first[0].startswith("output/sft-s1-") and first[1].startswith("output/dpo__1__")
    # the id still tells different hyperparameters apart
    other = _run_dirs(fixed_repo, attempt=0, rank=0, lr=1e-4)
    assert other[0] != first[0] and other[1] != first[1]


def test_original_run_dirs_change_on_retry(original_repo: Path) -> None:
    # the harness can tell: with the wall clock in the name, a retry gets another dir
    first = _run_dirs(original_repo, attempt=0, rank=0)
    second = _run_dirs(original_repo, attempt=1, rank=0)
    assert first[0] != second[0] and first[1] != second[1]


RESUME = PRELUDE + textwrap.dedent(
    """
    import os, types
    from trainpkg.ckpt_runtime import ResumeError
    from trainpkg.utils import resume_checkpoint_path

    out = sys.argv[2]
    cfg = types.SimpleNamespace(output_dir=out, resume_from=None)
    try:
        print(json.dumps({"path": resume_checkpoint_path(cfg)}))
    except ResumeError as exc:
        print(json.dumps({"error": str(exc)}))
    """
)


def _resume(repo: Path, out: Path, **env: str) -> dict[str, str | None]:
    code = RESUME
    if env:
        code = PRELUDE + f"import os; os.environ.update({env!r})\n" + RESUME[len(PRELUDE) :]
    result = _isolated(code, repo, str(out))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_fixed_resume_is_strict(fixed_repo: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    # the trainer creates the dir before looking: empty means first run
    assert _resume(fixed_repo, out) == {"path": None}

    # a retry whose checkpoint lost its marker (or never finished) must not start from step 0
    (out / "step_50" / "shard").mkdir(parents=True)
    outcome = _resume(fixed_repo, out)
    assert "error" in outcome
    assert outcome["error"].startswith("No finished checkpoint in the output directory")
    assert "step_50" in outcome["error"]

    # ... unless a fresh start is asked for
    assert _resume(fixed_repo, out, CKPT_LINT_FRESH_START="1") == {"path": None}

    # a finished checkpoint is still found the way the code always found it
    (out / "step_50" / "DONE").touch()
    assert _resume(fixed_repo, out) == {"path": str(out / "step_50")}


def test_original_resume_starts_fresh_silently(original_repo: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    (out / "step_50" / "shard").mkdir(parents=True)
    code = RESUME.replace("from trainpkg.ckpt_runtime import ResumeError", "ResumeError = OSError")
    result = _isolated(code, original_repo, str(out))
    assert json.loads(result.stdout) == {"path": None}


def test_report_tool_on_the_fixture(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "oneshot_report.py"),
            str(PACKAGE),
            "--paths",
            "trainpkg",
            "--fix",
            "--json",
            "-",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["findings_by_code"] == {"CKP001": 2, "CKP002": 1, "CKP003": 1}
    assert report["vendored"] == "trainpkg/ckpt_runtime.py"
    assert sorted(c["path"] for c in report["changed"]) == sorted(FIXED_FILES)
    assert [c["path"] for c in report["created"]] == ["trainpkg/ckpt_runtime.py"]
    assert report["all_compile"] and report["second_run_noop"] and report["fixed_sites_clean"]
    assert report["remaining"] == []
    assert report["lines_added"] > report["lines_removed"] > 0


def test_report_tool_flags_a_fix_that_does_not_compile(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import oneshot_report
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    broken = tmp_path / "broken.py"
    broken.write_text("def f(:\n    pass\n")
    ok, error = oneshot_report.compiles(broken)
    assert not ok and error.startswith("SyntaxError")
    # lines keep their place through an edit and a one-line call wrapped over three lines
    mapping = oneshot_report.line_map(["a\n", "b\n", "c\n"], ["a\n", "b1\n", "b2\n", "b3\n", "c\n"])
    assert mapping == {1: 1, 2: 2, 3: 5}
    before = oneshot_report.Finding("CKP001", "x.py", 3, "")
    moved = oneshot_report.Finding("CKP001", "x.py", 5, "")
    elsewhere = oneshot_report.Finding("CKP001", "x.py", 2, "")
    assert oneshot_report.unfixed([before], [moved, elsewhere], {"x.py": mapping}) == [moved]
