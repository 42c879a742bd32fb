"""The README's and the docs site's examples are executed, so the documentation cannot drift.

Every ```` ```python ```` block in README.md and ``docs/**/*.md`` runs here, each in a fresh
namespace; every ```` ```pytest-example ```` block runs as a test file in an inner pytest session
(``tests/plugin/test_examples.py``). The Settings reference page is generated from the model by a
MkDocs hook, checked here to cover every field.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest

from orbsim import Settings

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"^```([\w-]*)[^\n]*\n(.*?)^```", re.S | re.M)


def blocks(language: str) -> list[tuple[str, str]]:
    """``(label, source)`` of every fenced block in ``language`` across README and docs."""
    found = []
    for page in PAGES:
        matches = [m for m in FENCE.finditer(page.read_text()) if m.group(1) == language]
        for index, match in enumerate(matches):
            found.append((f"{page.relative_to(ROOT)}[{language} block {index}]", match.group(2)))
    return found


PYTHON = blocks("python")

# Languages a block may be written in: python and pytest-example blocks are executed by the test
# suite; the typescript block by .ci/typescript-example (it needs npm packages); bash blocks are
# commands: the server and curl ones run in tests/test_docs_shell.py, the install and setup ones
# are what .ci/run and .ci/package-smoke do; text blocks show output.
LANGUAGES = {"python", "pytest-example", "typescript", "bash", "text"}


def test_every_block_has_a_known_language() -> None:
    for page in PAGES:
        for match in FENCE.finditer(page.read_text()):
            assert match.group(1) in LANGUAGES, f"{page}: code block in {match.group(1)!r}"


def test_readme_and_docs_have_examples() -> None:
    readme = [label for label, _ in PYTHON if label.startswith("README.md")]
    assert len(readme) >= 1
    assert len(PYTHON) >= 10


def test_readme_stays_short() -> None:
    assert len((ROOT / "README.md").read_bytes()) < 8 * 1024


@pytest.mark.parametrize(("label", "source"), PYTHON, ids=[label for label, _ in PYTHON])
def test_example_runs(label: str, source: str) -> None:
    exec(compile(source, label, "exec"), {})


def _settings_hook() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "settings_reference", ROOT / "docs" / "_hooks" / "settings_reference.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_settings_reference_covers_every_field() -> None:
    hook = _settings_hook()
    table = hook.render_settings_table()
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    assert [row.split("`")[1] for row in rows] == list(Settings.model_fields)
    for row in rows:
        cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", row)[1:-1]]
        assert len(cells) == 5, row
        assert cells[4], f"undocumented setting (add a docstring under the field): {row}"
    assert "| `grace_period` | `Duration` | 12 h |" in table


def test_settings_reference_page_uses_the_hook() -> None:
    hook = _settings_hook()
    page = (ROOT / "docs" / "reference" / "settings.md").read_text()
    assert hook.MARKER in page
    rendered = hook.on_page_markdown(page)
    assert hook.MARKER not in rendered
    assert "| `amend_limit` |" in rendered


def test_the_typescript_example_is_run_by_ci() -> None:
    page = (ROOT / "docs" / "guides" / "other-languages.md").read_text()
    assert len(re.findall(r"^```typescript$", page, re.M)) == 1
    assert "bash .ci/typescript-example" in (ROOT / ".ci" / "run").read_text()
    assert "other-languages.md" in (ROOT / ".ci" / "typescript-example").read_text()
