"""Webhook benchmark: signing one delivery, and delivering one event to an in-process receiver.

    python benchmarks/bench_webhooks.py            # 20,000 calls per row
    python benchmarks/bench_webhooks.py --quick    # 2,000 calls per row

Rows (medians of single calls, p95 in brackets, after warm-up; target 100 µs each):

* ``sign``: ``X-Orb-Timestamp`` + ``X-Orb-Signature`` headers of a ``customer.created`` body
  (HMAC-SHA256 over ``v1:{timestamp}:{body}``, wall-clock read included);
* ``render``: the body of that event (compact JSON of the expanded payload), for reference;
* ``deliver in-process``: one event handed to the dispatcher and delivered to a mounted receiver
  that does nothing: render, sign, call, record in the delivery log;
* ``customer create (+1 endpoint)`` vs ``customer create (no endpoint)``: the whole engine call
  with and without a subscribed endpoint, when the simulator has webhook endpoints wired in.

Prints a markdown table on stdout. Timings are reported, never asserted.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import banner, fresh, median, p95, parser, table, time_calls, us, verdict
from orbsim import ManualClock, OrbSim
from orbsim.engine.webhooks import WebhookEndpointRecord, WebhookEvent, WebhookState
from orbsim.wire.delivery import WebhookDispatcher, render, signed_headers, wall_clock

TARGET = 100e-6  # seconds
START = datetime(2024, 5, 20, 12, tzinfo=UTC)


def make_event(sim: OrbSim, state: WebhookState, n: int) -> WebhookEvent:
    customer = sim.customers.create(name=f"Customer {n}", email=f"c{n}@bench.test")
    event = state.emit("customer.created", at=START, new_id=lambda: f"evt_{n}", resource=customer)
    assert event is not None
    state.drain()
    return event


def row(name: str, calls: list[Callable[[], object]], target: float | None) -> list[str]:
    fresh()
    time_calls(calls[: len(calls) // 10])  # warm-up
    timings = time_calls(calls)
    mid = median(timings)
    meets = verdict(mid <= target) if target is not None else "-"
    return [name, f"{us(mid)} ({us(p95(timings))})", us(target) if target else "-", meets]


def main() -> None:
    args = parser(__doc__ or "").parse_args()
    calls = args.repeat or (2_000 if args.quick else 20_000)
    sim = OrbSim(clock=ManualClock(START), seed=0)
    state = WebhookState()
    state.endpoints["we_1"] = WebhookEndpointRecord(
        "we_1", "http://localhost/hooks", "whsec_bench", START, 1
    )
    events = [make_event(sim, state, n) for n in range(calls)]
    body = render(events[0], "expanded")

    dispatcher = WebhookDispatcher()
    dispatcher.mount("http://localhost/hooks", lambda request: None)

    rows = [
        row("sign", [lambda: signed_headers("whsec_bench", body, wall_clock())] * calls, TARGET),
        row(
            "render (expanded customer.created)",
            [lambda: render(events[0], "expanded")] * calls,
            None,
        ),
        row(
            "deliver in-process",
            [(lambda e=e: dispatcher.deliver([e], START)) for e in events],
            TARGET,
        ),
    ]
    assert all(d.status == "delivered" for d in dispatcher.deliveries)

    # The whole engine call, with and without an endpoint (and its receiver) to announce it to.
    quiet = OrbSim(clock=ManualClock(START), seed=0)
    loud = OrbSim(clock=ManualClock(START), seed=0)
    loud.webhooks.mount("http://localhost/hooks", lambda request: None)
    loud.webhook_endpoints.create(url="http://localhost/hooks")

    def creating(sim: OrbSim) -> list[Callable[[], object]]:
        return [
            (lambda n=n: sim.customers.create(name=f"C {n}", email=f"c{n}@bench.test"))
            for n in range(calls)
        ]

    rows.append(row("customer create (no endpoint)", creating(quiet), None))
    rows.append(row("customer create (+1 endpoint, in-process)", creating(loud), None))
    assert len(loud.webhooks.deliveries) >= min(calls, 10_000) - 1
    print(banner("Webhooks", {"calls": calls, "body bytes": len(body)}))
    print(table(["operation", "median (p95)", "target", "meets"], rows))


if __name__ == "__main__":
    main()
