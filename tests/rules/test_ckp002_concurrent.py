"""The CKP002 fix executed for real: the seed's rotation, fixed, in 8 processes at once.

Eight single-GPU "nodes" (RANK 0..7, LOCAL_RANK 0 each) run the seed's shape: a per-node guard
in the trainer, `shutil.rmtree` in a rotation helper in another module. Unfixed, the processes
delete the same directories and the losers raise FileNotFoundError (the control proves the test
can fail); fixed with `fix_sources`, nothing crashes and the old checkpoints are gone.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
from pathlib import Path

from ckpt_lint.engine.api import fix_sources, make_settings
from tests.rules import ckp002_workers

PROCESSES = 8
STEPS = 12
KEEP = 2
FILES_PER_STEP = 40

ROTATION = '''"""Checkpoint rotation for the trainer."""

import os
import shutil


def prune(output_dir, keep):
    steps = sorted(
        (d for d in os.listdir(output_dir) if d.startswith("step_")),
        key=lambda d: int(d.split("_")[1]),
    )
    for name in steps[: max(0, len(steps) - keep)]:
        shutil.rmtree(os.path.join(output_dir, name))
'''

TRAINER = '''"""Calls the rotation once per node, as the seed's trainer did."""

import os

from rotation import prune


def after_save(output_dir, keep):
    if int(os.environ.get("LOCAL_RANK", "0")) == 0:
        prune(output_dir, keep)
'''


def _sources() -> dict[str, str]:
    return {"rotation.py": ROTATION, "trainer.py": TRAINER}


def _write(code_dir: Path, files: dict[str, str]) -> None:
    code_dir.mkdir()
    for name, text in files.items():
        (code_dir / name).write_text(text)


def _make_rounds(root: Path, rounds: int) -> list[str]:
    dirs = []
    for r in range(rounds):
        directory = root / f"round_{r}"
        for step in range(1, STEPS + 1):
            shard = directory / f"step_{step * 100}" / "shard"
            shard.mkdir(parents=True)
            for index in range(FILES_PER_STEP):
                (shard / f"part_{index}.bin").write_bytes(b"x")
        dirs.append(str(directory))
    return dirs


def _race(code_dir: Path, round_dirs: list[str]) -> dict[int, list[str]]:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(PROCESSES)
    results = ctx.Queue()
    procs = [
        ctx.Process(
            target=ckp002_workers.rotate_worker,
            args=(rank, PROCESSES, str(code_dir), round_dirs, KEEP, barrier, results),
        )
        for rank in range(PROCESSES)
    ]
    for proc in procs:
        proc.start()
    out: dict[int, list[str]] = {}
    try:
        for _ in procs:
            rank, errors = results.get(timeout=300)
            out[rank] = errors
    except queue.Empty:
        pass
    for proc in procs:
        proc.join(timeout=60)
        if proc.is_alive():
            proc.kill()
    assert len(out) == PROCESSES, f"only {sorted(out)} reported back"
    setup = [e for errors in out.values() for e in errors if e.startswith("setup")]
    assert not setup, setup[0]
    return out


def _remaining(directory: str) -> list[str]:
    return sorted(os.listdir(directory), key=lambda d: int(d.split("_")[1]))


def test_fix_rewrites_the_seed_rotation_to_the_runtime():
    fixed = fix_sources(_sources(), make_settings(codes=["CKP002"]))
    assert "shutil.rmtree(" not in fixed["rotation.py"]
    assert "main_process_rmtree(os.path.join(output_dir, name))" in fixed["rotation.py"]
    assert "from ckpt_lint.runtime import main_process_rmtree\n" in fixed["rotation.py"]
    assert fixed["trainer.py"] == TRAINER  # the guard and the save are left alone


def test_fixed_rotation_in_8_processes_does_not_crash_and_deletes(tmp_path: Path):
    fixed = fix_sources(_sources(), make_settings(codes=["CKP002"]))
    _write(tmp_path / "code", fixed)
    rounds = _make_rounds(tmp_path / "data", 3)
    outcome = _race(tmp_path / "code", rounds)
    assert outcome == {rank: [] for rank in range(PROCESSES)}
    for directory in rounds:
        assert _remaining(directory) == [f"step_{s * 100}" for s in (STEPS - 1, STEPS)]


def test_unfixed_rotation_in_8_processes_crashes(tmp_path: Path):
    _write(tmp_path / "code", _sources())
    # the race is measured to hit almost every time; a few rounds keep a flake impossible
    rounds = _make_rounds(tmp_path / "data", 5)
    outcome = _race(tmp_path / "code", rounds)
    crashes = [e for errors in outcome.values() for e in errors]
    assert "FileNotFoundError" in crashes, outcome
