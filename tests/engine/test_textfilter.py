"""The fast prefilter matcher decides exactly what the plain regex it stands for decides."""

from __future__ import annotations

import re
import sysconfig
from pathlib import Path

import pytest

from ckpt_lint.analysis.callgraph import DELETION_TEXT
from ckpt_lint.analysis.taint import SOURCE_CALL_TEXT
from ckpt_lint.textfilter import AllOf, AnyOf, Pattern, as_filter, words

STDLIB = Path(sysconfig.get_paths()["stdlib"])
CORPUS = [p.read_bytes() for p in sorted(STDLIB.glob("*.py"))[:120]]
EDGES = [
    b"time()",
    b"xtime()",
    b"a.time()",
    b"a\ntime ()",
    b"os.remove(p)",
    b"lst.remove(p)",
    b"remove(p)",
    b"OUTPUT_DIR = 1",
    b"Output_Dir",
    b"",
]


@pytest.mark.parametrize(
    "pattern, ignore_case",
    [
        (rb"\btime\s*\(", False),
        (rb"\b(?:time|now|rand\w*)\s*\(", False),
        (rb"(?<![\w.])remove\s*\(", False),
        (rb"\bos\.remove\s*\(", False),
        (rb"output_dir|save_path", True),
        (rb"import\s+os\s+as\b", False),
    ],
)
def test_pattern_agrees_with_re_on_a_real_corpus(pattern, ignore_case):
    plain = re.compile(pattern, re.I if ignore_case else 0)
    fast = Pattern(pattern, ignore_case=ignore_case)
    decided = [fast.search(d) for d in [*CORPUS, *EDGES]]
    assert decided == [bool(plain.search(d)) for d in [*CORPUS, *EDGES]]
    assert any(decided) or pattern.startswith(rb"import"), "the corpus must exercise the pattern"


def test_leading_boundary_is_checked_on_every_match_not_just_the_first():
    # the first `time(` follows a word character, the second does not
    assert Pattern(rb"\btime\s*\(").search(b"xtime() + time()")
    assert not Pattern(rb"\btime\s*\(").search(b"xtime() + ytime()")
    assert not Pattern(rb"(?<![\w.])remove\s*\(").search(b"a.remove(1); _remove(2)")


def test_combinators():
    a, b = Pattern(rb"alpha"), Pattern(rb"beta")
    assert isinstance(a | b, AnyOf) and isinstance(a & b, AllOf)
    assert (a | b).search(b"beta") and not (a & b).search(b"beta")
    assert (a & b).search(b"beta alpha")
    assert len(((a | b) | Pattern(b"c")).parts) == 3  # flattened
    assert words("x", "y", before=b"").search(b"--y--")
    assert not words("x", "y").search(b"_x_y")  # a leading \b before each word


def test_plain_bytes_regex_from_older_rules_still_works():
    legacy = as_filter(rb"\bclock\(")
    assert legacy is not None and legacy.search(b"clock()") and not legacy.search(b"xclock()")
    assert as_filter(None) is None


def test_sources_need_the_import_of_a_source_module():
    assert SOURCE_CALL_TEXT.search(b"import time\nx = time.time()\n")
    assert SOURCE_CALL_TEXT.search(b"import os, time as t\nx = t.time()\n")
    assert SOURCE_CALL_TEXT.search(b"from datetime import datetime\nd = datetime.now()\n")
    assert SOURCE_CALL_TEXT.search(b"from time import time as clock\nx = clock()\n")
    assert SOURCE_CALL_TEXT.search(b"import os\nx = os.getpid()\n")
    # a `.time()` / `.choice()` of some other library: the file cannot call a source
    assert not SOURCE_CALL_TEXT.search(b"import torch\nx = torch.rand(3)\n")
    assert not SOURCE_CALL_TEXT.search(b"t = timer.time()\n")


def test_deletion_text():
    for text in (b"shutil.rmtree(d)", b"p.unlink()", b"os.remove(p)", b"remove(p)"):
        assert DELETION_TEXT.search(text), text
    assert DELETION_TEXT.search(b"import os as o\no.remove(p)")
    assert not DELETION_TEXT.search(b"items.remove(x)\n")
