"""A test-only rule that proves the engine: flags `time.time()` anywhere, safe fix to a constant
call imported from the runtime module. Registered by the tests that use it, never shipped."""

from __future__ import annotations

import libcst as cst

from ckpt_lint.analysis.names import Names
from ckpt_lint.model import Applicability
from ckpt_lint.rules import Invalid, Rule


class ProbeRule(Rule):
    """Probe.

    ## What it does
    Flags `time.time()`.
    """

    code = "CKP999"
    name = "probe"
    message = "probe"
    fix_safety = Applicability.SAFE
    prefilter = rb"time"
    VALID = ["import os\nos.getcwd()\n"]
    INVALID = [Invalid("import time\nx = time.time()\n", "import time\nfrom ckpt_lint.runtime import stable_run_id\nx = stable_run_id()\n")]

    def check(self, ctx):
        names = ctx.file.get(Names)

        class V(cst.CSTVisitor):
            def __init__(self):
                self.calls = []

            def visit_Call(self, node):
                if names.call_name(node) == "time.time":
                    self.calls.append(node)

        v = V()
        ctx.module.visit(v)
        for call in v.calls:
            local, edits = ctx.import_runtime("stable_run_id")
            fix = ctx.fix([ctx.replace(call, f"{local}()"), *edits], "use a stable id")
            yield ctx.finding(call, "`time.time()` probe", fix=fix)
