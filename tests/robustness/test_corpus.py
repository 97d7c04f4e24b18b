"""A bounded slice of the real-code corpus run (`python -m benchmarks.corpus` does all of it)."""

from __future__ import annotations

import sysconfig
from pathlib import Path

import pytest

from benchmarks.corpus import corpus_files, run_corpus

STDLIB = Path(sysconfig.get_paths()["stdlib"])
SITE = Path(sysconfig.get_paths()["purelib"])
TOPICS = STDLIB / "pydoc_data" / "topics.py"  # one huge dict literal: LibCST hits RecursionError
MAX_BYTES = 40_000  # keep the CI slice quick; the full run covers the big files


def _spread(files: list[Path], count: int) -> list[Path]:
    """Every k-th file: deterministic, and spread over the whole tree rather than one package."""
    small = [p for p in files if p.stat().st_size <= MAX_BYTES]
    step = max(1, len(small) // count)
    return small[::step][:count]


@pytest.fixture(scope="module")
def corpus_stats():
    stdlib = corpus_files([STDLIB])
    files = [TOPICS, *_spread([p for p in stdlib if p != TOPICS], 150)]
    files += _spread(corpus_files([SITE / "libcst"]), 5) + _spread(corpus_files([SITE / "pip"]), 5)
    return files, run_corpus(files, jobs=2, chunk=100)


def test_no_internal_errors_on_real_code(corpus_stats):
    files, stats = corpus_stats
    assert stats.internal_errors == []
    assert stats.files_checked == len(files) >= 150


def test_recursion_in_the_parser_is_a_diagnostic_and_the_run_continues(corpus_stats):
    files, stats = corpus_stats
    # topics.py is too deep for LibCST's parser (on CPython 3.11 with libcst 1.9 it is): if so,
    # it is the one CKP900 and every other file still parsed
    assert set(stats.ckp900_by_reason) <= {"too deeply nested"}
    assert sum(stats.ckp900_by_reason.values()) <= 1
    assert stats.files_parsed + sum(stats.ckp900_by_reason.values()) == len(files)


def test_fixes_on_real_code_verify_and_are_idempotent(corpus_stats):
    _, stats = corpus_stats
    assert stats.verification_failures == []
    assert stats.idempotence_failures == []
    assert stats.fix_rejections == []
