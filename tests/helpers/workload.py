"""The concurrency workload: a deterministic setup and per-thread request scripts, shared by the
concurrency test and the state-file test that replays it against a persisted server."""

from __future__ import annotations

import random
import zlib
from datetime import timedelta
from typing import Any

from helpers.wire import START
from orbsim import OrbSim, Settings

__all__ = [
    "AMENDABLE",
    "AUTH",
    "BASE",
    "REQUESTS",
    "SETTINGS",
    "THREADS",
    "Request",
    "event",
    "script",
    "setup",
]

THREADS = 8
REQUESTS = 500
BASE = 4
"""Customers with subscriptions created before the threads start (their ids are deterministic)."""
AMENDABLE = 10
"""Events per thread that only that thread amends (so each event's history has one order)."""
SETTINGS = Settings(amend_limit=1_000_000, deprecate_limit=1_000_000)
AUTH = {"authorization": "Bearer k", "content-type": "application/json"}

Request = tuple[str, str, Any, dict[str, str]]
"""(method, path, JSON body or None, extra headers)."""


def event(key: str, customers: list[str]) -> dict[str, Any]:
    """The one body ever sent for ``key``: duplicates carry identical bodies, so which copy
    arrives first cannot matter."""
    digest = zlib.crc32(key.encode())
    return {
        "idempotency_key": key,
        "event_name": "api_call",
        "customer_id": customers[digest % len(customers)],
        "timestamp": (START - timedelta(minutes=digest % 600, seconds=digest % 60)).isoformat(),
        "properties": {"key": key, "n": digest % 1000},
    }


def setup(sim: OrbSim) -> dict[str, Any]:
    """Customers, subscriptions, events to amend and a backfill, made the same way on both sims."""
    plan = sim.plans.create(name="usage", external_plan_id="usage")
    customers = []
    for i in range(BASE):
        customer = sim.customers.create(
            name=f"base-{i}", email=f"base{i}@x.test", external_customer_id=f"base-{i}"
        )
        sim.subscriptions.create(
            customer_id=customer.id, plan_id=plan.id, start_date="2024-05-01T00:00:00Z"
        )
        customers.append(customer.id)
    amendable = [f"amend-{t}-{j}" for t in range(THREADS) for j in range(AMENDABLE)]
    sim.events.ingest(events=[event(key, customers) for key in amendable])
    backfill = sim.events.backfills.create(
        timeframe_start="2024-05-01T00:00:00Z",
        timeframe_end="2024-05-02T00:00:00Z",
        customer_id=customers[0],
    )
    return {"customers": customers, "backfill": backfill.id}


def script(thread: int, ids: dict[str, Any]) -> list[Request]:
    """The requests of one thread: ingest (distinct keys, duplicates within and across threads),
    customer creates (unique, keyed with keys shared across threads, contested aliases),
    amendments, searches and backfill reads."""
    rng = random.Random(thread)
    customers: list[str] = ids["customers"]
    sent: list[str] = []
    requests: list[Request] = []
    for i in range(REQUESTS):
        kind = i % 10
        if kind < 4:
            keys = [f"t{thread}-{i}-{j}" for j in range(rng.randint(1, 5))]
            if i % 3 == 0:
                keys.append(f"shared-{rng.randrange(60)}")  # also sent by other threads
            if sent and i % 4 == 0:
                keys.append(rng.choice(sent))  # a key this thread already sent
            if i % 5 == 0:
                keys.append(keys[0])  # the same key twice in one batch
            sent.extend(keys)
            body: dict[str, Any] = {"events": [event(key, customers) for key in keys]}
            requests.append(("POST", "/v1/ingest", body, {}))
        elif kind == 4:
            alias = f"own-{thread}-{i}"
            body = {"name": alias, "email": f"{alias}@x.test", "external_customer_id": alias}
            requests.append(("POST", "/v1/customers", body, {}))
        elif kind == 5:
            key = f"amend-{thread}-{(i // 10) % AMENDABLE}"
            original = event(key, customers)
            body = {
                "event_name": "api_call",
                "timestamp": original["timestamp"],
                "customer_id": original["customer_id"],
                "properties": {"key": key, "amended_at_step": i},
            }
            requests.append(("PUT", f"/v1/events/{key}", body, {}))
        elif kind == 6:
            chosen = [*rng.sample(sent, min(len(sent), 5)), f"amend-{thread}-0"]
            body = {"event_ids": chosen, "timeframe_start": "2024-05-14T00:00:00Z"}
            requests.append(("POST", "/v1/events/search", body, {}))
        elif kind == 7:
            if i % 20 == 7:
                requests.append(("GET", f"/v1/events/backfills/{ids['backfill']}", None, {}))
            else:
                requests.append(("GET", "/v1/events/backfills?limit=5", None, {}))
        elif kind == 8:
            shared = rng.randrange(20)
            body = {"name": f"keyed-{shared}", "email": f"keyed{shared}@x.test"}
            requests.append(("POST", "/v1/customers", body, {"idempotency-key": f"kc-{shared}"}))
        else:
            contested = rng.randrange(25)
            alias = f"contested-{contested}"
            body = {"name": alias, "email": f"{alias}@x.test", "external_customer_id": alias}
            requests.append(("POST", "/v1/customers", body, {}))
    return requests
