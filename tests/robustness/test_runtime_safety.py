"""The runtime never deletes what a main-process gate did not allow (real processes, real
launcher environments), and resume decisions never delete anything."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ckpt_lint import runtime as rt
from tests.runtime.conftest import clean_environ, is_launcher_var


@pytest.fixture(autouse=True)
def _no_launcher_env(monkeypatch):
    # the in-process resume calls must not see a developer's or CI's RANK & co.
    for name in list(os.environ):
        if is_launcher_var(name):
            monkeypatch.delenv(name)


# every deleting entry point, on its own victim, in one child process with the given environment
DELETE_ALL = """
import json, sys
from ckpt_lint import runtime as rt
root = sys.argv[1]
print(json.dumps({
    "rmtree": rt.main_process_rmtree(root + "/tree"),
    "remove": rt.main_process_remove(root + "/file"),
    "rmdir": rt.main_process_rmdir(root + "/empty"),
    "rotate": rt.rotate_checkpoints(root + "/out", keep=1),
}))
"""

NOT_THE_DELETING_PROCESS = {
    "torchrun rank 3": {"RANK": "3", "WORLD_SIZE": "8", "LOCAL_RANK": "3"},
    "node 1 local main, shared fs": {"RANK": "8", "WORLD_SIZE": "16", "LOCAL_RANK": "0"},
    "mpirun rank 1": {"OMPI_COMM_WORLD_RANK": "1", "OMPI_COMM_WORLD_SIZE": "2"},
    "PMI rank 2": {"PMI_RANK": "2", "PMI_SIZE": "4"},
    "srun task 5": {"SLURM_PROCID": "5", "SLURM_NTASKS": "8"},
    "only LOCAL_RANK=2": {"LOCAL_RANK": "2"},
    "stale RANK beats SLURM": {"RANK": "1", "WORLD_SIZE": "2", "SLURM_PROCID": "0"},
}


def _victims(root: Path) -> None:
    (root / "tree" / "sub").mkdir(parents=True)
    (root / "tree" / "sub" / "w.bin").write_text("w")
    (root / "file").write_text("f")
    (root / "empty").mkdir()
    for step in (1, 2, 3):
        ckpt = root / "out" / f"step_{step}"
        ckpt.mkdir(parents=True)
        (ckpt / "model.bin").write_text(str(step))
        rt.mark_complete(ckpt)


def _paths(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def _run(root: Path, env: dict[str, str]) -> dict[str, object]:
    proc = subprocess.run(
        [sys.executable, "-c", DELETE_ALL, str(root)],
        env=clean_environ(**env),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.parametrize("env", NOT_THE_DELETING_PROCESS.values(), ids=NOT_THE_DELETING_PROCESS)
def test_no_deletion_outside_the_deleting_process(tmp_path, env):
    _victims(tmp_path)
    before = _paths(tmp_path)
    result = _run(tmp_path, env)
    assert result == {"rmtree": False, "remove": False, "rmdir": False, "rotate": []}
    assert _paths(tmp_path) == before


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"RANK": "0", "WORLD_SIZE": "8", "LOCAL_RANK": "0"},
        {"SLURM_PROCID": "0", "SLURM_NTASKS": "4"},
    ],
    ids=["single process", "torchrun rank 0", "srun task 0"],
)
def test_the_deleting_process_does_delete(tmp_path, env):
    # the control: the same child, allowed to delete, deletes (so the test above can fail)
    _victims(tmp_path)
    result = _run(tmp_path, env)
    assert result["rmtree"] is result["remove"] is result["rmdir"] is True
    assert sorted(Path(p).name for p in result["rotate"]) == ["step_1", "step_2"]
    assert _paths(tmp_path) == {"out", "out/step_3", "out/step_3/model.bin"} | {
        f"out/step_3/{m}" for m in os.listdir(tmp_path / "out" / "step_3") if m != "model.bin"
    }


def _snapshot(root: Path) -> dict[str, str]:
    """Every path under root with its content, the ledger (which resume may update) aside."""
    out = {}
    for p in root.rglob("*"):
        if p.name.startswith(rt.LEDGER_NAME):
            continue
        out[str(p.relative_to(root))] = "<dir>" if p.is_dir() else p.read_text()
    return out


def _state(root: Path, kind: str) -> None:
    out = root / "out"
    out.mkdir()
    if kind in ("complete", "complete+incomplete", "complete+tmp"):
        ckpt = out / "step_10"
        ckpt.mkdir()
        (ckpt / "model.bin").write_text("10")
        rt.mark_complete(ckpt)
    if kind in ("incomplete", "complete+incomplete"):
        (out / "step_20").mkdir()
        (out / "step_20" / "model.bin").write_text("half")
    if kind in ("tmp", "complete+tmp"):
        (out / "step_30.tmp").mkdir()
        (out / "step_30.tmp" / "model.bin").write_text("half")
    if kind == "stray files":
        (out / "events.log").write_text("log")
        (out / "config.json").write_text("{}")


STATES = [
    "empty",
    "complete",
    "incomplete",
    "tmp",
    "complete+incomplete",
    "complete+tmp",
    "stray files",
]
CALLS = {
    "resolve auto": lambda out: rt.resolve_resume(out),
    "resolve latest": lambda out: rt.resolve_resume(out, resume=True),
    "resolve path": lambda out: rt.resolve_resume(out, resume=os.path.join(out, "step_20")),
    "resolve fresh": lambda out: rt.resolve_resume(out, fresh_start=True),
    "check_fresh_start": lambda out: rt.check_fresh_start(out, "no checkpoint"),
    "check_fresh_start requested": lambda out: rt.check_fresh_start(out, resume_requested=True),
    "find_latest_complete": lambda out: rt.find_latest_complete(out),
}


@pytest.mark.parametrize("call", CALLS.values(), ids=CALLS)
@pytest.mark.parametrize("state", STATES)
def test_resume_decisions_never_delete(tmp_path, state, call):
    _state(tmp_path, state)
    before = _snapshot(tmp_path)
    # refusing to start is the strict answer; it must still leave everything in place
    with contextlib.suppress(rt.ResumeError):
        call(str(tmp_path / "out"))
    assert _snapshot(tmp_path) == before
