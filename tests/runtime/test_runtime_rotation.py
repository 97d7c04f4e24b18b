"""rotate_checkpoints: unit behaviour, and 8 real processes rotating the same dir at once."""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
from pathlib import Path

import pytest

from ckpt_lint import runtime as rt
from tests.runtime import workers

PROCESSES = 8
ROUNDS = 50


def _ckpt(root: Path, name: str, complete: bool = True, marker: str = rt.COMPLETE_MARKER) -> Path:
    path = root / name
    (path / "shard").mkdir(parents=True)
    (path / "shard" / "weights.bin").write_text(name)
    if complete:
        (path / marker).write_text("")
    return path


def _names(root: Path) -> set[str]:
    return {p.name for p in root.iterdir()}


def test_keeps_newest_complete_by_step_number_not_name_or_mtime(tmp_path: Path) -> None:
    # created newest-first so mtime order is the reverse of step order
    for step in (1000, 200, 30, 4):
        _ckpt(tmp_path, f"step_{step}")
    deleted = rt.rotate_checkpoints(tmp_path, keep=2)
    assert sorted(deleted) == sorted(str(tmp_path / f"step_{s}") for s in (4, 30))
    assert _names(tmp_path) == {"step_200", "step_1000"}


def test_naming_styles_share_one_step_numbering(tmp_path: Path) -> None:
    for name in ("checkpoint-100", "global_step200", "step-300", "iter_0000400", "ckpt_500"):
        _ckpt(tmp_path, name)
    rt.rotate_checkpoints(tmp_path, keep=2)
    assert _names(tmp_path) == {"iter_0000400", "ckpt_500"}


def test_never_deletes_newest_complete_or_anything_newer(tmp_path: Path) -> None:
    _ckpt(tmp_path, "step_10")
    _ckpt(tmp_path, "step_20")
    _ckpt(tmp_path, "step_30", complete=False)  # being written
    (tmp_path / "step_40.tmp").mkdir()  # being written by atomic_checkpoint_dir
    deleted = rt.rotate_checkpoints(tmp_path, keep=0)  # 0 counts as 1
    assert deleted == [str(tmp_path / "step_10")]
    assert _names(tmp_path) == {"step_20", "step_30", "step_40.tmp"}


def test_leftovers_older_than_the_kept_checkpoints_are_cleared(tmp_path: Path) -> None:
    _ckpt(tmp_path, "step_5", complete=False)
    (tmp_path / "step_6.tmp").mkdir()
    _ckpt(tmp_path, "step_10")
    _ckpt(tmp_path, "step_15", complete=False)  # between kept ones: untouched
    _ckpt(tmp_path, "step_20")
    rt.rotate_checkpoints(tmp_path, keep=2)
    assert _names(tmp_path) == {"step_10", "step_15", "step_20"}


def test_negative_keep_keeps_everything(tmp_path: Path) -> None:
    for step in (1, 2, 3):
        _ckpt(tmp_path, f"step_{step}")
    assert rt.rotate_checkpoints(tmp_path, keep=-1) == []
    assert len(_names(tmp_path)) == 3


def test_epoch_and_step_families_rotate_separately(tmp_path: Path) -> None:
    for name in ("epoch_1", "epoch_2", "epoch_3", "step_100", "step_200"):
        _ckpt(tmp_path, name)
    rt.rotate_checkpoints(tmp_path, keep=1)
    assert _names(tmp_path) == {"epoch_3", "step_200"}


def test_non_deleting_process_returns_empty_and_deletes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for step in (1, 2, 3):
        _ckpt(tmp_path, f"step_{step}")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert rt.rotate_checkpoints(tmp_path, keep=1) == []
    assert len(_names(tmp_path)) == 3
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("LOCAL_RANK", "0")
    assert len(rt.rotate_checkpoints(tmp_path, keep=1)) == 2


def test_local_main_deletes_only_when_storage_is_node_local(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for step in (1, 2):
        _ckpt(tmp_path, f"step_{step}")
    monkeypatch.setenv("RANK", "8")
    monkeypatch.setenv("WORLD_SIZE", "16")
    monkeypatch.setenv("LOCAL_RANK", "0")
    assert rt.rotate_checkpoints(tmp_path, keep=1) == []
    monkeypatch.setenv(rt.SHARED_FS_ENV, "0")
    assert rt.rotate_checkpoints(tmp_path, keep=1) == [str(tmp_path / "step_1")]


def test_marker_is_removed_before_the_tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _ckpt(tmp_path, "step_1")
    _ckpt(tmp_path, "step_2")

    def interrupted(path: object) -> bool:
        raise OSError("simulated crash during deletion")

    monkeypatch.setattr(rt, "remove_tree", interrupted)
    with pytest.raises(OSError, match="simulated"):
        rt.rotate_checkpoints(tmp_path, keep=1)
    # the half-deleted dir no longer looks complete, so nothing can resume from it
    assert (tmp_path / "step_1").is_dir()
    assert not rt.is_complete(tmp_path / "step_1")
    assert rt.find_latest_complete(tmp_path) == str(tmp_path / "step_2")


def test_third_party_markers_count_and_are_invalidated(tmp_path: Path) -> None:
    old = _ckpt(tmp_path, "checkpoint-1", marker="trainer_state.json")
    _ckpt(tmp_path, "checkpoint-2", marker=".metadata")
    assert rt.rotate_checkpoints(tmp_path, keep=1) == [str(old)]
    assert not old.exists()


def test_symlinked_checkpoint_loses_the_link_not_the_target(tmp_path: Path) -> None:
    elsewhere = _ckpt(tmp_path / "elsewhere", "real")
    out = tmp_path / "out"
    out.mkdir()
    (out / "step_1").symlink_to(elsewhere, target_is_directory=True)
    _ckpt(out, "step_2")
    assert rt.rotate_checkpoints(out, keep=1) == [str(out / "step_1")]
    assert not os.path.lexists(out / "step_1")
    assert rt.is_complete(elsewhere)


def test_no_marker_anywhere_deletes_nothing_and_warns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    for step in (1, 2, 3):
        _ckpt(tmp_path, f"checkpoint-{step}", complete=False)
    with caplog.at_level(logging.WARNING, logger=rt.__name__):
        assert rt.rotate_checkpoints(tmp_path, keep=1) == []
    assert "none is marked complete" in caplog.text
    assert len(_names(tmp_path)) == 3


def test_missing_output_dir_is_a_no_op(tmp_path: Path) -> None:
    assert rt.rotate_checkpoints(tmp_path / "missing", keep=1) == []


def _run_harness(root: Path, modes: list[str]) -> dict[str, list[dict]]:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(PROCESSES, timeout=300)
    results = ctx.Queue()
    procs = [
        ctx.Process(
            target=workers.rotation_worker,
            args=(rank, PROCESSES, str(root), modes, ROUNDS, barrier, results),
        )
        for rank in range(PROCESSES)
    ]
    for proc in procs:
        proc.start()
    collected: dict[str, list[dict]] = {mode: [] for mode in modes}
    try:
        for _ in range(PROCESSES * len(modes)):
            item = results.get(timeout=600)
            collected[item["mode"]].append(item)
    except queue.Empty:
        pytest.fail("a rotation worker died or hung")
    finally:
        for proc in procs:
            proc.join(timeout=60)
            if proc.is_alive():
                proc.kill()
    assert all(proc.exitcode == 0 for proc in procs)
    return collected


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict]]:
    # one pool of 8 long-lived processes runs all three modes, 50 rounds each
    root = tmp_path_factory.mktemp("rotation")
    env_backup = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("CKPT_LINT_")}
    try:
        return _run_harness(root, ["gated", "per_node", "plain_rmtree"])
    finally:
        os.environ.update(env_backup)


def test_eight_processes_rotating_with_real_ranks(harness: dict[str, list[dict]]) -> None:
    reports = harness["gated"]
    assert len(reports) == PROCESSES
    assert [e for r in reports for e in r["errors"]] == []
    assert [p for r in reports for p in r["problems"]] == []
    for report in reports:
        assert len(report["returned"]) == ROUNDS
        deleting = report["rank"] == 0
        # rank 0 deletes 4 dirs a round after the first; the other ranks never touch anything
        assert all(bool(r) == (deleting and i > 0) for i, r in enumerate(report["returned"]))


def test_eight_processes_all_deleting_the_same_dirs_concurrently(
    harness: dict[str, list[dict]],
) -> None:
    # the seed bug: every process is "local main" and all delete the same shared dirs
    reports = harness["per_node"]
    assert len(reports) == PROCESSES
    assert [e for r in reports for e in r["errors"]] == []
    assert [p for r in reports for p in r["problems"]] == []
    overlapping_rounds = 0
    for round_index in range(1, ROUNDS):
        lists = [r["returned"][round_index] for r in reports]
        first, second, partial, tmp_step = workers.round_steps(round_index - 1)
        expected = {f"step_{first}", f"step_{second}", f"step_{partial}", f"step_{tmp_step}.tmp"}
        seen = [{os.path.basename(p) for p in victims} for victims in lists]
        # nobody planned to delete anything else; together they covered every victim
        assert all(names <= expected for names in seen)
        assert set().union(*seen) == expected
        overlapping_rounds += sum(bool(victims) for victims in lists) > 1
    # several processes really did delete the same dirs at the same time
    assert overlapping_rounds > 0


def test_control_plain_rmtree_by_every_process_crashes(harness: dict[str, list[dict]]) -> None:
    # proves the harness can fail: the same race with shutil.rmtree loses processes
    errors = [e for r in harness["plain_rmtree"] for e in r["errors"]]
    assert len(errors) > 0
    assert any(e.startswith("FileNotFoundError") for e in errors)
