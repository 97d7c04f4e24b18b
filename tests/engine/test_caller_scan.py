"""Caller discovery without a parse: does a file's import table reach an interesting name?"""

from __future__ import annotations

import pytest

from ckpt_lint.engine.runner import ImportTable, Interest

# `prune` is defined in module `pkg.ckpt_utils`: callers must name `ckpt_utils` or `pkg`
INTEREST = Interest({"prune": {b"pkg", b"ckpt_utils"}}, {"prune": {"callgraph"}})


@pytest.mark.parametrize(
    "source",
    [
        "from pkg.ckpt_utils import prune\nprune(d)\n",
        "from pkg.ckpt_utils import (\n    keep,\n    prune as p,\n)\np(d)\n",
        "from pkg import prune\n",  # re-exported by the package
        "import pkg.ckpt_utils\npkg.ckpt_utils.prune(d)\n",
        "import pkg.ckpt_utils as cu\ncu . prune(d)\n",
        "from pkg import ckpt_utils\nckpt_utils.prune(d)\n",
        "from . import ckpt_utils\n\ndef f():\n    ckpt_utils.prune(d)\n",
        "def f():\n    from pkg.ckpt_utils import prune\n    prune(d)\n",
    ],
)
def test_reaching_imports(source):
    assert INTEREST.reached_from(ImportTable(source.encode()).reachable()) == {"callgraph"}


@pytest.mark.parametrize(
    "source",
    [
        "def prune(d):\n    pass\nprune(d)\n",  # its own `prune`
        "from other.utils import prune\n",  # another module's `prune`
        "import pkg.ckpt_utils as cu\ncu.keep(d)\nx.prune()\n",  # not read on the module
        "import pkg.ckpt_utils as cu\nxcu.prune(d)\n",
        "import os\nos.prune()\n",
    ],
)
def test_imports_that_do_not_reach(source):
    assert not INTEREST.reached_from(ImportTable(source.encode()).reachable())


def test_attributes_of_dotted_and_plain_module_names_are_told_apart():
    table = ImportTable(b"import os\nimport os.path\nos.path.join(a)\nos.remove(p)\n")
    assert table.attrs[b"os.path"] == {b"join"}
    assert table.attrs[b"os"] == {b"path", b"remove"}  # `import os.path` reads `os.path`


METHOD = Interest({"Compiler.build": {b"pkg", b"cache"}}, {"Compiler.build": {"callgraph"}})


@pytest.mark.parametrize(
    "source, reached",
    [
        ("from pkg.cache import Compiler\nCompiler.build(p)\n", True),
        ("from pkg.cache import Compiler as C\nC . build(p)\n", True),
        ("import pkg.cache as cc\ncc.Compiler.build(p)\n", True),
        ("from pkg.cache import Compiler\nCompiler(p).run()\n", False),  # another method
        ("from pkg.cache import Other\nOther.build(p)\n", False),
    ],
)
def test_a_method_is_reached_through_its_class(source, reached):
    assert bool(METHOD.reached_from(ImportTable(source.encode()).reachable())) is reached
