"""A toy training script killed mid-run and retried in real subprocesses, as a scheduler would."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ckpt_lint import runtime as rt
from tests.runtime.conftest import clean_environ

# The shape CKP001/CKP003's fixes leave in open_instruct-like scripts.
TRAIN = """
import argparse, json, os, signal, sys
from ckpt_lint import runtime as rt

parser = argparse.ArgumentParser()
parser.add_argument("--output_dir", required=True)
parser.add_argument("--exp_name", default="toy")
parser.add_argument("--seed", type=int, default=1)
parser.add_argument("--lr", type=float, default=0.1)
parser.add_argument("--steps", type=int, default=10)
parser.add_argument("--save_every", type=int, default=2)
parser.add_argument("--local_rank", type=int, default=-1)
args = parser.parse_args()

run_id = rt.stable_run_id(args)
args.exp_name = f"{args.exp_name}__{args.seed}__{rt.stable_run_id(args)}"
assert rt.stable_run_id(args) == run_id, "exp_name reassignment changed the run id"
out = os.path.join(args.output_dir, args.exp_name)
os.makedirs(out, exist_ok=True)  # like open_instruct: the dir exists before the lookup

die_at = int(os.environ.get("DIE_AT", "0"))
die_in_save = int(os.environ.get("DIE_IN_SAVE", "0"))
stop_after = int(os.environ.get("STOP_AFTER", "0"))

try:
    resume = rt.resolve_resume(out)
except rt.ResumeError as exc:
    print(json.dumps({"error": str(exc), "out": out}))
    sys.exit(3)

start, weight = 0, 0.0
if resume:
    with open(os.path.join(resume, "state.json")) as handle:
        state = json.load(handle)
    start, weight = state["step"], state["weight"]
with open(os.path.join(out, "args.json"), "w") as handle:
    json.dump(vars(args), handle)

step = start
for step in range(start + 1, args.steps + 1):
    weight = weight * 0.9 + args.lr * step
    if step % args.save_every == 0:
        final = os.path.join(out, f"step_{step}")
        with rt.atomic_checkpoint_dir(final) as tmp:
            with open(os.path.join(tmp, "state.json"), "w") as handle:
                json.dump({"step": step, "weight": weight}, handle)
            if step == die_in_save:
                os.kill(os.getpid(), signal.SIGKILL)
        rt.record_checkpoint(out, final, step)
        rt.rotate_checkpoints(out, keep=2)
    if step == die_at:
        os.kill(os.getpid(), signal.SIGKILL)
    if step == stop_after:
        break
print(json.dumps({"out": out, "start": start, "end": step, "weight": weight, "run_id": run_id}))
"""


@pytest.fixture
def script(tmp_path: Path) -> Path:
    path = tmp_path / "train.py"
    path.write_text(TRAIN)
    return path


def _run(script: Path, base: Path, *extra: str, **env: str) -> tuple[int, dict[str, Any]]:
    result = subprocess.run(
        [sys.executable, str(script), "--output_dir", str(base), *extra],
        env=clean_environ(**env),
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = result.stdout.strip().splitlines()
    payload = json.loads(lines[-1]) if lines else {}
    if result.returncode not in (0, 3, -signal.SIGKILL):
        pytest.fail(f"script failed ({result.returncode}):\n{result.stderr}")
    return result.returncode, payload


def _run_dirs(base: Path) -> list[str]:
    return sorted(p.name for p in base.iterdir()) if base.exists() else []


def test_killed_run_resumes_in_the_same_dir_and_matches_an_uninterrupted_run(
    script: Path, tmp_path: Path
) -> None:
    base = tmp_path / "runs"
    code, _ = _run(script, base, DIE_AT="7")
    assert code == -signal.SIGKILL
    [run_dir] = _run_dirs(base)
    assert sorted(os.listdir(base / run_dir)) == sorted(
        [rt.LEDGER_NAME, "args.json", "step_4", "step_6"]
    )

    code, second = _run(script, base)  # the scheduler's retry: same command
    assert code == 0
    assert _run_dirs(base) == [run_dir]  # found its own dir, not a new timestamped one
    assert second["start"] == 6 and second["end"] == 10

    code, clean = _run(script, tmp_path / "uninterrupted")
    assert code == 0
    assert clean["start"] == 0 and clean["weight"] == second["weight"]
    assert clean["run_id"] == second["run_id"]

    ledger = rt.read_ledger(base / run_dir)
    assert [a["attempt"] for a in ledger["attempts"]] == [1, 2]
    assert ledger["attempts"][1]["resumed_from"].endswith("step_6")
    assert [c["step"] for c in ledger["checkpoints"]] == [2, 4, 6, 8, 10]


def test_killed_inside_a_save_resumes_from_the_last_complete_step(
    script: Path, tmp_path: Path
) -> None:
    base = tmp_path / "runs"
    code, _ = _run(script, base, DIE_IN_SAVE="8")
    assert code == -signal.SIGKILL
    [run_dir] = _run_dirs(base)
    out = base / run_dir
    assert "step_8.tmp" in os.listdir(out) and "step_8" not in os.listdir(out)
    assert rt.find_latest_complete(out) == str(out / "step_6")

    code, second = _run(script, base)
    assert code == 0 and second["start"] == 6
    assert sorted(n for n in os.listdir(out) if n.startswith("step_")) == ["step_10", "step_8"]


def test_same_command_same_dir_other_hyperparameters_other_dir(
    script: Path, tmp_path: Path
) -> None:
    base = tmp_path / "runs"
    _, first = _run(script, base, "--lr", "0.1", STOP_AFTER="1")
    _, per_rank = _run(script, base, "--lr", "0.1", "--local_rank", "3", STOP_AFTER="1")
    _, other = _run(script, base, "--lr", "0.2", STOP_AFTER="1")
    assert first["out"] == per_rank["out"]
    assert first["out"] != other["out"]
    assert len(_run_dirs(base)) == 2


def test_lost_checkpoints_stop_the_retry_and_fresh_start_deletes_nothing(
    script: Path, tmp_path: Path
) -> None:
    base = tmp_path / "runs"
    code, _ = _run(script, base, DIE_AT="7")
    assert code == -signal.SIGKILL
    [run_dir] = _run_dirs(base)
    out = base / run_dir
    for name in os.listdir(out):
        if name.startswith("step_"):
            rt.remove_tree(out / name)

    code, refused = _run(script, base)
    assert code == 3
    assert "ledger" in refused["error"] and "step_6" in refused["error"]
    assert rt.FRESH_START_ENV in refused["error"]

    (out / "notes.txt").write_text("keep me")
    (out / "step_99").mkdir()  # an unexplained incomplete dir: must survive a fresh start
    before = sorted(os.listdir(out))
    code, fresh = _run(script, base, STOP_AFTER="1", **{rt.FRESH_START_ENV: "1"})
    assert code == 0 and fresh["start"] == 0 and fresh["out"] == str(out)
    assert sorted(os.listdir(out)) == before
    assert (out / "notes.txt").read_text() == "keep me"
    attempts = rt.read_ledger(out)["attempts"]
    assert [a["fresh_start"] for a in attempts] == [False, True]


def test_retry_of_an_attempt_that_never_committed_starts_over(script: Path, tmp_path: Path) -> None:
    base = tmp_path / "runs"
    code, _ = _run(script, base, DIE_AT="1")  # dies before its first checkpoint
    assert code == -signal.SIGKILL
    code, second = _run(script, base)
    assert code == 0 and second["start"] == 0 and second["end"] == 10


def test_a_foreign_non_empty_dir_is_refused(script: Path, tmp_path: Path) -> None:
    base = tmp_path / "runs"
    _, probe = _run(script, tmp_path / "probe", STOP_AFTER="1")
    out = base / os.path.basename(probe["out"])
    out.mkdir(parents=True)
    (out / "pytorch_model.bin").write_text("someone else's model")
    code, refused = _run(script, base)
    assert code == 3
    assert "exists and is not empty" in refused["error"]
    assert "pytorch_model.bin" in refused["error"]
