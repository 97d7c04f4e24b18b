"""Strict resume: the policy table (one test per row), check_fresh_start, and the ledger."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ckpt_lint import runtime as rt
from tests.runtime.conftest import clean_environ


def _ckpt(root: Path, name: str, complete: bool = True) -> Path:
    path = root / name
    path.mkdir(parents=True)
    (path / "model.bin").write_text(name)
    if complete:
        rt.mark_complete(path)
    return path


def _snapshot(root: Path) -> dict[str, str]:
    """Every path under root (ledger excluded) with its content, to prove nothing was deleted."""
    found = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs:
            found[os.path.relpath(os.path.join(dirpath, name), root)] = "<dir>"
        for name in files:
            if name.startswith(rt.LEDGER_NAME):
                continue
            full = os.path.join(dirpath, name)
            found[os.path.relpath(full, root)] = Path(full).read_text()
    return found


def _ledger_with(root: Path, attempts: int = 1, checkpoints: list[str] | None = None) -> None:
    """An earlier attempt's ledger, as another process would have left it."""
    ledger = rt.read_ledger(root)
    for number in range(1, attempts + 1):
        ledger["attempts"].append({"attempt": number, "time": 0.0, "pid": 1})
    for path in checkpoints or []:
        ledger["checkpoints"].append({"path": path, "step": rt.parse_step(path), "attempt": 1})
    root.mkdir(parents=True, exist_ok=True)
    (root / rt.LEDGER_NAME).write_text(json.dumps(ledger))


# --- row: resume given as a path -> must exist and be complete, else error -------------------


def test_row_path_complete_is_used(tmp_path: Path) -> None:
    ckpt = _ckpt(tmp_path, "step_5")
    assert rt.resolve_resume(tmp_path, str(ckpt)) == str(ckpt)
    assert rt.resolve_resume(tmp_path, ckpt) == str(ckpt)  # PathLike too


def test_row_path_missing_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(rt.ResumeError, match="does not exist"):
        rt.resolve_resume(tmp_path, str(tmp_path / "step_9"))


def test_row_path_incomplete_is_an_error(tmp_path: Path) -> None:
    ckpt = _ckpt(tmp_path, "step_5", complete=False)
    with pytest.raises(rt.ResumeError, match="not complete"):
        rt.resolve_resume(tmp_path, str(ckpt))


def test_row_path_is_checked_even_with_fresh_start(tmp_path: Path) -> None:
    with pytest.raises(rt.ResumeError, match="does not exist"):
        rt.resolve_resume(tmp_path, str(tmp_path / "gone"), fresh_start=True)


def test_row_path_to_an_output_dir_points_at_its_latest(tmp_path: Path) -> None:
    _ckpt(tmp_path, "step_5")
    with pytest.raises(rt.ResumeError, match="latest complete checkpoint is .*step_5"):
        rt.resolve_resume(tmp_path, str(tmp_path))


# --- row: resume requested and a complete checkpoint exists -> use it -------------------------


@pytest.mark.parametrize("requested", [True, "latest", "LATEST"])
def test_row_requested_uses_latest_complete(tmp_path: Path, requested: object) -> None:
    _ckpt(tmp_path, "step_5")
    newest = _ckpt(tmp_path, "step_10")
    _ckpt(tmp_path, "step_15", complete=False)
    assert rt.resolve_resume(tmp_path, requested) == str(newest)


# --- row: resume requested, none exists -> error unless fresh start is explicit ---------------


def test_row_requested_without_checkpoint_is_an_error(tmp_path: Path) -> None:
    _ckpt(tmp_path, "step_5", complete=False)
    with pytest.raises(rt.ResumeError) as info:
        rt.resolve_resume(tmp_path, True)
    assert "no complete checkpoint" in str(info.value)
    assert "step_5" in str(info.value) and rt.FRESH_START_ENV in str(info.value)


def test_row_requested_on_missing_dir_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(rt.ResumeError, match="does not exist"):
        rt.resolve_resume(tmp_path / "nope", "latest")


def test_row_requested_with_fresh_start_proceeds(tmp_path: Path) -> None:
    assert rt.resolve_resume(tmp_path, True, fresh_start=True) is None


# --- row: auto, dir missing or empty (ignoring logs) -> None ----------------------------------


def test_row_auto_missing_dir_is_a_first_run(tmp_path: Path) -> None:
    assert rt.resolve_resume(tmp_path / "new") is None
    assert rt.resolve_resume(tmp_path / "new2", "auto") is None


def test_row_auto_existing_empty_dir_is_a_first_run(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    assert rt.resolve_resume(tmp_path / "out") is None


def test_row_auto_logs_only_is_a_first_run(tmp_path: Path) -> None:
    out = tmp_path / "out"
    for name in ("logs", "runs", "wandb", ".hydra"):
        (out / name).mkdir(parents=True)
    for name in ("train.log", "events.out.tfevents.1700000000.host", ".DS_Store", "slurm-1.out"):
        (out / name).write_text("x")
    assert rt.resolve_resume(out, False) is None


# --- row: auto, complete checkpoint present -> resume from it (not in the table's words) ------


def test_row_auto_resumes_latest_complete_skipping_newer_incomplete(tmp_path: Path) -> None:
    newest = _ckpt(tmp_path, "checkpoint-200")
    _ckpt(tmp_path, "checkpoint-100")
    _ckpt(tmp_path, "checkpoint-300", complete=False)
    (tmp_path / "checkpoint-400.tmp").mkdir()
    assert rt.resolve_resume(tmp_path) == str(newest)


# --- row: auto, ledger shows a committed checkpoint, none found -> error ----------------------


def test_row_auto_ledger_committed_but_nothing_found(tmp_path: Path) -> None:
    _ledger_with(tmp_path, attempts=1, checkpoints=["step_2000"])
    with pytest.raises(rt.ResumeError) as info:
        rt.resolve_resume(tmp_path)
    text = str(info.value)
    assert "ledger" in text and "step_2000" in text and "wrong output dir" in text
    assert rt.FRESH_START_ENV in text


# --- row: auto, only incomplete checkpoint dirs -> error listing them ------------------------


def test_row_auto_only_incomplete_dirs(tmp_path: Path) -> None:
    _ckpt(tmp_path, "step_100", complete=False)
    _ckpt(tmp_path, "step_200", complete=False)
    with pytest.raises(rt.ResumeError) as info:
        rt.resolve_resume(tmp_path)
    assert "incomplete" in str(info.value)
    assert "step_100" in str(info.value) and "step_200" in str(info.value)


def test_row_auto_only_incomplete_dirs_even_on_a_retry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a dir without a marker may be a complete checkpoint of a framework that writes none
    _ckpt(tmp_path, "step_100", complete=False)
    monkeypatch.setenv("SLURM_RESTART_COUNT", "1")
    with pytest.raises(rt.ResumeError, match="incomplete"):
        rt.resolve_resume(tmp_path)


# --- row: auto, non-empty, no checkpoint, not a retry -> error --------------------------------


def test_row_auto_non_empty_not_a_retry(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "train.log").write_text("x")
    with pytest.raises(rt.ResumeError) as info:
        rt.resolve_resume(tmp_path)
    text = str(info.value)
    assert "exists and is not empty" in text and "fresh-start flag or another dir" in text
    assert "config.json" in text and rt.FRESH_START_ENV in text
    assert "train.log" not in text  # logs are not what made it non-empty


def test_row_auto_unfinished_tmp_dirs_without_a_ledger(tmp_path: Path) -> None:
    (tmp_path / "step_100.tmp").mkdir()
    with pytest.raises(rt.ResumeError, match=r"step_100\.tmp"):
        rt.resolve_resume(tmp_path)


# --- row: auto, a retry whose earlier attempt never committed -> None with an info log --------


def test_row_auto_retry_by_ledger(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    _ledger_with(tmp_path, attempts=1)
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "step_2.tmp").mkdir()  # it died while writing its first checkpoint
    with caplog.at_level(logging.INFO, logger=rt.__name__):
        assert rt.resolve_resume(tmp_path) is None
    assert "never committed" in caplog.text


@pytest.mark.parametrize("variable", ["SLURM_RESTART_COUNT", "TORCHELASTIC_RESTART_COUNT"])
def test_row_auto_retry_by_restart_counter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    (tmp_path / "config.json").write_text("{}")
    monkeypatch.setenv(variable, "0")
    with pytest.raises(rt.ResumeError):
        rt.resolve_resume(tmp_path)
    monkeypatch.setenv(variable, "1")
    assert rt.resolve_resume(tmp_path) is None


def test_this_process_own_attempt_is_not_a_retry(tmp_path: Path) -> None:
    assert rt.resolve_resume(tmp_path / "out") is None  # records attempt 1
    (tmp_path / "out" / "config.json").write_text("{}")
    with pytest.raises(rt.ResumeError, match="not empty"):
        rt.resolve_resume(tmp_path / "out")


# --- row: fresh start explicit -> None, and never deletes anything ---------------------------


def _messy(root: Path) -> None:
    _ckpt(root, "step_10")
    _ckpt(root, "step_20", complete=False)
    (root / "step_30.tmp").mkdir()
    (root / "config.json").write_text("{}")
    _ledger_with(root, attempts=1, checkpoints=["step_10"])


def test_row_fresh_start_argument(tmp_path: Path) -> None:
    _messy(tmp_path)
    before = _snapshot(tmp_path)
    assert rt.resolve_resume(tmp_path, fresh_start=True) is None
    rt.check_fresh_start(
        tmp_path, "x", fresh_start=True
    )  # no ResumeError: a fresh start is allowed
    assert _snapshot(tmp_path) == before


@pytest.mark.parametrize("value", ["1", "true", "YES"])
def test_row_fresh_start_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    _messy(tmp_path)
    before = _snapshot(tmp_path)
    monkeypatch.setenv(rt.FRESH_START_ENV, value)
    assert rt.resolve_resume(tmp_path) is None
    rt.check_fresh_start(
        tmp_path, "x", resume_requested=True
    )  # no ResumeError: a fresh start is allowed
    assert _snapshot(tmp_path) == before
    attempts = rt.read_ledger(tmp_path)["attempts"]
    assert attempts[-1]["fresh_start"] is True


def test_fresh_start_env_zero_is_not_fresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "config.json").write_text("{}")
    monkeypatch.setenv(rt.FRESH_START_ENV, "0")
    with pytest.raises(rt.ResumeError):
        rt.resolve_resume(tmp_path)


def test_fresh_start_on_a_retry_with_checkpoints_warns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _ckpt(tmp_path, "step_10")
    monkeypatch.setenv("SLURM_RESTART_COUNT", "2")
    with caplog.at_level(logging.WARNING, logger=rt.__name__):
        assert rt.resolve_resume(tmp_path, fresh_start=True) is None
    assert "every retry restarts from scratch" in caplog.text


def test_fresh_start_with_existing_checkpoints_warns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _ckpt(tmp_path, "step_10")
    with caplog.at_level(logging.WARNING, logger=rt.__name__):
        assert rt.resolve_resume(tmp_path, fresh_start=True) is None
    assert "already holds complete checkpoints" in caplog.text
    assert "every retry" not in caplog.text


def test_a_fresh_start_forgets_earlier_commits(tmp_path: Path) -> None:
    _ledger_with(tmp_path, attempts=1, checkpoints=["step_6"])
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(rt.ResumeError, match="step_6"):
        rt.resolve_resume(tmp_path, record=False)
    assert rt.resolve_resume(tmp_path, fresh_start=True) is None  # records a fresh attempt
    rt._RECORDED_ATTEMPTS.clear()  # the fresh run crashed before committing; its retry:
    assert rt.resolve_resume(tmp_path) is None


# --- check_fresh_start -----------------------------------------------------------------------


MESSAGE = "Output directory exists but no checkpoint found. Starting from scratch."


def test_check_fresh_start_allows_first_runs(tmp_path: Path) -> None:
    rt.check_fresh_start(tmp_path / "missing", MESSAGE)  # no ResumeError: a fresh start is allowed
    (tmp_path / "empty").mkdir()  # open_instruct makes its output dir before looking
    rt.check_fresh_start(tmp_path / "empty", MESSAGE)  # no ResumeError: a fresh start is allowed


def test_check_fresh_start_allows_a_retry_that_never_committed(tmp_path: Path) -> None:
    _ledger_with(tmp_path, attempts=2)
    (tmp_path / "config.json").write_text("{}")
    rt.check_fresh_start(tmp_path, MESSAGE)  # no ResumeError: a fresh start is allowed


def test_check_fresh_start_refuses_unexplained_content(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(rt.ResumeError) as info:
        rt.check_fresh_start(tmp_path, MESSAGE)
    assert str(info.value).startswith(MESSAGE)
    assert "config.json" in str(info.value)


def test_check_fresh_start_refuses_when_a_checkpoint_was_missed(tmp_path: Path) -> None:
    _ckpt(tmp_path, "epoch_3")  # e.g. the caller only looked for step_* dirs
    with pytest.raises(rt.ResumeError) as info:
        rt.check_fresh_start(tmp_path, MESSAGE)
    assert MESSAGE in str(info.value) and "epoch_3" in str(info.value)


def test_check_fresh_start_refuses_lost_checkpoints(tmp_path: Path) -> None:
    _ledger_with(tmp_path, attempts=1, checkpoints=["step_2000"])
    with pytest.raises(rt.ResumeError, match="step_2000"):
        rt.check_fresh_start(tmp_path, MESSAGE)


def test_check_fresh_start_refuses_when_resume_was_requested(tmp_path: Path) -> None:
    with pytest.raises(rt.ResumeError, match="resume was requested"):
        rt.check_fresh_start(tmp_path / "missing", MESSAGE, resume_requested=True)


def test_check_fresh_start_refuses_incomplete_dirs(tmp_path: Path) -> None:
    _ckpt(tmp_path, "step_100", complete=False)
    with pytest.raises(rt.ResumeError, match="step_100"):
        rt.check_fresh_start(tmp_path, MESSAGE)


def test_record_false_leaves_no_trace(tmp_path: Path) -> None:
    assert rt.resolve_resume(tmp_path / "out", record=False) is None
    rt.check_fresh_start(
        tmp_path / "out2", record=False
    )  # no ResumeError: a fresh start is allowed
    assert not (tmp_path / "out").exists() and not (tmp_path / "out2").exists()


def test_output_dir_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "out").write_text("x")
    with pytest.raises(rt.ResumeError, match="not a directory"):
        rt.resolve_resume(tmp_path / "out")


def test_remote_urls_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="local"):
        rt.resolve_resume("gs://bucket/run")


def test_non_main_env_rank_does_not_write_the_ledger(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RANK", "2")
    monkeypatch.setenv("WORLD_SIZE", "4")
    assert rt.resolve_resume(tmp_path / "out") is None
    assert not (tmp_path / "out").exists()


# --- ledger ----------------------------------------------------------------------------------


def test_ledger_records_attempts_and_checkpoints(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SLURM_JOB_ID", "42")
    entry = rt.record_attempt(tmp_path / "out")
    assert entry["attempt"] == 1 and entry["scheduler_id"] == "slurm:42"
    assert rt.record_attempt(tmp_path / "out") == entry  # idempotent within a process
    rt._RECORDED_ATTEMPTS.clear()  # as if a new process started
    assert rt.record_attempt(tmp_path / "out")["attempt"] == 2
    rt.record_checkpoint(tmp_path / "out", tmp_path / "out" / "step_7")
    rt.record_checkpoint(tmp_path / "out", "/elsewhere/global_step9", step=9)
    ledger = rt.read_ledger(tmp_path / "out")
    assert [a["attempt"] for a in ledger["attempts"]] == [1, 2]
    assert ledger["checkpoints"][0] == {**ledger["checkpoints"][0], "path": "step_7", "step": 7}
    assert ledger["checkpoints"][0]["attempt"] == 2
    assert ledger["checkpoints"][1]["path"] == "/elsewhere/global_step9"


def test_read_ledger_missing_is_empty(tmp_path: Path) -> None:
    assert rt.read_ledger(tmp_path / "nope") == {"version": 1, "attempts": [], "checkpoints": []}


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", '{"attempts": 3}', '{"attempts": [1]}'])
def test_read_ledger_corrupt_warns_and_is_empty(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, content: str
) -> None:
    (tmp_path / rt.LEDGER_NAME).write_text(content)
    with caplog.at_level(logging.WARNING, logger=rt.__name__):
        ledger = rt.read_ledger(tmp_path)
    assert ledger["attempts"] == [] and ledger["checkpoints"] == []
    assert "corrupt ledger" in caplog.text


def test_ledger_write_failure_leaves_the_old_ledger(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt.record_checkpoint(tmp_path, tmp_path / "step_1")
    before = (tmp_path / rt.LEDGER_NAME).read_text()

    def fail(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="No space"):
        rt.record_checkpoint(tmp_path, tmp_path / "step_2")
    monkeypatch.undo()
    assert (tmp_path / rt.LEDGER_NAME).read_text() == before
    assert os.listdir(tmp_path) == [rt.LEDGER_NAME]  # the tmp file was cleaned up


_KILLED_MID_WRITE = """
import os, sys
from ckpt_lint import runtime as rt
out = sys.argv[1]
real_replace = os.replace
def killed(src, dst):
    # the process dies after the tmp file is written and fsynced, before the rename
    assert open(src).read().count("step_2") == 1
    os._exit(9)
os.replace = killed
rt.record_checkpoint(out, os.path.join(out, "step_2"))
"""


def test_ledger_killed_mid_write_leaves_the_old_ledger(tmp_path: Path) -> None:
    rt.record_checkpoint(tmp_path, tmp_path / "step_1")
    before = (tmp_path / rt.LEDGER_NAME).read_text()
    result = subprocess.run(
        [sys.executable, "-c", _KILLED_MID_WRITE, str(tmp_path)],
        env=clean_environ(),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 9, result.stderr
    assert (tmp_path / rt.LEDGER_NAME).read_text() == before
    leftovers = [n for n in os.listdir(tmp_path) if n != rt.LEDGER_NAME]
    assert len(leftovers) == 1 and leftovers[0].startswith(rt.LEDGER_NAME + ".tmp")
    assert [c["path"] for c in rt.read_ledger(tmp_path)["checkpoints"]] == ["step_1"]
    # the leftover tmp file does not make the dir look non-empty
    _ckpt(tmp_path, "step_1")
    rt._RECORDED_ATTEMPTS.clear()
    assert rt.resolve_resume(tmp_path) == str(tmp_path / "step_1")


def test_custom_markers_for_frameworks_that_write_none(tmp_path: Path) -> None:
    # e.g. a save_state() whose last file is known to the script
    (tmp_path / "step_3").mkdir()
    (tmp_path / "step_3" / "DONE").write_text("")
    with pytest.raises(rt.ResumeError, match="incomplete"):
        rt.resolve_resume(tmp_path, record=False)
    assert rt.resolve_resume(tmp_path, markers=["DONE"]) == str(tmp_path / "step_3")
    assert rt.resolve_resume(tmp_path, str(tmp_path / "step_3"), markers=["DONE"]) == str(
        tmp_path / "step_3"
    )
