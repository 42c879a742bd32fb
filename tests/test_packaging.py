"""Packaging promises: one version source, ``orbsim --version``, extras that match their promise.

(Building the wheel and installing it into a fresh environment is ``.ci/package-smoke``, run by
``.ci/run``: it needs the network for the build backend.)
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

import orbsim
from orbsim.cli import main

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
EXTRAS: dict[str, list[str]] = PROJECT["optional-dependencies"]


def _names(requirements: list[str]) -> set[str]:
    return {re.split(r"[<>=!~;\[ ]", req, maxsplit=1)[0].lower() for req in requirements}


def _expanded(extra: str) -> set[str]:
    """Every distribution an extra brings, following ``orbsim[...]`` self-references."""
    names: set[str] = set()
    for requirement in EXTRAS[extra]:
        nested = re.fullmatch(r"orbsim\[([\w,]+)\]", requirement)
        if nested:
            for inner in nested.group(1).split(","):
                names |= _expanded(inner)
        else:
            names |= _names([requirement])
    return names


def test_one_version_source() -> None:
    assert orbsim.__version__ == metadata.version("orbsim") == PROJECT["version"]
    assert "version" not in PROJECT.get("dynamic", [])


def test_orbsim_version_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"orbsim {PROJECT['version']}"


def test_orbsim_version_from_the_console_script() -> None:
    script = Path(sys.executable).with_name("orbsim")
    out = subprocess.run([script, "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"orbsim {PROJECT['version']}"


def test_testing_extra_runs_every_documented_example() -> None:
    # pytest for the plugin, freezegun for orb_time, hypothesis for the strategies, the SDK
    # for orb_client, pytest-asyncio for the async example.
    assert {"orb-billing", "pytest", "freezegun", "hypothesis", "pytest-asyncio"} <= _expanded(
        "testing"
    )


def test_all_is_every_runtime_extra_and_no_developer_tool() -> None:
    runtime = {name for name in EXTRAS if name not in {"all", "dev", "docs"}}
    assert _expanded("all") == set().union(*(_expanded(name) for name in runtime))
    assert not {"ruff", "mypy", "mkdocs", "twine", "build"} & _expanded("all")


def test_dev_has_everything_ci_uses() -> None:
    assert {"ruff", "mypy", "mkdocs", "mkdocs-material", "build", "twine"} <= _expanded("dev")
    assert _expanded("all") <= _expanded("dev")


def test_readme_wheel_name_matches_the_version() -> None:
    readme = (ROOT / "README.md").read_text()
    assert f"orbsim-{PROJECT['version']}-py3-none-any.whl" in readme


def test_changelog_has_an_entry_for_the_version() -> None:
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert f"## [{PROJECT['version']}]" in changelog
