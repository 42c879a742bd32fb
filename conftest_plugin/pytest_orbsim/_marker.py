"""The orbsim marker: per-test ``Settings`` overrides, plus the fixtures' own options.

Nothing here imports orbsim (or pydantic) at module level: the plugin is loaded into every pytest
run of an environment where orbsim is installed, and must cost nothing until a fixture is used.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from orbsim import Settings

MARKER = "orbsim"
MARKER_HELP = (
    "orbsim(**settings): override orbsim Settings fields for this test's orb_sim "
    "(e.g. grace_period=timedelta(hours=1), amend_limit=2); now='2024-05-20T12:00:00Z' to start "
    "the test's time there; clock='manual' for a ManualClock orb_sim instead of the system clock; "
    "max_retries=N for orb_client / orb_async_client."
)
CLOCKS = ("system", "manual")
EXTRA_NAMES = ("now", "clock", "max_retries")
"""Marker keywords that are options of the fixtures, not ``Settings`` fields."""


def valid_names() -> list[str]:
    from orbsim import Settings

    return sorted([*Settings.model_fields, *EXTRA_NAMES])


def _fail(message: str) -> None:
    pytest.fail(f"@pytest.mark.orbsim: {message}", pytrace=False)


def parse_now(value: Any) -> datetime:
    """``now=``: a datetime or an ISO 8601 string (naive means UTC), as UTC."""
    parsed: datetime | None = None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            parsed = None
    if parsed is None:
        _fail(
            f"now={value!r} is not a time; give a datetime or an ISO 8601 string such as "
            "'2024-05-20T12:00:00Z'"
        )
        raise AssertionError("unreachable")  # pragma: no cover - pytest.fail raises
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _check_options(merged: dict[str, Any]) -> None:
    if "now" in merged:
        merged["now"] = parse_now(merged["now"])
    if "clock" in merged and merged["clock"] not in CLOCKS:
        _fail(f"clock={merged['clock']!r} is not one of {', '.join(map(repr, CLOCKS))}")
    if "max_retries" in merged:
        retries = merged["max_retries"]
        if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
            _fail(f"max_retries={retries!r} must be an integer >= 0")


def marker_options(node: pytest.Item) -> dict[str, Any]:
    """Every ``orbsim`` marker's keywords merged, the closest (function) marker winning.

    Unknown names, positional arguments and invalid fixture options fail the test with a
    message naming the problem (and the list of valid names).
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
    if not merged:
        return merged
    unknown = sorted(set(merged) - set(valid_names()))
    if unknown:
        pytest.fail(
            f"@pytest.mark.orbsim got unknown setting(s) {', '.join(unknown)}; "
            f"valid names: {', '.join(valid_names())}",
            pytrace=False,
        )
    _check_options(merged)
    return merged


def marker_settings(node: pytest.Item, **overrides: Any) -> Settings:
    """The ``Settings`` of the test: defaults plus the marker's overrides (validated)."""
    from pydantic import ValidationError

    from orbsim import Settings

    fields = {k: v for k, v in marker_options(node).items() if k not in EXTRA_NAMES}
    fields.update(overrides)
    try:
        return Settings(**fields)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc'])}={error.get('input')!r}: {error['msg']}"
            for error in exc.errors()
        )
    _fail(f"invalid setting value: {problems}")
    raise AssertionError("unreachable")  # pragma: no cover - pytest.fail raises
