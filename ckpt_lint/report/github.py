"""`--format github`: GitHub Actions workflow commands, one `::error` annotation per finding.

    ::error file=train.py,line=3,col=5,endLine=3,endColumn=17,title=CKP002::message

Escaping follows the runner's command parser (actions/toolkit `command.ts`): in the message
`%`, CR and LF become `%25`, `%0D`, `%0A`; property values additionally escape `:` and `,`.
Related locations (a CKP002 caller) follow the message on their own lines.
"""

from __future__ import annotations

from typing import TextIO

from ckpt_lint.model import Finding
from ckpt_lint.report import Report


def escape_data(value: str) -> str:
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(value: str) -> str:
    return escape_data(value).replace(":", "%3A").replace(",", "%2C")


def command(name: str, properties: dict[str, object], message: str) -> str:
    props = ",".join(f"{key}={escape_property(str(value))}" for key, value in properties.items())
    return (
        f"::{name} {props}::{escape_data(message)}"
        if props
        else f"::{name}::{escape_data(message)}"
    )


def annotation(f: Finding) -> str:
    message = f.message
    for r in f.related:
        message += f"\n{r.path}:{r.line}:{r.column}: {r.message}"
    properties: dict[str, object] = {
        "file": f.path,
        "line": f.start.line,
        "col": f.start.column,
        "endLine": f.end.line,
        "endColumn": f.end.column,
        "title": f.code,
    }
    return command("error", properties, message)


def render(report: Report, out: TextIO) -> None:
    for f in sorted(report.findings, key=lambda f: f.sort_key):
        out.write(annotation(f) + "\n")
    for err in report.errors:
        out.write(command("error", {"title": "ckpt-lint"}, err) + "\n")
    if report.statistics:
        for code, count in sorted(report.counts().items()):
            name = report.rule_docs.get(code, ("", "", ""))[0]
            out.write(f"{count:>5}  {code}  {name}\n")
