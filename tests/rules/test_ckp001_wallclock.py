"""CKP001: what the taint analysis reports, what it leaves alone, and the shape of its fixes."""

from __future__ import annotations

import textwrap

import pytest

from ckpt_lint.engine.api import findings_for, fix_sources, make_settings
from ckpt_lint.model import Applicability

CODE = "CKP001"


def lint(files: dict[str, str] | str, options: dict | None = None):
    if isinstance(files, str):
        files = {"train.py": files}
    files = {k: textwrap.dedent(v) for k, v in files.items()}
    settings = make_settings(codes=[CODE, "CKP900", "CKP901"], options={CODE: options or {}})
    found = findings_for(files, settings)
    assert [f for f in found if f.code != CODE] == [], [f.message for f in found]
    return found


def lines(files, options=None) -> list[tuple[str, int]]:
    return [(f.path, f.start.line) for f in lint(files, options)]


def fixed(code: str, options: dict | None = None) -> str:
    settings = make_settings(codes=[CODE], options={CODE: options or {}})
    return fix_sources({"train.py": textwrap.dedent(code)}, settings, unsafe=True)["train.py"]


# ---- sources, through imports and aliases ---------------------------------------------------


@pytest.mark.parametrize(
    "imports, expr",
    [
        ("import time", "time.time()"),
        ("import time as t", "t.time()"),
        ("from time import time", "time()"),
        ("from time import time as now", "now()"),
        ("import time", "time.time_ns()"),
        ("import time", 'time.strftime("%Y")'),
        ("import datetime", "datetime.datetime.now()"),
        ("from datetime import datetime as dt", "dt.utcnow()"),
        ("from datetime import date", "date.today()"),
        ("import uuid", "uuid.uuid1()"),
        ("from uuid import uuid4", "uuid4().hex"),
        ("import secrets", "secrets.token_urlsafe(6)"),
        ("import random", "random.random()"),
        ("from random import choice", "choice('abc')"),
        ("import os", "os.getpid()"),
    ],
)
def test_every_source_is_recognised_through_its_import(imports, expr):
    code = f"import os\n{imports}\n\ndef main(args):\n    args.output_dir = os.path.join(args.root, str({expr}))\n"
    assert lines(code) == [("train.py", 5)]


@pytest.mark.parametrize(
    "imports, expr",
    [
        ("import time", 'time.strftime("%Y", time.localtime(args.start))'),
        ("import random", "random.seed(0)"),
        ("import numpy as np", "np.random.rand()"),
        ("from mytime import time", "time()"),
    ],
)
def test_deterministic_lookalikes_are_not_sources(imports, expr):
    code = f"import os\n{imports}\n\ndef main(args):\n    args.output_dir = os.path.join(args.root, str({expr}))\n"
    assert lines(code) == []


# ---- propagation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "build",
    [
        'run = f"r-{int(time.time())}"',
        'run = "r-%d" % time.time()',
        'run = "r-{}".format(time.time())',
        'run = "r-" + str(time.time())',
        'run = "-".join(["r", str(time.time())])',
        "run = round(time.time())",
        'run = Path("r") / str(time.time())',
        "run = time.strftime('%H', time.localtime(time.time()))",
        "run = datetime.fromtimestamp(time.time()).isoformat()",
        "run, other = str(time.time()), 1",
        "run = 'x'\n    run += str(time.time())",
        "run = str(stamp) if (stamp := time.time()) else ''",
    ],
)
def test_value_propagates_through_expressions(build):
    code = (
        "import os, time\nfrom datetime import datetime\nfrom pathlib import Path\n\n"
        f"def main(args):\n    {build}\n    args.output_dir = os.path.join(args.root, run)\n"
    )
    assert len(lint(code)) == 1


def test_a_timestamp_through_two_variables_and_an_attribute():
    found = lint(
        """
        import os, time

        def main(args):
            stamp = int(time.time())
            name = f"{args.model}-{stamp}"
            args.run_name = name
            args.output_dir = os.path.join(args.output_dir, args.run_name)
        """
    )
    assert len(found) == 1
    message = found[0].message
    assert "`int(time.time())` reaches `args.output_dir` (line 8)" in message
    assert "via `stamp`, `name`, `args.run_name`" in message


def test_attributes_set_in_one_method_reach_a_sink_in_another():
    assert lines(
        """
        import os, time

        class Trainer:
            def __init__(self, cfg):
                self.stamp = time.time()

            def save(self, accelerator):
                accelerator.save_state(os.path.join("ckpt", str(self.stamp)))
        """
    ) == [("train.py", 6)]


def test_string_keyed_config_entries_are_paths_too():
    assert lines(
        """
        import time

        def main(cfg):
            cfg["output_dir"] = f"out/{time.time()}"
        """
    ) == [("train.py", 5)]


# ---- flow sensitivity -----------------------------------------------------------------------


def test_a_path_read_before_the_timestamp_is_joined_in_is_clean():
    # the accelerate project_dir is set from the base directory first: not a finding on its own
    found = lint(
        """
        import os, time
        from accelerate import Accelerator

        def main(args):
            kwargs = {"project_dir": args.output_dir}
            kwargs["project_dir"] = args.output_dir
            accelerator = Accelerator(project_dir=args.output_dir, **kwargs)
            args.exp_name = f"{args.exp_name}__{int(time.time())}"
            args.hub_revision = args.exp_name
        """
    )
    assert found == []


def test_a_clean_reassignment_clears_the_name():
    code = """
        import os, time

        def main(args):
            name = f"run-{time.time()}"
            name = args.exp_name
            args.output_dir = os.path.join(args.output_dir, name)
        """
    assert lines(code) == []


def test_a_reassignment_in_one_branch_only_keeps_the_taint():
    code = """
        import os, time

        def main(args):
            name = f"run-{time.time()}"
            if args.stable:
                name = args.exp_name
            args.output_dir = os.path.join(args.output_dir, name)
        """
    assert lines(code) == [("train.py", 5)]


def test_loops_carry_values_around_to_their_top():
    code = """
        import os, time

        def main(args, steps):
            name = "start"
            for step in steps:
                args.output_dir = os.path.join(args.root, name)
                name = str(time.time())
        """
    assert lines(code) == [("train.py", 8)]


def test_a_callee_that_rewrites_its_arguments_taints_the_callers_paths():
    found = lint(
        """
        import os, time

        def add_timestamp(args):
            args.exp_name = f"{args.exp_name}_{time.time()}"

        def main(args):
            add_timestamp(args)
            os.makedirs(os.path.join(args.output_dir, args.exp_name))
        """
    )
    assert [(f.start.line, len(f.related)) for f in found] == [(5, 1)]
    assert found[0].related[0].line == 9


def test_a_parameter_that_is_a_checkpoint_path_in_the_callee():
    found = lint(
        """
        import os, time

        def make_checkpoint_folder(path):
            os.makedirs(path, exist_ok=True)

        def main(args):
            make_checkpoint_folder(f"{args.root}/{time.time()}")
        """
    )
    assert [f.start.line for f in found] == [8]
    assert "`os.makedirs(...)` (line 5) via `make_checkpoint_folder()`" in found[0].message


# ---- across modules -------------------------------------------------------------------------

HELPER = """
    import time

    def run_name(cfg):
        return f"{cfg.model}-{int(time.time())}"

    def log_label(cfg):
        return f"{cfg.model}-{int(time.time())}"
    """


def test_a_tainted_return_reaches_a_sink_in_another_module():
    found = lint(
        {
            "proj/naming.py": HELPER,
            "proj/train.py": """
                import os
                from proj.naming import log_label, run_name

                def main(cfg, accelerator):
                    accelerator.save_state(os.path.join(cfg.root, run_name(cfg)))
                    accelerator.init_trackers("x", init_kwargs={"wandb": {"name": log_label(cfg)}})
                """,
        }
    )
    assert [(f.path, f.start.line) for f in found] == [("proj/naming.py", 5)]
    related = found[0].related
    assert [(r.path, r.line) for r in related] == [("proj/train.py", 6)]
    assert "proj/train.py, line 6" in found[0].message


def test_cross_module_through_a_package_reexport_and_an_intermediate_module():
    found = lint(
        {
            "proj/__init__.py": "from proj.naming import run_name\n",
            "proj/naming.py": HELPER,
            "proj/dirs.py": """
                import proj

                def run_dir(cfg):
                    return cfg.root + "/" + proj.run_name(cfg)
                """,
            "proj/train.py": """
                from proj.dirs import run_dir

                def main(cfg, trainer):
                    trainer.save_model(output_dir=run_dir(cfg))
                """,
        }
    )
    assert [(f.path, f.start.line) for f in found] == [("proj/naming.py", 5)]
    assert found[0].related[0].path == "proj/train.py"


def test_a_helper_whose_value_goes_nowhere_is_not_reported():
    assert (
        lines(
            {
                "proj/naming.py": HELPER,
                "proj/train.py": "from proj.naming import run_name\nprint(run_name(1))\n",
            }
        )
        == []
    )


# ---- benign timestamps ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "code",
    [
        # TensorBoard / log dirs, even when created
        'writer = SummaryWriter(f"runs/{time.time()}")',
        'logging_dir = os.path.join(args.output_dir, "logs", str(time.time()))\n    os.makedirs(logging_dir)',
        'os.makedirs(os.path.join("tb_logs", time.strftime("%H")), exist_ok=True)',
        # W&B run names, hub revisions, dataset ids, result files, log text
        'wandb.init(name=f"{args.exp_name}-{time.time()}")',
        'args.hf_repo_revision = f"{args.exp_name}__{int(time.time())}"',
        'example["id"] = str(uuid.uuid4())',
        'open(f"results_{time.time()}.json", "w").write("{}")',
        'logger.info("finished at %s in %s", datetime.now(), args.output_dir)',
        # a launcher's local exp_name that never becomes a path
        'exp_name = f"dpo_{datetime.now().strftime(\'%m%d\')}"\n    submit(name=exp_name, env={"WANDB_NAME": exp_name})',
        # durations
        "start = time.time()\n    train()\n    args.train_seconds = time.time() - start",
        # a random seed is not a path
        "args.seed = random.randint(0, 1000)\n    args.output_dir = os.path.join(args.root, str(args.seed > 3))",
    ],
)
def test_benign_timestamps_are_not_reported(code):
    source = (
        "import os, random, time, uuid\nfrom datetime import datetime\n\n"
        f"def main(args, wandb, logger, submit, train, SummaryWriter):\n    {code}\n"
    )
    assert lines(source) == []


# ---- options --------------------------------------------------------------------------------


def test_extra_sources_and_extra_sinks():
    code = """
        from mylib.naming import fresh_name

        def main(args, store):
            args.experiment_root = "x/" + fresh_name()
            store.persist("y/" + fresh_name())
        """
    assert lines(code) == []
    assert lines(
        code, {"extra-sources": ["mylib.naming.fresh_name"], "extra-sinks": ["experiment_root"]}
    ) == [("train.py", 5)]
    both = {"extra-sources": ["mylib.naming.*"], "extra-sinks": ["experiment_root", ".persist"]}
    assert lines(code, both) == [("train.py", 5), ("train.py", 6)]


# ---- fixes ----------------------------------------------------------------------------------


def test_fix_uses_the_object_whose_attribute_is_built():
    out = fixed(
        """
        import os, time

        def main(opts):
            args = opts.inner
            args.exp_name = f"{args.exp_name}__{int(time.time())}"
            args.output_dir = os.path.join(args.output_dir, args.exp_name)
        """
    )
    assert 'args.exp_name = f"{args.exp_name}__{stable_run_id(args)}"' in out
    assert "from ckpt_lint.runtime import stable_run_id\n" in out


@pytest.mark.parametrize(
    "signature, setup, expected",
    [
        ("def main(hparams, seed):", "", "stable_run_id(hparams)"),
        ("def main(grpo_config):", "", "stable_run_id(grpo_config)"),
        ("def main():", "args = parse()\n    ", "stable_run_id(args)"),
    ],
)
def test_fix_finds_the_config_in_scope(signature, setup, expected):
    out = fixed(
        f'import os, time\n\n{signature}\n    {setup}save_dir = f"out/{{time.time()}}"\n    os.makedirs(save_dir)\n'
    )
    assert f'save_dir = f"out/{{{expected}}}"' in out


def test_fix_uses_self_config_in_methods():
    out = fixed(
        """
        import datetime, os

        class Runner:
            def __init__(self, config):
                self.config = config

            def start(self):
                self.run_dir = os.path.join("out", datetime.datetime.now().strftime("%H%M"))
        """
    )
    assert 'self.run_dir = os.path.join("out", stable_run_id(self.config))' in out


def test_fix_keeps_fstring_structure_and_drops_a_format_spec():
    out = fixed(
        """
        import time

        def main(args):
            args.output_dir = f"{args.root}/{args.lr}__{time.time():.0f}!{time.time()!r}"
        """
    )
    assert (
        'args.output_dir = f"{args.root}/{args.lr}__{stable_run_id(args)}!{stable_run_id(args)}"'
        in out
    )


def test_without_a_config_object_the_fix_is_display_only():
    (finding,) = lint('import time\nOUTPUT_DIR = f"ckpt/{time.time()}"\n')
    assert finding.fix is not None
    assert finding.fix.applicability is Applicability.DISPLAY_ONLY
    assert "no config object" in finding.fix.message
    assert (
        fixed('import time\nOUTPUT_DIR = f"ckpt/{time.time()}"\n')
        == 'import time\nOUTPUT_DIR = f"ckpt/{time.time()}"\n'
    )


def test_the_runtime_module_path_is_configurable():
    settings = make_settings(codes=[CODE], runtime_module="vendored.ckpt_runtime")
    code = "import time\n\ndef main(args):\n    args.output_dir = f'o/{time.time()}'\n"
    out = fix_sources({"train.py": code}, settings, unsafe=True)["train.py"]
    assert "from vendored.ckpt_runtime import stable_run_id\n" in out


# ---- robustness -----------------------------------------------------------------------------

ODD_SYNTAX = """
import os, time, asyncio
from functools import wraps

TIMESTAMP = int(time.time())
global_dir = None

def deco(f):
    @wraps(f)
    def inner(*a, **k):
        return f(*a, **k)
    return inner

@deco
async def run(args, *rest, key=lambda: time.time(), **extra):
    global global_dir
    async with asyncio.timeout(1) as t:
        pass
    match args.mode:
        case {"x": y} if y:
            args.ckpt_dir = f"{y}/{TIMESTAMP}"
        case [a, *b]:
            pass
        case _:
            pass
    items = {k: v for k, v in extra.items() if (w := v)}
    nested = f"{'a' + f'{time.time():{args.width}}'}"
    gen = (os.path.join(x, y) for x in rest for y in x)
    try:
        raise ValueError
    except* ValueError:
        pass
    while (n := len(rest)) > 3:
        rest = rest[1:]
    else:
        lambda *a: a
    del items
    return [*rest, *(await asyncio.sleep(0) or ())]

class Weird(dict, metaclass=type):
    x: int
    y = [i for i in range(3)]
    def __getitem__(self, k, /):
        return super()[k]
"""


def test_odd_syntax_does_not_crash_and_module_level_timestamps_are_followed():
    found = lint(ODD_SYNTAX)
    assert [f.start.line for f in found] == [5]
    assert "args.ckpt_dir" in found[0].message


def test_temporary_directories_are_not_checkpoint_dirs():
    code = """
        import os, tempfile, time, uuid

        def scratch(prefix):
            root = tempfile.gettempdir()
            path = os.path.join(root, f"{prefix}__{int(time.time())}__{uuid.uuid4()}")
            os.makedirs(path, exist_ok=False)
            return path

        def staged(args):
            os.makedirs(os.path.join(args.root, f"tmp_{uuid.uuid4().hex}"))
        """
    assert lines(code) == []


RELAY = {
    "naming.py": "import time\n\n\ndef stamp():\n    return str(int(time.time()))\n",
    # passes the value on: no source, no sink, found as a caller of `stamp`
    "mid.py": "from naming import stamp\n\n\ndef run_name(args):\n    return args.name + stamp()\n",
    "train.py": "import os\n\nfrom mid import run_name\n\n\ndef main(args):\n"
    "    args.output_dir = os.path.join(args.output_dir, run_name(args))\n",
}


@pytest.mark.parametrize("prefilter", [True, False])
def test_a_value_passed_on_through_another_module_reaches_the_sink(prefilter):
    settings = make_settings(codes=["CKP001"], prefilter=prefilter)
    found = [(f.path, f.start.line) for f in findings_for(RELAY, settings)]
    assert found == [("naming.py", 5)]


def test_a_relay_is_only_searched_when_what_it_passes_on_is_tainted():
    from ckpt_lint.engine.api import lint_sources

    clean = {
        **RELAY,
        "naming.py": "def stamp():\n    return 'v1'\n",
        # parsed for its own clock read; `run_name` passes on an untainted `stamp()`
        "mid.py": "import time\n\nSTARTED = time.time()\n\n" + RELAY["mid.py"],
    }
    linter, result = lint_sources(clean, make_settings(codes=["CKP001"]))
    assert result.findings == [] and result.stats["callers_parsed"] == 0
    linter, result = lint_sources(RELAY, make_settings(codes=["CKP001"]))
    assert result.stats["callers_parsed"] == 2  # mid.py for `stamp`, then train.py for `run_name`
