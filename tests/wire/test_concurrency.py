"""8 threads x 500 mixed requests against the real server lose and duplicate nothing, and leave the
state that applying the same requests one at a time to a second simulator leaves."""

from __future__ import annotations

import json
import threading
from collections import Counter
from typing import Any

import httpx

from helpers.wire import START
from helpers.workload import AMENDABLE, AUTH, BASE, REQUESTS, SETTINGS, THREADS, script, setup
from orbsim import ManualClock, OrbSim
from orbsim.wire.messages import WireRequest
from orbsim.wire.routes import dispatch


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
        for running in threads:
            running.start()
        for running in threads:
            running.join()
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
