"""`--format sarif`: one SARIF 2.1.0 log for code-scanning uploads (GitHub, Azure DevOps, IDEs).

Locations are relative URIs against `%SRCROOT%` (the directory ckpt-lint ran in), so run it from
the repository root. Columns are 1-based code points with an exclusive end, as SARIF's
`unicodeCodePoints` column kind defines them; our positions already are exactly that.
"""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath
from typing import Any, TextIO
from urllib.parse import quote

from ckpt_lint import __version__
from ckpt_lint.config import ENGINE_CODES
from ckpt_lint.model import Edit, Finding, Position, Related
from ckpt_lint.report import Report

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://pypi.org/project/ckpt-lint/"
SRCROOT = "%SRCROOT%"

ENGINE_DOCS = {
    "CKP900": "A file could not be read, decoded or parsed; the rest of the run went on.",
    "CKP901": "An analysis crashed on a file; please report it with the file that triggered it.",
}


def render(report: Report, out: TextIO) -> None:
    json.dump(sarif_log(report), out, indent=2, ensure_ascii=False)
    out.write("\n")


def sarif_log(report: Report) -> dict[str, Any]:
    rules, index = _rules(report)
    findings = sorted(report.findings, key=lambda f: f.sort_key)
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "ckpt-lint",
                "version": __version__,
                "semanticVersion": __version__,
                "informationUri": INFORMATION_URI,
                "rules": rules,
            }
        },
        "originalUriBaseIds": {SRCROOT: {"uri": Path.cwd().resolve().as_uri() + "/"}},
        "columnKind": "unicodeCodePoints",
        "results": [_result(f, index) for f in findings],
        "invocations": [_invocation(report)],
    }
    if report.statistics:
        run["properties"] = {"statistics": dict(sorted(report.counts().items()))}
    return {"$schema": SCHEMA_URI, "version": "2.1.0", "runs": [run]}


def _rules(report: Report) -> tuple[list[dict[str, Any]], dict[str, int]]:
    docs = dict(report.rule_docs)
    for code, name in ENGINE_CODES.items():
        docs.setdefault(code, (name, ENGINE_DOCS[code], ENGINE_DOCS[code]))
    for f in report.findings:  # a finding of a rule the report has no docs for still gets a rule
        docs.setdefault(f.code, (f.name, f.name, ""))
    rules = []
    index = {}
    for i, (code, (name, summary, text)) in enumerate(sorted(docs.items())):
        index[code] = i
        rules.append(
            {
                "id": code,
                "name": name,
                "shortDescription": {"text": summary},
                "fullDescription": {"text": _what_it_does(text) or summary},
                "help": {"text": text or summary, "markdown": text or summary},
                "defaultConfiguration": {"level": "error"},
                "properties": {"tags": ["checkpointing", "distributed-training"]},
            }
        )
    return rules, index


def _what_it_does(docs: str) -> str:
    """The body of the `## What it does` section, the paragraph tools show as description."""
    lines = docs.splitlines()
    for i, line in enumerate(lines):
        if line.strip() == "## What it does":
            body = []
            for rest in lines[i + 1 :]:
                if rest.startswith("## "):
                    break
                body.append(rest)
            return "\n".join(body).strip()
    return ""


def _result(f: Finding, index: dict[str, int]) -> dict[str, Any]:
    result: dict[str, Any] = {
        "ruleId": f.code,
        "ruleIndex": index[f.code],
        "level": "error",
        "message": {"text": f.message},
        "locations": [{"physicalLocation": _physical(f.path, f.start, f.end)}],
    }
    if f.related:
        result["relatedLocations"] = [_related(i, r) for i, r in enumerate(f.related)]
    if f.fix is not None and f.fix.edits:
        result["fixes"] = [
            {
                "description": {"text": f.fix.message or f"fix {f.code}"},
                "artifactChanges": [
                    {
                        "artifactLocation": _artifact(f.path),
                        "replacements": [_replacement(e) for e in f.fix.edits],
                    }
                ],
                "properties": {"applicability": f.fix.applicability.value},
            }
        ]
    return result


def _related(i: int, r: Related) -> dict[str, Any]:
    start = Position(r.line, r.column)
    return {
        "id": i,
        "physicalLocation": {"artifactLocation": _artifact(r.path), "region": _region(start)},
        "message": {"text": r.message},
    }


def _replacement(e: Edit) -> dict[str, Any]:
    return {"deletedRegion": _region(e.start, e.end), "insertedContent": {"text": e.content}}


def _physical(path: str, start: Position, end: Position) -> dict[str, Any]:
    return {"artifactLocation": _artifact(path), "region": _region(start, end)}


def _region(start: Position, end: Position | None = None) -> dict[str, Any]:
    region = {"startLine": start.line, "startColumn": start.column}
    if end is not None:
        region |= {"endLine": end.line, "endColumn": end.column}
    return region


def _artifact(path: str) -> dict[str, Any]:
    pure = PurePosixPath(path.replace("\\", "/"))
    if pure.is_absolute():
        return {"uri": Path(path).as_uri()}
    return {"uri": quote(pure.as_posix()), "uriBaseId": SRCROOT}


def _invocation(report: Report) -> dict[str, Any]:
    invocation: dict[str, Any] = {"executionSuccessful": not report.errors}
    if report.errors:
        invocation["toolExecutionNotifications"] = [
            {"level": "error", "message": {"text": err}} for err in report.errors
        ]
    return invocation
