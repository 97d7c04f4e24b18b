"""Worker body for the CKP002 execution test (importable by spawn children)."""

from __future__ import annotations

import importlib
import os
import sys
import traceback
from typing import Any


def rotate_worker(
    rank: int,
    world: int,
    code_dir: str,
    round_dirs: list[str],
    keep: int,
    barrier: Any,
    results: Any,
) -> None:
    """Act as global rank `rank` of `world` single-process nodes; race every round."""
    os.environ.update({"RANK": str(rank), "WORLD_SIZE": str(world), "LOCAL_RANK": "0"})
    sys.path.insert(0, code_dir)
    errors: list[str] = []
    try:
        trainer = importlib.import_module("trainer")
        for directory in round_dirs:
            barrier.wait(timeout=60)
            try:
                trainer.after_save(directory, keep)
            except OSError as exc:
                errors.append(type(exc).__name__)
    except Exception:
        errors.append("setup: " + traceback.format_exc())
    results.put((rank, errors))
