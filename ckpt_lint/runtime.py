"""Checkpoint/resume runtime that ckpt_lint's autofixes call into.

Three hazards keep costing distributed training jobs their progress:

* every rank (or one process per node) deleting the same old checkpoint, the losers crashing
  with ``FileNotFoundError`` (CKP002): use :func:`main_process_rmtree` and
  :func:`rotate_checkpoints`;
* output directories named after the wall clock, so a retry never finds its own checkpoints
  (CKP001): use :func:`stable_run_id` / :func:`stable_run_dir`;
* "no checkpoint found, starting from scratch" on a retry that lost its checkpoints (CKP003):
  use :func:`resolve_resume` / :func:`check_fresh_start`.

The module is one file that only needs the standard library, so it can be vendored into a
training repository (``ckpt-lint vendor-runtime open_instruct/ckpt_runtime.py``). It never
imports torch, JAX or numpy: an already-imported and initialized ``torch.distributed`` (or JAX)
is found through ``sys.modules`` and used as is; otherwise the launcher's environment variables
are read. "Env-only multi-process" in the docstrings below means several processes launched
together (torchrun, mpirun, srun, accelerate, deepspeed) that have not initialized a process
group, so each decides on its own from the environment and the filesystem.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import enum
import errno
import fnmatch
import hashlib
import json
import logging
import math
import os
import re
import socket
import stat
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import PurePath
from typing import Any, NamedTuple, TypeAlias

__all__ = [
    "COMPLETE_MARKER",
    "COMPLETION_MARKERS",
    "FRESH_START_ENV",
    "IGNORED_FOR_EMPTINESS",
    "LEDGER_NAME",
    "RUNTIME_VERSION",
    "SHARED_FS_ENV",
    "VOLATILE_KEYS",
    "CheckpointInfo",
    "ProcessInfo",
    "ResumeError",
    "atomic_checkpoint_dir",
    "check_fresh_start",
    "config_hash",
    "find_latest_complete",
    "is_complete",
    "is_deleting_process",
    "is_local_main_process",
    "is_main_process",
    "list_checkpoints",
    "main_process_remove",
    "main_process_rmdir",
    "main_process_rmtree",
    "mark_complete",
    "parse_step",
    "process_info",
    "read_ledger",
    "record_attempt",
    "record_checkpoint",
    "remove_dir",
    "remove_file",
    "remove_tree",
    "resolve_resume",
    "restart_count",
    "rotate_checkpoints",
    "scheduler_id",
    "stable_run_dir",
    "stable_run_id",
]

RUNTIME_VERSION = "1"

logger = logging.getLogger(__name__)

StrPath: TypeAlias = "str | os.PathLike[str]"

# ---------------------------------------------------------------------------------------------
# Public constants
# ---------------------------------------------------------------------------------------------

COMPLETE_MARKER = ".ckpt_complete"

# Our marker first, then third-party ones: each is written last by its framework's committer.
COMPLETION_MARKERS: tuple[str, ...] = (
    COMPLETE_MARKER,
    "COMPLETED",  # open_instruct
    ".metadata",  # torch.distributed.checkpoint (DCP)
    ".metadata.json",  # OLMo-core
    "commit_success.txt",  # Orbax
    "latest",  # DeepSpeed pointer (inside the dir, or in the parent naming the dir)
    "trainer_state.json",  # HF Trainer
)

LEDGER_NAME = ".ckpt_lint_ledger.json"

FRESH_START_ENV = "CKPT_LINT_FRESH_START"
SHARED_FS_ENV = "CKPT_LINT_SHARED_FS"

# Entries that do not make an output dir "non-empty": logs and trackers write them before any
# checkpoint exists (fnmatch patterns, matched case-sensitively against top-level names).
IGNORED_FOR_EMPTINESS: tuple[str, ...] = (
    LEDGER_NAME + "*",
    "logs",
    "log",
    "runs",
    "wandb",
    "tensorboard",
    "tb_logs",
    ".hydra",
    "*.log",
    "*.out",
    "*.err",
    "events.out.tfevents*",
    ".DS_Store",
    "Thumbs.db",
    ".nfs*",
    "__pycache__",
)

# Keys left out of config_hash: per-process, per-attempt, output location, secrets, labels.
# fnmatch patterns on the lower-cased key, applied at every nesting level.
VOLATILE_KEYS: frozenset[str] = frozenset(
    {
        # process identity: differs per rank/node, or with elastic world size
        "rank",
        "local_rank",
        "global_rank",
        "node_rank",
        "group_rank",
        "world_size",
        "local_world_size",
        "process_index",
        "local_process_index",
        "machine_rank",
        "num_processes",
        "num_machines",
        "num_nodes",
        "nnodes",
        "nproc_per_node",
        "master_addr",
        "master_port",
        "main_process_ip",
        "main_process_port",
        "dist_url",
        # where the run writes and how it resumes: not what it trains
        "output_dir",
        "logging_dir",
        "log_dir",
        "resume_from_checkpoint",
        "resume",
        "auto_resume",
        "overwrite_output_dir",
        "fresh_start",
        # labels that scripts reassign in place with the run id itself (exp_name = f"...{id}")
        "exp_name",
        "run_name",
        "experiment_name",
        # trackers
        "report_to",
        "wandb_*",
        # secrets (not "*token*": max_tokens, pad_token, tokenizer_name are hyperparameters)
        "token",
        "hf_token",
        "hub_token",
        "*auth_token*",
        "*access_token*",
        "*api_token*",
        "*api_key*",
        "*secret*",
        "*password*",
    }
)

# Volatile command-line flags that take no value (the next token is not theirs to drop).
_BOOLEAN_FLAGS = frozenset({"overwrite_output_dir", "fresh_start", "auto_resume"})

_GONE_ERRNOS = frozenset(e for e in (errno.ENOENT, getattr(errno, "ESTALE", None)) if e is not None)


class ResumeError(RuntimeError):
    """Starting (or resuming) here would silently lose or ignore earlier training progress."""


class CheckpointInfo(NamedTuple):
    """One checkpoint directory found in an output dir."""

    step: int
    path: str
    complete: bool


# ---------------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------------


def _env_int(name: str) -> int | None:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        raise RuntimeError(
            f"environment variable {name}={raw!r} is not an integer; it is read as a "
            "process rank/size, so fix or unset it"
        ) from None


def _env_flag(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "y", "on", "t"):
        return True
    if value in ("0", "false", "no", "n", "off", "f"):
        return False
    logger.warning("ignoring unrecognised value %s=%r (want 1/0, true/false)", name, raw)
    return default


def _as_int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _is_gone(exc: OSError) -> bool:
    return exc.errno in _GONE_ERRNOS


def _fspath(path: StrPath) -> str:
    p = os.fspath(path)
    if not isinstance(p, str):
        raise TypeError(f"expected a str path, got {p!r}")
    if "://" in p:
        # os.makedirs("gs://b/x") would quietly create a local "gs:" tree
        raise ValueError(f"{p!r}: only local or mounted filesystem paths are supported")
    return p


def _key(path: str) -> str:
    return os.path.realpath(path)


def _torch_dist() -> Any:
    """The already-imported, initialized torch.distributed module, or None."""
    dist = sys.modules.get("torch.distributed")
    if dist is None:
        return None
    try:
        if dist.is_available() and dist.is_initialized():
            return dist
    except Exception:  # a half-imported or stubbed module is "not initialized"
        return None
    return None


def _jax_identity() -> tuple[int, int] | None:
    """(process_index, process_count) of an already-imported, initialized multi-host JAX."""
    jax = sys.modules.get("jax")
    if jax is None:
        return None
    try:
        jdist = getattr(jax, "distributed", None)
        is_init = getattr(jdist, "is_initialized", None)
        if callable(is_init):
            initialized = bool(is_init())
        else:
            state = getattr(sys.modules.get("jax._src.distributed"), "global_state", None)
            initialized = getattr(state, "client", None) is not None
        if not initialized:
            return None
        return int(jax.process_index()), int(jax.process_count())
    except Exception:  # never let a JAX quirk break process detection
        return None


# ---------------------------------------------------------------------------------------------
# Process identity
# ---------------------------------------------------------------------------------------------

# (rank variable, world-size variable) in the order launchers are trusted
_ENV_RANK_SOURCES: tuple[tuple[str, str], ...] = (
    ("RANK", "WORLD_SIZE"),
    ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"),
    ("PMI_RANK", "PMI_SIZE"),
    ("PMIX_RANK", "PMIX_SIZE"),
    ("MV2_COMM_WORLD_RANK", "MV2_COMM_WORLD_SIZE"),
    ("JSM_NAMESPACE_RANK", "JSM_NAMESPACE_SIZE"),
)
_LOCAL_RANK_VARS = ("LOCAL_RANK", "OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "SLURM_LOCALID")
_LOCAL_SIZE_VARS = ("LOCAL_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS")
_NODE_RANK_VARS = ("GROUP_RANK", "NODE_RANK", "OMPI_COMM_WORLD_NODE_RANK", "SLURM_NODEID")


@dataclasses.dataclass(frozen=True)
class ProcessInfo:
    """Who this process is: global rank, world size, rank on its node, node index, and where
    that came from (``"torch.distributed"``, ``"env:RANK"``, ``"jax"``, ``"single"``, ...).
    ``node_rank`` is -1 when nothing tells it."""

    rank: int
    world_size: int
    local_rank: int
    node_rank: int
    source: str


def _first_env_int(names: Iterable[str]) -> int | None:
    for name in names:
        value = _env_int(name)
        if value is not None:
            return value
    return None


def _local_and_node(rank: int, world_size: int) -> tuple[int, int]:
    local = _first_env_int(_LOCAL_RANK_VARS)
    local_size = _first_env_int(_LOCAL_SIZE_VARS)
    if local is None:
        # without a hint assume one node: only global rank 0 counts as a node's main process
        local = rank % local_size if local_size else (0 if world_size == 1 else rank)
    node = _first_env_int(_NODE_RANK_VARS)
    if node is None:
        if local_size:
            node = rank // local_size
        elif local == rank:
            node = 0
        else:
            node = -1
    return local, node


def process_info() -> ProcessInfo:
    """Identify this process without starting or importing anything.

    Order: an initialized ``torch.distributed`` (looked up in ``sys.modules``); ``RANK`` /
    ``WORLD_SIZE``; MPI-style ``OMPI_COMM_WORLD_RANK``, ``PMI_RANK``, ``PMIX_RANK``,
    ``MV2_COMM_WORLD_RANK``, ``JSM_NAMESPACE_RANK``; ``SLURM_PROCID`` (only when
    ``SLURM_NTASKS`` > 1 or no ``LOCAL_RANK``: under sbatch + torchrun every worker on node k
    sees k); an already-imported, initialized JAX; else a single process ``(0, 1, 0, 0)``.
    Local rank comes from ``LOCAL_RANK``, ``OMPI_COMM_WORLD_LOCAL_RANK``, ``MPI_LOCALRANKID``,
    ``SLURM_LOCALID``. Recomputed on every call (cheap), so changes to the environment count.

    Single process: ``ProcessInfo(0, 1, 0, 0, "single")``.
    torch.distributed: rank and world size come from the default process group; if env
    ``RANK`` is set and disagrees, raises ``RuntimeError`` (the launcher and the group disagree,
    so any rank-0 guard in the script is unreliable). With no local-rank variable and no
    ``LOCAL_WORLD_SIZE``, one node is assumed (local rank = global rank).
    Env-only multi-process: taken from the launcher's variables in the order above. With only
    ``LOCAL_RANK`` set (no global rank anywhere) the local rank stands in for the global one,
    so a non-zero local rank never believes it is the main process.
    """
    dist = _torch_dist()
    if dist is not None:
        rank = int(dist.get_rank())
        world = int(dist.get_world_size())
        env_rank = _env_int("RANK")
        if env_rank is not None and env_rank != rank:
            raise RuntimeError(
                f"torch.distributed says this process is rank {rank} of {world}, but the "
                f"environment has RANK={env_rank}; the launcher and init_process_group disagree "
                "(stale RANK exported in a job script, or rank passed explicitly to "
                "init_process_group), so rank-0 guards cannot be trusted"
            )
        local, node = _local_and_node(rank, world)
        return ProcessInfo(rank, world, local, node, "torch.distributed")

    for rank_var, size_var in _ENV_RANK_SOURCES:
        rank_value = _env_int(rank_var)
        if rank_value is not None:
            world = _env_int(size_var) or rank_value + 1
            local, node = _local_and_node(rank_value, world)
            return ProcessInfo(rank_value, world, local, node, f"env:{rank_var}")

    procid = _env_int("SLURM_PROCID")
    if procid is not None:
        ntasks = _env_int("SLURM_NTASKS") or 1
        if ntasks > 1 or _env_int("LOCAL_RANK") is None:
            local, node = _local_and_node(procid, ntasks)
            return ProcessInfo(procid, ntasks, local, node, "env:SLURM_PROCID")

    jax_id = _jax_identity()
    if jax_id is not None:
        index, count = jax_id
        return ProcessInfo(index, count, 0, index, "jax")

    local_only = _env_int("LOCAL_RANK")
    if local_only is not None and local_only > 0:
        size = _first_env_int(_LOCAL_SIZE_VARS) or local_only + 1
        return ProcessInfo(local_only, size, local_only, -1, "env:LOCAL_RANK")
    return ProcessInfo(0, 1, 0, 0, "single")


def is_main_process() -> bool:
    """True on the one process of the whole job that should do job-wide singleton work.

    Single process: always True.
    torch.distributed: global rank 0 of the default group.
    Env-only multi-process: the process whose launcher-provided global rank is 0.
    """
    return process_info().rank == 0


def is_local_main_process() -> bool:
    """True on the first process of this node (local rank 0).

    Single process: always True.
    torch.distributed: local rank 0 (from ``LOCAL_RANK`` & co., else assumed single node).
    Env-only multi-process: local rank 0 as the launcher reports it. Per node is NOT enough
    to guard deletions on shared storage: use :func:`is_deleting_process`.
    """
    return process_info().local_rank == 0


def _shared_fs(shared_filesystem: bool | None) -> bool:
    if shared_filesystem is not None:
        return bool(shared_filesystem)
    return _env_flag(SHARED_FS_ENV, True)


def is_deleting_process(shared_filesystem: bool | None = None) -> bool:
    """True on the process that should delete (or commit) files in the checkpoint dir.

    On shared storage (the default; ``CKPT_LINT_SHARED_FS=0`` or ``shared_filesystem=False``
    says node-local) exactly one process in the job deletes: global rank 0. On node-local
    storage every node has its own copy, so each node's local main process deletes.

    Single process: always True.
    torch.distributed: global rank 0, or local rank 0 for node-local storage.
    Env-only multi-process: the same, from the launcher's variables.
    """
    info = process_info()
    return info.rank == 0 if _shared_fs(shared_filesystem) else info.local_rank == 0


# ---------------------------------------------------------------------------------------------
# Tolerant deletion
# ---------------------------------------------------------------------------------------------


def remove_file(path: StrPath) -> bool:
    """Unlink a file or symlink; "already gone" (ENOENT, ESTALE) is success.

    Returns True if this call removed it. Every other error propagates (a directory gives
    ``IsADirectoryError``/``PermissionError``, a read-only filesystem ``OSError``).

    Single process / torch.distributed / env-only multi-process: no rank logic; safe to race
    with other processes removing the same path.
    """
    try:
        os.unlink(os.fspath(path))
    except OSError as exc:
        if _is_gone(exc):
            return False
        raise
    return True


def remove_dir(path: StrPath) -> bool:
    """``os.rmdir`` where "already gone" (ENOENT, ESTALE) is success; returns True if removed.

    A non-empty directory still raises (``OSError`` ENOTEMPTY), as does anything but "gone".

    Single process / torch.distributed / env-only multi-process: no rank logic; safe to race.
    """
    try:
        os.rmdir(os.fspath(path))
    except OSError as exc:
        if _is_gone(exc):
            return False
        raise
    return True


def remove_tree(path: StrPath) -> bool:
    """Remove a directory tree, treating "already gone" anywhere in the walk as success.

    Unlike ``shutil.rmtree`` it survives other processes deleting the same tree at the same
    time (each entry that vanished under it, ENOENT or NFS's ESTALE, counts as done); unlike
    ``ignore_errors=True`` every other error (permissions, read-only filesystem, ENOTDIR,
    ENOTEMPTY because someone is writing into it) propagates. Like ``rmtree`` it refuses a
    symlink or a file as the top-level path and never follows symlinks inside the tree.
    Returns True if this call removed anything, False if the tree was already gone.

    Single process / torch.distributed / env-only multi-process: no rank logic; any number of
    processes may call it on the same tree concurrently. Use :func:`main_process_rmtree` to
    let only one process delete.
    """
    top = os.fspath(path)
    try:
        st = os.lstat(top)
    except OSError as exc:
        if _is_gone(exc):
            return False
        raise
    if stat.S_ISLNK(st.st_mode):
        raise OSError(f"Cannot call remove_tree on a symbolic link: {top!r}")
    if not stat.S_ISDIR(st.st_mode):
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), top)

    removed = False
    # explicit post-order stack: checkpoint trees can be deep enough to hit the recursion limit
    stack: list[tuple[str, bool]] = [(top, False)]
    while stack:
        current, scanned = stack.pop()
        if scanned:
            removed = remove_dir(current) or removed
            continue
        try:
            with os.scandir(current) as it:
                entries = list(it)
        except OSError as exc:
            if _is_gone(exc):
                continue
            raise
        stack.append((current, True))
        for entry in entries:
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError as exc:
                if _is_gone(exc):
                    continue
                raise
            if is_dir:
                stack.append((entry.path, False))
            else:
                removed = remove_file(entry.path) or removed
    return removed


def main_process_rmtree(path: StrPath, *, shared_filesystem: bool | None = None) -> bool:
    """``shutil.rmtree`` for distributed jobs: only the deleting process removes, tolerantly.

    Returns True if this call removed something; False on other processes or if already gone.
    Never barriers (a barrier that only some ranks reach deadlocks): if other ranks must not
    proceed before the deletion finishes, the caller barriers on all ranks afterwards.

    Single process: removes the tree (tolerant of concurrent removal).
    torch.distributed: only global rank 0 removes (local rank 0 of each node when
    ``shared_filesystem=False``); the others return False at once.
    Env-only multi-process: the same decision from ``RANK``/``LOCAL_RANK`` & co.
    """
    if not is_deleting_process(shared_filesystem):
        return False
    return remove_tree(path)


def main_process_remove(path: StrPath, *, shared_filesystem: bool | None = None) -> bool:
    """``os.remove``/``os.unlink``/``Path.unlink`` for distributed jobs (see
    :func:`main_process_rmtree`): only the deleting process unlinks, "already gone" is fine.

    Single process: unlinks the file.
    torch.distributed: only global rank 0 (per-node local rank 0 on node-local storage).
    Env-only multi-process: the same, from the launcher's variables. Others return False.
    """
    if not is_deleting_process(shared_filesystem):
        return False
    return remove_file(path)


def main_process_rmdir(path: StrPath, *, shared_filesystem: bool | None = None) -> bool:
    """``os.rmdir`` for distributed jobs (see :func:`main_process_rmtree`).

    Single process: removes the empty directory.
    torch.distributed: only global rank 0 (per-node local rank 0 on node-local storage).
    Env-only multi-process: the same, from the launcher's variables. Others return False.
    """
    if not is_deleting_process(shared_filesystem):
        return False
    return remove_dir(path)


# ---------------------------------------------------------------------------------------------
# Checkpoint directories: naming, completeness, atomic commit, rotation
# ---------------------------------------------------------------------------------------------

_CKPT_NAME_RE = re.compile(
    r"^(?:(?P<prefix>global_step|steps?|checkpoint|ckpt|iter(?:ation)?|epoch)[-_=]?)?"
    r"(?P<num>\d+)$",
    re.IGNORECASE,
)
_TMP_PREFIXES = ("tmp-", "tmp_", "tmp.", ".tmp-", ".tmp_", ".tmp.")
_TMP_SUFFIX_RE = re.compile(
    r"^(?P<base>.+?)(?:\.orbax-checkpoint-tmp-.*|[._-]tmp(?:[._-].*)?)$", re.IGNORECASE
)


def _parse_name(name: str) -> tuple[str, int] | None:
    match = _CKPT_NAME_RE.match(name)
    if match is None:
        return None
    prefix = (match.group("prefix") or "").lower()
    return ("epoch" if prefix == "epoch" else "step"), int(match.group("num"))


def _strip_tmp(name: str) -> str | None:
    lower = name.lower()
    for prefix in _TMP_PREFIXES:
        if lower.startswith(prefix):
            return name[len(prefix) :]
    match = _TMP_SUFFIX_RE.match(name)
    return match.group("base") if match else None


def _classify(name: str) -> tuple[str, str, int] | None:
    """("ckpt" | "tmp", family, step) for a checkpoint-like directory name, else None."""
    parsed = _parse_name(name)
    if parsed is not None:
        return ("ckpt", *parsed)
    base = _strip_tmp(name)
    if base is not None:
        parsed = _parse_name(base)
        if parsed is not None:
            return ("tmp", *parsed)
    return None


def parse_step(name: StrPath) -> int | None:
    """Step number in a checkpoint dir name: ``step_100``, ``checkpoint-100``,
    ``global_step100``, ``step-100``, ``iter_100``, ``epoch_3`` (epoch number), ``100``
    (Orbax); None for anything else, including in-progress ``*.tmp`` names.

    Single process / torch.distributed / env-only multi-process: pure function of the name.
    """
    parsed = _parse_name(os.path.basename(os.fspath(name).rstrip("/\\")))
    return parsed[1] if parsed else None


def _markers(markers: Iterable[str] | None) -> tuple[str, ...]:
    return COMPLETION_MARKERS if markers is None else tuple(markers)


def _read_small(path: str, limit: int = 4096) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read(limit)
    except OSError:
        return None


def _parent_pointer_covers(path: str) -> bool:
    """A DeepSpeed ``latest`` file beside the dir names it, or a later step of its family."""
    parent, name = os.path.split(path.rstrip("/\\"))
    pointer = os.path.join(parent or ".", "latest")
    if not os.path.isfile(pointer):
        return False
    tag = (_read_small(pointer) or "").strip()
    if not tag:
        return False
    if tag == name:
        return True
    mine, theirs = _parse_name(name), _parse_name(tag)
    # DeepSpeed only advances the pointer after a save finished, so older tags were complete
    return mine is not None and theirs is not None and mine[0] == theirs[0] and mine[1] <= theirs[1]


def is_complete(path: StrPath, *, markers: Iterable[str] | None = None) -> bool:
    """True if ``path`` is a directory holding a completion marker at its top level.

    Markers: :data:`COMPLETION_MARKERS` (ours, ``COMPLETED``, DCP ``.metadata``, OLMo-core
    ``.metadata.json``, Orbax ``commit_success.txt``, DeepSpeed ``latest``, HF
    ``trainer_state.json``) unless ``markers`` is given. Any one suffices; markers nested
    deeper (e.g. accelerate's ``pytorch_model_fsdp_0/.metadata``) do not count, since more
    files follow them. A DeepSpeed ``latest`` file in the *parent* naming this dir (or a later
    step of the same family) also counts when ``"latest"`` is among the markers.

    Single process / torch.distributed / env-only multi-process: reads the filesystem only;
    call it after the barrier that follows a save.
    """
    p = os.fspath(path)
    if not os.path.isdir(p):
        return False
    names = _markers(markers)
    if any(os.path.isfile(os.path.join(p, marker)) for marker in names):
        return True
    return "latest" in names and _parent_pointer_covers(p)


class _Entry(NamedTuple):
    kind: str  # "ckpt" or "tmp"
    family: str  # "step" or "epoch"
    step: int
    name: str
    path: str
    complete: bool


def _scan(output_dir: str, markers: Iterable[str] | None) -> tuple[list[_Entry], list[str]]:
    """Checkpoint-like dirs (complete or not, tmp or not) and the other top-level names."""
    entries: list[_Entry] = []
    others: list[str] = []
    try:
        with os.scandir(output_dir) as it:
            listing = list(it)
    except OSError as exc:
        if _is_gone(exc):
            return [], []
        raise
    for item in listing:
        try:
            is_dir = item.is_dir()
        except OSError:
            is_dir = False
        kind = _classify(item.name) if is_dir else None
        if kind is None:
            others.append(item.name)
            continue
        complete = kind[0] == "ckpt" and is_complete(item.path, markers=markers)
        entries.append(_Entry(kind[0], kind[1], kind[2], item.name, item.path, complete))
    entries.sort(key=lambda e: (e.step, e.name))
    return entries, others


def list_checkpoints(
    output_dir: StrPath, *, markers: Iterable[str] | None = None
) -> list[CheckpointInfo]:
    """All checkpoint directories directly under ``output_dir`` as ``(step, path, complete)``,
    sorted by step number parsed from the name (not mtime), then name. In-progress ``*.tmp``
    dirs are not listed; a missing ``output_dir`` gives ``[]``.

    Single process / torch.distributed / env-only multi-process: reads the filesystem only.
    """
    directory = _fspath(output_dir)
    entries, _ = _scan(directory, markers)
    return [CheckpointInfo(e.step, e.path, e.complete) for e in entries if e.kind == "ckpt"]


def _latest(entries: list[_Entry]) -> _Entry | None:
    complete = [e for e in entries if e.kind == "ckpt" and e.complete]
    # step/epoch numbers are not comparable; finer-grained step checkpoints win (open_instruct)
    pool = [e for e in complete if e.family == "step"] or complete
    return max(pool, key=lambda e: (e.step, e.name)) if pool else None


def find_latest_complete(
    output_dir: StrPath, *, markers: Iterable[str] | None = None
) -> str | None:
    """Path of the highest-step COMPLETE checkpoint under ``output_dir``, or None.

    Incomplete or in-progress dirs are skipped (HF's ``get_last_checkpoint`` takes the highest
    number whether complete or not). When both ``step``-style and ``epoch_N`` dirs exist the
    step ones are preferred, since the two numberings cannot be compared.

    Single process / torch.distributed / env-only multi-process: reads the filesystem only;
    to make all ranks agree use :func:`resolve_resume`, which decides on rank 0.
    """
    directory = _fspath(output_dir)
    entries, _ = _scan(directory, markers)
    best = _latest(entries)
    return best.path if best else None


def _fsync_dir(path: str) -> None:
    if os.name == "nt":
        return
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some filesystems cannot fsync a directory; durability is best effort
        pass
    finally:
        os.close(fd)


def _atomic_write_text(path: str, text: str) -> None:
    """Write ``path`` via tmp file + fsync + os.replace + fsync of the directory."""
    directory = os.path.dirname(path) or "."
    tmp = os.path.join(
        directory, f"{os.path.basename(path)}.tmp.{os.getpid()}.{os.urandom(4).hex()}"
    )
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        try:
            data = text.encode("utf-8")
            while data:
                data = data[os.write(fd, data) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(directory)


def _write_marker(directory: str, step: int | None) -> None:
    payload = {
        "runtime_version": RUNTIME_VERSION,
        "step": step,
        "time": time.time(),
        "host": socket.gethostname(),
        "pid": os.getpid(),
    }
    _atomic_write_text(os.path.join(directory, COMPLETE_MARKER), json.dumps(payload) + "\n")


def _fsync_tree(top: str) -> None:
    for root, dirs, files in os.walk(top):
        for name in files:
            try:
                fd = os.open(os.path.join(root, name), os.O_RDONLY)
            except OSError:
                continue
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        for name in dirs:
            _fsync_dir(os.path.join(root, name))
    _fsync_dir(top)


def mark_complete(
    path: StrPath, *, fsync_contents: bool = False, shared_filesystem: bool | None = None
) -> bool:
    """Write the completion marker ``.ckpt_complete`` into the checkpoint dir ``path``, last.

    The marker goes through a tmp file + fsync + ``os.replace`` + fsync of the directory, so
    it is either absent or whole. ``fsync_contents=True`` first fsyncs every file in the dir
    (survives a power loss, costs a full writeback). Returns True if this process wrote it.

    Single process: writes the marker.
    torch.distributed: only the committer (global rank 0; each node's local rank 0 with
    ``shared_filesystem=False``) writes; call it after the barrier that follows the save on
    every rank (no barrier inside, so calling it under ``if rank == 0`` is fine).
    Env-only multi-process: the same committer rule; make sure every process finished writing
    its shard first.
    """
    directory = _fspath(path)
    if not is_deleting_process(shared_filesystem):
        return False
    if not os.path.isdir(directory):
        raise NotADirectoryError(errno.ENOTDIR, "checkpoint dir does not exist", directory)
    if fsync_contents:
        _fsync_tree(directory)
    _write_marker(directory, parse_step(directory))
    return True


def _invalidate(path: str) -> None:
    """Remove every completion marker first, so a half-deleted dir never looks complete."""
    for marker in COMPLETION_MARKERS:
        candidate = os.path.join(path, marker)
        if not os.path.isdir(candidate):
            remove_file(candidate)


def _replace_dir(src: str, dst: str) -> None:
    try:
        os.replace(src, dst)
        return
    except OSError as exc:
        if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
            raise
    # an older save of the same step is in the way: retire it under a tmp-like name, swap in
    aside = f"{dst}.tmp-old-{os.getpid()}-{os.urandom(3).hex()}"
    _invalidate(dst)
    os.replace(dst, aside)
    os.replace(src, dst)
    remove_tree(aside)


@contextlib.contextmanager
def atomic_checkpoint_dir(
    path: StrPath, *, shared_filesystem: bool | None = None, fsync_contents: bool = False
) -> Iterator[str]:
    """Write a checkpoint into ``<path>.tmp`` and commit it as ``path`` only when done.

    Yields the tmp dir (the same string on every rank). On a clean exit the committer writes
    the completion marker last (tmp + fsync + ``os.replace``), renames the dir into place with
    ``os.replace`` and fsyncs the parent; an existing ``path`` (an older save of the same step)
    is retired first. If the block raises, ``path`` is left untouched and the tmp dir stays for
    inspection; :func:`rotate_checkpoints` clears stale tmp dirs once they are older than the
    kept checkpoints.

    Single process: a stale ``<path>.tmp`` from a crashed attempt is removed on entry.
    torch.distributed: every rank enters and writes its files into the yielded dir; the caller
    must barrier inside the block, after the writes, so the committer (global rank 0; each
    node's local rank 0 with ``shared_filesystem=False``) renames only once all shards exist,
    and barrier again after the block if other ranks read ``path``. There is no barrier inside
    (so a rank-0-only save under ``if rank == 0:`` works); for the same reason a stale tmp dir
    is not cleared on entry (another rank may already be writing into it).
    Env-only multi-process: as with torch.distributed, using whatever synchronisation the
    script has.
    """
    final = _fspath(path).rstrip("/\\") or _fspath(path)
    tmp = final + ".tmp"
    committer = is_deleting_process(shared_filesystem)
    if committer and process_info().world_size == 1 and os.path.lexists(tmp):
        remove_tree(tmp)
    os.makedirs(tmp, exist_ok=True)
    yield tmp
    if not committer:
        return
    if fsync_contents:
        _fsync_tree(tmp)
    _write_marker(tmp, parse_step(final))
    _replace_dir(tmp, final)
    _fsync_dir(os.path.dirname(os.path.abspath(final)))


def rotate_checkpoints(
    output_dir: StrPath,
    keep: int,
    *,
    shared_filesystem: bool | None = None,
    markers: Iterable[str] | None = None,
) -> list[str]:
    """Delete old checkpoints under ``output_dir``, keeping the newest ``keep`` COMPLETE ones.

    "Newest" is the step number parsed from the dir name (``step_100``, ``checkpoint-100``,
    ``global_step100``, ``epoch_3``, ...), never mtime; ``step`` and ``epoch`` families rotate
    separately. It never deletes the newest complete checkpoint (``keep`` < 1 counts as 1; a
    negative ``keep`` keeps everything, as open_instruct's ``-1``) nor anything newer than it
    (a save in progress). Incomplete and ``*.tmp`` dirs older than the oldest kept checkpoint
    are leftovers of crashed saves and are removed too. Each victim's completion markers are
    removed before the tree, so an interrupted rotation never leaves a half-deleted dir that
    looks complete. Returns the paths deleted (all gone when it returns).

    Single process: rotates.
    torch.distributed: only the deleting process (global rank 0; each node's local rank 0
    with ``shared_filesystem=False``) rotates, the others return ``[]`` at once. No barrier.
    Env-only multi-process: the same; and even if several processes wrongly believe they are
    the deleter (the per-node guard on shared storage), concurrent calls agree on the victims
    and tolerate each other's deletions.
    """
    directory = _fspath(output_dir)
    if keep < 0 or not is_deleting_process(shared_filesystem):
        return []
    keep = max(keep, 1)
    entries, _ = _scan(directory, markers)
    doomed: list[_Entry] = []
    for family in ("step", "epoch"):
        members = [e for e in entries if e.family == family]
        complete = [e for e in members if e.kind == "ckpt" and e.complete]
        if not complete:
            if sum(e.kind == "ckpt" for e in members) > keep:
                logger.warning(
                    "rotate_checkpoints(%s): %d %s checkpoint dirs but none is marked complete "
                    "(markers: %s); deleting nothing. Call mark_complete() after each save.",
                    directory,
                    len(members),
                    family,
                    ", ".join(_markers(markers)),
                )
            continue
        kept = complete[-keep:]
        floor = kept[0].step
        doomed.extend(e for e in complete[:-keep])
        doomed.extend(e for e in members if not e.complete and e.step < floor)
    deleted: list[str] = []
    for entry in sorted(doomed, key=lambda e: (e.step, e.name)):
        if os.path.islink(entry.path):
            # a symlinked checkpoint: drop the link, never the target outside output_dir
            remove_file(entry.path)
        else:
            _invalidate(entry.path)
            remove_tree(entry.path)
        deleted.append(entry.path)
        logger.info("rotate_checkpoints: removed %s", entry.path)
    return deleted


# ---------------------------------------------------------------------------------------------
# Deterministic run identity
# ---------------------------------------------------------------------------------------------

_ADDRESS_RE = re.compile(r" at 0x[0-9a-fA-F]+")
_UUID_RE = re.compile(r"^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$", re.I)


def _excluded(key: str, patterns: tuple[str, ...], keep: frozenset[str]) -> bool:
    if key.startswith("_"):
        return True
    lower = key.lower()
    if lower in keep:
        return False
    return any(fnmatch.fnmatchcase(lower, pattern) for pattern in patterns)


def _json_key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


class _Canonicalizer:
    def __init__(self, patterns: tuple[str, ...], keep: frozenset[str]) -> None:
        self.patterns = patterns
        self.keep = keep
        self.stack: set[int] = set()

    def mapping(self, items: Iterable[tuple[Any, Any]], depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in items:
            skey = key if isinstance(key, str) else _json_key(self.canon(key, depth + 1))
            if isinstance(key, str) and _excluded(key, self.patterns, self.keep):
                continue
            out[skey] = self.canon(value, depth + 1)
        return out

    def canon(self, value: Any, depth: int = 0) -> Any:
        if depth > 100:
            raise ValueError("config_hash: config nested more than 100 levels deep")
        if isinstance(value, enum.Enum):
            return self.canon(value.value, depth + 1)
        if value is None or isinstance(value, (bool, str, int)):
            return value
        if isinstance(value, float):
            # NaN/inf are not JSON; tag them so they cannot collide with a string
            return value if math.isfinite(value) else {"__float__": repr(value)}
        if isinstance(value, PurePath):
            return str(value)
        if isinstance(value, (bytes, bytearray)):
            return {"__bytes__": bytes(value).hex()}
        if isinstance(value, (datetime.date, datetime.time, datetime.timedelta)):
            return str(value)
        if isinstance(value, type):
            return f"{value.__module__}.{value.__qualname__}"
        ident = id(value)
        if ident in self.stack:
            return "<cycle>"
        self.stack.add(ident)
        try:
            return self._container(value, depth)
        finally:
            self.stack.discard(ident)

    def _container(self, value: Any, depth: int) -> Any:
        if isinstance(value, Mapping):
            return self.mapping(value.items(), depth)
        if isinstance(value, argparse.Namespace):
            return self.mapping(vars(value).items(), depth)
        if dataclasses.is_dataclass(value):
            fields = dataclasses.fields(value)
            return self.mapping(((f.name, getattr(value, f.name, None)) for f in fields), depth)
        if isinstance(value, (set, frozenset)):
            items = [self.canon(v, depth + 1) for v in value]
            return sorted(items, key=_json_key)
        if isinstance(value, (list, tuple)):
            return [self.canon(v, depth + 1) for v in value]
        tolist = getattr(value, "tolist", None)
        if callable(tolist) and hasattr(value, "dtype"):  # numpy/torch arrays and scalars
            with contextlib.suppress(Exception):
                return self.canon(tolist(), depth + 1)
        if not callable(value):
            with contextlib.suppress(TypeError):
                attrs = vars(value)
                if attrs:
                    return self.mapping(attrs.items(), depth)
        if isinstance(value, Iterable) and not isinstance(value, (str, bytes)):
            with contextlib.suppress(Exception):
                return [self.canon(v, depth + 1) for v in list(value)]
        text = repr(value)
        if _ADDRESS_RE.search(text):
            # a default repr carries the object's address, which differs in every process
            kind = type(value)
            name = getattr(value, "__qualname__", None) or kind.__qualname__
            module = getattr(value, "__module__", None) or kind.__module__
            return f"<{module}.{name}>"
        return text


def _config_digest(config: Any, exclude: Iterable[str], include: Iterable[str] = ()) -> str:
    patterns = tuple(sorted(VOLATILE_KEYS)) + tuple(p.lower() for p in exclude)
    keep = frozenset(k.lower() for k in include)
    canonical = _Canonicalizer(patterns, keep).canon(config)
    text = json.dumps(
        canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    )
    return hashlib.sha256(("ckpt_lint.config_hash.v1\n" + text).encode("utf-8")).hexdigest()


def _check_length(length: int) -> int:
    if not 1 <= length <= 64:
        raise ValueError(f"length must be between 1 and 64, got {length}")
    return length


def config_hash(
    config: Any, *, exclude: Iterable[str] = (), length: int = 8, include: Iterable[str] = ()
) -> str:
    """Hex sha256 prefix of a canonical JSON form of ``config``, stable across processes.

    ``config`` may be a Mapping, ``argparse.Namespace``, dataclass instance, or any object with
    attributes (``vars()``); values nest freely. Canonical form: sorted keys; Paths as strings;
    enums by value; sets sorted; nested dataclasses/namespaces/mappings recursed; arrays via
    ``tolist()``; functions and classes by qualified name; never object ids or ``hash()``, so
    ``PYTHONHASHSEED`` does not matter. An equivalent dict, Namespace and dataclass hash alike.

    Left out at every nesting level: keys starting with ``_`` and keys matching
    :data:`VOLATILE_KEYS` (per-process ranks and world size, output/logging dirs, resume and
    overwrite flags, trackers, secrets, and the ``exp_name``/``run_name`` labels, because
    scripts reassign those in place with the id itself and a retry must get the same id before
    and after that assignment). ``seed`` is a hyperparameter and is kept. ``exclude`` adds
    fnmatch patterns; ``include`` keeps keys that :data:`VOLATILE_KEYS` would drop (e.g. a
    LoRA ``rank``).

    Single process / torch.distributed / env-only multi-process: a pure function of the config;
    every rank gets the same value without communicating.
    """
    return _config_digest(config, exclude, include)[: _check_length(length)]


def _looks_like_flag(token: str) -> bool:
    return token.startswith("-") and token != "-" and not re.match(r"^-\.?\d", token)


def _argv_for_hash(argv: list[str], patterns: tuple[str, ...], keep: frozenset[str]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(argv):
        token = argv[i]
        if token == "--":
            out.extend(argv[i:])
            break
        if _looks_like_flag(token):
            name, has_value, _ = token.lstrip("-").partition("=")
            key = name.replace("-", "_")
            if _excluded(key, patterns, keep):
                i += 1
                takes_value = key.lower() not in _BOOLEAN_FLAGS
                if (
                    not has_value
                    and takes_value
                    and i < len(argv)
                    and not _looks_like_flag(argv[i])
                ):
                    i += 1
                continue
        out.append(token)
        i += 1
    return out


def scheduler_id() -> str | None:
    """An id of this job submission that stays the same when the scheduler retries it.

    ``SLURM_JOB_ID`` (or array job + task id), Beaker's ``BEAKER_WORKLOAD_ID`` /
    ``BEAKER_EXPERIMENT_ID`` (+ ``BEAKER_TASK_ID``), or ``TORCHELASTIC_RUN_ID`` when it was set
    explicitly (not the fresh uuid of ``--standalone``, not the default ``none``). Never
    ``BEAKER_JOB_ID``, PIDs, hostnames or times, which change per attempt. None if unknown.

    Single process / torch.distributed / env-only multi-process: read from the environment,
    which the launcher gives every rank alike.
    """
    env = os.environ
    array_job, array_task = env.get("SLURM_ARRAY_JOB_ID"), env.get("SLURM_ARRAY_TASK_ID")
    if array_job and array_task:
        return f"slurm:{array_job}_{array_task}"
    if env.get("SLURM_JOB_ID"):
        return f"slurm:{env['SLURM_JOB_ID']}"
    beaker = env.get("BEAKER_WORKLOAD_ID") or env.get("BEAKER_EXPERIMENT_ID")
    if beaker:
        task = env.get("BEAKER_TASK_ID")
        return f"beaker:{beaker}" + (f":{task}" if task else "")
    run_id = env.get("TORCHELASTIC_RUN_ID", "").strip()
    if run_id and run_id.lower() != "none" and not _UUID_RE.match(run_id):
        return f"torchelastic:{run_id}"
    return None


def stable_run_id(
    config: Any = None,
    *,
    exclude: Iterable[str] = (),
    length: int = 8,
    include_scheduler_id: bool = False,
    include: Iterable[str] = (),
) -> str:
    """Deterministic run id to use where scripts put ``int(time.time())``, ``uuid4()``, etc.

    With a ``config`` it is :func:`config_hash` of it (same exclusions). With ``config=None``
    it hashes the command line ``sys.argv[1:]`` minus per-process/volatile flags
    (``--local_rank=3`` added by the deepspeed launcher, ``--output_dir x``, ...; matched
    against :data:`VOLATILE_KEYS` and ``exclude`` with ``-`` read as ``_``). Same command →
    same id on every rank and every retry; different hyperparameters → different id.
    ``include_scheduler_id=True`` also mixes in :func:`scheduler_id` (ties the id to one
    submission, so a resubmitted job starts a new directory).

    Single process: deterministic from the config or argv.
    torch.distributed / env-only multi-process: every rank computes the same value from the
    same config/argv, with no communication; rank-specific values are excluded.
    """
    patterns = tuple(sorted(VOLATILE_KEYS)) + tuple(p.lower() for p in exclude)
    keep = frozenset(k.lower() for k in include)
    if config is None:
        digest = _config_digest(
            {"argv": _argv_for_hash(list(sys.argv[1:]), patterns, keep)}, exclude, include
        )
    else:
        digest = _config_digest(config, exclude, include)
    if include_scheduler_id:
        sched = scheduler_id()
        if sched is None:
            logger.warning("stable_run_id: include_scheduler_id=True but no scheduler id found")
        else:
            digest = hashlib.sha256(f"{digest}\n{sched}".encode()).hexdigest()
    return digest[: _check_length(length)]


def stable_run_dir(base_dir: StrPath, name: str, config: Any = None, **kw: Any) -> str:
    """``<base_dir>/<name>__<stable_run_id(config, **kw)>`` (just the id when ``name`` is empty).

    Single process: a directory path that is the same on every retry of the same command.
    torch.distributed / env-only multi-process: the same path on every rank and node.
    Nothing is created.
    """
    run_id = stable_run_id(config, **kw)
    return os.path.join(os.fspath(base_dir), f"{name}__{run_id}" if name else run_id)


# ---------------------------------------------------------------------------------------------
# Retry knowledge: restart counters and the ledger
# ---------------------------------------------------------------------------------------------

_LEDGER_CAP = 1000
# output dir (realpath) -> attempt number this process recorded there; "this attempt"
_RECORDED_ATTEMPTS: dict[str, int] = {}


def restart_count() -> int | None:
    """How many times the scheduler/launcher restarted this job: the larger of
    ``SLURM_RESTART_COUNT`` and ``TORCHELASTIC_RESTART_COUNT``; None if neither is set
    (Beaker and Kubernetes have no counter: see :func:`read_ledger`). Torchelastic's counter
    resets when the scheduler relaunches torchrun itself.

    Single process / torch.distributed / env-only multi-process: from the environment.
    """
    counts: list[int] = []
    for name in ("SLURM_RESTART_COUNT", "TORCHELASTIC_RESTART_COUNT"):
        raw = os.environ.get(name, "").strip()
        if not raw:
            continue
        try:
            counts.append(int(raw))
        except ValueError:
            logger.warning("ignoring non-integer %s=%r", name, raw)
    return max(counts) if counts else None


def _empty_ledger() -> dict[str, Any]:
    return {"version": 1, "attempts": [], "checkpoints": []}


def read_ledger(output_dir: StrPath) -> dict[str, Any]:
    """The run ledger ``<output_dir>/.ckpt_lint_ledger.json``: ``{"version", "attempts": [...],
    "checkpoints": [...]}``. A missing file reads as empty; an unreadable or corrupt one logs a
    warning and reads as empty.

    Single process / torch.distributed / env-only multi-process: any rank may read it (only
    the committer writes it).
    """
    path = os.path.join(_fspath(output_dir), LEDGER_NAME)
    try:
        with open(path, encoding="utf-8") as handle:
            raw = handle.read()
    except OSError as exc:
        if _is_gone(exc) or exc.errno == errno.ENOTDIR:
            return _empty_ledger()
        logger.warning("cannot read ledger %s (%s); treating it as empty", path, exc)
        return _empty_ledger()
    try:
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise ValueError("top level is not an object")
        for field in ("attempts", "checkpoints"):
            if not isinstance(data.setdefault(field, []), list):
                raise ValueError(f"{field!r} is not a list")
            if not all(isinstance(item, dict) for item in data[field]):
                raise ValueError(f"{field!r} holds a non-object")
    except ValueError as exc:
        logger.warning("corrupt ledger %s (%s); treating it as empty", path, exc)
        return _empty_ledger()
    return data


def _write_ledger(output_dir: str, ledger: dict[str, Any]) -> None:
    for field in ("attempts", "checkpoints"):
        ledger[field] = ledger[field][-_LEDGER_CAP:]
    os.makedirs(output_dir, exist_ok=True)
    text = json.dumps(ledger, indent=1, sort_keys=True) + "\n"
    _atomic_write_text(os.path.join(output_dir, LEDGER_NAME), text)


def record_attempt(
    output_dir: StrPath,
    *,
    fresh_start: bool = False,
    resumed_from: str | None = None,
    shared_filesystem: bool | None = None,
) -> dict[str, Any]:
    """Append "an attempt started here" to the ledger (created with ``output_dir`` if
    missing) and return that entry. Idempotent within a process: a second call for the same
    dir returns the first entry. :func:`resolve_resume` and :func:`check_fresh_start` call it
    when they let training proceed; later attempts see it and know they are retries.

    Single process: writes the ledger (atomically: tmp + fsync + ``os.replace``).
    torch.distributed: only the committer (global rank 0; each node's local rank 0 with
    ``shared_filesystem=False``) writes; the others return ``{}``.
    Env-only multi-process: the same committer rule.
    """
    directory = _fspath(output_dir)
    if not is_deleting_process(shared_filesystem):
        return {}
    ledger = read_ledger(directory)
    own = _RECORDED_ATTEMPTS.get(_key(directory)) if os.path.isdir(directory) else None
    if own is not None:
        for entry in ledger["attempts"]:
            if entry.get("attempt") == own:
                return dict(entry)
    number = 1 + max((_as_int(a.get("attempt")) for a in ledger["attempts"]), default=0)
    entry = {
        "attempt": number,
        "time": time.time(),
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "restart_count": restart_count(),
        "scheduler_id": scheduler_id(),
        "fresh_start": bool(fresh_start),
        "resumed_from": resumed_from,
        "runtime_version": RUNTIME_VERSION,
    }
    ledger["attempts"].append(entry)
    _write_ledger(directory, ledger)
    _RECORDED_ATTEMPTS[_key(directory)] = number
    return dict(entry)


def record_checkpoint(
    output_dir: StrPath,
    path: StrPath,
    step: int | None = None,
    *,
    shared_filesystem: bool | None = None,
) -> None:
    """Append "checkpoint ``path`` (``step``, parsed from its name if None) was committed" to
    the ledger. Call it after the checkpoint is complete (marker written / dir renamed). A
    later attempt that finds the ledger says "committed" but no complete checkpoint on disk
    refuses to start from scratch (wrong dir or lost data).

    Single process: writes the ledger atomically.
    torch.distributed: only the committer (global rank 0; each node's local rank 0 with
    ``shared_filesystem=False``) writes; the others do nothing.
    Env-only multi-process: the same committer rule.
    """
    directory = _fspath(output_dir)
    target = os.fspath(path)
    if not is_deleting_process(shared_filesystem):
        return
    ledger = read_ledger(directory)
    attempt = _RECORDED_ATTEMPTS.get(_key(directory))
    if attempt is None and ledger["attempts"]:
        attempt = ledger["attempts"][-1].get("attempt")
    rel = os.path.relpath(os.path.abspath(target), os.path.abspath(directory))
    stored = target if rel.startswith(os.pardir) else rel
    ledger["checkpoints"].append(
        {
            "path": stored,
            "step": step if step is not None else parse_step(target),
            "attempt": attempt,
            "time": time.time(),
        }
    )
    _write_ledger(directory, ledger)


# ---------------------------------------------------------------------------------------------
# Strict resume
# ---------------------------------------------------------------------------------------------

_FRESH_HINT = (
    "To start from scratch on purpose, pass your script's fresh-start flag (fresh_start=True) "
    f"or set {FRESH_START_ENV}=1 (nothing is deleted), or use another output dir."
)


@dataclasses.dataclass
class _View:
    directory: str
    exists: bool
    entries: list[_Entry]
    others: list[str]
    ledger: dict[str, Any]
    earlier_attempts: list[dict[str, Any]]
    restarts: int | None

    @property
    def committed(self) -> list[dict[str, Any]]:
        # an explicit fresh start forgets what earlier attempts committed
        fresh = [_as_int(a.get("attempt")) for a in self.ledger["attempts"] if a.get("fresh_start")]
        floor = max(fresh, default=0)
        return [c for c in self.ledger["checkpoints"] if _as_int(c.get("attempt")) >= floor]

    @property
    def incomplete(self) -> list[_Entry]:
        return [e for e in self.entries if e.kind == "ckpt" and not e.complete]

    @property
    def tmp(self) -> list[_Entry]:
        return [e for e in self.entries if e.kind == "tmp"]

    @property
    def is_retry(self) -> bool:
        return bool(self.earlier_attempts) or (self.restarts or 0) > 0

    def describe(self) -> str:
        if not self.exists:
            return f"{self.directory} does not exist"
        parts = []
        complete = [e.name for e in self.entries if e.complete]
        if complete:
            parts.append(f"complete checkpoints {_names(complete)}")
        if self.incomplete:
            parts.append(f"incomplete checkpoint dirs {_names([e.name for e in self.incomplete])}")
        if self.tmp:
            parts.append(f"unfinished tmp dirs {_names([e.name for e in self.tmp])}")
        if self.others:
            parts.append(f"other entries {_names(sorted(self.others))}")
        text = f"{self.directory} holds " + ("; ".join(parts) if parts else "nothing but logs")
        if self.earlier_attempts or self.committed:
            text += (
                f"; its ledger records {len(self.earlier_attempts)} earlier attempt(s) and "
                f"{len(self.committed)} committed checkpoint(s)"
            )
        if self.restarts:
            text += f"; restart count is {self.restarts}"
        return text


def _names(names: list[str], limit: int = 8) -> str:
    shown = ", ".join(names[:limit])
    return f"[{shown}{', ...' if len(names) > limit else ''}] ({len(names)})"


def _ignored(name: str) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in IGNORED_FOR_EMPTINESS)


def _view(directory: str, markers: Iterable[str] | None) -> _View:
    restarts = restart_count()
    if not os.path.lexists(directory):
        return _View(directory, False, [], [], _empty_ledger(), [], restarts)
    if not os.path.isdir(directory):
        raise ResumeError(f"output dir {directory} exists but is not a directory")
    entries, others = _scan(directory, markers)
    ledger = read_ledger(directory)
    own = _RECORDED_ATTEMPTS.get(_key(directory))
    earlier = [a for a in ledger["attempts"] if own is None or a.get("attempt") != own]
    visible = [name for name in others if not _ignored(name)]
    return _View(directory, True, entries, visible, ledger, earlier, restarts)


def _resume_kind(resume: Any) -> str:
    if resume is None or resume is False:
        return "auto"
    if resume is True:
        return "requested"
    if isinstance(resume, str):
        word = resume.strip().lower()
        if word in ("", "auto", "none", "false", "no"):
            return "auto"
        if word in ("latest", "last", "true", "yes"):
            return "requested"
        return "path"
    if isinstance(resume, os.PathLike):
        return "path"
    raise TypeError(f"resume must be None, a bool, 'auto', 'latest' or a path, got {resume!r}")


def _warn_fresh_start(view: _View) -> None:
    if not any(e.complete for e in view.entries):
        return
    message = (
        "fresh start requested, but %s already holds complete checkpoints (%s); they are not "
        "deleted, and a later automatic resume (a retry of this run) may pick the newest of them"
    )
    if view.is_retry:
        message += (
            ". This looks like a retry itself: if the fresh-start flag or "
            f"{FRESH_START_ENV} sits in the job spec, every retry restarts from scratch"
        )
    logger.warning(message, view.directory, view.describe())


def _check_path(resume: Any, markers: Iterable[str] | None) -> str:
    path = _fspath(resume)
    if not os.path.exists(path):
        raise ResumeError(
            f"resume checkpoint {path} does not exist; refusing to start from scratch instead. "
            "Fix the path, or drop the explicit resume path to start fresh."
        )
    if not is_complete(path, markers=markers):
        hint = ""
        if os.path.isdir(path):
            inner = find_latest_complete(path, markers=markers)
            if inner is not None:
                hint = f" It is an output dir whose latest complete checkpoint is {inner}."
        raise ResumeError(
            f"resume checkpoint {path} exists but is not complete (no completion marker among "
            f"{', '.join(_markers(markers))}): a save was interrupted, or it is not a "
            f"checkpoint dir.{hint}"
        )
    return path


def _auto_decision(view: _View) -> str | None:
    """The policy table for an automatic resume; returns a path, None, or raises."""
    if not view.exists:
        logger.info("%s does not exist: first run, starting from scratch", view.directory)
        return None
    best = _latest(view.entries)
    if best is not None:
        newer = [e.name for e in view.entries if not e.complete and e.step > best.step]
        if newer:
            logger.warning(
                "skipping unfinished checkpoint dirs newer than %s: %s", best.name, newer
            )
        logger.info("resuming from %s", best.path)
        return best.path
    if view.committed:
        last = view.committed[-1]
        raise ResumeError(
            f"the ledger in {view.directory} shows attempt {last.get('attempt')} committed "
            f"checkpoint {last.get('path')} (step {last.get('step')}), but no complete "
            f"checkpoint is there now: wrong output dir, or the checkpoints were lost. "
            f"Found: {view.describe()}. {_FRESH_HINT}"
        )
    if view.incomplete:
        raise ResumeError(
            f"{view.directory} holds only incomplete checkpoint dirs "
            f"{_names([e.name for e in view.incomplete])} (no completion marker); an earlier "
            "save was interrupted or its framework writes no marker (call mark_complete). "
            f"Found: {view.describe()}. {_FRESH_HINT}"
        )
    if view.tmp and not view.is_retry:
        raise ResumeError(
            f"{view.directory} holds only unfinished checkpoint tmp dirs "
            f"{_names([e.name for e in view.tmp])} and no ledger of an earlier attempt. "
            f"Found: {view.describe()}. {_FRESH_HINT}"
        )
    if view.others or view.tmp:
        if view.is_retry:
            logger.info(
                "%s: retry of an attempt that never committed a checkpoint (%s); starting "
                "from scratch",
                view.directory,
                view.describe(),
            )
            return None
        raise ResumeError(
            f"output dir {view.directory} exists and is not empty but holds no checkpoint, and "
            f"nothing shows this is a retry; pass a fresh-start flag or another dir. Found: "
            f"{view.describe()}. {_FRESH_HINT}"
        )
    logger.info("%s is empty (ignoring logs): first run, starting from scratch", view.directory)
    return None


def _decide_on_rank0(decide: Callable[[], str | None], collective: bool) -> str | None:
    """Run ``decide`` on rank 0 and broadcast its result (or error) to every rank."""
    dist = _torch_dist() if collective else None
    if dist is None or int(dist.get_world_size()) == 1:
        return decide()
    if int(dist.get_rank()) == 0:
        failure: BaseException | None = None
        result: str | None = None
        try:
            result = decide()
            payload: list[Any] = [("ok", result)]
        except Exception as exc:  # every rank must learn of it, or they hang in the broadcast
            failure = exc
            text = str(exc) if isinstance(exc, ResumeError) else f"{type(exc).__name__}: {exc}"
            payload = [("error", f"rank 0: {text}")]
        dist.broadcast_object_list(payload, src=0)
        if failure is not None:
            raise failure
        return result
    received: list[Any] = [None]
    dist.broadcast_object_list(received, src=0)
    kind, value = received[0]
    if kind == "error":
        raise ResumeError(value)
    return value


def _fresh(fresh_start: bool) -> bool:
    return bool(fresh_start) or _env_flag(FRESH_START_ENV, False)


def _proceed(directory: str, record: bool, fresh: bool, resumed_from: str | None) -> None:
    if record:
        record_attempt(directory, fresh_start=fresh, resumed_from=resumed_from)


def resolve_resume(
    output_dir: StrPath,
    resume: Any = None,
    *,
    fresh_start: bool = False,
    markers: Iterable[str] | None = None,
    record: bool = True,
    collective: bool = True,
) -> str | None:
    """Decide where training starts: a checkpoint path to resume from, or None for step 0.

    ``resume``: a path (must exist and be complete, else :class:`ResumeError`); ``True`` /
    ``"latest"`` (resume required: the latest complete checkpoint, else error unless fresh
    start); ``None`` / ``False`` / ``"auto"`` (resume if possible, start fresh only when that
    is clearly legitimate). Fresh start is explicit via ``fresh_start=True`` or env
    ``CKPT_LINT_FRESH_START=1``. The policy table:

    * auto, dir missing or empty (ignoring :data:`IGNORED_FOR_EMPTINESS`: logs, trackers, the
      ledger) → None;
    * auto, complete checkpoint present → the latest one;
    * auto, ledger says an earlier attempt committed a checkpoint but none is found → error;
    * auto, only incomplete checkpoint dirs → error listing them;
    * auto, non-empty, no checkpoint, not a retry → error ("exists and is not empty; pass a
      fresh-start flag or another dir");
    * auto, a retry (earlier attempt in the ledger, or :func:`restart_count` > 0) that never
      committed → None with an info log (its unfinished ``*.tmp`` dirs are ignored);
    * fresh start explicit → None, and nothing is ever deleted (an explicit resume *path*
      still wins and is checked).

    When training may proceed, the attempt is appended to the ledger (``record=False`` to
    skip), which creates ``output_dir`` if needed. Error messages say what was found and how
    to start fresh.

    Single process: decides from the filesystem and the ledger.
    torch.distributed: rank 0 decides and broadcasts (``broadcast_object_list``) so all ranks
    return the same path; if rank 0 raises, every rank raises :class:`ResumeError` with rank
    0's message. All ranks must call it (it is a collective); where only some ranks reach the
    call (e.g. under ``if accelerator.is_main_process:``) pass ``collective=False``, and each
    caller then decides on its own.
    Env-only multi-process: each process decides from the same shared filesystem; only the
    committer writes the ledger, and it does so only after deciding to proceed, so the others
    reach the same decision.
    """
    directory = _fspath(output_dir)
    kind = _resume_kind(resume)
    fresh = _fresh(fresh_start)

    def decide() -> str | None:
        if kind == "path":
            path = _check_path(resume, markers)
            _proceed(directory, record, fresh, path)
            return path
        view = _view(directory, markers)
        if fresh:
            _warn_fresh_start(view)
            logger.info("fresh start requested for %s; starting from scratch", directory)
            _proceed(directory, record, True, None)
            return None
        if kind == "requested":
            best = _latest(view.entries)
            if best is None:
                raise ResumeError(
                    f"resume was requested but there is no complete checkpoint in {directory}. "
                    f"Found: {view.describe()}. {_FRESH_HINT}"
                )
            _proceed(directory, record, False, best.path)
            return best.path
        result = _auto_decision(view)
        _proceed(directory, record, False, result)
        return result

    return _decide_on_rank0(decide, collective)


def check_fresh_start(
    output_dir: StrPath,
    message: str = "",
    *,
    resume_requested: bool = False,
    fresh_start: bool = False,
    markers: Iterable[str] | None = None,
    record: bool = True,
    collective: bool = True,
) -> None:
    """Guard for the spot where a script found no checkpoint and is about to train from step 0
    (what the CKP003 fix puts in place of ``logger.warning("... starting from scratch")``).

    Returns None when a fresh start is legitimate: ``output_dir`` missing or empty (ignoring
    logs; an existing EMPTY dir is a first run, as scripts create it before looking), a retry
    whose earlier attempts never committed, or fresh start explicit (``fresh_start=True`` or
    ``CKPT_LINT_FRESH_START=1``). Otherwise raises :class:`ResumeError` whose message starts
    with ``message`` and says what was found: resume was requested (``resume_requested``), a
    complete checkpoint exists that the caller missed, the ledger shows a committed
    checkpoint, incomplete checkpoint dirs, or unexplained content. Never deletes anything.
    When it returns, the attempt is recorded in the ledger (``record=False`` to skip).

    Single process: decides from the filesystem and the ledger.
    torch.distributed: rank 0 decides and broadcasts; all ranks return or all raise (rank 0's
    message). All ranks must call it, unless ``collective=False`` (for call sites that only
    some ranks reach), when each caller decides on its own.
    Env-only multi-process: each process decides from the same filesystem (see
    :func:`resolve_resume`).
    """
    directory = _fspath(output_dir)
    fresh = _fresh(fresh_start)
    lead = f"{message.strip()} -- " if message and message.strip() else ""

    def decide() -> str | None:
        view = _view(directory, markers)
        if fresh:
            _warn_fresh_start(view)
            _proceed(directory, record, True, None)
            return None
        if resume_requested:
            raise ResumeError(
                f"{lead}resume was requested but no checkpoint was found. Found: "
                f"{view.describe()}. {_FRESH_HINT}"
            )
        try:
            found = _auto_decision(view)
        except ResumeError as exc:
            raise ResumeError(f"{lead}refusing to start from scratch: {exc}") from None
        if found is not None:
            raise ResumeError(
                f"{lead}refusing to start from scratch: {directory} holds the complete "
                f"checkpoint {found}, which the calling code did not pick up; resume from it "
                f"(resolve_resume finds it). {_FRESH_HINT}"
            )
        _proceed(directory, record, False, None)
        return None

    _decide_on_rank0(decide, collective)
