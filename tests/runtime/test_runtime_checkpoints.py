"""Completion markers, listing, latest-complete lookup, and atomic checkpoint dirs."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ckpt_lint import runtime as rt


@pytest.mark.parametrize(
    ("name", "step"),
    [
        ("step_100", 100),
        ("checkpoint-100", 100),
        ("global_step100", 100),
        ("step-100", 100),
        ("step100", 100),
        ("iter_0000100", 100),
        ("ckpt_100", 100),
        ("epoch_3", 3),
        ("100", 100),
        ("steps_7", 7),
        ("step_100.tmp", None),
        ("tmp-checkpoint-100", None),
        ("best_model", None),
        ("run3", None),
    ],
)
def test_parse_step(name: str, step: int | None) -> None:
    assert rt.parse_step(name) == step
    assert rt.parse_step(f"/some/dir/{name}/") == step


@pytest.mark.parametrize("marker", rt.COMPLETION_MARKERS)
def test_every_known_marker_makes_a_dir_complete(tmp_path: Path, marker: str) -> None:
    path = tmp_path / "step_1"
    path.mkdir()
    assert not rt.is_complete(path)
    (path / marker).write_text("")
    assert rt.is_complete(path)
    assert not rt.is_complete(path, markers=[m for m in rt.COMPLETION_MARKERS if m != marker])


def test_expected_third_party_markers_are_known() -> None:
    assert rt.COMPLETE_MARKER == ".ckpt_complete"
    for marker in (
        "COMPLETED",
        ".metadata",
        ".metadata.json",
        "commit_success.txt",
        "latest",
        "trainer_state.json",
    ):
        assert marker in rt.COMPLETION_MARKERS


def test_nested_marker_does_not_count(tmp_path: Path) -> None:
    # accelerate + FSDP: the model's DCP dir finishes before the optimizer's files are written
    (tmp_path / "step_1" / "pytorch_model_fsdp_0").mkdir(parents=True)
    (tmp_path / "step_1" / "pytorch_model_fsdp_0" / ".metadata").write_text("")
    assert not rt.is_complete(tmp_path / "step_1")


def test_marker_dir_is_not_a_marker_file(tmp_path: Path) -> None:
    (tmp_path / "step_1" / "latest").mkdir(parents=True)
    assert not rt.is_complete(tmp_path / "step_1")


def test_deepspeed_pointer_in_the_parent(tmp_path: Path) -> None:
    for step in (100, 200, 300):
        (tmp_path / f"global_step{step}").mkdir()
    (tmp_path / "latest").write_text("global_step200")
    complete = {Path(c.path).name: c.complete for c in rt.list_checkpoints(tmp_path)}
    assert complete == {"global_step100": True, "global_step200": True, "global_step300": False}
    assert rt.find_latest_complete(tmp_path) == str(tmp_path / "global_step200")
    assert not rt.is_complete(
        tmp_path / "global_step300", markers=[rt.COMPLETE_MARKER, "COMPLETED"]
    )
    assert not rt.is_complete(tmp_path / "global_step100", markers=[rt.COMPLETE_MARKER])


def test_list_checkpoints_sorted_by_step_without_tmp_or_other_entries(tmp_path: Path) -> None:
    for name in ("step_20", "step_3", "step_100"):
        (tmp_path / name).mkdir()
    rt.mark_complete(tmp_path / "step_20")
    (tmp_path / "step_200.tmp").mkdir()
    (tmp_path / "step_300").write_text("a file, not a checkpoint dir")
    (tmp_path / "logs").mkdir()
    listed = rt.list_checkpoints(tmp_path)
    assert [(c.step, Path(c.path).name, c.complete) for c in listed] == [
        (3, "step_3", False),
        (20, "step_20", True),
        (100, "step_100", False),
    ]
    assert listed[0] == (3, str(tmp_path / "step_3"), False)
    assert rt.list_checkpoints(tmp_path / "missing") == []


def test_find_latest_complete_prefers_step_checkpoints_over_epochs(tmp_path: Path) -> None:
    for name in ("epoch_7", "step_500", "step_900"):
        (tmp_path / name).mkdir()
        rt.mark_complete(tmp_path / name)
    assert rt.find_latest_complete(tmp_path) == str(tmp_path / "step_900")
    rt.remove_tree(tmp_path / "step_500")
    rt.remove_tree(tmp_path / "step_900")
    assert rt.find_latest_complete(tmp_path) == str(tmp_path / "epoch_7")
    assert rt.find_latest_complete(tmp_path / "missing") is None


def test_mark_complete_writes_a_whole_marker_atomically(tmp_path: Path) -> None:
    path = tmp_path / "step_12"
    path.mkdir()
    assert rt.mark_complete(path, fsync_contents=True) is True
    payload = json.loads((path / rt.COMPLETE_MARKER).read_text())
    assert payload["step"] == 12 and payload["runtime_version"] == rt.RUNTIME_VERSION
    assert sorted(os.listdir(path)) == [rt.COMPLETE_MARKER]  # no tmp file left behind
    with pytest.raises(NotADirectoryError):
        rt.mark_complete(tmp_path / "step_13")


def test_mark_complete_only_on_the_committer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "step_1"
    path.mkdir()
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert rt.mark_complete(path) is False
    assert not rt.is_complete(path)


def test_atomic_dir_commits_on_clean_exit(tmp_path: Path) -> None:
    final = tmp_path / "run" / "step_5"
    with rt.atomic_checkpoint_dir(final) as tmp:
        assert tmp == str(final) + ".tmp"
        assert not final.exists()
        assert rt.list_checkpoints(tmp_path / "run") == []  # not visible while being written
        Path(tmp, "model.bin").write_text("weights")
    assert rt.is_complete(final)
    assert (final / "model.bin").read_text() == "weights"
    assert not Path(str(final) + ".tmp").exists()
    assert rt.find_latest_complete(tmp_path / "run") == str(final)


def test_atomic_dir_leaves_final_untouched_on_error(tmp_path: Path) -> None:
    final = tmp_path / "step_5"
    with rt.atomic_checkpoint_dir(final) as tmp:
        Path(tmp, "model.bin").write_text("v1")
    with pytest.raises(RuntimeError, match="disk full"), rt.atomic_checkpoint_dir(final) as tmp:
        Path(tmp, "model.bin").write_text("v2-partial")
        raise RuntimeError("disk full")
    assert (final / "model.bin").read_text() == "v1"
    assert rt.is_complete(final)
    assert Path(str(final) + ".tmp").exists()  # kept for inspection; not a checkpoint

    with pytest.raises(RuntimeError), rt.atomic_checkpoint_dir(tmp_path / "step_6"):
        raise RuntimeError("crash before anything was written")
    assert not (tmp_path / "step_6").exists()
    assert rt.find_latest_complete(tmp_path) == str(final)


def test_atomic_dir_replaces_an_older_save_of_the_same_step(tmp_path: Path) -> None:
    final = tmp_path / "step_5"
    with rt.atomic_checkpoint_dir(final) as tmp:
        Path(tmp, "old_only.bin").write_text("v1")
    with rt.atomic_checkpoint_dir(final) as tmp:
        Path(tmp, "model.bin").write_text("v2")
    assert sorted(os.listdir(final)) == sorted([rt.COMPLETE_MARKER, "model.bin"])
    assert sorted(os.listdir(tmp_path)) == ["step_5"]


def test_atomic_dir_clears_a_stale_tmp_in_a_single_process(tmp_path: Path) -> None:
    final = tmp_path / "step_5"
    stale = Path(str(final) + ".tmp")
    stale.mkdir()
    (stale / "from_crashed_attempt.bin").write_text("stale")
    with rt.atomic_checkpoint_dir(final) as tmp:
        Path(tmp, "model.bin").write_text("fresh")
    assert sorted(os.listdir(final)) == sorted([rt.COMPLETE_MARKER, "model.bin"])


def test_atomic_dir_multi_rank_roles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    final = tmp_path / "step_5"
    stale = Path(str(final) + ".tmp")
    stale.mkdir()
    (stale / "shard_1.bin").write_text("written by rank 1 already")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    with rt.atomic_checkpoint_dir(final) as tmp:  # a non-committer: writes, never renames
        assert tmp == str(stale)
    assert not final.exists()
    monkeypatch.setenv("RANK", "0")
    with rt.atomic_checkpoint_dir(final) as tmp:  # the committer must not wipe rank 1's shard
        Path(tmp, "shard_0.bin").write_text("rank 0")
    assert sorted(os.listdir(final)) == sorted([rt.COMPLETE_MARKER, "shard_0.bin", "shard_1.bin"])
