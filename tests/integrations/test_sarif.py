"""`--format sarif`: valid SARIF 2.1.0 (official schema), rules with docs, locations, fixes."""

from __future__ import annotations

import dataclasses
import io
import json

import jsonschema
import pytest

from ckpt_lint.engine.api import findings_for, make_settings
from ckpt_lint.model import Related
from ckpt_lint.report import Report
from ckpt_lint.report.sarif import render, sarif_log
from ckpt_lint.rules import all_rules
from tests.engine.probe_rule import ProbeRule


def validate(log: dict, schema: dict) -> None:
    validator_cls = jsonschema.validators.validator_for(schema)
    validator_cls.check_schema(schema)
    errors = sorted(validator_cls(schema).iter_errors(log), key=lambda e: list(e.absolute_path))
    assert [f"{list(e.absolute_path)}: {e.message}" for e in errors] == []


def _probe_report() -> Report:
    settings = make_settings(codes=["CKP999"], extra_rules=(ProbeRule,))
    findings = findings_for({"pkg/a b.py": "import time\nx = time.time()\n"}, settings)
    assert len(findings) == 1 and findings[0].fix is not None
    with_related = dataclasses.replace(
        findings[0], related=(Related("pkg/caller.py", 7, 9, "called here on every node"),)
    )
    docs = {ProbeRule.code: (ProbeRule.name, ProbeRule.summary(), ProbeRule.docs())}
    return Report([with_related], rule_docs=docs, statistics=True, errors=["cannot read c.py"])


def test_schema_rejects_a_broken_log(sarif_schema):
    log = sarif_log(_probe_report())
    del log["runs"][0]["results"][0]["message"]
    with pytest.raises(AssertionError):
        validate(log, sarif_schema)


def test_probe_findings_with_fix_and_related_location(sarif_schema):
    out = io.StringIO()
    render(_probe_report(), out)
    log = json.loads(out.getvalue())
    validate(log, sarif_schema)
    run = log["runs"][0]
    assert log["version"] == "2.1.0"
    assert run["columnKind"] == "unicodeCodePoints"
    driver = run["tool"]["driver"]
    assert driver["name"] == "ckpt-lint" and driver["informationUri"].startswith("https://")
    result = run["results"][0]
    rule = driver["rules"][result["ruleIndex"]]
    assert rule["id"] == result["ruleId"] == "CKP999"
    assert rule["help"]["markdown"] == ProbeRule.docs()
    assert rule["fullDescription"]["text"] == "Flags `time.time()`."
    assert rule["defaultConfiguration"]["level"] == "error"
    location = result["locations"][0]["physicalLocation"]
    assert location["artifactLocation"] == {"uri": "pkg/a%20b.py", "uriBaseId": "%SRCROOT%"}
    assert location["region"] == {"startLine": 2, "startColumn": 5, "endLine": 2, "endColumn": 16}
    related = result["relatedLocations"][0]
    assert related["physicalLocation"]["artifactLocation"]["uri"] == "pkg/caller.py"
    assert related["physicalLocation"]["region"] == {"startLine": 7, "startColumn": 9}
    assert related["message"]["text"] == "called here on every node"
    change = result["fixes"][0]["artifactChanges"][0]
    replacements = {
        r["insertedContent"]["text"]: r["deletedRegion"] for r in change["replacements"]
    }
    assert replacements["stable_run_id()"] == {
        "startLine": 2,
        "startColumn": 5,
        "endLine": 2,
        "endColumn": 16,
    }
    assert any("import stable_run_id" in text for text in replacements)
    assert run["properties"]["statistics"] == {"CKP999": 1}
    assert run["invocations"][0]["executionSuccessful"] is False
    assert (
        run["invocations"][0]["toolExecutionNotifications"][0]["message"]["text"]
        == "cannot read c.py"
    )


def test_cli_sarif_on_fixtures_matches_json(cli, sarif_schema):
    as_json = cli("check", "--format", "json", "fixtures/")
    as_sarif = cli("check", "--format", "sarif", "--statistics", "fixtures/")
    assert as_sarif.returncode == as_json.returncode, as_sarif.stderr
    log = json.loads(as_sarif.stdout)
    validate(log, sarif_schema)
    run = log["runs"][0]
    rule_ids = [r["id"] for r in run["tool"]["driver"]["rules"]]
    assert {r.code for r in all_rules()} <= set(rule_ids)
    findings = json.loads(as_json.stdout)
    assert findings, "fixtures produced no findings: are the rules registered?"
    got = []
    for result in run["results"]:
        loc = result["locations"][0]["physicalLocation"]
        region = loc["region"]
        got.append(
            (
                loc["artifactLocation"]["uri"],
                region["startLine"],
                region["startColumn"],
                region["endLine"],
                region["endColumn"],
                result["ruleId"],
                rule_ids[result["ruleIndex"]],
                len(result.get("relatedLocations", [])),
                "fixes" in result,
            )
        )
    expected = [
        (
            f["path"],
            f["line"],
            f["column"],
            f["end_line"],
            f["end_column"],
            f["code"],
            f["code"],
            len(f["related"]),
            bool(f["fix"] and f["fix"]["edits"]),
        )
        for f in findings
    ]
    assert got == expected
    # CKP002's callers in other files arrive as related locations (the seed's per-node rotation)
    related_uris = {
        rl["physicalLocation"]["artifactLocation"]["uri"]
        for r in run["results"]
        if r["ruleId"] == "CKP002"
        for rl in r.get("relatedLocations", [])
    }
    assert "fixtures/demo_project/train/dpo.py" in related_uris
    assert run["properties"]["statistics"] == {
        c: sum(f["code"] == c for f in findings) for c in {f["code"] for f in findings}
    }


def test_statistics_with_json_go_to_stderr(cli):
    proc = cli("check", "--format", "json", "--statistics", "fixtures/")
    findings = json.loads(proc.stdout)  # stdout stays one JSON document
    counts = {c: sum(f["code"] == c for f in findings) for c in {f["code"] for f in findings}}
    assert counts
    assert {
        (int(n), code) for n, code, *_ in (line.split() for line in proc.stderr.splitlines())
    } == {(n, c) for c, n in counts.items()}
