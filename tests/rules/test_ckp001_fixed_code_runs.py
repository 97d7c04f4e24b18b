"""The fixed seed shape, executed: same directory on a retry, a new one for new hyperparameters."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ckpt_lint.engine.api import fix_sources, make_settings

SEED_SHAPED_SCRIPT = """\
import argparse
import os
import sys
import time


def parse_args(argv):
    parser = argparse.ArgumentParser()
    parser.add_argument("--exp_name", default="dpo")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--learning_rate", type=float, default=5e-7)
    parser.add_argument("--output_dir", default="output")
    return parser.parse_args(argv)


def main(argv):
    args = parse_args(argv)
    args.exp_name = f"{args.exp_name}__{args.seed}__{int(time.time())}"
    args.output_dir = os.path.join(args.output_dir, args.exp_name)
    os.makedirs(args.output_dir, exist_ok=True)
    print(args.output_dir)


if __name__ == "__main__":
    main(sys.argv[1:])
"""

# the attempt "runs" at a chosen wall-clock time: time.time is replaced before the script starts
LAUNCH = (
    "import runpy, sys, time\n"
    "fake_now = float(sys.argv[1])\n"
    "time.time = lambda: fake_now\n"
    "sys.argv = [sys.argv[2], *sys.argv[3:]]\n"
    "runpy.run_path(sys.argv[0], run_name='__main__')\n"
)


@pytest.fixture(scope="module")
def fixed_script() -> str:
    settings = make_settings(codes=["CKP001"])
    out = fix_sources({"train_dpo.py": SEED_SHAPED_SCRIPT}, settings, unsafe=True)["train_dpo.py"]
    assert "time.time()" not in out
    assert "stable_run_id(args)" in out
    return out


def attempt(script: Path, now: float, *args: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", LAUNCH, str(now), str(script), *args],
        cwd=script.parent,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    out_dir = proc.stdout.strip()
    assert (script.parent / out_dir).is_dir()
    return out_dir


def test_the_unfixed_script_gets_a_new_directory_on_every_retry(tmp_path):
    script = tmp_path / "train_dpo.py"
    script.write_text(SEED_SHAPED_SCRIPT, encoding="utf-8")
    assert attempt(script, 1_700_000_000.0) != attempt(script, 1_700_003_600.0)


def test_the_fixed_script_finds_the_same_directory_on_a_retry(tmp_path, fixed_script):
    script = tmp_path / "train_dpo.py"
    script.write_text(fixed_script, encoding="utf-8")
    first = attempt(script, 1_700_000_000.0, "--seed", "3")
    retry = attempt(script, 1_700_003_600.0, "--seed", "3")
    assert first == retry
    assert first.startswith("output/dpo__3__")


def test_the_fixed_script_separates_different_hyperparameters(tmp_path, fixed_script):
    script = tmp_path / "train_dpo.py"
    script.write_text(fixed_script, encoding="utf-8")
    base = attempt(script, 1_700_000_000.0, "--learning_rate", "5e-7")
    other = attempt(script, 1_700_000_000.0, "--learning_rate", "1e-6")
    assert base != other
    # the output root and the experiment label are not hyperparameters
    moved = attempt(script, 1_700_000_000.0, "--learning_rate", "5e-7", "--output_dir", "elsewhere")
    assert Path(moved).name == Path(base).name
