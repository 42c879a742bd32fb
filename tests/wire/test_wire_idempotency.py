"""``Idempotency-Key`` through ``dispatch``: replay, mismatch, expiry, what is stored."""

from __future__ import annotations

import threading
from datetime import timedelta

from helpers.wire import assert_problem, call, make_sim, payload, populate
from orbsim import ManualClock, OrbSim

CUSTOMER = {"name": "Acme", "email": "a@acme.test"}


def keyed(key: str) -> dict[str, str]:
    return {"idempotency-key": key}


def test_same_key_and_body_replays_the_stored_response() -> None:
    sim = make_sim()
    first = call(sim, "POST", "/v1/customers", CUSTOMER, headers=keyed("k1"))
    second = call(sim, "POST", "/v1/customers", CUSTOMER, headers=keyed("k1"))
    assert first.status == second.status == 201
    assert first.body == second.body
    assert first.header("idempotency-key") == second.header("idempotency-key") == "k1"
    assert first.header("idempotent-replayed") is None
    assert second.header("idempotent-replayed") == "true"
    assert len(sim.customers.list().data) == 1


def test_v1_prefix_does_not_change_the_request() -> None:
    sim = make_sim()
    call(sim, "POST", "/v1/customers", CUSTOMER, headers=keyed("k1"))
    replay = call(sim, "POST", "/customers", CUSTOMER, headers=keyed("k1"))
    assert replay.header("idempotent-replayed") == "true"


def test_same_key_with_another_body_path_or_query_is_a_conflict() -> None:
    sim = make_sim()
    call(sim, "POST", "/v1/customers", CUSTOMER, headers=keyed("k1"))
    other_body = call(sim, "POST", "/v1/customers", {**CUSTOMER, "name": "B"}, headers=keyed("k1"))
    assert_problem(other_body, 409, "409-resource-conflict")
    assert other_body.header("x-should-retry") == "false"
    assert other_body.header("idempotency-key") == "k1"
    other_path = call(sim, "POST", "/v1/ingest", {"events": []}, headers=keyed("k1"))
    assert_problem(other_path, 409)
    other_query = call(sim, "POST", "/v1/customers", CUSTOMER, query="x=1", headers=keyed("k1"))
    assert_problem(other_query, 409)
    assert len(sim.customers.list().data) == 1


def test_keys_expire_after_48_hours_of_sim_time() -> None:
    clock = ManualClock("2024-05-15T12:00:00+00:00")
    sim = OrbSim(clock=clock)
    first = payload(call(sim, "POST", "/v1/customers", CUSTOMER, headers=keyed("k1")))
    clock.advance(hours=47, minutes=59)
    replay = call(sim, "POST", "/v1/customers", CUSTOMER, headers=keyed("k1"))
    assert replay.header("idempotent-replayed") == "true"
    assert payload(replay)["id"] == first["id"]
    clock.advance(minutes=1)
    fresh = call(sim, "POST", "/v1/customers", CUSTOMER, headers=keyed("k1"))
    assert fresh.header("idempotent-replayed") is None
    assert payload(fresh)["id"] != first["id"]
    assert len(sim.customers.list().data) == 2
    assert len(sim.wire.idempotency) == 1


def test_ttl_follows_settings() -> None:
    clock = ManualClock("2024-05-15T12:00:00+00:00")
    sim = OrbSim(clock=clock, settings=make_sim(idempotency_ttl=timedelta(minutes=5)).settings)
    call(sim, "POST", "/v1/customers", CUSTOMER, headers=keyed("k1"))
    clock.advance(minutes=5)
    assert call(sim, "POST", "/v1/customers", CUSTOMER, headers=keyed("k1")).status == 201
    assert len(sim.customers.list().data) == 2


def test_the_store_keeps_at_most_idempotency_max_keys_while_the_clock_stands_still() -> None:
    sim = make_sim(idempotency_max_keys=3)
    for n in range(5):
        body = {**CUSTOMER, "name": f"c{n}"}
        assert call(sim, "POST", "/v1/customers", body, headers=keyed(f"k{n}")).status == 201
    assert len(sim.wire.idempotency) == 3
    newest = call(sim, "POST", "/v1/customers", {**CUSTOMER, "name": "c4"}, headers=keyed("k4"))
    assert newest.header("idempotent-replayed") == "true"  # the newest keys still replay
    oldest = call(sim, "POST", "/v1/customers", {**CUSTOMER, "name": "c0"}, headers=keyed("k0"))
    assert oldest.header("idempotent-replayed") is None  # forgotten: it ran again
    assert len(sim.customers.list().data) == 6


def test_key_longer_than_64_characters_is_refused() -> None:
    sim = make_sim()
    assert call(sim, "POST", "/v1/customers", CUSTOMER, headers=keyed("k" * 64)).status == 201
    response = call(sim, "POST", "/v1/customers", CUSTOMER, headers=keyed("k" * 65))
    body = assert_problem(response, 400, "400-request-validation-errors")
    assert "64" in body["detail"]
    assert len(sim.customers.list().data) == 1


def test_empty_key_is_refused() -> None:
    sim = make_sim()
    assert_problem(call(sim, "POST", "/v1/customers", CUSTOMER, headers=keyed("")), 400)


def test_key_is_ignored_on_get_and_honoured_on_put_and_delete() -> None:
    sim = make_sim()
    ids = populate(sim)
    first = call(sim, "GET", "/v1/ping", headers=keyed("k" * 100))
    assert first.status == 200
    assert first.header("idempotency-key") is None
    assert len(sim.wire.idempotency) == 0
    path = f"/v1/customers/{ids['alice']}"
    updated = call(sim, "PUT", path, {"name": "Alicia"}, headers=keyed("u1"))
    replayed = call(sim, "PUT", path, {"name": "Alicia"}, headers=keyed("u1"))
    assert (replayed.status, replayed.body) == (200, updated.body)
    assert replayed.header("idempotent-replayed") == "true"
    other = call(sim, "PUT", path, {"name": "Alice 2"}, headers=keyed("u1"))
    assert other.status == 409  # the same key for another request
    assert sim.customers.fetch(ids["alice"]).name == "Alicia"
    bob = f"/v1/customers/{ids['bob']}"
    assert call(sim, "DELETE", bob, headers=keyed("d1")).status == 204
    again = call(sim, "DELETE", bob, headers=keyed("d1"))
    assert again.status == 204 and again.header("idempotent-replayed") == "true"
    assert call(sim, "DELETE", bob, headers=keyed("d2")).status == 404  # a new delete: gone
    assert len(sim.wire.idempotency) == 3


def test_deterministic_4xx_is_stored_and_replayed() -> None:
    sim = make_sim()
    body = {
        "customer_id": "cus_missing",
        "plan_id": "plan_missing",
    }
    first = call(sim, "POST", "/v1/subscriptions", body, headers=keyed("s1"))
    assert_problem(first, 404, "404-resource-not-found")
    second = call(sim, "POST", "/v1/subscriptions", body, headers=keyed("s1"))
    assert second.body == first.body
    assert second.header("idempotent-replayed") == "true"


def test_conflicts_and_quota_errors_are_not_stored() -> None:
    sim = make_sim()
    ids = populate(sim)
    overlapping = {
        "timeframe_start": "2024-05-01T12:00:00Z",
        "timeframe_end": "2024-05-03T00:00:00Z",
        "customer_id": ids["bob"],
    }
    first = call(sim, "POST", "/v1/events/backfills", overlapping, headers=keyed("b1"))
    assert_problem(first, 409)
    sim.events.backfills.close(ids["backfill"])
    sim.events.backfills.fetch(ids["backfill"])  # reflected: the overlap is gone, a retry succeeds
    retry = call(sim, "POST", "/v1/events/backfills", overlapping, headers=keyed("b1"))
    assert retry.status == 200
    assert retry.header("idempotent-replayed") is None


def test_rejections_before_the_key_is_looked_at_are_not_stored() -> None:
    sim = make_sim()
    assert_problem(
        call(sim, "POST", "/v1/customers", CUSTOMER, headers=keyed("k1"), auth=False), 401
    )
    assert call(sim, "POST", "/v1/customers", CUSTOMER, headers=keyed("k1")).status == 201


def test_concurrent_retries_run_once() -> None:
    sim = make_sim()
    results: list[bytes] = []

    def worker() -> None:
        results.append(call(sim, "POST", "/v1/customers", CUSTOMER, headers=keyed("race")).body)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(results)) == 1
    assert len(sim.customers.list().data) == 1
