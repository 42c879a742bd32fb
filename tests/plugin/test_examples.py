"""The documented test-file examples run as real tests in inner pytest sessions.

``examples/example_*.py`` are test files kept next to the docs; every ``pytest-example`` block in
README.md and ``docs/**/*.md`` runs too, as its own test file, so the guides cannot drift from
what works, and every example can be pasted into a test file as it is.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

Run = Callable[..., pytest.RunResult]

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
DOC_BLOCKS = [
    (f"{page.relative_to(ROOT)}[{index}]", source)
    for page in PAGES
    for index, source in enumerate(
        re.findall(r"^```pytest-example\n(.*?)^```", page.read_text(), re.S | re.M)
    )
]
FILES = sorted((Path(__file__).parent / "examples").glob("example_*.py"))


def _tests_in(source: str) -> int:
    """Test functions plus hypothesis state machines exposed as ``TestX = Machine.TestCase``."""
    functions = re.findall(r"^(?:async )?def test_", source, re.M)
    machines = re.findall(r"^Test\w* = \w+\.TestCase$", source, re.M)
    return len(functions) + len(machines)


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_example_file(path: Path, pytester: pytest.Pytester, run_inner: Run) -> None:
    source = path.read_text()
    pytester.makepyfile(**{f"test_{path.stem}": source})
    run_inner("-p", "asyncio", passed=_tests_in(source))


@pytest.mark.parametrize(("label", "source"), DOC_BLOCKS, ids=[label for label, _ in DOC_BLOCKS])
def test_docs_pytest_example(
    label: str, source: str, pytester: pytest.Pytester, run_inner: Run
) -> None:
    pytester.makepyfile(test_docs_example=source)
    run_inner("-p", "asyncio", passed=_tests_in(source))


def test_docs_have_pytest_examples() -> None:
    assert len(DOC_BLOCKS) >= 7
    assert any(label.startswith("README.md") for label, _ in DOC_BLOCKS)


def test_examples_exist() -> None:
    assert len(FILES) >= 4
