"""8 threads x 500 mixed requests against the real server lose and duplicate nothing, and leave the
state that applying the same requests one at a time to a second simulator leaves."""

from __future__ import annotations

import json
import random
import threading
import zlib
from collections import Counter
from datetime import timedelta
from typing import Any

import httpx
from wirekit import START

from orbsim import ManualClock, OrbSim, Settings
from orbsim.wire.messages import WireRequest
from orbsim.wire.routes import dispatch

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
            body = {"events": [event(key, customers) for key in keys]}
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


def expected_status(method: str, path: str, status: int, body: Any) -> bool:
    if path == "/v1/customers":
        contested = str(body.get("external_customer_id", "")).startswith("contested-")
        return status == 201 or (contested and status == 400)
    return status == 200


def fingerprint(sim: OrbSim, keys: set[str]) -> dict[str, Any]:
    """Public views of the state; customers by alias or name, since their ids depend on the order
    in which concurrent creates ran."""
    customers = []
    cursor = None
    while True:
        page = sim.customers.list(limit=100, cursor=cursor)
        customers += [c.model_dump(mode="json", exclude={"id"}) for c in page.data]
        cursor = page.pagination_metadata.next_cursor
        if cursor is None:
            break
    customers.sort(key=lambda c: (c["external_customer_id"] or "", c["name"]))
    return {
        "customers": customers,
        "subscriptions": sim.subscriptions.list(limit=100).model_dump(mode="json"),
        "backfills": sim.events.backfills.list(limit=100).model_dump(mode="json"),
        "versions": {
            key: [v.model_dump(mode="json") for v in sim.event_versions(key)]
            for key in sorted(keys)
        },
        "billable": [e.model_dump(mode="json") for e in sim.billable_events()],
        "stored": sim.engine.state.events.count,
        "idempotency_keys": sorted(sim.wire.idempotency.entries),
    }


def test_concurrent_requests_lose_and_duplicate_nothing() -> None:
    sim = OrbSim(settings=SETTINGS, clock=ManualClock(START), seed=5)
    reference = OrbSim(settings=SETTINGS, clock=ManualClock(START), seed=5)
    ids = setup(sim)
    assert setup(reference) == ids
    scripts = [script(t, ids) for t in range(THREADS)]
    answers: list[list[tuple[int, Any]]] = [[] for _ in range(THREADS)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(THREADS)

    with sim.serve() as server:

        def worker(thread: int) -> None:
            try:
                with httpx.Client(base_url=server.url, headers=AUTH, timeout=30) as http:
                    barrier.wait()
                    for method, path, body, headers in scripts[thread]:
                        content = None if body is None else json.dumps(body)
                        response = http.request(method, path, content=content, headers=headers)
                        answers[thread].append((response.status_code, response.json()))
            except BaseException as exc:  # reported below, with the thread's progress
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(t,)) for t in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == []

    # Every request got its expected answer, once.
    for thread, requests in enumerate(scripts):
        assert len(answers[thread]) == REQUESTS
        for (method, path, body, _), (status, answer) in zip(
            requests, answers[thread], strict=True
        ):
            assert expected_status(method, path, status, body), (thread, method, path, answer)
    assert len(sim.requests) == THREADS * REQUESTS

    # Nothing lost, nothing duplicated.
    sent = {
        e["idempotency_key"]
        for requests in scripts
        for method, path, body, _ in requests
        if path == "/v1/ingest"
        for e in body["events"]
    }
    amendable = {f"amend-{t}-{j}" for t in range(THREADS) for j in range(AMENDABLE)}
    assert sim.engine.state.events.count == len(sent) + len(amendable)
    customers = _all_customers(sim)
    aliases = Counter(c.external_customer_id for c in customers if c.external_customer_id)
    requested = {
        body["external_customer_id"]
        for requests in scripts
        for _, path, body, _ in requests
        if path == "/v1/customers" and "external_customer_id" in body
    }
    assert aliases == Counter([f"base-{i}" for i in range(BASE)] + sorted(requested))
    keyed = [c for c in customers if c.name.startswith("keyed-")]
    used = {body["name"] for s in scripts for _, _, body, h in s if "idempotency-key" in h}
    assert sorted(c.name for c in keyed) == sorted(used)
    for thread, requests in enumerate(scripts):  # keyed creates all answered with one customer
        for (_, _, body, headers), (_, answer) in zip(requests, answers[thread], strict=True):
            if "idempotency-key" in headers:
                assert answer["name"] == body["name"]
    keyed_ids = {
        answer["name"]: answer["id"]
        for thread, requests in enumerate(scripts)
        for (_, _, _, headers), (_, answer) in zip(requests, answers[thread], strict=True)
        if "idempotency-key" in headers
    }
    assert sorted(keyed_ids.values()) == sorted(c.id for c in keyed)

    # The same requests one at a time leave the same state.
    for requests in scripts:
        for method, path, body, headers in requests:
            content = b"" if body is None else json.dumps(body).encode()
            path, _, query = path.partition("?")
            dispatch(reference, WireRequest(method, path, query, {**AUTH, **headers}, content))
    keys = sent | amendable
    assert fingerprint(sim, keys) == fingerprint(reference, keys)


def _all_customers(sim: OrbSim) -> list[Any]:
    found: list[Any] = []
    cursor = None
    while True:
        page = sim.customers.list(limit=100, cursor=cursor)
        found += page.data
        cursor = page.pagination_metadata.next_cursor
        if cursor is None:
            return found
