"""``GET /_orbsim/``: a read-only HTML dashboard of the simulator, for people rather than code.

One server-rendered page, no JavaScript and no external assets (its Content-Security-Policy
forbids loading anything, so it works offline by construction): the customers; per customer a
timeline of its billing periods, the backfill windows coloured by status, the billable events
per hour as an SVG chart, and its invoices once the simulator has them; the recent requests and
their answers.

Browsers cannot send ``Authorization: Bearer``, so the dashboard authenticates on its own: with
``Settings.api_keys`` unset it is open (the API accepts any key then anyway); with keys set it
takes ``Bearer <key>`` or HTTP Basic with the key as the user name or the password, and answers
401 with ``WWW-Authenticate: Basic`` so a browser asks for it.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from html import escape
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlencode

from orbsim.wire.messages import WireRequest, WireResponse

if TYPE_CHECKING:
    from orbsim.engine.periods import Period
    from orbsim.models import Backfill, BillableEvent, Customer, Page, Subscription
    from orbsim.sim import OrbSim

PATHS = frozenset({"/_orbsim/", "/v1/_orbsim/"})
REQUESTS_SHOWN = 50
PERIODS_SHOWN = 3
"""Billing periods on a customer's timeline: the current one and the ones before it."""
MAX_SPAN = timedelta(days=120)
"""A timeline never spans more than this (ending at the current period's end)."""
CHART_HOURS = 48
"""The events-per-hour chart shows this many hours, ending at now (or the latest event)."""

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'"
STATUS_COLOURS = {
    "pending": "#e8a33d",
    "reflected": "#3f9c5a",
    "pending_revert": "#c8553d",
    "reverted": "#9a9a9a",
}

T = TypeVar("T")


def is_dashboard(request: WireRequest) -> bool:
    """Whether ``request`` asks for the dashboard page."""
    return request.method.upper() == "GET" and request.path in PATHS


def serve_dashboard(sim: OrbSim, request: WireRequest) -> WireResponse:
    """The page, or a 401 asking for the API key when ``Settings.api_keys`` is set."""
    if not _authorized(sim, request.headers.get("authorization")):
        body = (
            b"<!doctype html><title>orbsim: API key needed</title>"
            b"<p>This orbsim server requires an API key: give it as the user name or the "
            b"password.</p>"
        )
        return WireResponse(
            401,
            [
                ("content-type", "text/html; charset=utf-8"),
                ("www-authenticate", 'Basic realm="orbsim", charset="UTF-8"'),
                ("content-security-policy", CSP),
            ],
            body,
        )
    page = render_dashboard(sim)
    return WireResponse(
        200,
        [
            ("content-type", "text/html; charset=utf-8"),
            ("cache-control", "no-store"),
            ("content-security-policy", CSP),
            ("x-content-type-options", "nosniff"),
        ],
        page.encode(),
    )


def _authorized(sim: OrbSim, header: str | None) -> bool:
    keys = sim.settings.api_keys
    if keys is None:
        return True
    if not header:
        return False
    scheme, _, credentials = header.strip().partition(" ")
    offered: list[str] = []
    if scheme.lower() == "bearer":
        offered.append(credentials.strip())
    elif scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return False
        user, _, password = decoded.partition(":")
        offered.extend([user, password])
    return any(
        hmac.compare_digest(candidate.encode(), key.encode())
        for candidate in offered
        if candidate
        for key in keys
    )


# -- gathering -------------------------------------------------------------------------------------


def _every(page_of: Callable[[str | None], Page[T]]) -> Iterator[T]:
    cursor: str | None = None
    while True:
        page = page_of(cursor)
        yield from page.data
        if not page.pagination_metadata.has_more:
            return
        cursor = page.pagination_metadata.next_cursor


@dataclass
class _CustomerView:
    customer: Customer
    subscriptions: list[Subscription]
    periods: list[Period]
    backfills: list[Backfill]
    events: list[BillableEvent]
    invoices: list[Any] | None


def _invoices(sim: OrbSim, customer_id: str) -> list[Any] | None:
    """The customer's invoices, when this simulator has invoices (``None`` otherwise)."""
    invoices = getattr(sim, "invoices", None)
    if invoices is None:
        return None
    return list(
        _every(lambda cursor: invoices.list(customer_id=customer_id, limit=100, cursor=cursor))
    )


def _subscriptions_page(sim: OrbSim, customer_id: str, cursor: str | None) -> Page[Subscription]:
    return sim.subscriptions.list(customer_id=customer_id, limit=100, cursor=cursor)


def _gather(sim: OrbSim) -> tuple[datetime, list[_CustomerView], list[Backfill]]:
    with sim.lock:  # one consistent picture
        now = sim.now()
        customers = list(_every(lambda cursor: sim.customers.list(limit=100, cursor=cursor)))
        # Looking is not a read: the dashboard must not move a reflecting backfill on.
        backfills = sim.events.backfills.peek_all()
        views = []
        for customer in reversed(customers):  # oldest first, as people read a list
            subscriptions = list(_every(partial(_subscriptions_page, sim, customer.id)))
            periods: list[Period] = []
            for subscription in subscriptions:
                periods.extend(sim.subscriptions.billing_periods(subscription.id)[-PERIODS_SHOWN:])
            views.append(
                _CustomerView(
                    customer=customer,
                    subscriptions=subscriptions,
                    periods=sorted(set(periods), key=lambda p: (p.start, p.end)),
                    backfills=[b for b in backfills if b.customer_id in (customer.id, None)],
                    events=sim.billable_events(customer_id=customer.id),
                    invoices=_invoices(sim, customer.id),
                )
            )
    return now, views, backfills


# -- rendering -------------------------------------------------------------------------------------


def _iso(moment: datetime | None) -> str:
    if moment is None:
        return "—"
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _day(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%b %d").replace(" 0", " ")


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _hour(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _span(now: datetime, view: _CustomerView) -> tuple[datetime, datetime]:
    moments = [now - timedelta(days=2), now + timedelta(days=1)]
    for period in view.periods:
        moments += [period.start, period.end]
    for backfill in view.backfills:
        moments += [backfill.timeframe_start, backfill.timeframe_end]
    end = max(moments)
    start = max(min(moments), end - MAX_SPAN)
    return _hour(start), _hour(end) + timedelta(hours=1)


def _lanes(backfills: Iterable[Backfill]) -> list[tuple[Backfill, int]]:
    """Each backfill with a lane index, so overlapping windows never hide one another."""
    ends: list[datetime] = []
    placed = []
    for backfill in sorted(backfills, key=lambda b: (b.timeframe_start, b.created_at)):
        for lane, end in enumerate(ends):
            if end <= backfill.timeframe_start:
                ends[lane] = backfill.timeframe_end
                break
        else:
            lane = len(ends)
            ends.append(backfill.timeframe_end)
        placed.append((backfill, lane))
    return placed


def _scale(start: datetime, end: datetime, width: float) -> Callable[[datetime], float]:
    seconds = (end - start).total_seconds()

    def x(moment: datetime) -> float:
        offset = (min(max(moment, start), end) - start).total_seconds()
        return round(offset / seconds * width, 1)

    return x


def _svg_open(width: int, height: int, label: str) -> str:
    return (
        f'<svg viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-label="{_e(label)}" xmlns="http://www.w3.org/2000/svg">'
    )


def _timeline(now: datetime, view: _CustomerView, invoiced_after: timedelta) -> str:
    """The customer's timeline: billing periods, backfill windows (by status) and now."""
    width = 960
    start, end = _span(now, view)
    x = _scale(start, end, width)
    lanes = _lanes(view.backfills)
    lane_count = max((lane for _, lane in lanes), default=0) + 1
    periods_y, backfills_y = 16, 60
    height = backfills_y + lane_count * 20 + 22
    parts = [
        _svg_open(width, height, f"timeline of {view.customer.name}").replace(
            "<svg ", '<svg class="timeline" ', 1
        ),
        '<text x="0" y="11" class="label">billing periods</text>',
        f'<text x="0" y="{backfills_y - 5}" class="label">backfill windows</text>',
    ]
    for period in view.periods:
        x0, x1 = x(period.start), x(period.end)
        state = (
            "current"
            if period.start <= now < period.end
            else "invoiced"
            if now >= period.end + invoiced_after
            else "past"
            if period.end <= now
            else "future"
        )
        parts.append(
            f'<rect class="period {state}" x="{x0}" y="{periods_y}" width="{max(x1 - x0, 1)}" '
            f'height="24"><title>{_iso(period.start)} – {_iso(period.end)} ({state})</title>'
            "</rect>"
        )
        if x1 - x0 > 60:
            parts.append(
                f'<text x="{x0 + 4}" y="{periods_y + 16}" class="period-label">'
                f"{_day(period.start)} – {_day(period.end)} · {state}</text>"
            )
    if not view.periods:
        parts.append(f'<text x="4" y="{periods_y + 16}" class="muted">no subscription</text>')
    for backfill, lane in lanes:
        x0, x1 = x(backfill.timeframe_start), x(backfill.timeframe_end)
        status = backfill.status
        scope = "account-wide" if backfill.customer_id is None else "this customer"
        parts.append(
            f'<rect class="backfill {status}" data-backfill="{_e(backfill.id)}" x="{x0}" '
            f'y="{backfills_y + lane * 20}" width="{max(x1 - x0, 2)}" height="16" rx="2" '
            f'fill="{STATUS_COLOURS.get(status, "#666")}"><title>backfill {_e(backfill.id)} '
            f"({status}, {scope}): {_iso(backfill.timeframe_start)} – "
            f"{_iso(backfill.timeframe_end)}, {backfill.events_ingested} events</title></rect>"
        )
    if not lanes:
        parts.append(f'<text x="4" y="{backfills_y + 12}" class="muted">none</text>')
    now_x = x(now)
    parts.append(
        f'<line class="now" x1="{now_x}" y1="{periods_y - 4}" x2="{now_x}" '
        f'y2="{height - 18}"><title>now: {_iso(now)}</title></line>'
        f'<text x="0" y="{height - 5}" class="muted">{_iso(start)}</text>'
        f'<text x="{width}" y="{height - 5}" class="muted" text-anchor="end">{_iso(end)}</text>'
        "</svg>"
    )
    return "".join(parts)


def _events_chart(now: datetime, view: _CustomerView) -> str:
    """Billable events per UTC hour over the last ``CHART_HOURS`` (up to now or the latest)."""
    width, chart_h, top = 960, 90, 16
    hours = Counter(_hour(event.timestamp) for event in view.events)
    last = max([_hour(now), *hours]) + timedelta(hours=1)
    first = last - timedelta(hours=CHART_HOURS)
    shown = {hour: count for hour, count in hours.items() if first <= hour < last}
    peak = max(shown.values(), default=0)
    x = _scale(first, last, width)
    bar = width / CHART_HOURS
    height = top + chart_h + 20
    outside = sum(hours.values()) - sum(shown.values())
    note = f" · {outside} earlier, not shown" if outside else ""
    parts = [
        _svg_open(width, height, f"billable events per hour of {view.customer.name}").replace(
            "<svg ", '<svg class="events-chart" ', 1
        ),
        f'<text x="0" y="11" class="label">billable events per hour, last {CHART_HOURS} h</text>',
        f'<text x="{width}" y="11" class="label" text-anchor="end">peak {peak}/h · '
        f"{sum(shown.values())} in window{note}</text>",
        f'<line class="axis" x1="0" y1="{top + chart_h}" x2="{width}" y2="{top + chart_h}"/>',
    ]
    for hour, count in sorted(shown.items()):
        h = max(round(count / peak * chart_h, 1), 1)
        parts.append(
            f'<rect class="events" x="{x(hour) + 1}" y="{top + chart_h - h}" '
            f'width="{round(bar - 2, 1)}" height="{h}"><title>{_iso(hour)}: {count} '
            f"event{'s' if count != 1 else ''}</title></rect>"
        )
    for offset in range(0, CHART_HOURS + 1, 6):
        tick = first + timedelta(hours=offset)
        anchor = "start" if offset == 0 else "end" if offset == CHART_HOURS else "middle"
        parts.append(
            f'<text x="{x(tick)}" y="{height - 4}" class="muted" text-anchor="{anchor}">'
            f"{tick.strftime('%b %d %H:00')}</text>"
        )
    now_x = x(now)
    parts.append(
        f'<line class="now" x1="{now_x}" y1="{top - 4}" x2="{now_x}" y2="{top + chart_h}">'
        f"<title>now: {_iso(now)}</title></line></svg>"
    )
    return "".join(parts)


def _table(headers: list[str], rows: list[list[str]], empty: str) -> str:
    if not rows:
        return f'<p class="muted">{_e(empty)}</p>'
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _status(status: str) -> str:
    colour = STATUS_COLOURS.get(status, "#666")
    return f'<span class="pill" style="background:{colour}">{_e(status)}</span>'


def _invoice_rows(invoices: list[Any]) -> list[list[str]]:
    rows = []
    for invoice in invoices:

        def field(name: str, record: Any = invoice) -> str:
            value = getattr(record, name, None)
            if value is None and isinstance(record, dict):
                value = record.get(name)
            return _iso(value) if isinstance(value, datetime) else _e(value if value else "—")

        rows.append(
            [
                f"<code>{field('id')}</code>",
                field("status"),
                field("invoice_date"),
                field("currency"),
                field("total"),
                field("amount_due"),
            ]
        )
    return rows


def _customer_section(now: datetime, view: _CustomerView, invoiced_after: timedelta) -> str:
    customer = view.customer
    alias = (
        f" · alias <code>{_e(customer.external_customer_id)}</code>"
        if customer.external_customer_id
        else ""
    )
    subscriptions = ", ".join(
        f"<code>{_e(s.id)}</code> ({_e(s.status)}, plan {_e(s.plan.name if s.plan else '—')})"
        for s in view.subscriptions
    )
    backfill_rows = [
        [
            f"<code>{_e(b.id)}</code>",
            _status(b.status),
            "account-wide" if b.customer_id is None else "customer",
            f"{_iso(b.timeframe_start)} – {_iso(b.timeframe_end)}",
            _e(b.events_ingested),
            _iso(b.close_time),
            "replace" if b.replace_existing_events else "add",
            f"<code>{_e(b.deprecation_filter)}</code>" if b.deprecation_filter else "",
        ]
        for b in sorted(view.backfills, key=lambda b: b.created_at, reverse=True)
    ]
    if view.invoices is None:
        invoices = '<p class="muted">invoices: not simulated by this version of orbsim</p>'
    else:
        invoices = _table(
            ["invoice", "status", "date", "currency", "total", "amount due"],
            _invoice_rows(view.invoices),
            "no invoices yet",
        )
    return (
        f'<section class="customer" id="customer-{_e(customer.id)}">'
        f"<h3>{_e(customer.name)} <small><code>{_e(customer.id)}</code>{alias} · "
        f"{_e(customer.email)} · {_e(customer.timezone)}</small></h3>"
        f'<p class="muted">subscriptions: {subscriptions or "none"} · '
        f"{len(view.events)} billable events</p>"
        f"{_timeline(now, view, invoiced_after)}{_events_chart(now, view)}"
        "<h4>Backfills</h4>"
        + _table(
            ["backfill", "status", "scope", "timeframe", "events", "close time", "mode", "filter"],
            backfill_rows,
            "no backfills",
        )
        + f"<h4>Invoices</h4>{invoices}</section>"
    )


def _answer(record: Any) -> str:
    response = record.response
    if record.status is None:
        return "no answer (connection dropped)"
    if isinstance(response, dict):
        if record.status >= 400:
            return f"{_e(response.get('title', ''))}: {_e(response.get('detail', ''))}"
        if "data" in response and isinstance(response["data"], list):
            return f"{len(response['data'])} item(s)"
        summary = {k: response[k] for k in ("id", "status", "name") if k in response}
        return _e(json.dumps(summary) if summary else json.dumps(response)[:160])
    if response is None:
        return ""
    return _e(str(response)[:160])


def _requests_section(sim: OrbSim) -> str:
    records = sim.requests.all()[-REQUESTS_SHOWN:]
    rows = []
    for record in reversed(records):
        notes = [
            note
            for note, on in (
                ("replayed", record.replayed),
                (f"fault {record.fault}", record.fault is not None),
                ("rate limited", record.rate_limited),
            )
            if on
        ]
        status = "—" if record.status is None else str(record.status)
        klass = "ok" if record.status is not None and record.status < 400 else "err"
        query = f"?{urlencode(record.query, doseq=True)}" if record.query else ""
        rows.append(
            [
                _e(record.index),
                _e(record.at.astimezone(UTC).strftime("%m-%d %H:%M:%S")),
                _e(record.method),
                f"<code>{_e(record.path + query)}</code>",
                f'<span class="{klass}">{_e(status)}</span>',
                _e(", ".join(notes)),
                _answer(record),
            ]
        )
    return (
        f"<h2>Recent requests <small>(last {len(records)} of {len(sim.requests)})</small></h2>"
        + _table(
            ["#", "at", "method", "path", "status", "notes", "answer"],
            rows,
            "no requests yet",
        )
    )


_STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d2330;
background:#f6f7f9}
header{background:#1f2a44;color:#fff;padding:14px 24px}header h1{margin:0;font-size:20px}
header p{margin:4px 0 0;color:#c9d2e3}main{padding:8px 24px 40px;max-width:1100px}
section.customer{background:#fff;border:1px solid #dde1e8;border-radius:8px;padding:12px 16px;
margin:14px 0}h3{margin:0 0 4px}h3 small{font-weight:normal;color:#5b6475;font-size:13px}
h4{margin:12px 0 4px}table{border-collapse:collapse;width:100%;font-size:13px;background:#fff}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #e6e8ee;vertical-align:top}
th{background:#eef1f6}code{font:12px ui-monospace,SFMono-Regular,Menlo,monospace}
.muted{color:#6b7385}.pill{color:#fff;border-radius:9px;padding:1px 8px;font-size:12px}
.ok{color:#2d7a45;font-weight:600}.err{color:#b3261e;font-weight:600}
svg.timeline,svg.events-chart{display:block;max-width:100%;height:auto;margin:6px 0;
background:#fbfcfd;border:1px solid #e6e8ee;border-radius:4px}
svg .label{font-size:11px;fill:#5b6475}svg .muted{font-size:11px;fill:#8a91a1}
svg .period{stroke:#fff;stroke-width:1}svg .period.current{fill:#7aa6e8}
svg .period.past{fill:#c3d3ee}svg .period.invoiced{fill:#d9dde5}svg .period.future{fill:#eef2fa}
svg .period-label{font-size:11px;fill:#1d2330}svg .events{fill:#4b5fa8}
svg .axis{stroke:#c4c9d4}svg .now{stroke:#d0342c;stroke-width:1.5;stroke-dasharray:4 3}
.legend span{margin-right:10px}
"""


def render_dashboard(sim: OrbSim) -> str:
    """The dashboard's HTML."""
    now, views, backfills = _gather(sim)
    grace = sim.settings.grace_period
    clock = type(sim.clock).__name__
    legend = "".join(f"<span>{_status(status)}</span>" for status in STATUS_COLOURS)
    customers = "".join(_customer_section(now, view, grace) for view in views) or (
        '<p class="muted">no customers yet</p>'
    )
    account_wide = sum(1 for b in backfills if b.customer_id is None)
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        '<link rel="icon" href="data:,">'
        f"<title>orbsim dashboard</title><style>{_STYLE}</style></head><body>"
        f"<header><h1>orbsim</h1><p>now {_iso(now)} ({_e(clock)}) · {len(views)} customers · "
        f"{len(backfills)} backfills ({account_wide} account-wide) · grace period {_e(grace)}"
        "</p></header><main>"
        f'<h2>Customers</h2><p class="legend muted">backfill status: {legend} · '
        "periods: current, past, invoiced (period end + grace period passed) · red line: now</p>"
        f"{customers}{_requests_section(sim)}</main></body></html>"
    )
