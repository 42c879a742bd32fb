"""Strategies for valid ingestion payloads: property keys and values, event names, idempotency
keys (with namespaces that never collide), customer aliases, events and batches of events.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from hypothesis import strategies as st

from orbsim.settings import Settings
from orbsim.strategies.times import Timestamp, TimestampFormat, render_timestamps, timestamps

if TYPE_CHECKING:
    pass


KEY_ALPHABET = string.ascii_letters + string.digits + "-_.:"
"""Characters of generated keys and aliases: what real systems use, and safe in URL paths."""
NAMESPACE_SEPARATOR = "~"
"""Ends a key namespace (``idempotency_keys(namespace=...)``); never in ``KEY_ALPHABET``."""


NAME_ALPHABET = string.ascii_lowercase + string.digits + "_"
"""Characters of generated property keys and metadata keys (after a leading letter)."""


_JSON_INT = 2**53  # integers beyond this lose precision in JavaScript-based JSON tooling


def property_keys() -> st.SearchStrategy[str]:
    """Identifier-like property names (also usable, unquoted, in a ``deprecation_filter``)."""
    common = st.sampled_from(["region", "tier", "count", "model", "duration_ms", "is_test"])
    invented = st.builds(
        lambda head, tail: head + tail,
        st.sampled_from(string.ascii_lowercase),
        st.text(NAME_ALPHABET, max_size=11),
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
    return customer_aliases()


def customer_aliases() -> st.SearchStrategy[str]:
    """Non-empty aliases (``KEY_ALPHABET``, at most 30 characters)."""
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
        choices.append(st.builds(lambda a: {"external_customer_id": a}, customer_aliases()))
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
