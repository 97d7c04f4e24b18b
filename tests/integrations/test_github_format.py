"""`--format github`: GitHub's workflow-command syntax, escaping, and `--format auto`."""

from __future__ import annotations

import io
import re

from ckpt_lint.engine.api import findings_for, make_settings
from ckpt_lint.model import Finding, Position, Related
from ckpt_lint.report import Report
from ckpt_lint.report.github import annotation, escape_data, escape_property, render
from tests.engine.probe_rule import ProbeRule
from tests.integrations.conftest import python_tool

# the runner's parser: `::name key=value,key=value::message`, one command per line
COMMAND = re.compile(r"^::(?P<name>error|warning|notice)(?: (?P<props>[^:]*))?::(?P<message>.*)$")


def unescape_data(value: str) -> str:
    return value.replace("%0D", "\r").replace("%0A", "\n").replace("%25", "%")


def unescape_property(value: str) -> str:
    return unescape_data(value.replace("%3A", ":").replace("%2C", ","))


def parse_command(line: str) -> tuple[str, dict[str, str], str]:
    match = COMMAND.match(line)
    assert match, f"not a workflow command: {line!r}"
    props = {}
    for pair in (match.group("props") or "").split(","):
        if pair:
            key, _, value = pair.partition("=")
            props[key] = unescape_property(value)
    return match.group("name"), props, unescape_data(match.group("message"))


def test_escaping_matches_the_actions_toolkit():
    assert escape_data("100%\r\nnext") == "100%25%0D%0Anext"
    assert escape_data("a:b,c") == "a:b,c"  # only properties escape `:` and `,`
    assert escape_property("a:b,c%\n") == "a%3Ab%2Cc%25%0A"
    assert escape_data("%0A") == "%250A"  # a literal escape sequence survives a round trip


def _finding(path: str, message: str, related=()) -> Finding:
    return Finding(
        "CKP002", "unguarded-delete", message, path, Position(3, 5), Position(3, 17), None, related
    )


def test_annotation_round_trips_awkward_paths_and_messages():
    related = (Related("train/b,c.py", 9, 4, "called here under `is_local_main_process`"),)
    f = _finding("dir:x/we,ird%20.py", "deletes 100% of\nold checkpoints :: on every node", related)
    line = annotation(f)
    assert "\n" not in line and "\r" not in line
    name, props, message = parse_command(line)
    assert name == "error"
    assert props == {
        "file": "dir:x/we,ird%20.py",
        "line": "3",
        "col": "5",
        "endLine": "3",
        "endColumn": "17",
        "title": "CKP002",
    }
    assert message.splitlines() == [
        "deletes 100% of",
        "old checkpoints :: on every node",
        "train/b,c.py:9:4: called here under `is_local_main_process`",
    ]


def test_render_real_findings_errors_and_statistics():
    settings = make_settings(codes=["CKP999"], extra_rules=(ProbeRule,))
    findings = findings_for({"a.py": "import time\nx = time.time()\ny = time.time()\n"}, settings)
    assert len(findings) == 2
    out = io.StringIO()
    render(Report(findings, errors=["cannot write b.py: read-only"], statistics=True), out)
    lines = out.getvalue().splitlines()
    commands = [parse_command(line) for line in lines if line.startswith("::")]
    assert [(p["file"], p["line"], p["col"], p["title"]) for _, p, _ in commands[:2]] == [
        ("a.py", "2", "5", "CKP999"),
        ("a.py", "3", "5", "CKP999"),
    ]
    assert commands[2] == ("error", {"title": "ckpt-lint"}, "cannot write b.py: read-only")
    assert lines[-1].split() == ["2", "CKP999"]


def test_cli_github_format_on_fixtures_matches_json(cli):
    import json

    as_json = cli("check", "--format", "json", "fixtures/")
    as_github = cli("check", "--format", "github", "fixtures/")
    assert as_github.returncode == as_json.returncode
    expected = {
        (f["path"], f["line"], f["column"], f["code"], f["message"])
        for f in json.loads(as_json.stdout)
    }
    got = set()
    for line in as_github.stdout.splitlines():
        _, props, message = parse_command(line)
        got.add(
            (
                props["file"],
                int(props["line"]),
                int(props["col"]),
                props["title"],
                message.splitlines()[0],
            )
        )
    assert got == expected


def test_format_auto_is_github_only_under_github_actions(cli):
    actions = python_tool(
        "ckpt_lint", "check", "--format", "auto", "fixtures/", env={"GITHUB_ACTIONS": "true"}
    )
    plain = python_tool("ckpt_lint", "check", "--format", "auto", "fixtures/")
    explicit = cli("check", "--format", "github", "fixtures/")
    text = cli("check", "fixtures/")
    assert actions.stdout == explicit.stdout
    assert plain.stdout == text.stdout
    assert plain.stdout != actions.stdout
