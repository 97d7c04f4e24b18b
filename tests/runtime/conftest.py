"""Shared setup for the runtime tests: a clean launcher environment for every test."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from ckpt_lint import runtime as rt

ROOT = Path(__file__).resolve().parents[2]

# launcher / scheduler variables the runtime reads; a developer shell or CI may export some
_LAUNCHER_PREFIXES = (
    "OMPI_",
    "PMI_",
    "PMIX_",
    "MV2_",
    "JSM_",
    "SLURM_",
    "TORCHELASTIC_",
    "BEAKER_",
    "CKPT_LINT_",
)
_LAUNCHER_NAMES = (
    "RANK",
    "WORLD_SIZE",
    "LOCAL_RANK",
    "LOCAL_WORLD_SIZE",
    "GROUP_RANK",
    "NODE_RANK",
    "MPI_LOCALRANKID",
    "MPI_LOCALNRANKS",
    "MASTER_ADDR",
    "MASTER_PORT",
)


def is_launcher_var(name: str) -> bool:
    return name in _LAUNCHER_NAMES or name.startswith(_LAUNCHER_PREFIXES)


def clean_environ(**extra: str) -> dict[str, str]:
    """os.environ without launcher variables, plus `extra`, with this checkout importable."""
    env = {k: v for k, v in os.environ.items() if not is_launcher_var(k)}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.update(extra)
    return env


@pytest.fixture(autouse=True)
def _clean_launcher_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if is_launcher_var(name):
            monkeypatch.delenv(name)
    # "this process already recorded an attempt" must not leak between tests
    rt._RECORDED_ATTEMPTS.clear()
    assert (
        "torch.distributed" not in sys.modules
        or not sys.modules["torch.distributed"].is_initialized()
    )
