"""Bodies of the real worker processes the runtime tests spawn (importable by spawn children)."""

from __future__ import annotations

import os
import shutil
import traceback
from typing import Any

FILES_PER_SUBDIR = 3
SUBDIRS = 2
KEEP = 2


def _fill(directory: str, tag: str) -> None:
    for sub in range(SUBDIRS):
        subdir = os.path.join(directory, f"shard_{sub}")
        os.makedirs(subdir, exist_ok=True)
        for index in range(FILES_PER_SUBDIR):
            with open(os.path.join(subdir, f"part_{index}.bin"), "w") as handle:
                handle.write(f"{tag}:{sub}:{index}\n")


def round_steps(round_index: int) -> tuple[int, int, int, int]:
    """(complete, complete, incomplete, tmp) step numbers created in one round."""
    base = 100 * (round_index + 1)
    return base + 10, base + 20, base + 30, base + 40


def make_round(rt: Any, directory: str, round_index: int) -> None:
    """Rank 0's part of a round: two committed checkpoints, one being written, one tmp dir."""
    first, second, partial, tmp_step = round_steps(round_index)
    with rt.atomic_checkpoint_dir(os.path.join(directory, f"step_{first}")) as tmp:
        _fill(tmp, f"step_{first}")
    path = os.path.join(directory, f"step_{second}")
    os.makedirs(path)
    _fill(path, f"step_{second}")
    assert rt.mark_complete(path)
    _fill(os.path.join(directory, f"step_{partial}"), "partial")
    _fill(os.path.join(directory, f"step_{tmp_step}.tmp"), "tmp")


def verify_round(rt: Any, directory: str, round_index: int) -> list[str]:
    """What is wrong with `directory` after every process rotated (empty list = fine)."""
    first, second, partial, tmp_step = round_steps(round_index)
    expected = {f"step_{first}", f"step_{second}", f"step_{partial}", f"step_{tmp_step}.tmp"}
    problems = []
    present = set(os.listdir(directory))
    if present != expected:
        problems.append(
            f"round {round_index}: extra {sorted(present - expected)}, "
            f"missing {sorted(expected - present)}"
        )
    for step in (first, second):
        path = os.path.join(directory, f"step_{step}")
        if not rt.is_complete(path):
            problems.append(f"round {round_index}: step_{step} lost its completion marker")
            continue
        count = sum(len(files) for _, _, files in os.walk(path))
        if count != SUBDIRS * FILES_PER_SUBDIR + 1:
            problems.append(f"round {round_index}: step_{step} has {count} files")
    if rt.find_latest_complete(directory) != os.path.join(directory, f"step_{second}"):
        problems.append(f"round {round_index}: newest complete is not step_{second}")
    return problems


def naive_rotate(directory: str, keep: int) -> None:
    """open_instruct's clean_last_n_checkpoints shape: list, sort by number, shutil.rmtree."""
    names = [n for n in os.listdir(directory) if n.startswith("step_") and "." not in n]
    names.sort(key=lambda n: int(n.split("_")[-1]))
    for name in names[: max(len(names) - keep, 0)]:
        shutil.rmtree(os.path.join(directory, name))


def rotation_worker(
    rank: int,
    world: int,
    root: str,
    modes: list[str],
    rounds: int,
    barrier: Any,
    results: Any,
) -> None:
    """One of `world` long-lived processes; runs every mode's rounds in lockstep with a Barrier.

    Modes: "gated" (real launcher identity, default shared storage: only rank 0 deletes),
    "per_node" (the seed bug: every process is local rank 0 of its own node and the storage is
    wrongly declared node-local, so all of them delete the same dirs at once), "plain_rmtree"
    (the control: every process runs shutil.rmtree, which must crash).
    """
    from ckpt_lint import runtime as rt

    for mode in modes:
        os.environ.update(RANK=str(rank), WORLD_SIZE=str(world))
        os.environ["LOCAL_RANK"] = "0" if mode == "per_node" else str(rank % 4)
        directory = os.path.join(root, mode)
        errors: list[str] = []
        problems: list[str] = []
        returned: list[list[str]] = []
        for round_index in range(rounds):
            try:
                if rank == 0:
                    make_round(rt, directory, round_index)
            except Exception:
                problems.append(traceback.format_exc())
            barrier.wait()
            try:
                if mode == "plain_rmtree":
                    naive_rotate(directory, KEEP)
                else:
                    shared = mode != "per_node"
                    returned.append(
                        rt.rotate_checkpoints(directory, KEEP, shared_filesystem=shared)
                    )
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
            barrier.wait()
            if rank == 0 and mode != "plain_rmtree":
                problems.extend(verify_round(rt, directory, round_index))
        results.put(
            {
                "rank": rank,
                "mode": mode,
                "errors": errors,
                "problems": problems,
                "returned": returned,
            }
        )


def gloo_worker(rank: int, world: int, port: int, root: str, results: Any) -> None:
    """A rank of a real 4-process gloo group exercising identity and rank-0 decisions."""
    out: dict[str, Any] = {"rank": rank}
    try:
        for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "CKPT_LINT_FRESH_START"):
            os.environ.pop(name, None)
        os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
        import torch.distributed as dist

        from ckpt_lint import runtime as rt

        dist.init_process_group(
            "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world
        )
        try:
            _gloo_checks(rt, dist, rank, world, root, out)
        finally:
            dist.destroy_process_group()
    except Exception:
        out["crash"] = traceback.format_exc()
    results.put(out)


def _outcome(call: Any) -> tuple[str, Any]:
    from ckpt_lint import runtime as rt

    try:
        return ("ok", call())
    except rt.ResumeError as exc:
        return ("ResumeError", str(exc))


def _gloo_checks(rt: Any, dist: Any, rank: int, world: int, root: str, out: dict) -> None:
    info = rt.process_info()
    out["info"] = (info.rank, info.world_size, info.source)
    os.environ["RANK"] = str(rank)
    out["agreeing_env"] = rt.process_info().rank
    os.environ["RANK"] = str((rank + 1) % world)
    try:
        rt.process_info()
        out["disagreeing_env"] = None
    except RuntimeError as exc:
        out["disagreeing_env"] = str(exc)
    os.environ["RANK"] = str(rank)

    def mine(case: str) -> str:
        # each rank gets its own dir: only rank 0's view may decide
        path = os.path.join(root, case, f"rank{rank}")
        os.makedirs(path, exist_ok=True)
        return path

    # A: rank 0 sees a complete checkpoint, the others see empty dirs
    a_dir = mine("a")
    if rank == 0:
        with rt.atomic_checkpoint_dir(os.path.join(a_dir, "step_7")) as tmp:
            open(os.path.join(tmp, "weights.bin"), "w").close()
    dist.barrier()
    out["a"] = _outcome(lambda: rt.resolve_resume(a_dir))
    out["a_ledger"] = os.path.exists(os.path.join(a_dir, rt.LEDGER_NAME))

    # B: rank 0 sees unexplained content (error), the others empty dirs (None locally)
    b_dir = mine("b")
    if rank == 0:
        with open(os.path.join(b_dir, "foreign.bin"), "w") as handle:
            handle.write("x")
    dist.barrier()
    out["b"] = _outcome(lambda: rt.resolve_resume(b_dir))

    # C: check_fresh_start: rank 0's dir is empty (fine), the others hold junk (error locally)
    c_dir = mine("c")
    if rank != 0:
        with open(os.path.join(c_dir, "foreign.bin"), "w") as handle:
            handle.write("x")
    dist.barrier()
    out["c"] = _outcome(lambda: rt.check_fresh_start(c_dir, "no checkpoint found"))

    # D: check_fresh_start error carries the caller's message to every rank
    d_dir = mine("d")
    if rank == 0:
        with open(os.path.join(d_dir, "foreign.bin"), "w") as handle:
            handle.write("x")
    dist.barrier()
    out["d"] = _outcome(lambda: rt.check_fresh_start(d_dir, "Starting from scratch."))

    # E: resume requested explicitly; rank 0 has a checkpoint
    out["e"] = _outcome(lambda: rt.resolve_resume(mine("a"), "latest"))

    # G: a rank-0-only call site opts out of the collective instead of deadlocking
    g_dir = mine("g")
    out["g"] = None
    if rank == 0:
        out["g"] = (
            rt.check_fresh_start(g_dir, "rank 0 only", collective=False),
            rt.resolve_resume(g_dir, collective=False),
        )
    dist.barrier()

    # F: deletion helpers: only global rank 0 deletes on shared storage
    f_dir = os.path.join(root, "f", "victim")
    if rank == 0:
        os.makedirs(f_dir, exist_ok=True)
    dist.barrier()
    out["f"] = rt.main_process_rmtree(f_dir)
    dist.barrier()
    out["f_gone"] = not os.path.exists(f_dir)
