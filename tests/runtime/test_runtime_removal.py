"""Tolerant deletion: "already gone" is success, every other error propagates."""

from __future__ import annotations

import errno
import os
import shutil
import sys
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

from ckpt_lint import runtime as rt


def _tree(root: Path) -> Path:
    for sub in ("a", "a/b", "c"):
        (root / sub).mkdir(parents=True, exist_ok=True)
        for index in range(3):
            (root / sub / f"f{index}").write_text("x")
    return root


def test_remove_tree_removes_and_reports(tmp_path: Path) -> None:
    tree = _tree(tmp_path / "t")
    assert rt.remove_tree(tree) is True
    assert not tree.exists()
    assert rt.remove_tree(tree) is False  # already gone: success, nothing removed


def test_file_vanishing_mid_walk_is_success(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tree = _tree(tmp_path / "t")
    real_unlink = os.unlink
    raced: list[str] = []

    def peer_got_there_first(path: Any, *args: Any, **kwargs: Any) -> None:
        # another process deletes the entry between our listing and our unlink
        if not raced:
            raced.append(os.fspath(path))
            real_unlink(path, *args, **kwargs)
        real_unlink(path, *args, **kwargs)

    monkeypatch.setattr(os, "unlink", peer_got_there_first)
    assert rt.remove_tree(tree) is True
    assert raced and not tree.exists()


def test_subdir_vanishing_before_scandir_is_success(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tree = _tree(tmp_path / "t")
    real_scandir = os.scandir

    def peer_removed_subtree(path: Any = ".") -> Any:
        if isinstance(path, (str, os.PathLike)) and os.fspath(path).endswith(os.sep + "a"):
            shutil.rmtree(path)
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", peer_removed_subtree)
    assert rt.remove_tree(tree) is True
    assert not tree.exists()


def test_dir_vanishing_before_rmdir_is_success(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tree = _tree(tmp_path / "t")
    real_rmdir = os.rmdir

    def peer_removed_dir(path: Any, *args: Any, **kwargs: Any) -> None:
        real_rmdir(path, *args, **kwargs)
        real_rmdir(path, *args, **kwargs)  # raises FileNotFoundError

    monkeypatch.setattr(os, "rmdir", peer_removed_dir)
    assert rt.remove_tree(tree) is True  # every rmdir "lost the race"; the files were ours
    assert not tree.exists()


def test_estale_mid_walk_is_success(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tree = _tree(tmp_path / "t")
    real_unlink = os.unlink

    def nfs_stale(path: Any, *args: Any, **kwargs: Any) -> None:
        real_unlink(path, *args, **kwargs)
        raise OSError(errno.ESTALE, os.strerror(errno.ESTALE), os.fspath(path))

    monkeypatch.setattr(os, "unlink", nfs_stale)
    rt.remove_tree(tree)
    assert not tree.exists()


def test_permission_error_mid_walk_propagates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # we run as root, so chmod cannot deny us: inject EACCES on one entry instead
    tree = _tree(tmp_path / "t")
    real_unlink = os.unlink
    victim = str(tree / "a" / "b" / "f1")

    def denied(path: Any, *args: Any, **kwargs: Any) -> None:
        full = os.fspath(path)
        if full == victim or ("dir_fd" in kwargs and full == "f1"):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), full)
        real_unlink(path, *args, **kwargs)

    monkeypatch.setattr(os, "unlink", denied)
    with pytest.raises(PermissionError):
        rt.remove_tree(tree)
    assert os.path.exists(victim)
    # the contrast: ignore_errors=True swallows the same error and leaves the tree behind
    shutil.rmtree(tree, ignore_errors=True)
    assert os.path.exists(victim)


def test_enotdir_propagates(tmp_path: Path) -> None:
    parent_file = tmp_path / "file"
    parent_file.write_text("x")
    with pytest.raises(NotADirectoryError):
        rt.remove_tree(parent_file / "sub")
    with pytest.raises(NotADirectoryError):
        rt.remove_file(parent_file / "sub")
    with pytest.raises(NotADirectoryError):
        rt.remove_tree(parent_file)  # a file is not a tree, as with shutil.rmtree


def test_symlink_top_level_is_refused_and_target_kept(tmp_path: Path) -> None:
    target = _tree(tmp_path / "target")
    link = tmp_path / "link"
    link.symlink_to(target, target_is_directory=True)
    with pytest.raises(OSError, match="symbolic link"):
        rt.remove_tree(link)
    assert (target / "a" / "f0").exists()


def test_symlinks_inside_are_unlinked_not_followed(tmp_path: Path) -> None:
    outside = _tree(tmp_path / "outside")
    tree = _tree(tmp_path / "t")
    (tree / "link").symlink_to(outside, target_is_directory=True)
    assert rt.remove_tree(tree)
    assert (outside / "a" / "b" / "f2").exists()


def test_deep_tree_needs_no_recursion(tmp_path: Path) -> None:
    top = tmp_path / "d"
    path = str(top)
    top.mkdir()
    for _ in range(150):
        path = os.path.join(path, "x")
        os.mkdir(path)
    frame: FrameType | None = sys._getframe()
    depth = 0
    while frame is not None:
        frame, depth = frame.f_back, depth + 1
    old_limit = sys.getrecursionlimit()
    # far fewer frames than tree levels: a recursive walk would raise RecursionError
    sys.setrecursionlimit(depth + 60)
    try:
        assert rt.remove_tree(top)
    finally:
        sys.setrecursionlimit(old_limit)
    assert not top.exists()


def test_remove_file_and_dir_are_tolerant(tmp_path: Path) -> None:
    target = tmp_path / "f"
    target.write_text("x")
    assert rt.remove_file(target) is True
    assert rt.remove_file(target) is False
    (tmp_path / "d").mkdir()
    assert rt.remove_dir(tmp_path / "d") is True
    assert rt.remove_dir(tmp_path / "d") is False


def test_remove_file_on_a_dir_and_rmdir_on_non_empty_raise(tmp_path: Path) -> None:
    full = _tree(tmp_path / "t")
    with pytest.raises(OSError):
        rt.remove_file(full)
    with pytest.raises(OSError) as info:
        rt.remove_dir(full)
    assert info.value.errno in (errno.ENOTEMPTY, errno.EEXIST)


def test_main_process_helpers_only_delete_on_the_deleting_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tree = _tree(tmp_path / "t")
    single = tmp_path / "single"
    single.write_text("x")
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("WORLD_SIZE", "8")
    monkeypatch.setenv("LOCAL_RANK", "3")
    assert rt.main_process_rmtree(tree) is False
    assert rt.main_process_remove(single) is False
    assert rt.main_process_rmdir(empty) is False
    assert tree.exists() and single.exists() and empty.exists()
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("LOCAL_RANK", "0")
    assert rt.main_process_rmtree(tree) is True
    assert rt.main_process_remove(single) is True
    assert rt.main_process_rmdir(empty) is True
    assert rt.main_process_rmtree(tree) is False  # second time: already gone, no error


def test_local_main_on_another_node_deletes_only_for_node_local_storage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tree = _tree(tmp_path / "t")
    monkeypatch.setenv("RANK", "8")
    monkeypatch.setenv("WORLD_SIZE", "16")
    monkeypatch.setenv("LOCAL_RANK", "0")
    assert rt.main_process_rmtree(tree) is False  # shared storage by default
    assert rt.main_process_rmtree(tree, shared_filesystem=True) is False
    assert rt.main_process_rmtree(tree, shared_filesystem=False) is True
