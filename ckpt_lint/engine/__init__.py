"""The engine: files -> parse -> per-file facts -> project facts -> findings -> fixes.

- `source`: read, decode, parse one file; positions on demand; apply text edits.
- `discovery`: which files a run looks at.
- `runner`: the two-phase lint of a set of files.
- `fixer`: apply, verify and write fixes.
"""
