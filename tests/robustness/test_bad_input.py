"""Bad input never crashes the CLI: a one-line error (exit 2) when the run itself is wrong, a
per-file CKP900 diagnostic when one file is, and never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import run_cli

HAZARD = b"import shutil\nshutil.rmtree('ckpt')\n"  # matches the prefilter, so the file is parsed


def _no_traceback(proc: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout


def _one_line_error(proc: subprocess.CompletedProcess[str], needle: str) -> None:
    _no_traceback(proc)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ckpt-lint: error:"), proc.stderr
    assert needle in lines[0]


def _diagnostic(proc: subprocess.CompletedProcess[str], path: str, needle: str) -> str:
    _no_traceback(proc)
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    (line,) = [ln for ln in proc.stdout.splitlines() if ln.startswith(path + ":")]
    assert " CKP900 " in line and needle in line, line
    return line


def _check(tmp_path, *args: str, stdin: str | None = None):
    return run_cli("check", "--no-cache", *args, cwd=tmp_path, input=stdin)


@pytest.mark.parametrize(
    "args,needle",
    [
        (("--select", "CKP123"), "--select: unknown rule code or prefix 'CKP123'"),
        (("--ignore", "FOO"), "--ignore: unknown rule code or prefix 'FOO'"),
        (("--extend-select", "CKP0019"), "unknown rule code or prefix 'CKP0019'"),
    ],
)
def test_unknown_codes_on_the_command_line(tmp_path, args, needle):
    (tmp_path / "a.py").write_bytes(HAZARD)
    _one_line_error(_check(tmp_path, *args, "a.py"), needle)


@pytest.mark.parametrize(
    "toml,needle",
    [
        ('select = ["CKP777"]', "select: unknown rule code or prefix 'CKP777'"),
        ("select = [1]", "select: expected a list of rule codes"),
        ('per-file-ignores = {"a.py" = ["NOPE1"]}', "unknown rule code or prefix 'NOPE1'"),
        ('per-file-ignores = ["a.py"]', "per-file-ignores: expected a table"),
        ("exclude = 5", "exclude: expected a list of glob patterns"),
        ('respect-gitignore = "yes"', "respect-gitignore: expected true or false"),
        ('runtime-module = "not a module"', "runtime-module: not a dotted module name"),
        ("[tool.ckpt-lint.rules.CKP001]\nfoo = 1", "rules.CKP001: unknown option 'foo'"),
        ("[tool.ckpt-lint.rules.CKP777]\nfoo = 1", "rules: unknown rule 'CKP777'"),
    ],
)
def test_malformed_pyproject(tmp_path, toml, needle):
    (tmp_path / "pyproject.toml").write_text(f"[tool.ckpt-lint]\n{toml}\n")
    (tmp_path / "a.py").write_bytes(HAZARD)
    _one_line_error(_check(tmp_path, "a.py"), needle)


@pytest.mark.parametrize(
    "data,needle",
    [
        (b"[tool.ckpt-lint]\nselect = [\n", "cannot read TOML"),
        (b"\xff\xfe[tool.ckpt-lint]\n", "cannot read TOML"),
        (b"[tool]\nckpt-lint = 5\n", "[tool.ckpt-lint] must be a table"),
    ],
)
def test_unreadable_pyproject(tmp_path, data, needle):
    (tmp_path / "pyproject.toml").write_bytes(data)
    (tmp_path / "a.py").write_bytes(HAZARD)
    _one_line_error(_check(tmp_path, "a.py"), needle)


def test_missing_paths(tmp_path):
    (tmp_path / "afile").write_text("not a directory\n")
    _one_line_error(_check(tmp_path, "nothere.py"), "path does not exist: nothere.py")
    # the parent is a file: stat gives ENOTDIR, still a plain "does not exist"
    _one_line_error(_check(tmp_path, "afile/x.py"), "path does not exist: afile/x.py")
    _one_line_error(_check(tmp_path, "--config", "missing.toml", "."), "config file not found")


def test_unwritable_output_file(tmp_path):
    (tmp_path / "a.py").write_bytes(HAZARD)
    _one_line_error(_check(tmp_path, "--output-file", "afile/out.txt", "a.py"), "cannot write")


@pytest.mark.parametrize("prefilter", [True, False])
def test_binary_file_with_a_py_name(tmp_path, prefilter):
    (tmp_path / "blob.py").write_bytes(b"\x7fELF\x00\x01" + HAZARD + bytes(range(256)))
    args = [] if prefilter else ["--no-prefilter"]
    _diagnostic(_check(tmp_path, *args, "blob.py"), "blob.py", "binary file")


def test_non_utf8_source_without_a_cookie(tmp_path):
    (tmp_path / "first.py").write_bytes(b"s = 'caf\xe9'\n" + HAZARD)
    (tmp_path / "later.py").write_bytes(HAZARD + b"s = 'caf\xe9'\n")
    proc = _check(tmp_path, "first.py", "later.py")
    _diagnostic(proc, "first.py", "not UTF-8 and no PEP 263 encoding declaration")
    assert _diagnostic(proc, "later.py", "cannot decode as utf-8").startswith("later.py:3:")


def test_huge_file_is_checked_with_bounded_memory(tmp_path):
    # 20 MB of simple statements: read and prefiltered, not parsed (nothing a rule looks for)
    with open(tmp_path / "huge.py", "w") as fh:
        for block in range(0, 1_200_000, 10_000):
            fh.write("".join(f"value_{i} = {i}\n" for i in range(block, block + 10_000)))
    assert (tmp_path / "huge.py").stat().st_size > 20_000_000
    # measured from a small wrapper: a child forked from this (big) test process would carry
    # the test process's own high-water mark in its ru_maxrss on Linux
    probe = (
        "import resource, subprocess, sys; code = subprocess.run(sys.argv[1:]).returncode; "
        "print(f'peak={resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss} exit={code}')"
    )
    cmd = [sys.executable, "-m", "ckpt_lint", "check", "--no-cache", "huge.py"]
    proc = subprocess.run(
        [sys.executable, "-c", probe, *cmd], cwd=tmp_path, capture_output=True, text=True
    )
    _no_traceback(proc)
    assert "All checks passed (1 files)" in proc.stdout and "exit=0" in proc.stdout, proc.stdout
    peak_kb = int(proc.stdout.rsplit("peak=", 1)[1].split()[0])
    assert peak_kb < 1_000_000, f"peak memory {peak_kb} KB"


def test_stdin_empty_and_bad(tmp_path):
    proc = _check(tmp_path, "--stdin-filename", "x.py", "-", stdin="")
    _no_traceback(proc)
    assert proc.returncode == 0 and "(1 files)" in proc.stdout
    proc = _check(tmp_path, "--stdin-filename", "x.py", "--no-prefilter", "-", stdin="def f(:\n")
    _diagnostic(proc, "x.py", "syntax error")
    proc = _check(tmp_path, "--stdin-filename", "x.py", "-", stdin=HAZARD.decode() + "\0")
    _diagnostic(proc, "x.py", "binary file")
    proc = run_cli("fix", "--stdin-filename", "x.py", "-", cwd=tmp_path, input="x = 1\n")
    _one_line_error(proc, "fixing stdin needs --diff")


def test_directory_named_like_a_python_file_is_walked(tmp_path):
    (tmp_path / "x.py").mkdir()
    (tmp_path / "x.py" / "inner.py").write_bytes(b"def f(:\n" + HAZARD)
    proc = _check(tmp_path, "x.py")
    _diagnostic(proc, "x.py/inner.py", "syntax error")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fifo_named_py_does_not_hang(tmp_path):
    # reading a FIFO with no writer blocks forever; a subprocess timeout turns a hang into a failure
    os.mkfifo(tmp_path / "pipe.py")
    _one_line_error(_check(tmp_path, "pipe.py"), "not a regular file: pipe.py")
    (tmp_path / "ok.py").write_bytes(HAZARD)
    proc = subprocess.run(
        [sys.executable, "-m", "ckpt_lint", "check", "--no-cache", "."],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    _no_traceback(proc)
    assert proc.returncode in (0, 1) and "(1 files)" in proc.stdout  # the FIFO is skipped


def test_dangling_symlink_is_a_per_file_diagnostic_under_its_own_name(tmp_path):
    (tmp_path / "gone.py").symlink_to(tmp_path / "target_that_does_not_exist.py")
    (tmp_path / "ok.py").write_bytes(b"x = 1\n")
    for command in ("check", "fix"):
        proc = run_cli(command, "--no-cache", ".", cwd=tmp_path)
        _diagnostic(proc, "gone.py", "cannot read file")
        assert "target_that_does_not_exist" not in proc.stdout


def test_fixing_a_file_that_cannot_be_read_leaves_the_rest(tmp_path):
    # root can read anything, so "unreadable" is a link into a path whose parent is a file
    (tmp_path / "afile").write_text("x\n")
    (tmp_path / "broken.py").symlink_to(tmp_path / "afile" / "x.py")
    (tmp_path / "good.py").write_bytes(HAZARD)
    proc = run_cli("fix", "--no-cache", ".", cwd=tmp_path)
    _diagnostic(proc, "broken.py", "cannot read file: Not a directory")
    assert (tmp_path / "good.py").read_bytes() == HAZARD  # a single-process script: no finding


def test_max_file_size_from_the_command_line_and_the_config(tmp_path):
    (tmp_path / "a.py").write_bytes(HAZARD + b"x = 1\n" * 400)  # ~2.4 kB
    _diagnostic(_check(tmp_path, "--max-file-size", "2kB", "a.py"), "a.py", "too large")
    assert _check(tmp_path, "--max-file-size", "1MB", "a.py").returncode == 0  # parsed: clean
    (tmp_path / "pyproject.toml").write_text("[tool.ckpt-lint]\nmax-file-size = 2000\n")
    _diagnostic(_check(tmp_path, "a.py"), "a.py", "raise `max-file-size`")
    assert _check(tmp_path, "--max-file-size", "0", "a.py").returncode == 0  # 0: no limit


@pytest.mark.parametrize("value", ["big", "-1", "2 parsecs"])
def test_bad_max_file_size_is_a_one_line_error(tmp_path, value):
    (tmp_path / "a.py").write_bytes(HAZARD)
    _one_line_error(_check(tmp_path, f"--max-file-size={value}", "a.py"), "--max-file-size")
