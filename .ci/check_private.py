"""Fail when a module reads another object's ``_private`` attribute.

An attribute whose name starts with one underscore is private to its class (or module): only
``self.``/``cls.`` may touch it. This walks the source trees given (default: ``src`` and
``conftest_plugin``) and reports every ``x._name`` where ``x`` is not ``self`` or ``cls``.
Deliberate uses of a library's private API live in ``orbsim/_internals.py`` (each pinned by a
test), which this check skips.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ALLOWED_FILES = {"_internals.py"}
OWNERS = {"self", "cls"}


def violations(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute):
            continue
        name = node.attr
        if not name.startswith("_") or name.startswith("__"):
            continue
        owner = node.value
        if isinstance(owner, ast.Name) and owner.id in OWNERS:
            continue
        found.append(f"{path}:{node.lineno}: {ast.unparse(node)}")
    return found


def main(argv: list[str]) -> int:
    roots = [Path(arg) for arg in argv] or [Path("src"), Path("conftest_plugin")]
    problems = [
        problem
        for root in roots
        for path in sorted(root.rglob("*.py"))
        if path.name not in ALLOWED_FILES
        for problem in violations(path)
    ]
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} read(s) of another object's private attribute", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
