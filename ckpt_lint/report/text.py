"""Human output: `path:line:col: CODE message`, the source line with a caret, a summary."""

from __future__ import annotations

import linecache
from typing import TextIO

from rich.console import Console
from rich.markup import escape

from ckpt_lint.model import Applicability
from ckpt_lint.report import Report


def render(report: Report, out: TextIO) -> None:
    console = Console(
        file=out,
        force_terminal=report.color,
        no_color=not report.color,
        highlight=False,
        soft_wrap=True,
    )
    findings = sorted(report.findings, key=lambda f: f.sort_key)
    for f in findings:
        marker = ""
        if f.fix is not None and f.fix.edits:
            marker = " [cyan]\\[*][/]" if f.fix.applicability is Applicability.SAFE else ""
        console.print(
            f"[bold]{escape(f.path)}[/]:{f.start.line}:{f.start.column}: "
            f"[bold red]{f.code}[/] {escape(f.message)}{marker}"
        )
        line = linecache.getline(f.path, f.start.line).rstrip("\r\n")
        if line:
            width = (f.end.column - f.start.column) if f.end.line == f.start.line else 1
            console.print(f"  {f.start.line:>4} | {escape(line)}", markup=True)
            console.print(
                "       | " + " " * (f.start.column - 1) + "[red]" + "^" * max(1, width) + "[/]"
            )
        for r in f.related:
            console.print(
                f"       = [dim]{escape(r.path)}:{r.line}:{r.column}: {escape(r.message)}[/]"
            )
    for err in report.errors:
        console.print(f"[yellow]error[/]: {escape(err)}")
    if report.statistics:
        for code, count in sorted(report.counts().items()):
            name = report.rule_docs.get(code, ("", "", ""))[0]
            console.print(f"{count:>5}  {code}  {name}")
    files = len({f.path for f in findings})
    safe = sum(
        1 for f in findings if f.fix and f.fix.edits and f.fix.applicability is Applicability.SAFE
    )
    unsafe = sum(
        1 for f in findings if f.fix and f.fix.edits and f.fix.applicability is Applicability.UNSAFE
    )
    if findings:
        parts = [
            f"{len(findings)} finding{'s' if len(findings) != 1 else ''} in {files} file{'s' if files != 1 else ''}"
        ]
        if safe:
            parts.append(f"{safe} fixable with `ckpt-lint fix`")
        if unsafe:
            parts.append(f"{unsafe} more with `--unsafe-fixes`")
        console.print(", ".join(parts) + ".")
    elif report.fixed:
        console.print(
            f"Fixed {report.fixed} finding{'s' if report.fixed != 1 else ''}; none remain."
        )
    else:
        console.print(f"All checks passed ({report.files_checked} files).")
