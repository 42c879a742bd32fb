"""Assertions on the simulator's state, with a readable diff when they fail.

The request log answers "what did my code send?" (``sim.requests.assert_called``); these answer
"what does Orb hold now?": the billable events of a customer, a backfill's status, or any
returned object matched against a subset of its fields (``assert_matches``: invoices, usage and
costs plug in through it as those resources land, e.g.
``assert_matches(sim.invoices.fetch(id), {"total": "12.00"}, what="invoice")``).

Each helper returns what it checked, so a test can go on from there, and raises
``AssertionError`` whose message shows the expected and the actual value as a unified diff,
restricted to the fields the expectation names. Matching is the request log's: objects by the
keys given (recursively), lists element by element with the same length. Times compare as
instants: ``"2024-05-20T11:00:00Z"``, ``"2024-05-20T13:00:00+02:00"`` and an aware ``datetime``
are the same expectation.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from orbsim.wire.recorder import _projection, is_subset

if TYPE_CHECKING:
    from orbsim.models import Backfill, BillableEvent
    from orbsim.sim import OrbSim

__all__ = ["assert_backfill_status", "assert_billable_events", "assert_matches"]

_TIME_KEYS = frozenset(
    {
        "timestamp",
        "timeframe_start",
        "timeframe_end",
        "close_time",
        "reverted_at",
        "created_at",
        "recorded_at",
        "start_date",
        "end_date",
        "invoice_date",
        "due_date",
        "issued_at",
        "paid_at",
        "voided_at",
    }
)
"""Keys whose string values are ISO 8601 instants, normalised before comparing."""


def _instant(value: Any) -> Any:
    if isinstance(value, datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return aware.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, str):
        try:
            return _instant(datetime.fromisoformat(value))
        except ValueError:
            return value
    return value


def _plain(value: Any, key: str | None = None) -> Any:
    """JSON-like data: models dumped, times as UTC ISO strings (for keys naming a time)."""
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="python")
    if isinstance(value, Mapping):
        return {str(k): _plain(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, datetime) or (key in _TIME_KEYS and isinstance(value, str)):
        return _instant(value)
    return value


def _lines(value: Any) -> list[str]:
    return json.dumps(value, indent=2, sort_keys=True, default=str).splitlines()


def _diff(expected: Any, actual: Any, expected_label: str, actual_label: str) -> str:
    return "\n".join(
        difflib.unified_diff(
            _lines(expected), _lines(actual), expected_label, actual_label, lineterm=""
        )
    )


def assert_matches(actual: Any, expected: Any, *, what: str = "value") -> Any:
    """``expected`` is a subset of ``actual`` (a model, a dict or a list of them); returns
    ``actual``. On failure the message is a diff of ``expected`` against ``actual`` cut down to
    the keys ``expected`` names."""
    plain_actual = _plain(actual)
    plain_expected = _plain(expected)
    if not is_subset(plain_expected, plain_actual):
        shown = _projection(plain_expected, plain_actual)
        raise AssertionError(
            f"{what} does not match:\n"
            + _diff(plain_expected, shown, f"expected {what} (subset)", f"actual {what}")
        )
    return actual


def _event_line(event: BillableEvent) -> str:
    props = json.dumps(event.properties, sort_keys=True)
    where = f" (backfill {event.backfill_id})" if event.backfill_id else ""
    return f"{event.id}  {_instant(event.timestamp)}  {event.event_name}  {props}{where}"


def assert_billable_events(
    sim: OrbSim,
    expected: int | Sequence[str] | Sequence[Mapping[str, Any]],
    *,
    customer_id: str | None = None,
    external_customer_id: str | None = None,
    timeframe_start: datetime | str | None = None,
    timeframe_end: datetime | str | None = None,
    event_name: str | None = None,
) -> list[BillableEvent]:
    """The events that count for billing now (``sim.billable_events`` with the same filters,
    oldest first) are ``expected``: a count, their ids in order, or one mapping per event
    matched as a subset (``{"id": "evt-1", "properties": {"region": "us"}}``). Returns them."""
    events = sim.billable_events(
        customer_id=customer_id,
        external_customer_id=external_customer_id,
        timeframe_start=timeframe_start,
        timeframe_end=timeframe_end,
        event_name=event_name,
    )
    scope = (
        f"customer {customer_id}"
        if customer_id is not None
        else f"customer alias {external_customer_id!r}"
        if external_customer_id is not None
        else "the account"
    )
    if event_name is not None:
        scope += f", event_name {event_name!r}"
    if timeframe_start is not None or timeframe_end is not None:
        scope += f", in [{timeframe_start}, {timeframe_end})"
    listing = "\n".join(f"  {_event_line(e)}" for e in events) or "  (none)"
    header = f"billable events of {scope}"
    if isinstance(expected, bool):
        raise TypeError(
            "expected must be a count, a list of event ids, or a list of mappings, "
            f"got {expected!r}"
        )
    if isinstance(expected, int):
        if len(events) != expected:
            raise AssertionError(f"{header}: expected {expected}, found {len(events)}:\n{listing}")
        return events
    wanted: list[Any] = list(expected)
    if all(isinstance(item, str) for item in wanted):
        ids = [e.id for e in events]
        if ids != wanted:
            raise AssertionError(
                f"{header}: ids differ\n"
                + _diff(wanted, ids, "expected ids", "billable ids")
                + f"\nbillable now:\n{listing}"
            )
        return events
    if not all(isinstance(item, Mapping) for item in wanted):
        raise TypeError(
            "expected must be a count, a list of event ids, or a list of mappings, "
            f"got {expected!r}"
        )
    plain = [_plain(e) for e in events]
    plain_expected = _plain(wanted)
    if not is_subset(plain_expected, plain):
        shown = _projection(plain_expected, plain)
        raise AssertionError(
            f"{header}: expected {len(wanted)} event(s) matching, found {len(events)}\n"
            + _diff(plain_expected, shown, "expected (subset)", "billable now")
        )
    return events


def _next_step(sim: OrbSim, backfill: Backfill) -> str:
    """What would move the backfill on from its current status."""
    delay = sim.settings.reflection_delay
    now = sim.now()
    if backfill.status == "pending":
        if backfill.close_time is not None and backfill.close_time <= now:
            return (
                f"it closed at {_instant(backfill.close_time)} and becomes reflected "
                f"Settings.reflection_delay ({delay}) later, at the next call after that"
            )
        return (
            "it is open: it closes at its close_time "
            f"({_instant(backfill.close_time)}) or with backfills.close(id)"
        )
    if backfill.status == "pending_revert":
        return f"it becomes reverted Settings.reflection_delay ({delay}) after the revert"
    return ""


def assert_backfill_status(sim: OrbSim, backfill_id: str, status: str, **fields: Any) -> Backfill:
    """The backfill is in ``status`` now (and has ``fields``, matched as a subset, e.g.
    ``events_ingested=3``); returns it. A failure shows the backfill, the simulator's time and
    what would move it on."""
    backfill = sim.events.backfills.fetch(backfill_id)
    expected = {"status": status, **fields}
    plain = _plain(backfill)
    plain_expected = _plain(expected)
    if is_subset(plain_expected, plain):
        return backfill
    hint = _next_step(sim, backfill)
    if hint:
        hint = "\n" + hint
    shown = _projection(plain_expected, plain)
    raise AssertionError(
        f"backfill {backfill_id} is {backfill.status!r}, expected {status!r} "
        f"(now {_instant(sim.now())}){hint}\n"
        + _diff(plain_expected, shown, "expected backfill (subset)", "backfill now")
        + "\nbackfill: "
        + json.dumps(plain, sort_keys=True, default=str)
    )
