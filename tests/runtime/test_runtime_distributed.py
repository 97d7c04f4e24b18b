"""A real 4-rank torch.distributed (gloo, CPU) group: identity and rank-0 decisions."""

from __future__ import annotations

import multiprocessing
import os
import queue
import socket
from pathlib import Path
from typing import Any

import pytest

from tests.runtime import workers

pytest.importorskip("torch")
pytest.importorskip("numpy")  # broadcast_object_list needs it

WORLD = 4


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def ranks(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    root = tmp_path_factory.mktemp("gloo")
    # a forkserver that imported torch once forks the 4 ranks: importing torch in 4 spawned
    # processes at once on 2 cores is most of this test's time
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["torch.distributed", "tests.runtime.workers"])
    results = ctx.Queue()
    port = _free_port()
    procs = [
        ctx.Process(target=workers.gloo_worker, args=(rank, WORLD, port, str(root), results))
        for rank in range(WORLD)
    ]
    saved = {k: os.environ.pop(k) for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK") if k in os.environ}
    try:
        for proc in procs:
            proc.start()
        collected = [results.get(timeout=300) for _ in range(WORLD)]
    except queue.Empty:
        pytest.fail("a gloo rank died or hung")
    finally:
        os.environ.update(saved)
        for proc in procs:
            proc.join(timeout=60)
            if proc.is_alive():
                proc.kill()
    by_rank = sorted(collected, key=lambda item: item["rank"])
    crashes = [item["crash"] for item in by_rank if "crash" in item]
    assert not crashes, "\n".join(crashes)
    return by_rank


def test_rank_comes_from_the_process_group(ranks: list[dict[str, Any]]) -> None:
    for item in ranks:
        assert item["info"] == (item["rank"], WORLD, "torch.distributed")
        assert item["agreeing_env"] == item["rank"]


def test_env_rank_disagreeing_with_the_group_raises(ranks: list[dict[str, Any]]) -> None:
    for item in ranks:
        message = item["disagreeing_env"]
        assert message is not None
        assert f"rank {item['rank']} of {WORLD}" in message and "RANK=" in message


def test_resolve_resume_returns_rank_0s_checkpoint_everywhere(
    ranks: list[dict[str, Any]],
) -> None:
    answers = {item["a"] for item in ranks}
    assert len(answers) == 1
    kind, path = answers.pop()
    assert kind == "ok" and Path(path).name == "step_7" and "rank0" in path
    # only rank 0 wrote a ledger (the other ranks' dirs stay untouched)
    assert [item["a_ledger"] for item in ranks] == [True, False, False, False]
    assert {item["e"] for item in ranks} == {("ok", path)}


def test_rank_0s_error_is_raised_on_every_rank(ranks: list[dict[str, Any]]) -> None:
    for item in ranks:
        kind, message = item["b"]
        assert kind == "ResumeError"
        assert "exists and is not empty" in message and "foreign.bin" in message


def test_check_fresh_start_follows_rank_0(ranks: list[dict[str, Any]]) -> None:
    # rank 0's dir is empty, the others hold junk: everyone proceeds
    assert [item["c"] for item in ranks] == [("ok", None)] * WORLD
    for item in ranks:
        kind, message = item["d"]
        assert kind == "ResumeError"
        assert "Starting from scratch." in message and "foreign.bin" in message


def test_only_global_rank_0_deletes(ranks: list[dict[str, Any]]) -> None:
    assert [item["f"] for item in ranks] == [True, False, False, False]
    assert all(item["f_gone"] for item in ranks)


def test_non_collective_calls_on_rank_0_alone(ranks: list[dict[str, Any]]) -> None:
    assert [item["g"] for item in ranks] == [(None, None), None, None, None]
