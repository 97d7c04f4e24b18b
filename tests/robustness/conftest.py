"""Hypothesis profiles for the robustness fuzz: `ci` (bounded, derandomized) and `long` (local).

Pick one with CKPT_LINT_FUZZ_PROFILE=long. The profiles are applied per test (not loaded
globally) so other hypothesis tests in the suite keep their own settings.
"""

from __future__ import annotations

import os

from hypothesis import settings

from benchmarks.fuzz import SUPPRESS

settings.register_profile(
    "ci",
    max_examples=150,
    derandomize=True,  # CI must be deterministic: the same programs every run
    database=None,
    deadline=None,
    suppress_health_check=SUPPRESS,
    print_blob=True,
)
settings.register_profile(
    "long",
    max_examples=3000,
    derandomize=False,
    deadline=None,
    suppress_health_check=SUPPRESS,
    print_blob=True,
)

FUZZ_PROFILE = os.environ.get("CKPT_LINT_FUZZ_PROFILE", "ci")
