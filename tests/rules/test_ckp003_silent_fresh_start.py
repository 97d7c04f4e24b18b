"""CKP003: every fixture shape, the open-instruct false alarms, and the fixed seed shape run."""

from __future__ import annotations

import importlib.util
import os
import re
import textwrap
from pathlib import Path
from types import ModuleType

import pytest

from ckpt_lint.engine.api import findings_for, fix_sources, make_settings
from ckpt_lint.runtime import ResumeError
from tests.conftest import FIXTURES
from tests.fixture_expectations import expectations

CKP003 = make_settings(codes=["CKP003"])
SHAPES = sorted((FIXTURES / "ckp003").glob("*.py"))


def _lines(files: dict[str, str], path: str) -> list[int]:
    return [f.start.line for f in findings_for(files, CKP003) if f.path == path and f.code == "CKP003"]


@pytest.mark.parametrize("fixture", SHAPES, ids=lambda p: p.stem)
def test_each_shape_is_reported_exactly_on_its_expect_line(fixture: Path) -> None:
    text = fixture.read_text(encoding="utf-8")
    expected = sorted(line for line, code in expectations(fixture) if code == "CKP003")
    assert _lines({"shape.py": text}, "shape.py") == expected
    is_finding_shape = not fixture.stem.startswith("ok_")
    assert bool(expected) == is_finding_shape


def test_message_names_the_directory_the_lookup_and_the_evidence() -> None:
    text = (FIXTURES / "ckp003" / "latest_accelerator_print.py").read_text(encoding="utf-8")
    (finding,) = findings_for({"shape.py": text}, CKP003)
    assert "`args.output_dir`" in finding.message
    assert "`args.resume_from_checkpoint`" in finding.message
    assert "step 0" in finding.message


SEED = textwrap.dedent(
    '''
    import logging
    import os

    logger = logging.getLogger(__name__)


    def newest_complete(folder):
        steps = [p for p in os.listdir(folder) if p.startswith("step_")]
        steps = [p for p in steps if os.path.exists(os.path.join(folder, p, "COMPLETED"))]
        if len(steps) == 0:
            return
        return os.path.join(folder, max(steps, key=lambda p: int(p.split("_")[-1])))


    def get_last_checkpoint_path(args):
        last = None
        if args.output_dir and os.path.isdir(args.output_dir):
            last = newest_complete(args.output_dir)
            if last is None:
                logger.warning("Output directory exists but no checkpoint found. Starting from scratch.")
        elif args.resume_from_checkpoint:
            last = args.resume_from_checkpoint
        return last


    def train(args, accelerator):
        last = get_last_checkpoint_path(args)
        if last:
            accelerator.load_state(last)
    '''
)


def test_seed_shape_caller_handling_none_strictly_is_not_a_finding() -> None:
    strict = SEED.replace("    if last:\n", "    if last is None:\n        raise SystemExit(1)\n    if last:\n")
    assert _lines({"seed.py": SEED}, "seed.py") == [21]
    assert _lines({"seed.py": strict}, "seed.py") == []


def test_caller_in_another_module_decides_the_function_level_shape() -> None:
    helper, caller = SEED.split("def train", 1)
    files = {
        "pkg/__init__.py": "",
        "pkg/ckpt.py": helper,
        "pkg/main.py": "from pkg.ckpt import get_last_checkpoint_path\n\n\ndef train" + caller,
    }
    assert _lines(files, "pkg/ckpt.py") == [21]
    assert _lines(files, "pkg/main.py") == []  # the caller's silent `if last:` defers to the helper
    files["pkg/main.py"] = files["pkg/main.py"].replace("    if last:\n", "    assert last\n    if last:\n")
    assert _lines(files, "pkg/ckpt.py") == []


# ---- the fixed seed shape, executed -----------------------------------------------------------


@pytest.fixture
def fixed_seed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    fixed = fix_sources({"seed.py": SEED}, CKP003, unsafe=True)["seed.py"]
    assert re.search(r"check_fresh_start\(\s*args\.output_dir,", fixed)
    assert "Output directory exists but no checkpoint found. Starting from scratch." in fixed
    assert _lines({"seed.py": fixed}, "seed.py") == []
    source = tmp_path / "fixed_seed.py"
    source.write_text(fixed, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("fixed_seed", source)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for name in ("CKPT_LINT_FRESH_START", "RANK", "WORLD_SIZE", "SLURM_RESTART_COUNT", "TORCHELASTIC_RESTART_COUNT"):
        monkeypatch.delenv(name, raising=False)
    return module


class Args:
    def __init__(self, output_dir: Path, resume_from_checkpoint: str | None = None) -> None:
        self.output_dir = str(output_dir)
        self.resume_from_checkpoint = resume_from_checkpoint


def _tree(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.name != ".ckpt_lint_ledger.json"}


def test_dir_with_files_but_no_checkpoint_raises(fixed_seed: ModuleType, tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "config.json").write_text("{}")
    with pytest.raises(ResumeError, match="Output directory exists but no checkpoint found"):
        fixed_seed.get_last_checkpoint_path(Args(out))


def test_dir_with_a_complete_checkpoint_returns_it(fixed_seed: ModuleType, tmp_path: Path) -> None:
    out = tmp_path / "run"
    for step in ("step_100", "step_200"):
        (out / step).mkdir(parents=True)
        (out / step / "COMPLETED").write_text("")
    assert fixed_seed.get_last_checkpoint_path(Args(out)) == os.path.join(str(out), "step_200")


def test_missing_dir_on_a_first_run_starts_fresh(fixed_seed: ModuleType, tmp_path: Path) -> None:
    assert fixed_seed.get_last_checkpoint_path(Args(tmp_path / "absent")) is None


def test_existing_empty_dir_on_a_first_run_starts_fresh(fixed_seed: ModuleType, tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()  # open_instruct creates its output dir before it looks
    assert fixed_seed.get_last_checkpoint_path(Args(out)) is None


def test_only_incomplete_checkpoints_raise_naming_them(fixed_seed: ModuleType, tmp_path: Path) -> None:
    out = tmp_path / "run"
    (out / "step_300").mkdir(parents=True)
    (out / "step_300" / "model.safetensors").write_text("x")
    with pytest.raises(ResumeError, match="step_300"):
        fixed_seed.get_last_checkpoint_path(Args(out))


def test_fresh_start_flag_proceeds_and_deletes_nothing(
    fixed_seed: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "run"
    (out / "step_300").mkdir(parents=True)
    (out / "step_300" / "model.safetensors").write_text("x")
    (out / "notes.txt").write_text("keep me")
    before = _tree(out)
    monkeypatch.setenv("CKPT_LINT_FRESH_START", "1")
    assert fixed_seed.get_last_checkpoint_path(Args(out)) is None
    assert _tree(out) >= before
    assert (out / "notes.txt").read_text() == "keep me"


def test_fix_uses_the_configs_own_fresh_start_flag() -> None:
    code = SEED.replace("    last = None\n", "    last = None\n    force = args.overwrite_output_dir\n")
    fixed = fix_sources({"seed.py": code}, CKP003, unsafe=True)["seed.py"]
    assert re.search(r"fresh_start=args\.overwrite_output_dir,?\s*\)", fixed)


def test_without_a_nameable_directory_the_fix_is_display_only() -> None:
    code = textwrap.dedent(
        """
        import logging
        logger = logging.getLogger(__name__)

        def main(args):
            if args.resume:
                ckpt = find_latest_checkpoint()
                if ckpt is None:
                    logger.warning("nothing to resume")
        """
    )
    (finding,) = findings_for({"m.py": code}, CKP003)
    assert finding.fix is not None and finding.fix.applicability.value == "display-only"
    assert fix_sources({"m.py": code}, CKP003, unsafe=True)["m.py"] == code
