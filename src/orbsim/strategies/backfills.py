"""Strategies for backfills: ``deprecation_filter`` expressions and ``backfills.create`` keyword
arguments that pass its checks at a given time.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from hypothesis import strategies as st

from orbsim.settings import Settings
from orbsim.strategies.times import as_utc, micros, shifted

if TYPE_CHECKING:
    pass


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
    moment = as_utc(now)
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
    age_us = max(0, micros(max_age))

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
            shifted(latest, -age),
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
