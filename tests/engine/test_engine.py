"""Engine behaviour proved with a test-only rule (CKP999): phases, suppression, fix loop, writes."""

from __future__ import annotations

import json
import os

import pytest

from ckpt_lint.engine import fsio
from ckpt_lint.engine.api import findings_for, fix_sources, make_settings
from ckpt_lint.engine.source import apply_edits
from ckpt_lint.model import Edit, Position
from tests.engine.probe_rule import ProbeRule

SETTINGS = make_settings(codes=["CKP999", "CKP900", "CKP901"], extra_rules=(ProbeRule,))


def test_finding_positions_are_one_based():
    (f,) = findings_for({"a.py": "import time\nx =  time.time()\n"}, SETTINGS)
    assert (f.code, f.start.line, f.start.column, f.end.column) == ("CKP999", 2, 6, 17)


def test_alias_resolution():
    src = "import time as t\nfrom time import time as now\na = t.time()\nb = now()\nc = time()\n"
    found = findings_for({"a.py": src}, SETTINGS)
    assert [f.start.line for f in found] == [3, 4]


@pytest.mark.parametrize(
    "comment,suppressed",
    [("# noqa", True), ("# noqa: CKP999", True), ("# noqa:CKP9", True), ("# noqa: CKP001", False), ("", False)],
)
def test_noqa(comment, suppressed):
    found = findings_for({"a.py": f"import time\nx = time.time()  {comment}\n"}, SETTINGS)
    assert (len(found) == 0) is suppressed


def test_noqa_inside_string_does_not_count():
    found = findings_for({"a.py": 'import time\nx = (time.time(), "# noqa")\n'}, SETTINGS)
    assert len(found) == 1


def test_skip_file():
    assert findings_for({"a.py": "# ckpt-lint: skip-file\nimport time\ntime.time()\n"}, SETTINGS) == []


def test_syntax_error_is_a_diagnostic_and_run_continues():
    files = {"bad.py": "import time\ndef f(:\n", "good.py": "import time\ntime.time()\n"}
    found = findings_for(files, SETTINGS)
    assert sorted(f.code for f in found) == ["CKP900", "CKP999"]
    assert [f.start.line for f in found if f.code == "CKP900"] == [2]


def test_prefilter_skips_unrelated_files_unless_disabled():
    files = {"bad.py": "def f(:\n"}
    assert findings_for(files, SETTINGS) == []
    no_prefilter = make_settings(codes=["CKP999", "CKP900"], extra_rules=(ProbeRule,), prefilter=False)
    assert [f.code for f in findings_for(files, no_prefilter)] == ["CKP900"]


def test_fix_adds_import_after_import_block_and_is_idempotent():
    src = '"""doc"""\nimport os\nimport time\n\nx = time.time()\ny = time.time()\nz = time.monotonic()\n'
    fixed = fix_sources({"a.py": src}, SETTINGS)["a.py"]
    assert fixed == (
        '"""doc"""\nimport os\nimport time\n\nfrom ckpt_lint.runtime import stable_run_id\n\n'
        "x = stable_run_id()\ny = stable_run_id()\nz = time.monotonic()\n"
    )
    assert fix_sources({"a.py": fixed}, SETTINGS)["a.py"] == fixed


@pytest.mark.parametrize(
    "imports,expected",
    [
        # into the third-party section, alphabetically among its `from` imports
        (
            "import os\nimport time\n\nimport torch\nfrom accelerate import A\nfrom transformers import B\n\nfrom train.x import y\n",
            "import os\nimport time\n\nimport torch\nfrom accelerate import A\nfrom ckpt_lint.runtime import stable_run_id\nfrom transformers import B\n\nfrom train.x import y\n",
        ),
        # no third-party section yet: opened between stdlib and first-party
        (
            "import time\n\nfrom train.x import y\n",
            "import time\n\nfrom ckpt_lint.runtime import stable_run_id\n\nfrom train.x import y\n",
        ),
        # unsorted file: after the last import of an earlier section, as a new section
        (
            "from train.x import y\nimport time\n",
            "from train.x import y\nimport time\n\nfrom ckpt_lint.runtime import stable_run_id\n",
        ),
    ],
)
def test_import_goes_into_its_isort_section(imports, expected):
    src = imports + "\nx = time.time()\nt0 = time.monotonic()\n"
    files = {"train/__init__.py": "", "train/x.py": "y = 1\n", "train/a.py": src}
    fixed = fix_sources(files, SETTINGS)["train/a.py"]
    assert fixed.startswith(expected), fixed


def test_fix_extends_existing_runtime_import():
    src = "import time\nfrom ckpt_lint.runtime import is_main_process\nx = time.time()\n"
    fixed = fix_sources({"a.py": src}, SETTINGS)["a.py"]
    assert "from ckpt_lint.runtime import is_main_process, stable_run_id\n" in fixed


def test_fix_never_touches_noqa_line():
    src = "import time\nx = time.time()  # noqa: CKP999\n"
    assert fix_sources({"a.py": src}, SETTINGS)["a.py"] == src


def test_apply_edits_rejects_overlap():
    e1 = Edit(Position(1, 1), Position(1, 4), "x")
    e2 = Edit(Position(1, 2), Position(1, 5), "y")
    with pytest.raises(ValueError):
        apply_edits("abcdef\n", [e1, e2])


def _write(tmp_path, name, data: bytes, mode=0o644):
    p = tmp_path / name
    p.write_bytes(data)
    os.chmod(p, mode)
    return p


@pytest.fixture
def probe_config(tmp_path):
    # the CLI can't see test-only rules, so drive the fixer through the same objects it wires
    from ckpt_lint.config import Config
    from ckpt_lint.engine.fixer import Fixer
    from ckpt_lint.engine.runner import Linter

    def run(paths, write=True):
        linter = Linter(SETTINGS)
        result = linter.lint_paths([str(p) for p in paths], Config(root=tmp_path))
        return Fixer(linter, unsafe=False).run(result, write=write)

    return run


def test_fix_keeps_crlf_bom_and_mode(tmp_path, probe_config):
    p = _write(tmp_path, "a.py", b"\xef\xbb\xbfimport time\r\nx = time.time()\r\n", 0o755)
    report = probe_config([p])
    assert report.errors == []
    data = p.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf") and b"\r\n" in data and b"\n" not in data.replace(b"\r\n", b"")
    assert b"stable_run_id()" in data
    assert oct(os.stat(p).st_mode & 0o777) == "0o755"


def test_fix_keeps_latin1_cookie(tmp_path, probe_config):
    src = "# -*- coding: latin-1 -*-\nimport time\ns = 'caf\xe9'\nx = time.time()\n"
    p = _write(tmp_path, "a.py", src.encode("latin-1"))
    probe_config([p])
    assert p.read_bytes().decode("latin-1").count("caf\xe9") == 1
    assert b"stable_run_id()" in p.read_bytes()


def test_symlink_stays_a_symlink(tmp_path, probe_config):
    target = _write(tmp_path, "real.py", b"import time\nx = time.time()\n")
    link = tmp_path / "link.py"
    link.symlink_to(target)
    probe_config([link])
    assert link.is_symlink()
    assert b"stable_run_id" in target.read_bytes()


def test_read_only_file_reported_not_written(tmp_path, probe_config):
    p = _write(tmp_path, "a.py", b"import time\nx = time.time()\n", 0o444)
    report = probe_config([p])
    assert any("read-only" in e for e in report.errors)
    assert p.read_bytes() == b"import time\nx = time.time()\n"


def test_failure_before_replace_leaves_original(tmp_path, probe_config, monkeypatch):
    original = b"import time\nx = time.time()\n"
    p = _write(tmp_path, "a.py", original)

    def boom(tmp):
        raise OSError(5, "injected I/O error")

    monkeypatch.setattr(fsio, "_before_replace", boom)
    report = probe_config([p])
    assert p.read_bytes() == original
    assert any("injected" in e for e in report.errors)
    assert [x.name for x in tmp_path.iterdir()] == ["a.py"]  # no temp file left behind


def test_json_output_shape(tmp_path, cli):
    # with no real finding the array is empty, and stdout is only JSON
    (tmp_path / "a.py").write_text("import os\n")
    proc = cli("check", "--format", "json", str(tmp_path / "a.py"))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == []


@pytest.mark.parametrize(
    "args,needle",
    [
        (("check", "does/not/exist.py"), "path does not exist"),
        (("check", "--select", "XYZ1", "."), "unknown rule code"),
        (("check", "--format", "nope", "."), "invalid choice"),
        (("rule", "CKP777"), "unknown rule"),
    ],
)
def test_usage_errors_exit_2_one_line(cli, args, needle):
    proc = cli(*args)
    assert proc.returncode == 2
    assert needle in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_bad_config_exits_2(tmp_path, cli):
    (tmp_path / "pyproject.toml").write_text("[tool.ckpt-lint]\nselct = ['CKP001']\n")
    (tmp_path / "a.py").write_text("x = 1\n")
    proc = cli("check", str(tmp_path), cwd=tmp_path)
    assert proc.returncode == 2 and "unknown key 'selct'" in proc.stderr
    (tmp_path / "pyproject.toml").write_text("[tool.ckpt-lint\n")
    proc = cli("check", str(tmp_path), cwd=tmp_path)
    assert proc.returncode == 2 and "cannot read TOML" in proc.stderr and "Traceback" not in proc.stderr


def test_gitignore_and_default_excludes(tmp_path):
    from ckpt_lint.config import Config
    from ckpt_lint.engine.discovery import discover

    (tmp_path / ".git").mkdir()
    (tmp_path / ".gitignore").write_text("generated/\n")
    for rel in ["a.py", "generated/g.py", ".venv/v.py", "build/b.py", "pkg/c.py", "pkg/node_modules/n.py"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x = 1\n")
    found = sorted(s.path.relative_to(tmp_path).as_posix() for s in discover([str(tmp_path)], Config(root=tmp_path)))
    assert found == ["a.py", "pkg/c.py"]
    # an explicit file is always linted, unless force-exclude
    explicit = list(discover([str(tmp_path / "build/b.py")], Config(root=tmp_path)))
    assert len(explicit) == 1
    assert list(discover([str(tmp_path / "build/b.py")], Config(root=tmp_path, force_exclude=True))) == []


def test_fix_drops_an_import_it_made_unused_and_nothing_else():
    src = (
        "import os\nimport sys  # unused before the fix: not ours to remove\n"
        "# the clock\nimport time\n\nx = time.time()\n"
    )
    fixed = fix_sources({"a.py": src}, SETTINGS)["a.py"]
    assert "import time" not in fixed
    assert "import sys  # unused before the fix" in fixed and "import os\n" in fixed
    assert "# the clock\n" in fixed  # a comment above the dropped import stays
    assert fix_sources({"a.py": fixed}, SETTINGS)["a.py"] == fixed


def test_fix_keeps_an_import_still_used_elsewhere_and_in_packages():
    src = "import time\n\nx = time.time()\ny = time.monotonic()\n"
    assert "import time\n" in fix_sources({"a.py": src}, SETTINGS)["a.py"]
    init = "import time\n\nx = time.time()\n"
    assert "import time\n" in fix_sources({"pkg/__init__.py": init}, SETTINGS)["pkg/__init__.py"]


def test_stale_temp_from_a_killed_fix_is_removed_later_but_a_fresh_one_is_kept(tmp_path, probe_config):
    p = _write(tmp_path, "a.py", b"import time\nx = time.time()\n")
    old = tmp_path / ".a.py.dead1.ckpt-lint.tmp"
    fresh = tmp_path / ".a.py.live2.ckpt-lint.tmp"
    old.write_bytes(b"half")
    fresh.write_bytes(b"half")
    os.utime(old, (0, 0))
    probe_config([p])
    assert not old.exists() and fresh.exists()
    assert b"stable_run_id" in p.read_bytes()


def test_giant_file_is_a_per_file_diagnostic(tmp_path):
    limit = SETTINGS.max_file_size
    body = b"import time\ntime.time()\n" + b"x = 1\n" * (limit // 6 + 1)
    files = {"big.py": body.decode(), "small.py": "import time\ntime.time()\n"}
    found = findings_for(files, SETTINGS)
    assert sorted((f.path, f.code) for f in found) == [("big.py", "CKP900"), ("small.py", "CKP999")]
    assert "too large" in [f for f in found if f.path == "big.py"][0].message
    unlimited = make_settings(
        codes=["CKP999", "CKP900"], extra_rules=(ProbeRule,), max_file_size=0
    )  # 0: no limit, the file is analysed
    assert sorted(f.code for f in findings_for(files, unlimited)) == ["CKP999", "CKP999"]
