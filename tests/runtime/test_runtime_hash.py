"""Deterministic run identity: config_hash, stable_run_id, stable_run_dir, scheduler ids."""

from __future__ import annotations

import argparse
import dataclasses
import enum
import json
import os
import subprocess
import sys
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ckpt_lint import runtime as rt
from tests.runtime.conftest import clean_environ

HYPER = {"lr": 2e-5, "seed": 42, "model": "olmo-7b", "batch_size": 8, "dpo_beta": 0.1}


@dataclasses.dataclass
class Args:
    lr: float = 2e-5
    seed: int = 42
    model: str = "olmo-7b"
    batch_size: int = 8
    dpo_beta: float = 0.1


class Plain:
    def __init__(self) -> None:
        self.lr = 2e-5
        self.seed = 42
        self.model = "olmo-7b"
        self.batch_size = 8
        self.dpo_beta = 0.1


class Precision(enum.Enum):
    BF16 = "bf16"
    FP32 = "fp32"


def test_equivalent_dict_namespace_dataclass_and_object_hash_alike() -> None:
    expected = rt.config_hash(HYPER)
    assert rt.config_hash(argparse.Namespace(**HYPER)) == expected
    assert rt.config_hash(Args()) == expected
    assert rt.config_hash(Plain()) == expected
    assert len(expected) == 8 and int(expected, 16) >= 0


@pytest.mark.parametrize(
    "change",
    [{"lr": 3e-5}, {"seed": 43}, {"model": "olmo-1b"}, {"batch_size": 16}, {"extra_flag": True}],
)
def test_a_hyperparameter_change_changes_the_hash(change: dict[str, Any]) -> None:
    assert rt.config_hash({**HYPER, **change}) != rt.config_hash(HYPER)


def _literal_volatile_keys() -> list[str]:
    return sorted(k for k in rt.VOLATILE_KEYS if not any(c in k for c in "*?["))


@pytest.mark.parametrize("key", _literal_volatile_keys())
def test_volatile_keys_are_ignored(key: str) -> None:
    assert rt.config_hash({**HYPER, key: "whatever-123"}) == rt.config_hash(HYPER)


@pytest.mark.parametrize(
    "key",
    [
        "wandb_project",
        "wandb_entity",
        "use_auth_token",
        "openai_api_key",
        "client_secret",
        "db_password",
        "hf_access_token",
    ],
)
def test_volatile_patterns_are_ignored(key: str) -> None:
    assert rt.config_hash({**HYPER, key: "s3cr3t"}) == rt.config_hash(HYPER)


@pytest.mark.parametrize("key", ["max_tokens", "pad_token", "tokenizer_name", "seed"])
def test_token_like_hyperparameters_and_seed_are_kept(key: str) -> None:
    assert rt.config_hash({**HYPER, key: "a"}) != rt.config_hash({**HYPER, key: "b"})


def test_private_keys_are_ignored_and_per_process_keys_at_any_depth() -> None:
    nested = {"training": {"output_dir": "/a", "logging_dir": "runs/Nov01_12-00", "lr": 1}}
    moved = {"training": {"output_dir": "/b", "logging_dir": "runs/Nov02_13-00", "lr": 1}}
    assert rt.config_hash(nested) == rt.config_hash(moved)
    assert rt.config_hash({**HYPER, "_n_gpu": 8}) == rt.config_hash(HYPER)
    assert rt.config_hash({"training": {"lr": 1}}) != rt.config_hash({"training": {"lr": 2}})


def test_exclude_adds_and_include_keeps() -> None:
    assert rt.config_hash({**HYPER, "notes": "a"}, exclude=["notes"]) == rt.config_hash(HYPER)
    lora = [{**HYPER, "rank": r} for r in (8, 16)]
    assert rt.config_hash(lora[0]) == rt.config_hash(lora[1])  # "rank" is volatile by default
    assert rt.config_hash(lora[0], include=["rank"]) != rt.config_hash(lora[1], include=["rank"])


def test_canonical_forms() -> None:
    assert rt.config_hash({"p": Path("/data/x")}) == rt.config_hash({"p": "/data/x"})
    assert rt.config_hash({"p": PurePosixPath("/data/x")}) == rt.config_hash({"p": "/data/x"})
    assert rt.config_hash({"prec": Precision.BF16}) == rt.config_hash({"prec": "bf16"})
    assert rt.config_hash({"s": {"b", "a", "c"}}) == rt.config_hash({"s": ["a", "b", "c"]})
    assert rt.config_hash({"t": (1, 2)}) == rt.config_hash({"t": [1, 2]})
    assert rt.config_hash({"n": argparse.Namespace(a=1)}) == rt.config_hash({"n": {"a": 1}})
    assert rt.config_hash({"x": 1}) != rt.config_hash({"x": 1.0})
    assert rt.config_hash({"x": float("nan")}) != rt.config_hash({"x": "nan"})
    assert rt.config_hash(HYPER, length=64) != rt.config_hash(HYPER, length=63)
    assert len(rt.config_hash(HYPER, length=12)) == 12
    with pytest.raises(ValueError):
        rt.config_hash(HYPER, length=0)


def test_cycles_do_not_hang() -> None:
    loop: dict[str, Any] = {"a": 1}
    loop["self"] = loop
    assert rt.config_hash(loop) == rt.config_hash({"a": 1, "self": "<cycle>"})


def test_exp_name_reassigned_with_the_id_keeps_the_id() -> None:
    # the CKP001 fix: args.exp_name = f"{args.exp_name}__{args.seed}__{stable_run_id(args)}"
    args = argparse.Namespace(**HYPER, exp_name="dpo", run_name="dpo", output_dir="/out")
    before = rt.stable_run_id(args)
    args.exp_name = f"{args.exp_name}__{args.seed}__{rt.stable_run_id(args)}"
    args.run_name = args.exp_name
    args.output_dir = os.path.join(args.output_dir, args.exp_name)
    assert rt.stable_run_id(args) == before


@settings(max_examples=60, deadline=None)
@given(
    st.dictionaries(
        st.text(alphabet="abcdefghij", min_size=1, max_size=6),
        st.one_of(st.integers(), st.floats(allow_nan=False), st.text(), st.booleans()),
        min_size=1,
        max_size=8,
    ),
    st.randoms(use_true_random=False),
)
def test_key_order_never_matters(config: dict[str, Any], rnd: Any) -> None:
    items = list(config.items())
    rnd.shuffle(items)
    assert rt.config_hash(dict(items)) == rt.config_hash(config)


_CROSS_PROCESS = """
import functools, json, sys
from ckpt_lint import runtime as rt
def f(x): return x
config = {
    "tags": {"alpha", "beta", "gamma", "delta"},
    "frozen": frozenset({"x", "y", "z"}),
    "obj": object(),
    "fn": f,
    "lam": lambda x: x,
    "nested": {"b": 1, "a": [1, 2, {"z", "w"}]},
}
print(json.dumps([rt.config_hash(config), rt.stable_run_id(None)]))
"""


def test_stable_across_processes_and_hash_seeds(tmp_path: Path) -> None:
    outputs = set()
    for seed in ("0", "1", "12345", "random"):
        env = clean_environ(PYTHONHASHSEED=seed)
        result = subprocess.run(
            [sys.executable, "-c", _CROSS_PROCESS, "--lr", "0.1", "--local_rank=3"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            cwd=tmp_path,
        )
        outputs.add(result.stdout.strip())
    assert len(outputs) == 1
    config_digest, argv_id = json.loads(outputs.pop())
    assert argv_id != rt.config_hash({})  # argv was hashed, not nothing


def _argv_id(monkeypatch: pytest.MonkeyPatch, *argv: str, **kw: Any) -> str:
    monkeypatch.setattr(sys, "argv", ["train.py", *argv])
    return rt.stable_run_id(**kw)


def test_argv_id_drops_per_process_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    base = _argv_id(monkeypatch, "--lr", "0.1", "--seed", "1")
    assert _argv_id(monkeypatch, "--local_rank=3", "--lr", "0.1", "--seed", "1") == base
    assert _argv_id(monkeypatch, "--local-rank", "5", "--lr", "0.1", "--seed", "1") == base
    assert _argv_id(monkeypatch, "--lr", "0.1", "--output_dir", "/x/y", "--seed", "1") == base
    assert _argv_id(monkeypatch, "--lr", "0.1", "--seed", "1", "--report_to=wandb") == base


def test_argv_id_keeps_hyperparameters(monkeypatch: pytest.MonkeyPatch) -> None:
    base = _argv_id(monkeypatch, "--lr", "0.1", "--seed", "1")
    assert _argv_id(monkeypatch, "--lr", "0.2", "--seed", "1") != base
    assert _argv_id(monkeypatch, "--lr", "0.1", "--seed", "2") != base
    # a boolean volatile flag does not swallow the positional after it
    with_cfg = _argv_id(monkeypatch, "--overwrite_output_dir", "a.yaml")
    assert with_cfg != _argv_id(monkeypatch, "--overwrite_output_dir", "b.yaml")
    # a negative number is a value, not a flag
    assert _argv_id(monkeypatch, "--local_rank", "-1", "--lr", "0.1", "--seed", "1") == base


def test_scheduler_id_sources(monkeypatch: pytest.MonkeyPatch) -> None:
    assert rt.scheduler_id() is None
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "none")
    assert rt.scheduler_id() is None
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "0b5f2f8e-6bd4-4c1e-a8e1-2a4f3c1d9e77")
    assert rt.scheduler_id() is None  # --standalone: a fresh uuid every attempt
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "my-rdzv-id")
    assert rt.scheduler_id() == "torchelastic:my-rdzv-id"
    monkeypatch.setenv("BEAKER_JOB_ID", "01JOB")  # per attempt: never used
    monkeypatch.setenv("BEAKER_EXPERIMENT_ID", "01EXP")
    assert rt.scheduler_id() == "beaker:01EXP"
    monkeypatch.setenv("BEAKER_WORKLOAD_ID", "01WL")
    monkeypatch.setenv("BEAKER_TASK_ID", "01TASK")
    assert rt.scheduler_id() == "beaker:01WL:01TASK"
    monkeypatch.setenv("SLURM_JOB_ID", "777")
    assert rt.scheduler_id() == "slurm:777"
    monkeypatch.setenv("SLURM_ARRAY_JOB_ID", "700")
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "3")
    assert rt.scheduler_id() == "slurm:700_3"


def test_include_scheduler_id_is_opt_in_and_attempt_independent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    plain = rt.stable_run_id(HYPER)
    monkeypatch.setenv("SLURM_JOB_ID", "1")
    monkeypatch.setenv("SLURM_RESTART_COUNT", "0")
    assert rt.stable_run_id(HYPER) == plain
    first = rt.stable_run_id(HYPER, include_scheduler_id=True)
    assert first != plain
    monkeypatch.setenv("SLURM_RESTART_COUNT", "3")  # a requeue keeps SLURM_JOB_ID
    assert rt.stable_run_id(HYPER, include_scheduler_id=True) == first
    monkeypatch.setenv("SLURM_JOB_ID", "2")
    assert rt.stable_run_id(HYPER, include_scheduler_id=True) != first
    monkeypatch.delenv("SLURM_JOB_ID")
    monkeypatch.setenv("BEAKER_WORKLOAD_ID", "wl")
    monkeypatch.setenv("BEAKER_JOB_ID", "job-1")
    beaker = rt.stable_run_id(HYPER, include_scheduler_id=True)
    monkeypatch.setenv("BEAKER_JOB_ID", "job-2")  # a Beaker retry
    assert rt.stable_run_id(HYPER, include_scheduler_id=True) == beaker


def test_stable_run_dir(tmp_path: Path) -> None:
    run_dir = rt.stable_run_dir(tmp_path, "dpo_7b", HYPER)
    assert run_dir == os.path.join(str(tmp_path), f"dpo_7b__{rt.stable_run_id(HYPER)}")
    assert rt.stable_run_dir(tmp_path, "", HYPER, length=4) == os.path.join(
        str(tmp_path), rt.stable_run_id(HYPER, length=4)
    )
    assert not os.path.exists(run_dir)


def test_restart_count(monkeypatch: pytest.MonkeyPatch) -> None:
    assert rt.restart_count() is None
    monkeypatch.setenv("TORCHELASTIC_RESTART_COUNT", "0")
    assert rt.restart_count() == 0
    monkeypatch.setenv("SLURM_RESTART_COUNT", "2")
    assert rt.restart_count() == 2
    monkeypatch.setenv("SLURM_RESTART_COUNT", "junk")
    assert rt.restart_count() == 0
