"""The documented test-file examples run as real tests in inner pytest sessions.

``examples/example_*.py`` are the README's ``pytest-example`` blocks; any such block found in
README.md runs too, so the chapter cannot drift from what works.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

Run = Callable[..., pytest.RunResult]

README = Path(__file__).resolve().parents[2] / "README.md"
README_BLOCKS = re.findall(r"```pytest-example\n(.*?)```", README.read_text(), re.S)
FILES = sorted((Path(__file__).parent / "examples").glob("example_*.py"))


def _tests_in(source: str) -> int:
    return len(re.findall(r"^(?:async )?def test_", source, re.M))


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_example_file(path: Path, pytester: pytest.Pytester, run_inner: Run):
    source = path.read_text()
    pytester.makepyfile(**{f"test_{path.stem}": source})
    run_inner("-p", "asyncio", passed=_tests_in(source))


@pytest.mark.parametrize("index", range(len(README_BLOCKS)))
def test_readme_pytest_example(index: int, pytester: pytest.Pytester, run_inner: Run):
    source = README_BLOCKS[index]
    pytester.makepyfile(**{f"test_readme_example_{index}": source})
    run_inner("-p", "asyncio", passed=_tests_in(source))


def test_examples_exist():
    assert len(FILES) >= 4
