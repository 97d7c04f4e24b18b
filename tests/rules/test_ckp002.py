"""CKP002 unguarded-delete: guard classification, call graph, options, messages, robustness."""

from __future__ import annotations

import libcst as cst
import pytest
from libcst.metadata import MetadataWrapper, PositionProvider

from ckpt_lint.analysis import FileAnalysis
from ckpt_lint.analysis.callgraph import CallGraph, _LineIndex
from ckpt_lint.analysis.guards import GuardLevel, Guards
from ckpt_lint.analysis.structure import Structure
from ckpt_lint.engine.api import findings_for, fix_sources, make_settings
from ckpt_lint.engine.source import ParsedFile

G, N, L = GuardLevel.GLOBAL, GuardLevel.NONE, GuardLevel.PER_NODE


def _analysis(code: str, module: str = "example") -> FileAnalysis:
    return FileAnalysis(ParsedFile.from_bytes(f"{module}.py", code.encode()), module)


def _classify(code: str):
    file = _analysis(code)
    calls = [
        c
        for c in file.get(Structure).calls
        if isinstance(c.func, cst.Name) and c.func.value == "target"
    ]
    assert len(calls) == 1
    return file.get(Guards).classify(calls[0])


HEADER = "import os, sys\nimport torch.distributed as dist\nimport transformers\n"

GUARDS = [
    ("if accelerator.is_main_process:\n    target()", G, "accelerator.is_main_process"),
    ("if accelerator.is_local_main_process:\n    target()", L, "accelerator.is_local_main_process"),
    ("if PartialState().is_main_process:\n    target()", G, None),
    ("if not accelerator.is_main_process:\n    pass\nelse:\n    target()", G, None),
    ("if accelerator.is_main_process:\n    pass\nelse:\n    target()", N, None),
    ("if x:\n    pass\nelif accelerator.is_main_process:\n    target()", G, None),
    (
        "if flag and accelerator.is_local_main_process:\n    target()",
        L,
        "accelerator.is_local_main_process",
    ),
    (
        "if accelerator.is_main_process or is_deepspeed:\n    target()",
        N,
        "accelerator.is_main_process or is_deepspeed",
    ),
    ("if not (not_main or other):\n    target()", N, None),
    ("if dist.get_rank() == 0:\n    target()", G, None),
    ("if 0 == torch.distributed.get_rank():\n    target()", G, None),
    ("if dist.get_rank() != 0:\n    target()", N, None),
    ("if int(os.environ['RANK']) == 0:\n    target()", G, None),
    ("if os.environ.get('LOCAL_RANK', '0') == '0':\n    target()", L, None),
    ("if int(os.getenv('LOCAL_RANK', 0)) == 0:\n    target()", L, None),
    ("if args.local_rank in [-1, 0]:\n    target()", L, None),
    ("if args.local_rank not in (-1, 0):\n    pass\nelse:\n    target()", L, None),
    ("if not rank:\n    target()", G, None),
    ("if trainer.is_global_zero:\n    target()", G, None),
    ("if trainer.is_world_process_zero():\n    target()", G, None),
    ("if trainer.is_local_process_zero():\n    target()", L, None),
    ("if transformers.trainer_utils.is_main_process(args.local_rank):\n    target()", L, None),
    ("if dist.get_local_rank() == 0:\n    target()", L, None),
    ("if jax.process_index() == 0:\n    target()", G, None),
    ("accelerator.is_main_process and target()", G, None),
    ("x = 1 if accelerator.is_main_process else target()", N, None),
    ("with accelerator.main_process_first():\n    target()", N, None),
    ("assert dist.get_rank() == 0\ntarget()", G, None),
    ("def f():\n    if dist.get_rank() != 0:\n        return\n    target()", G, None),
    ("def f():\n    if dist.get_rank() > 0:\n        sys.exit(0)\n    target()", G, None),
    (
        "def f():\n    if not accelerator.is_local_main_process:\n        raise SystemExit\n    target()",
        L,
        None,
    ),
    ("for p in ps:\n    if rank != 0:\n        continue\n    target()", G, None),
    (
        "def f(x):\n    if x:\n        if dist.get_rank() != 0:\n            return\n    target()",
        N,
        None,
    ),
    ("def f():\n    if dist.get_rank() == 0:\n        return\n    target()", N, None),
    (
        "def f():\n    if a:\n        return\n    elif dist.get_rank() != 0:\n        return\n    target()",
        G,
        None,
    ),
    (
        "def f():\n    master_process = dist.get_rank() == 0\n    if master_process:\n        target()",
        G,
        None,
    ),
    (
        "def f(local_rank):\n    is_main = local_rank == 0\n    if is_main:\n        target()",
        L,
        None,
    ),
    (
        "dp_rank = dist.get_rank() if dist.is_initialized() else 0\nif dp_rank == 0:\n    target()",
        G,
        None,
    ),
    ("def f(is_main_process):\n    if is_main_process:\n        target()", G, None),
    (
        "class T:\n    def __init__(self):\n        self.is_main = dist.get_rank() == 0\n"
        "    def go(self):\n        if self.is_main:\n            target()",
        G,
        None,
    ),
    ("@rank_zero_only\ndef f():\n    target()", G, None),
    ("@accelerator.on_main_process\ndef f():\n    target()", G, None),
    ("@accelerator.on_local_main_process\ndef f():\n    target()", L, None),
    (
        "if accelerator.is_main_process:\n    def f():\n        target()",
        N,
        None,
    ),  # runs when called
]


@pytest.mark.parametrize(
    "code,level,text",
    GUARDS,
    ids=[c.splitlines()[0][:40] + f"-{i}" for i, (c, _, _) in enumerate(GUARDS)],
)
def test_guard_classification(code, level, text):
    guard = _classify(HEADER + code + "\n")
    assert guard.level == level, guard
    if text is not None:
        assert guard.text == text


def test_ray_actor_local_rank_is_no_guard_but_rank_is():
    code = (
        "import ray\n\n@ray.remote(num_gpus=1)\nclass Worker:\n"
        "    def a(self):\n        if self.local_rank == 0:\n            target()\n"
    )
    guard = _classify(code)
    assert guard.level == N and "Ray" in guard.note
    assert _classify(code.replace("self.local_rank", "self.rank")).level == G
    # outside an actor the same local-rank test is per node
    assert _classify(code.replace("@ray.remote(num_gpus=1)\n", "")).level == L


def _ckp002(files, path="util.py", **options):
    settings = make_settings(codes=["CKP002"], options={"CKP002": options})
    return [f for f in findings_for(files, settings) if f.code == "CKP002" and f.path == path]


HELPER = "import shutil\n\n\ndef wipe(path):\n    shutil.rmtree(path)\n"


@pytest.mark.parametrize(
    "caller",
    [
        "from pkg.util import wipe\n\n{guard}\n    wipe(d)\n",
        "from pkg import util\n\n{guard}\n    util.wipe(d)\n",
        "import pkg.util as u\n\n{guard}\n    u.wipe(d)\n",
        "import pkg.util\n\n{guard}\n    pkg.util.wipe(d)\n",
        "from .util import wipe as w\n\n{guard}\n    w(d)\n",
    ],
)
def test_import_styles_resolve_across_modules(caller):
    guard = "import accelerate\nd = 'x'\nif accelerator.is_local_main_process:"
    files = {
        "pkg/__init__.py": "",
        "pkg/util.py": HELPER,
        "pkg/train.py": caller.format(guard=guard),
    }
    found = _ckp002(files, "pkg/util.py")
    assert len(found) == 1
    assert "one process per node: called from `pkg/train.py:" in found[0].message
    assert [(r.path, r.message) for r in found[0].related] == [
        ("pkg/train.py", "called here under `accelerator.is_local_main_process`")
    ]
    line = next(i for i, t in enumerate(files["pkg/train.py"].splitlines(), 1) if "(d)" in t)
    assert found[0].related[0].line == line
    # the same caller under a global guard is fine
    files["pkg/train.py"] = files["pkg/train.py"].replace(
        "is_local_main_process", "is_main_process"
    )
    assert _ckp002(files, "pkg/util.py") == []


def test_seed_message_names_the_weakest_call_site_and_lists_all_weak_ones():
    files = {
        "ckpt.py": HELPER.replace("wipe", "clean_last_n_checkpoints"),
        "finetune.py": "import os\nfrom accelerate import Accelerator\nfrom ckpt import clean_last_n_checkpoints\n\n"
        "def main(accelerator, args):\n"
        "    if accelerator.is_local_main_process:\n        clean_last_n_checkpoints(args.out)\n"
        "    if args.clean_at_end and accelerator.is_local_main_process:\n        clean_last_n_checkpoints(args.out)\n"
        "    if accelerator.is_main_process:\n        clean_last_n_checkpoints(args.out)\n",
    }
    (finding,) = _ckp002(files, "ckpt.py")
    assert finding.message == (
        "`shutil.rmtree` in `clean_last_n_checkpoints` runs on one process per node: "
        "called from `finetune.py:7` under `accelerator.is_local_main_process`"
    )
    assert [(r.path, r.line, r.column) for r in finding.related] == [
        ("finetune.py", 7, 9),
        ("finetune.py", 9, 9),
    ]
    assert (finding.start.line, finding.start.column) == (5, 5)


def test_one_guarded_and_one_unguarded_caller_is_reported():
    files = {
        "util.py": HELPER,
        "a.py": "import torch.distributed as dist\nfrom util import wipe\n\ndef f():\n    if dist.get_rank() == 0:\n        wipe('x')\n",
        "b.py": "import torch.distributed as dist\nfrom util import wipe\n\ndef g():\n    wipe('x')\n",
    }
    (finding,) = _ckp002(files)
    assert (
        "runs on every process: called from `b.py:5` with no main-process guard" in finding.message
    )
    del files["b.py"]
    assert _ckp002(files) == []


def test_distributed_context_comes_from_the_module_or_its_callers():
    script = "from util import wipe\n\nif __name__ == '__main__':\n    wipe('x')\n"
    assert _ckp002({"util.py": HELPER, "script.py": script}) == []  # single process
    assert _ckp002({"util.py": HELPER}) == []  # nobody calls it, nothing distributed
    launched = "import os\nfrom util import wipe\nRANK = int(os.environ['RANK'])\nwipe('x')\n"
    assert len(_ckp002({"util.py": HELPER, "job.py": launched})) == 1
    assert len(_ckp002({"util.py": "import deepspeed\n" + HELPER})) == 1


def test_transitive_callers_and_call_site_mitigation():
    files = {
        "util.py": HELPER + "\n\ndef reset(p):\n    wipe(p)\n",
        "run.py": "import torch.distributed as dist\nfrom util import reset\n\ndef main(local_rank):\n"
        "    if local_rank == 0:\n        reset('x')\n",
    }
    (finding,) = _ckp002(files)
    assert "called from `run.py:6` under `local_rank == 0` (via `reset`)" in finding.message
    files["run.py"] = files["run.py"].replace(
        "        reset('x')\n",
        "        try:\n            reset('x')\n        except FileNotFoundError:\n            pass\n",
    )
    assert _ckp002(files) == []
    assert len(_ckp002(files, **{"report-mitigated": True})) == 1


def test_options_shared_filesystem_and_report_mitigated():
    per_node = "import os\nfrom accelerate import Accelerator\n\ndef f(a, p):\n    if a.is_local_main_process:\n        os.remove(p)\n"
    assert len(_ckp002({"util.py": per_node})) == 1
    assert _ckp002({"util.py": per_node}, **{"shared-filesystem": False}) == []
    unguarded = per_node.replace(
        "    if a.is_local_main_process:\n        os.remove(p)", "    os.remove(p)"
    )
    assert len(_ckp002({"util.py": unguarded}, **{"shared-filesystem": False})) == 1
    for mitigated in (
        "p.unlink(missing_ok=True)",
        "shutil.rmtree(p, ignore_errors=True)",
        "with contextlib.suppress(OSError):\n        os.remove(p)",
        "try:\n        os.remove(p)\n    except (KeyError, OSError):\n        pass",
    ):
        code = f"import contextlib, os, shutil\nimport torch.distributed\n\ndef f(p):\n    {mitigated}\n"
        assert _ckp002({"util.py": code}) == [], mitigated
        (finding,) = _ckp002({"util.py": code}, **{"report-mitigated": True})
        assert "only `" in finding.message
    reraised = "import os\nimport torch.distributed\n\ndef f(p):\n    try:\n        os.remove(p)\n    except OSError:\n        raise\n"
    assert len(_ckp002({"util.py": reraised})) == 1


@pytest.mark.parametrize(
    "before,after",
    [
        ("shutil.rmtree(p)", "main_process_rmtree(p)"),
        ("shutil.rmtree(path=p, ignore_errors=False)", "main_process_rmtree(p)"),
        ("os.unlink(p)", "main_process_remove(p)"),
        ("os.rmdir(p)", "main_process_rmdir(p)"),
        ("(Path(d) / 'x').unlink(missing_ok=True)", "main_process_remove(Path(d) / 'x')"),
        ("Path(d).rmdir()", "main_process_rmdir(Path(d))"),
        ("shutil.rmtree(p, ignore_errors=True)", None),  # hides more than a missing path: no fix
        ("shutil.rmtree(p, onerror=handler)", None),
        ("os.remove(p, dir_fd=fd)", None),
        ("shutil.rmtree(*paths)", None),
    ],
)
def test_fix_replacements(before, after):
    code = f"import os, shutil\nfrom pathlib import Path\nimport torch.distributed\n\ndef f(p, d, fd, paths, handler):\n    {before}\n"
    settings = make_settings(codes=["CKP002"], options={"CKP002": {"report-mitigated": True}})
    fixed = fix_sources({"util.py": code}, settings)["util.py"]
    if after is None:
        assert fixed == code
    else:
        assert f"    {after}\n" in fixed
        assert "from ckpt_lint.runtime import main_process_" in fixed


def test_fix_reuses_an_existing_runtime_import_and_never_touches_the_save():
    code = (
        "import shutil\nimport torch.distributed as dist\nfrom ckpt_lint.runtime import main_process_rmtree\n\n"
        "def f(model, p):\n    dist.barrier()\n    torch.save(model, p)\n    shutil.rmtree(p + '.old')\n"
    )
    fixed = fix_sources({"util.py": code}, make_settings(codes=["CKP002"]))["util.py"]
    expected = code.replace("shutil.rmtree(p + '.old')", "main_process_rmtree(p + '.old')")
    assert fixed == expected.replace("import shutil\n", "")  # the fix made it unused


def test_not_deletions_and_per_process_paths():
    code = (
        "import os, shutil\nimport torch.distributed as dist\n\n"
        "CODE = 'shutil.rmtree(x)'\n"
        "def guard():\n    shutil.rmtree = None\n    os.unlink = None\n    keep = shutil.rmtree\n"
        "def own(d, rank):\n    os.remove(f'{d}/part-{rank}.bin')\n"
        "    tmp = os.path.join(d, f'w{os.getpid()}')\n    os.remove(tmp)\n"
        "def other(shm, q):\n    shm.unlink(q)\n    q.remove(3)\n"
    )
    assert _ckp002({"util.py": code}) == []


def test_config_post_init_built_by_the_ray_driver_is_not_reported():
    config = (
        "import shutil\nimport torch.distributed\nfrom dataclasses import dataclass\n\n"
        "@dataclass\nclass Cfg:\n    d: str = ''\n    def __post_init__(self):\n        shutil.rmtree(self.d)\n"
    )
    driver = (
        "import ray\nfrom cfg import Cfg\n\nif __name__ == '__main__':\n    parse((Cfg, int))\n"
    )
    assert _ckp002({"cfg.py": config, "driver.py": driver}, "cfg.py") == []
    torchrun = driver.replace("import ray", "import torch.distributed")
    assert len(_ckp002({"cfg.py": config, "driver.py": torchrun}, "cfg.py")) == 1


def test_interest_pulls_in_callers_that_no_prefilter_matches():
    file = _analysis(HELPER + "\n\ndef outer(p):\n    wipe(p)\n", "util")
    assert file.get(CallGraph).interest() == {"util.wipe", "util.outer"}
    assert file.facts().interest == {("callgraph", "wipe"), ("callgraph", "outer")}
    guarded = "import shutil\n\n@rank_zero_only\ndef wipe(p):\n    shutil.rmtree(p)\n"
    assert _analysis(guarded, "util").get(CallGraph).interest() == set()


def test_a_method_is_found_through_the_class_its_callers_import():
    """`from pkg.cache import Compiler; Compiler.build(...)`: callers never import `build`."""
    lib = (
        "import os\nimport torch.distributed\n\n\nclass Compiler:\n"
        "    @classmethod\n    def build(cls, path):\n        os.remove(path)\n"
    )
    assert _analysis(lib, "pkg.cache").facts().interest == {("callgraph", "Compiler.build")}
    caller = (
        "from accelerate import Accelerator\nfrom pkg.cache import Compiler\n\n\n"
        "def main(accelerator: Accelerator, p):\n"
        "    if accelerator.is_main_process:\n        Compiler.build(p)\n"
    )
    files = {"pkg/__init__.py": "", "pkg/cache.py": lib, "pkg/main.py": caller}
    assert _ckp002(files, "pkg/cache.py") == []  # the only caller is globally guarded
    unguarded = caller.replace("    if accelerator.is_main_process:\n    ", "")
    assert len(_ckp002({**files, "pkg/main.py": unguarded}, "pkg/cache.py")) == 1


def test_call_site_lines_match_libcst_positions():
    code = (
        "# -*- coding: utf-8 -*-\nimport os\n\n@deco(arg=f(1))\ndef g(x=h()):\n"
        "    s = f'ä{f(2)} {a.b(c(3))}'\n    y = (a\n         .b(4)).c(5)(6)\n"
        "    z = [k(i) for i in m(7)] + [q()[0](8)]\n    return lambda: f(9) if u() else v()\n"
        "class K:\n    def m(self):\n        self.m(); super().m(); os.path.join('é', f(10))\n"
    )
    file = _analysis(code)
    index = _LineIndex(file)
    positions = MetadataWrapper(file.module, unsafe_skip_copy=True).resolve(PositionProvider)
    calls = file.get(Structure).calls
    assert len(calls) > 20
    for call in calls:
        start = positions[call].start
        assert index.position(call) == (start.line, start.column + 1), file.module.code_for_node(
            call
        )


WILD = """
import os, shutil, asyncio
import torch.distributed as dist

async def a(*args, **kwargs):
    async with lock:
        await asyncio.sleep(0)
    if (n := dist.get_rank()) == 0:
        shutil.rmtree(*args)
    match kwargs:
        case {"p": p} if dist.get_rank() == 0:
            os.remove(p)
        case _:
            pass
    f = lambda p: os.unlink(p) if dist.get_rank() == 0 else None
    [os.rmdir(q) for q in args if q]
    print(f"{os.remove.__name__!r:>{10}}")
    return (yield_ := [x async for x in gen()])

def b():
    def inner():
        nonlocal x
        global y
        os.remove(x)
    x = 1
    try:
        inner()
    except* OSError:
        pass
    with (open("a") as f1, open("b") as f2):
        pass
    del x
"""


def test_any_valid_python_is_analysed_without_crashing():
    settings = make_settings(
        codes=["CKP002", "CKP901"], options={"CKP002": {"report-mitigated": True}}
    )
    found = findings_for({"wild.py": WILD}, settings)
    assert not [f for f in found if f.code in ("CKP900", "CKP901")], [f.message for f in found]
    lines = sorted(f.start.line for f in found if f.code == "CKP002")
    # walrus, match-case guard and conditional expression are guards; the comprehension is not;
    # `inner` is only mitigated by its caller's `except* OSError`
    assert lines == [16, 24]
