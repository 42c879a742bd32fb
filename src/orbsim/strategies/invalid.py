"""Invalid ingestion payloads: a valid event with exactly one named rule broken
(``INVALID_EVENT_RULES``), for fuzzing the refusals of one's own error handling.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

from hypothesis import strategies as st

from orbsim.engine.validation import EVENT_KEYS
from orbsim.settings import Settings
from orbsim.strategies.ingestion import (
    KEY_ALPHABET,
    NAME_ALPHABET,
    customer_aliases,
    events,
    idempotency_keys,
    property_keys,
    property_values,
)
from orbsim.strategies.times import render_timestamps, timestamps

if TYPE_CHECKING:
    pass


INVALID_KEY_NAMESPACE = "invalid"
"""The namespace of ``invalid_events``' keys unless ``keys=`` is given."""
_CLOCK_SLACK = timedelta(minutes=1)
"""How far ``invalid_events`` without ``now`` keeps from the window's moving edges."""


INVALID_EVENT_RULES: Mapping[str, str] = {
    "unknown_field": "<the unknown key>",
    "missing_event_name": "event_name",
    "empty_event_name": "event_name",
    "missing_idempotency_key": "idempotency_key",
    "empty_idempotency_key": "idempotency_key",
    "missing_timestamp": "timestamp",
    "bad_timestamp": "timestamp",
    "too_far_in_future": "timestamp",
    "older_than_grace": "timestamp",
    "missing_properties": "properties",
    "properties_not_object": "properties",
    "nested_property": "properties",
    "null_property": "properties",
    "non_finite_property": "properties",
    "both_customer_ids": "customer_id",
    "no_customer_id": "customer_id",
    "unknown_customer_id": "customer_id",
}
"""Every ingestion rule ``invalid_events`` can break, mapped to the field its error names.

``non_finite_property`` (NaN/infinity) cannot be sent as JSON; ``invalid_events`` leaves it out
unless asked for by ``rules=``.
"""

_JSON_RULES = tuple(rule for rule in INVALID_EVENT_RULES if rule != "non_finite_property")


class InvalidEvent(NamedTuple):
    """A payload breaking exactly one rule; unpacks as ``(rule, payload)``."""

    rule: str
    payload: dict[str, Any]

    @property
    def field(self) -> str:
        """The field the refusal names (for ``unknown_field``: the unknown key itself)."""
        if self.rule == "unknown_field":
            return next(k for k in self.payload if k not in EVENT_KEYS)
        return INVALID_EVENT_RULES[self.rule]


def _without(event: dict[str, Any], name: str) -> dict[str, Any]:
    return {k: v for k, v in event.items() if k != name}


def _with(event: dict[str, Any], name: str, value: Any) -> dict[str, Any]:
    return {**event, name: value}


def _with_property(event: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    return {**event, "properties": {**event["properties"], key: value}}


def _other_ref(event: dict[str, Any], customer_id: str, alias: str) -> dict[str, Any]:
    plain = _without(_without(event, "customer_id"), "external_customer_id")
    return {**plain, "customer_id": customer_id, "external_customer_id": alias}


def invalid_events(
    *,
    now: datetime | str | None = None,
    customer_ids: Sequence[str] = (),
    external_customer_ids: Sequence[str] = (),
    settings: Settings | None = None,
    rules: Iterable[str] | None = None,
    keys: st.SearchStrategy[str] | None = None,
) -> st.SearchStrategy[InvalidEvent]:
    """``InvalidEvent(rule, payload)`` pairs: a valid event (as ``events`` makes them) with exactly
    one rule of ``INVALID_EVENT_RULES`` broken, so ingesting it alone is refused for that rule.

    ``now``: the simulator's time; by default the current time, read when each example is drawn
    (as the default ``SystemClock`` reads it, so freezegun and time-machine move both). Without
    ``now``, timestamps keep a minute away from the edges that move while a test runs (the
    oldest ingestible time and the future tolerance), so the clock moving between drawing and
    ingesting never changes which rule an event breaks; with ``now``, the edges themselves are
    generated. (With a grace period under two minutes, pass ``now``.)

    ``customer_ids`` must exist in the simulator (they are used by valid parts and by
    ``both_customer_ids``); ``unknown_customer_id`` draws an id that cannot collide with them.
    ``rules`` restricts the rules (default: all that JSON can carry). ``keys``: the idempotency
    keys (default: ``idempotency_keys(namespace="invalid")``, which no other strategy's default
    keys can equal, so an invalid event mixed into ``event_batches`` is refused for its rule, not
    skipped or refused as a duplicate). Shrinks towards the first rule and the simplest event.
    """
    chosen = tuple(rules) if rules is not None else _JSON_RULES
    unknown = [r for r in chosen if r not in INVALID_EVENT_RULES]
    if unknown or not chosen:
        raise ValueError(
            f"unknown rule(s) {unknown}; valid rules: {', '.join(INVALID_EVENT_RULES)}"
        )
    rules_settings = settings or Settings()
    chosen_keys = keys if keys is not None else idempotency_keys(namespace=INVALID_KEY_NAMESPACE)
    if now is None:
        return st.builds(_clock_now).flatmap(
            lambda moment: _invalid_events(
                moment,
                customer_ids,
                external_customer_ids,
                rules_settings,
                chosen,
                chosen_keys,
                _CLOCK_SLACK,
            )
        )
    return _invalid_events(
        now, customer_ids, external_customer_ids, rules_settings, chosen, chosen_keys, None
    )


def _clock_now() -> datetime:
    return datetime.now(UTC)


def _invalid_events(
    now: datetime | str,
    customer_ids: Sequence[str],
    external_customer_ids: Sequence[str],
    rules_settings: Settings,
    chosen: tuple[str, ...],
    keys: st.SearchStrategy[str],
    slack: timedelta | None,
) -> st.SearchStrategy[InvalidEvent]:
    base_settings = rules_settings
    future_settings = rules_settings
    if slack is not None:
        grace = rules_settings.grace_period
        base_settings = rules_settings.model_copy(
            update={"grace_period": grace - min(slack, grace / 2)}
        )
        future_settings = rules_settings.model_copy(
            update={"future_tolerance": rules_settings.future_tolerance + slack}
        )
    base = events(
        now=now,
        customer_ids=customer_ids,
        external_customer_ids=external_customer_ids,
        settings=base_settings,
        keys=keys,
    )
    ids = st.sampled_from(customer_ids) if customer_ids else st.just("cus-unknown")
    aliases = (
        st.sampled_from(external_customer_ids) if external_customer_ids else customer_aliases()
    )
    prop_key = property_keys()
    bad_times: st.SearchStrategy[Any] = st.one_of(
        st.sampled_from(
            [
                "not a timestamp",
                "2024-13-45T00:00:00Z",
                "May 20, 2024",
                "",
                "2024-05-20T25:00:00Z",
                "yesterday",
            ]
        ),
        st.integers(0, 2**31),
        st.none(),
    )
    unknown_keys = st.one_of(
        st.sampled_from(["customer", "eventName", "value", "ts", "idempotencyKey", "metadata"]),
        st.builds(lambda s: "x_" + s, st.text(NAME_ALPHABET, max_size=8)),
    )
    old = render_timestamps(timestamps(now, window="too_old", settings=rules_settings))
    future = render_timestamps(
        timestamps(now, window="too_far_in_future", settings=future_settings)
    )
    nested = st.one_of(
        st.just({}),
        st.just([]),
        st.builds(lambda v: {"value": v}, property_values()),
        st.lists(property_values(), max_size=3),
    )
    non_finite = st.sampled_from([float("nan"), float("inf"), float("-inf")])
    strangers = st.builds(lambda s: "no-such-customer-" + s, st.text(KEY_ALPHABET, max_size=8))
    not_objects: st.SearchStrategy[Any] = st.one_of(
        st.just([]), st.just("region=eu"), st.integers(), st.none()
    )

    makers: dict[str, st.SearchStrategy[dict[str, Any]]] = {
        "unknown_field": st.builds(_with, base, unknown_keys, property_values()),
        "missing_event_name": st.builds(_without, base, st.just("event_name")),
        "empty_event_name": st.builds(_with, base, st.just("event_name"), st.just("")),
        "missing_idempotency_key": st.builds(_without, base, st.just("idempotency_key")),
        "empty_idempotency_key": st.builds(_with, base, st.just("idempotency_key"), st.just("")),
        "missing_timestamp": st.builds(_without, base, st.just("timestamp")),
        "bad_timestamp": st.builds(_with, base, st.just("timestamp"), bad_times),
        "too_far_in_future": st.builds(_with, base, st.just("timestamp"), future),
        "older_than_grace": st.builds(_with, base, st.just("timestamp"), old),
        "missing_properties": st.builds(_without, base, st.just("properties")),
        "properties_not_object": st.builds(_with, base, st.just("properties"), not_objects),
        "nested_property": st.builds(_with_property, base, prop_key, nested),
        "null_property": st.builds(_with_property, base, prop_key, st.none()),
        "non_finite_property": st.builds(_with_property, base, prop_key, non_finite),
        "both_customer_ids": st.builds(_other_ref, base, ids, aliases),
        "no_customer_id": st.builds(
            lambda e: _without(_without(e, "customer_id"), "external_customer_id"), base
        ),
        "unknown_customer_id": st.builds(
            lambda e, c: {
                **_without(_without(e, "customer_id"), "external_customer_id"),
                "customer_id": c,
            },
            base,
            strangers,
        ),
    }
    return st.one_of([st.builds(InvalidEvent, st.just(rule), makers[rule]) for rule in chosen])
