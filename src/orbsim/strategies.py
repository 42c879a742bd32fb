"""Hypothesis strategies for Orb payloads, so tests fuzz with data the simulator's rules care about.

Every strategy is built from ``st.builds`` / ``st.fixed_dictionaries`` / integer offsets rather than
filters, so generation is cheap and failures shrink to the simplest payload: a timestamp shrinks
towards ``now`` (or towards the rule's edge), a batch towards one event, properties towards ``{}``.
All of them compose: pass a strategy where a parameter takes one.

Valid payloads (accepted by ``sim.events.ingest`` and ``client.events.ingest``)::

    from hypothesis import given
    from orbsim import strategies as ost

    @given(batch=ost.event_batches(now=NOW, external_customer_ids=["acme"]))
    def test_ingest(batch): ...

Invalid payloads, each breaking exactly one named ingestion rule, for fuzzing your own error
handling::

    @given(case=ost.invalid_events(customer_ids=[customer.id], now=NOW))
    def test_refused(case):
        rule, payload = case          # also case.field: the field the error names
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from hypothesis import strategies as st

from orbsim.engine.validation import EVENT_KEYS
from orbsim.settings import Settings
from orbsim.times import to_utc

if TYPE_CHECKING:
    from orbsim.sim import OrbSim

__all__ = [
    "INVALID_EVENT_RULES",
    "InvalidEvent",
    "backfill_payloads",
    "billing_period_edges",
    "customer_payloads",
    "deprecation_filters",
    "event_batches",
    "event_names",
    "events",
    "external_customer_ids",
    "idempotency_keys",
    "invalid_events",
    "properties",
    "property_keys",
    "property_values",
    "render_timestamps",
    "timestamps",
    "timestamps_near",
]

Window = Literal["ingestible", "too_old", "too_far_in_future", "any"]
TimestampFormat = Literal["Z", "+00:00", "offset", "naive", "datetime"]
Timestamp = datetime | str

KEY_ALPHABET = string.ascii_letters + string.digits + "-_.:"
"""Characters of generated keys and aliases: what real systems use, and safe in URL paths."""
NAMESPACE_SEPARATOR = "~"
"""Ends a key namespace (``idempotency_keys(namespace=...)``); never in ``KEY_ALPHABET``."""
INVALID_KEY_NAMESPACE = "invalid"
"""The namespace of ``invalid_events``' keys unless ``keys=`` is given."""
_CLOCK_SLACK = timedelta(minutes=1)
"""How far ``invalid_events`` without ``now`` keeps from the window's moving edges."""
_NAME_ALPHABET = string.ascii_lowercase + string.digits + "_"
_US = timedelta(microseconds=1)
_DAY_US = 86_400_000_000
_JSON_INT = 2**53  # integers beyond this lose precision in JavaScript-based JSON tooling


def _utc(value: datetime | str) -> datetime:
    return to_utc(datetime.fromisoformat(value) if isinstance(value, str) else value)


def _micros(delta: timedelta) -> int:
    return delta // _US


def _shift(base: datetime, micros: int) -> datetime:
    return base + timedelta(microseconds=micros)


# -- timestamps ----------------------------------------------------------------------------------


def timestamps(
    now: datetime | str,
    *,
    window: Window = "ingestible",
    settings: Settings | None = None,
    spread: timedelta = timedelta(days=30),
) -> st.SearchStrategy[datetime]:
    """Aware UTC datetimes placed relative to ingestion's time window at ``now``.

    ``window``: ``"ingestible"`` — in ``[now - grace_period, now + future_tolerance]``, both edges
    included and generated often; ``"too_old"`` — before ``now - grace_period`` (by 1 µs up to
    ``spread``); ``"too_far_in_future"`` — after ``now + future_tolerance`` (by 1 µs up to
    ``spread``); ``"any"`` — one of the three. The numbers come from ``settings`` (defaults:
    ``Settings()``). Shrinks towards ``now``, or towards the violated edge.
    """
    rules = settings or Settings()
    moment = _utc(now)
    grace = _micros(rules.grace_period)
    tolerance = _micros(rules.future_tolerance)
    far = max(1, _micros(spread))
    if window == "ingestible":
        edges = st.sampled_from([0, -grace, tolerance])
        return st.builds(_shift, st.just(moment), st.one_of(edges, st.integers(-grace, tolerance)))
    if window == "too_old":
        edge = moment - rules.grace_period
        return st.builds(_shift, st.just(edge), st.integers(-far, -1))
    if window == "too_far_in_future":
        edge = moment + rules.future_tolerance
        return st.builds(_shift, st.just(edge), st.integers(1, far))
    if window == "any":
        return st.one_of(
            timestamps(moment, window="ingestible", settings=rules, spread=spread),
            timestamps(moment, window="too_old", settings=rules, spread=spread),
            timestamps(moment, window="too_far_in_future", settings=rules, spread=spread),
        )
    raise ValueError(
        f"window must be one of ingestible, too_old, too_far_in_future, any; got {window!r}"
    )


def timestamps_near(
    *edges: datetime | str, spread: timedelta = timedelta(minutes=10)
) -> st.SearchStrategy[datetime]:
    """Datetimes within ``spread`` of one of ``edges``; the edge itself and ±1 µs come often.

    Off-by-one bugs live at billing-period boundaries: feed this ``billing_period_edges(...)``.
    """
    if not edges:
        raise ValueError("timestamps_near needs at least one edge")
    points = [_utc(e) for e in edges]
    width = max(1, _micros(spread))
    offsets = st.one_of(st.sampled_from([0, -1, 1]), st.integers(-width, width))
    return st.builds(_shift, st.sampled_from(points), offsets)


def billing_period_edges(sim: OrbSim, customer_id: str) -> list[datetime]:
    """The instants where a customer's billing rules change, sorted: every period start and end of
    its subscriptions up to now, and every ``end + grace_period`` (when a period is invoiced).

    A plain function (it reads the simulator), meant for ``timestamps_near(*edges)``.
    """
    grace = sim.settings.grace_period
    found: set[datetime] = set()
    page = sim.subscriptions.list(customer_id=customer_id, limit=100)
    horizon = sim.now() + timedelta(days=400)
    for subscription in page.data:
        for period in sim.subscriptions.billing_periods(subscription.id, until=horizon):
            found.update((period.start, period.end, period.end + grace))
    return sorted(found)


def _render(value: datetime, fmt: TimestampFormat, offset_minutes: int) -> Timestamp:
    value = value.astimezone(UTC)
    if fmt == "datetime":
        return value
    if fmt == "naive":
        return value.replace(tzinfo=None).isoformat()
    if fmt == "offset":
        return value.astimezone(timezone(timedelta(minutes=offset_minutes))).isoformat()
    text = value.isoformat()
    return text[:-6] + "Z" if fmt == "Z" else text


def render_timestamps(
    datetimes: st.SearchStrategy[datetime],
    formats: Sequence[TimestampFormat] = ("Z",),
) -> st.SearchStrategy[Timestamp]:
    """The same instants written the ways clients send them, all meaning the same UTC time.

    Formats: ``"Z"`` (``2024-05-20T12:00:00Z``), ``"+00:00"``, ``"offset"`` (a random whole
    quarter-hour offset such as ``+05:45``), ``"naive"`` (no offset: UTC), ``"datetime"`` (the
    object itself, for the engine and the SDK). Fractional seconds appear whenever the instant has
    microseconds.
    """
    if not formats:
        raise ValueError("render_timestamps needs at least one format")
    quarter_hours = st.integers(-14 * 4, 14 * 4).map(lambda q: q * 15)
    return st.builds(_render, datetimes, st.sampled_from(list(formats)), quarter_hours)


# -- properties, names, keys ---------------------------------------------------------------------


def property_keys() -> st.SearchStrategy[str]:
    """Identifier-like property names (also usable, unquoted, in a ``deprecation_filter``)."""
    common = st.sampled_from(["region", "tier", "count", "model", "duration_ms", "is_test"])
    invented = st.builds(
        lambda head, tail: head + tail,
        st.sampled_from(string.ascii_lowercase),
        st.text(_NAME_ALPHABET, max_size=11),
    )
    return st.one_of(common, invented)


def property_values() -> st.SearchStrategy[str | int | float | bool]:
    """Values Orb accepts in properties: strings, JSON-safe integers, finite floats, booleans."""
    return st.one_of(
        st.text(st.characters(codec="utf-8"), max_size=20),
        st.integers(-_JSON_INT, _JSON_INT),
        st.floats(allow_nan=False, allow_infinity=False),
        st.booleans(),
    )


def properties(
    keys: st.SearchStrategy[str] | None = None,
    values: st.SearchStrategy[Any] | None = None,
    *,
    max_size: int = 5,
) -> st.SearchStrategy[dict[str, Any]]:
    """A flat ``properties`` object (possibly empty) of valid values; shrinks towards ``{}``."""
    return st.dictionaries(
        keys if keys is not None else property_keys(),
        values if values is not None else property_values(),
        max_size=max_size,
    )


def event_names() -> st.SearchStrategy[str]:
    """Non-empty event names; common ones first, so failures shrink to ``"api_call"``."""
    common = st.sampled_from(["api_call", "compute_seconds", "storage_gb", "tokens"])
    return st.one_of(common, st.text(KEY_ALPHABET, min_size=1, max_size=30))


def idempotency_keys(namespace: str | None = None) -> st.SearchStrategy[str]:
    """Non-empty idempotency keys (``KEY_ALPHABET``, at most 40 characters after the namespace).

    With ``namespace``, every key is ``f"{namespace}~{text}"``. ``KEY_ALPHABET`` has no ``~``, so
    keys of different namespaces, and keys without one, can never be equal: give each strategy of
    a test its own namespace (``events(keys=idempotency_keys(namespace="retries"))``) and their
    events never collide. ``invalid_events`` uses the namespace ``"invalid"`` by default.
    """
    text = st.text(KEY_ALPHABET, min_size=1, max_size=40)
    if namespace is None:
        return text
    if not namespace:
        raise ValueError("idempotency_keys: a namespace must be a non-empty string")
    prefix = namespace + NAMESPACE_SEPARATOR
    return st.builds(lambda rest: prefix + rest, text)


def external_customer_ids() -> st.SearchStrategy[str]:
    """Non-empty customer aliases (``external_customer_id``); none needs to exist to ingest."""
    return _aliases()


def _aliases() -> st.SearchStrategy[str]:
    return st.text(KEY_ALPHABET, min_size=1, max_size=30)


def _customer_refs(
    customer_ids: Sequence[str], aliases: Sequence[str]
) -> st.SearchStrategy[dict[str, str]]:
    choices: list[st.SearchStrategy[dict[str, str]]] = []
    if customer_ids:
        choices.append(st.builds(lambda c: {"customer_id": c}, st.sampled_from(customer_ids)))
    if aliases:
        choices.append(st.builds(lambda a: {"external_customer_id": a}, st.sampled_from(aliases)))
    if not choices:
        choices.append(st.builds(lambda a: {"external_customer_id": a}, _aliases()))
    return st.one_of(choices)


def _event(
    key: str, name: str, when: Timestamp, props: dict[str, Any], ref: dict[str, str]
) -> dict[str, Any]:
    return {
        "idempotency_key": key,
        "event_name": name,
        "timestamp": when,
        "properties": props,
        **ref,
    }


def _event_timestamps(
    now: datetime | str | None,
    settings: Settings | None,
    given: st.SearchStrategy[datetime] | None,
    formats: Sequence[TimestampFormat],
) -> st.SearchStrategy[Timestamp]:
    if given is None:
        if now is None:
            raise ValueError("give now= (the simulator's time) or timestamps=")
        given = timestamps(now, settings=settings)
    return render_timestamps(given, formats)


def events(
    *,
    now: datetime | str | None = None,
    customer_ids: Sequence[str] = (),
    external_customer_ids: Sequence[str] = (),
    settings: Settings | None = None,
    names: st.SearchStrategy[str] | None = None,
    properties: st.SearchStrategy[dict[str, Any]] | None = None,
    timestamps: st.SearchStrategy[datetime] | None = None,
    timestamp_formats: Sequence[TimestampFormat] = ("Z",),
    keys: st.SearchStrategy[str] | None = None,
) -> st.SearchStrategy[dict[str, Any]]:
    """Valid ingestion payloads (``{"idempotency_key", "event_name", "timestamp", "properties",
    "customer_id" | "external_customer_id"}``) for the given customers at time ``now``.

    Each event names one of ``customer_ids`` (which must exist) or ``external_customer_ids``
    (which need not); with neither, it uses a generated alias. Timestamps are ingestible at
    ``now`` under ``settings`` unless ``timestamps`` is given (e.g. ``timestamps_near(...)``, or
    a backfill's timeframe). ``timestamp_formats``: see ``render_timestamps``.
    """
    return st.builds(
        _event,
        keys if keys is not None else idempotency_keys(),
        names if names is not None else event_names(),
        _event_timestamps(now, settings, timestamps, timestamp_formats),
        properties if properties is not None else _properties_default(),
        _customer_refs(customer_ids, external_customer_ids),
    )


def _properties_default() -> st.SearchStrategy[dict[str, Any]]:
    return properties()


def event_batches(
    *,
    min_size: int = 1,
    max_size: int = 10,
    **event_options: Any,
) -> st.SearchStrategy[list[dict[str, Any]]]:
    """Lists of valid events with unique idempotency keys (``event_options`` go to ``events``).

    Unique keys make every event of the batch count; to test in-batch duplicates, add copies.
    """
    return st.lists(
        events(**event_options),
        min_size=min_size,
        max_size=max_size,
        unique_by=lambda event: str(event["idempotency_key"]),
    )


# -- customers ------------------------------------------------------------------------------------

TIMEZONES = (
    "Etc/UTC",
    "America/New_York",
    "America/Los_Angeles",
    "Europe/Berlin",
    "Asia/Kolkata",
    "Asia/Tokyo",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "America/St_Johns",
)
"""Timezones with DST, half- and quarter-hour offsets: where local-midnight arithmetic breaks."""


def customer_payloads(
    *,
    aliases: st.SearchStrategy[str] | None = None,
    timezones: st.SearchStrategy[str] | None = None,
) -> st.SearchStrategy[dict[str, Any]]:
    """Keyword arguments for ``sim.customers.create`` / ``client.customers.create``.

    Always ``name`` and ``email``; sometimes ``external_customer_id`` (from ``aliases``),
    ``timezone`` (from ``timezones``, default ``TIMEZONES``) and ``metadata``. Aliases must be
    unique among live customers, so draw several with
    ``st.lists(customer_payloads(aliases=st.sampled_from(...)), unique_by=...)`` or ``st.data()``.
    """
    local = st.text(string.ascii_lowercase + string.digits + "._+", min_size=1, max_size=12)
    domain = st.sampled_from(["example.com", "acme.test", "billing.example.org"])
    names = st.text(string.ascii_letters + string.digits + " &.,'-", min_size=1, max_size=40)
    metadata = st.dictionaries(
        st.text(_NAME_ALPHABET, min_size=1, max_size=10),
        st.text(string.printable, max_size=20),
        max_size=3,
    )
    return st.fixed_dictionaries(
        {
            "name": names,
            "email": st.builds(lambda a, b: f"{a}@{b}", local, domain),
        },
        optional={
            "external_customer_id": aliases if aliases is not None else _aliases(),
            "timezone": timezones if timezones is not None else st.sampled_from(TIMEZONES),
            "metadata": metadata,
        },
    )


# -- backfills ------------------------------------------------------------------------------------


def _literal(value: str | int | bool) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    return "'" + value.replace("'", "''") + "'"


def deprecation_filters(
    keys: Sequence[str] = ("region", "tier", "count"),
) -> st.SearchStrategy[str]:
    """Valid ``deprecation_filter`` expressions over property ``keys``.

    Comparisons, ``IN``, ``BETWEEN``, ``IS [NOT] NULL`` and ``LIKE`` joined by ``AND``/``OR``/
    ``NOT`` (at most four leaves); literals are short strings, small integers and booleans.
    """
    if not keys:
        raise ValueError("deprecation_filters needs at least one property key")
    names = st.sampled_from(list(keys))
    literals: st.SearchStrategy[str | int | bool] = st.one_of(
        st.sampled_from(["eu", "us", "pro", "free"]),
        st.integers(-5, 100),
        st.booleans(),
    )
    comparison = st.builds(
        lambda k, op, v: f"{k} {op} {_literal(v)}",
        names,
        st.sampled_from(["=", "!=", "<>", "<", "<=", ">", ">="]),
        literals,
    )
    membership = st.builds(
        lambda k, vs: f"{k} IN ({', '.join(_literal(v) for v in vs)})",
        names,
        st.lists(literals, min_size=1, max_size=3),
    )
    between = st.builds(
        lambda k, lo, span: f"{k} BETWEEN {lo} AND {lo + span}",
        names,
        st.integers(-5, 50),
        st.integers(0, 50),
    )
    nullness = st.builds(lambda k, neg: f"{k} IS {'NOT ' if neg else ''}NULL", names, st.booleans())
    like = st.builds(
        lambda k, p: f"{k} LIKE {_literal(p)}", names, st.sampled_from(["e%", "%u%", "_s", "pro"])
    )
    leaf = st.one_of(comparison, membership, between, nullness, like)
    return st.recursive(
        leaf,
        lambda inner: st.one_of(
            st.builds(lambda a, b: f"({a}) AND ({b})", inner, inner),
            st.builds(lambda a, b: f"({a}) OR ({b})", inner, inner),
            st.builds(lambda a: f"NOT ({a})", inner),
        ),
        max_leaves=4,
    )


def _backfill(
    end: datetime,
    length_s: int,
    scope: dict[str, str],
    replace: bool,
    deprecation_filter: str | None,
    close_delay_s: int | None,
    now: datetime,
    max_timeframe: timedelta,
) -> dict[str, Any]:
    start = end - min(timedelta(seconds=length_s), max_timeframe)
    payload: dict[str, Any] = {
        "timeframe_start": start,
        "timeframe_end": end,
        "replace_existing_events": replace,
        **scope,
    }
    if replace and deprecation_filter is not None:
        payload["deprecation_filter"] = deprecation_filter
    if close_delay_s is not None:
        payload["close_time"] = now + timedelta(seconds=close_delay_s)
    return payload


def backfill_payloads(
    *,
    now: datetime | str,
    settings: Settings | None = None,
    customer_ids: Sequence[str] = (),
    external_customer_ids: Sequence[str] = (),
    account_wide: bool = True,
    filters: st.SearchStrategy[str | None] | None = None,
    max_age: timedelta = timedelta(days=60),
) -> st.SearchStrategy[dict[str, Any]]:
    """Keyword arguments for ``sim.events.backfills.create`` that pass its checks at ``now``.

    The timeframe is at most ``backfill_max_timeframe`` long and ends by ``now - grace_period``
    (by ``now`` when a ``deprecation_filter`` is drawn, from ``filters``; default: none or
    ``deprecation_filters()``), at most ``max_age`` ago. Scope: account-wide (if allowed), one of
    ``customer_ids`` or one of ``external_customer_ids`` (all must exist). ``close_time`` is
    sometimes set, always in the future. Overlap with other open backfills is the caller's concern
    (``ResourceConflict``). Timeframes are datetimes; render them for raw JSON.
    """
    rules = settings or Settings()
    moment = _utc(now)
    scopes: list[st.SearchStrategy[dict[str, str]]] = []
    if account_wide:
        scopes.append(st.just({}))
    if customer_ids:
        scopes.append(st.builds(lambda c: {"customer_id": c}, st.sampled_from(customer_ids)))
    if external_customer_ids:
        scopes.append(
            st.builds(lambda a: {"external_customer_id": a}, st.sampled_from(external_customer_ids))
        )
    if not scopes:
        raise ValueError("backfill_payloads: no scope allowed (give customer ids or account_wide)")
    chosen_filters = filters if filters is not None else st.one_of(st.none(), deprecation_filters())
    max_length = max(1, int(rules.backfill_max_timeframe.total_seconds()))
    age_us = max(0, _micros(max_age))

    def build(
        scope: dict[str, str],
        replace: bool,
        deprecation_filter: str | None,
        age: int,
        length_s: int,
        close_delay_s: int | None,
    ) -> dict[str, Any]:
        filtered = replace and deprecation_filter is not None
        latest = moment if filtered else moment - rules.grace_period
        return _backfill(
            _shift(latest, -age),
            length_s,
            scope,
            replace,
            deprecation_filter,
            close_delay_s,
            moment,
            rules.backfill_max_timeframe,
        )

    return st.builds(
        build,
        st.one_of(scopes),
        st.booleans(),
        chosen_filters,
        st.integers(0, age_us),
        st.integers(1, max_length),
        st.one_of(st.none(), st.integers(1, 7 * 86_400)),
    )


# -- invalid events -------------------------------------------------------------------------------

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
    aliases = st.sampled_from(external_customer_ids) if external_customer_ids else _aliases()
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
        st.builds(lambda s: "x_" + s, st.text(_NAME_ALPHABET, max_size=8)),
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
