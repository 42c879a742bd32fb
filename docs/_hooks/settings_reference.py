"""MkDocs hook: the Settings reference page is generated from the ``Settings`` model.

``docs/reference/settings.md`` holds the marker ``<!-- settings-table -->``; at build time it is
replaced by one row per ``Settings`` field (type, default, constraints, and the attribute docstring
written under the field in ``src/orbsim/settings.py``), so the page cannot drift from the model.
``tests/test_readme.py`` checks the rendering covers every field.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from datetime import timedelta
from typing import Any

MARKER = "<!-- settings-table -->"

_UNITS = (("days", 86400), ("h", 3600), ("min", 60), ("s", 1))


def _duration(value: timedelta) -> str:
    seconds = value.total_seconds()
    if seconds == 0:
        return "0"
    for unit, size in _UNITS:
        if unit == "days" and seconds < 3 * 86400:
            continue
        if seconds % size == 0:
            count = int(seconds // size)
            return f"{count} {unit}" if unit != "days" or count != 1 else "1 day"
    return str(value)


def _default(value: Any) -> str:
    if isinstance(value, timedelta):
        return _duration(value)
    mib = 1024 * 1024
    if isinstance(value, int) and not isinstance(value, bool) and value >= mib and value % mib == 0:
        return f"{value // mib} MiB ({value:,} bytes)"
    if value is None:
        return "`None`"
    return f"`{value!r}`"


def _docstrings(cls: type) -> dict[str, tuple[str, str]]:
    """Field name -> (annotation as written, attribute docstring) from the class source."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    body = tree.body[0].body  # type: ignore[attr-defined]
    found: dict[str, tuple[str, str]] = {}
    for index, node in enumerate(body):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            doc = ""
            following = body[index + 1] if index + 1 < len(body) else None
            if (
                isinstance(following, ast.Expr)
                and isinstance(following.value, ast.Constant)
                and isinstance(following.value.value, str)
            ):
                doc = " ".join(inspect.cleandoc(following.value.value).split())
            found[node.target.id] = (ast.unparse(node.annotation), doc)
    return found


def _constraints(field: Any) -> str:
    parts = []
    for item in field.metadata:
        for name, symbol in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<=")):
            bound = getattr(item, name, None)
            if bound is not None:
                parts.append(f"{symbol} {bound}")
    return ", ".join(parts)


def render_settings_table() -> str:
    """The markdown table of every ``Settings`` field."""
    from orbsim import Settings

    sources = _docstrings(Settings)
    rows = [
        "| setting | type | default | constraint | meaning |",
        "|---|---|---|---|---|",
    ]
    for name, field in Settings.model_fields.items():
        annotation, doc = sources.get(name, (str(field.annotation), ""))
        doc = doc or (field.description or "")
        cells = [
            f"`{name}`",
            f"`{annotation}`",
            _default(field.get_default(call_default_factory=True)),
            _constraints(field),
            doc,
        ]
        rows.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(rows) + "\n"


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    if MARKER in markdown:
        return markdown.replace(MARKER, render_settings_table())
    return markdown
