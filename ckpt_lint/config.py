"""`[tool.ckpt-lint]` in pyproject.toml: found by walking up from the paths, validated strictly."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from ckpt_lint.rules import DEFAULT_RUNTIME_MODULE, all_rules, rule_by_code_or_name

DEFAULT_EXCLUDE = (
    ".bzr", ".direnv", ".eggs", ".git", ".hg", ".mypy_cache", ".nox", ".pytest_cache",
    ".ruff_cache", ".svn", ".tox", ".venv", "venv", "__pypackages__", "__pycache__",
    "_build", "build", "dist", "node_modules", ".ckpt_lint_cache", "*.egg-info",
)  # fmt: skip


# diagnostics the engine itself emits: a file it cannot parse, an analysis that crashed
ENGINE_CODES = {"CKP900": "unparsable-file", "CKP901": "internal-error"}


class ConfigError(Exception):
    """A problem with configuration or arguments: one line, exit code 2."""


@dataclass
class Config:
    root: Path = field(default_factory=Path.cwd)
    source: Path | None = None
    select: list[str] = field(default_factory=lambda: ["CKP"])
    extend_select: list[str] = field(default_factory=list)
    ignore: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=lambda: list(DEFAULT_EXCLUDE))
    extend_exclude: list[str] = field(default_factory=list)
    per_file_ignores: dict[str, list[str]] = field(default_factory=dict)
    unsafe_fixes: bool = False
    runtime_module: str = DEFAULT_RUNTIME_MODULE
    respect_gitignore: bool = True
    force_exclude: bool = False
    cache_dir: str = ".ckpt_lint_cache"
    # bytes; bigger files are reported (CKP900) and not parsed: LibCST holds ~550 bytes of
    # tree per byte of source (a 1.3 MB file: 750 MB). Semgrep's --max-target-bytes default.
    max_file_size: int = 1_000_000
    rule_options: dict[str, dict[str, Any]] = field(default_factory=dict)

    def enabled_codes(self) -> list[str]:
        codes = [r.code for r in all_rules()] + list(ENGINE_CODES)
        chosen = {c for c in codes if _matches(c, self.select + self.extend_select)}
        return sorted(c for c in chosen if not _matches(c, self.ignore))


def _matches(code: str, selectors: list[str]) -> bool:
    return any(code.startswith(s) for s in selectors)


KNOWN_KEYS = {
    "select", "extend-select", "ignore", "exclude", "extend-exclude", "per-file-ignores",
    "unsafe-fixes", "runtime-module", "respect-gitignore", "force-exclude", "cache-dir", "rules",
    "max-file-size",
}  # fmt: skip


def validate_selectors(values: Any, where: str) -> list[str]:
    if isinstance(values, str):
        values = [v for v in values.replace(",", " ").split() if v]
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise ConfigError(f"{where}: expected a list of rule codes")
    known = [r.code for r in all_rules()] + list(ENGINE_CODES)
    out = []
    for v in values:
        v = v.strip().upper()
        if v in ("ALL", ""):
            v = "CKP"
        if not any(k.startswith(v) for k in known):
            raise ConfigError(f"{where}: unknown rule code or prefix {v!r}")
        out.append(v)
    return out


def find_pyproject(start: Path) -> Path | None:
    """The nearest pyproject.toml at or above `start` that has a [tool.ckpt-lint] table."""
    start = start.resolve()
    current = start if start.is_dir() else start.parent
    for directory in [current, *current.parents]:
        candidate = directory / "pyproject.toml"
        if candidate.is_file():
            try:
                data = tomllib.loads(candidate.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
                raise ConfigError(f"{candidate}: cannot read TOML: {exc}") from None
            if "ckpt-lint" in data.get("tool", {}):
                return candidate
    return None


def load_config(path: Path | None, search_from: Path | None = None) -> Config:
    """Load `path`, or the nearest pyproject.toml with our table above `search_from`."""
    if path is None:
        path = find_pyproject(search_from or Path.cwd())
        if path is None:
            return Config(root=Path.cwd())
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read TOML: {exc}") from None
    table = data.get("tool", {}).get("ckpt-lint") if path.name == "pyproject.toml" else data
    if table is None:
        table = {}
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [tool.ckpt-lint] must be a table")
    return config_from_table(table, path)


def config_from_table(table: dict[str, Any], path: Path) -> Config:
    where = f"{path}: [tool.ckpt-lint]"
    unknown = sorted(set(table) - KNOWN_KEYS)
    if unknown:
        raise ConfigError(
            f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(KNOWN_KEYS))})"
        )
    cfg = Config(root=path.parent.resolve(), source=path)
    if "select" in table:
        cfg.select = validate_selectors(table["select"], f"{where} select")
    if "extend-select" in table:
        cfg.extend_select = validate_selectors(table["extend-select"], f"{where} extend-select")
    if "ignore" in table:
        cfg.ignore = validate_selectors(table["ignore"], f"{where} ignore")
    for key, attr in (("exclude", "exclude"), ("extend-exclude", "extend_exclude")):
        if key in table:
            value = table[key]
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f"{where} {key}: expected a list of glob patterns")
            setattr(cfg, attr, list(value))
    if "per-file-ignores" in table:
        pfi = table["per-file-ignores"]
        if not isinstance(pfi, dict):
            raise ConfigError(f"{where} per-file-ignores: expected a table of glob = [codes]")
        cfg.per_file_ignores = {
            k: validate_selectors(v, f"{where} per-file-ignores {k!r}") for k, v in pfi.items()
        }
    for key, attr in (
        ("unsafe-fixes", "unsafe_fixes"),
        ("respect-gitignore", "respect_gitignore"),
        ("force-exclude", "force_exclude"),
    ):
        if key in table:
            if not isinstance(table[key], bool):
                raise ConfigError(f"{where} {key}: expected true or false")
            setattr(cfg, attr, table[key])
    for key, attr in (("runtime-module", "runtime_module"), ("cache-dir", "cache_dir")):
        if key in table:
            if not isinstance(table[key], str) or not table[key]:
                raise ConfigError(f"{where} {key}: expected a non-empty string")
            if key == "runtime-module" and not all(
                part.isidentifier() for part in table[key].split(".")
            ):  # fixes import from it: a bad name would make every fix produce invalid code
                raise ConfigError(f"{where} {key}: not a dotted module name: {table[key]!r}")
            setattr(cfg, attr, table[key])
    if "max-file-size" in table:
        cfg.max_file_size = parse_size(table["max-file-size"], f"{where} max-file-size")
    if "rules" in table:
        cfg.rule_options = validate_rule_options(table["rules"], where)
    return cfg


_UNITS = {"": 1, "b": 1, "kb": 1000, "kib": 1024, "mb": 1000**2, "mib": 1024**2}


def parse_size(value: Any, where: str) -> int:
    """A size in bytes: an integer, or a string like `"2MB"`, `"512 KiB"`; 0 means no limit."""
    import re

    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    match = re.fullmatch(
        r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", value if isinstance(value, str) else ""
    )
    unit = match.group(2).lower() if match else ""
    if match is None or unit not in _UNITS:
        raise ConfigError(
            f'{where}: expected a size like 1000000, "2MB" or "512KiB", got {value!r}'
        )
    return int(float(match.group(1)) * _UNITS[unit])


def validate_rule_options(rules: Any, where: str) -> dict[str, dict[str, Any]]:
    """`[tool.ckpt-lint.rules.CKP002]` or `[tool.ckpt-lint.rules.unguarded-delete]` tables."""
    if not isinstance(rules, dict):
        raise ConfigError(f"{where} rules: expected a table of rule tables")
    out: dict[str, dict[str, Any]] = {}
    for key, opts in rules.items():
        rule = rule_by_code_or_name(key)
        if rule is None:
            raise ConfigError(f"{where} rules: unknown rule {key!r}")
        if not isinstance(opts, dict):
            raise ConfigError(f"{where} rules.{key}: expected a table")
        resolved = out.setdefault(rule.code, {})
        for name, value in opts.items():
            option = rule.options.get(name)
            if option is None:
                known = ", ".join(sorted(rule.options)) or "none"
                raise ConfigError(f"{where} rules.{key}: unknown option {name!r} (known: {known})")
            try:
                resolved[name] = option.validate(name, value)
            except ValueError as exc:
                raise ConfigError(f"{where} rules.{key}: {exc}") from None
    return out
