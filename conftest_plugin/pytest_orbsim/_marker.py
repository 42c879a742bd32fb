"""The orbsim marker: per-test ``Settings`` overrides, and ``now=`` for orb_time."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from orbsim import Settings

MARKER = "orbsim"
MARKER_HELP = (
    "orbsim(**settings): override orbsim Settings fields for this test's orb_sim "
    "(e.g. grace_period=timedelta(hours=1), amend_limit=2) and now='2024-05-20T12:00:00Z' "
    "to freeze orb_time there."
)
EXTRA_NAMES = ("now",)


def valid_names() -> list[str]:
    return sorted([*Settings.model_fields, *EXTRA_NAMES])


def marker_options(node: pytest.Item) -> dict[str, Any]:
    """Every ``orbsim`` marker's keywords merged, the closest (function) marker winning.

    Unknown names and positional arguments fail the test with the list of valid names.
    """
    merged: dict[str, Any] = {}
    for mark in reversed(list(node.iter_markers(MARKER))):
        if mark.args:
            pytest.fail(
                f"@pytest.mark.orbsim takes keyword arguments only, got {mark.args!r}; "
                f"valid names: {', '.join(valid_names())}",
                pytrace=False,
            )
        merged.update(mark.kwargs)
    unknown = sorted(set(merged) - set(valid_names()))
    if unknown:
        pytest.fail(
            f"@pytest.mark.orbsim got unknown setting(s) {', '.join(unknown)}; "
            f"valid names: {', '.join(valid_names())}",
            pytrace=False,
        )
    return merged


def marker_settings(node: pytest.Item) -> Settings:
    """The ``Settings`` of the test: defaults plus the marker's overrides (validated)."""
    overrides = {k: v for k, v in marker_options(node).items() if k not in EXTRA_NAMES}
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc'])}={error.get('input')!r}: {error['msg']}"
            for error in exc.errors()
        )
    pytest.fail(f"@pytest.mark.orbsim: invalid setting value: {problems}", pytrace=False)
