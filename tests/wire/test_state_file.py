"""State that survives: the Idempotency-Key store in snapshots and state files, the journal of
``orbsim serve --state``, and killed-and-restarted servers keeping every acknowledged write."""

from __future__ import annotations

import copy
import hashlib
import json
import os
import signal
import stat
import subprocess
import sys
import threading
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orb
import pytest
from orb.types.event_ingest_params import Event

from helpers.sdk import sdk
from helpers.served import TIMEOUT, Served
from helpers.wire import START, call, make_sim, payload
from helpers.workload import AUTH, SETTINGS, script, setup
from orbsim import ManualClock, OrbSim, Settings
from orbsim.wire.idempotency import IdempotencyStore
from orbsim.wire.messages import WireRequest
from orbsim.wire.routes import dispatch
from orbsim.wire.statefile import (
    JournalError,
    PinnableManualClock,
    PinnableSystemClock,
    StateFile,
    StateFileInUse,
)

CUSTOMER = {"name": "Acme", "email": "a@acme.test"}
KEYED = {"idempotency-key": "create-acme"}


# -- the Idempotency-Key store is part of the state -----------------------------------------------


def test_a_retry_after_restore_does_not_replay_what_the_restore_removed() -> None:
    sim = make_sim()
    before = sim.snapshot()
    first = payload(call(sim, "POST", "/v1/customers", CUSTOMER, headers=KEYED))
    sim.restore(before)
    assert sim.customers.list().data == []
    retry = call(sim, "POST", "/v1/customers", CUSTOMER, headers=KEYED)
    assert retry.status == 201
    assert retry.header("idempotent-replayed") is None  # it ran again...
    created = payload(retry)
    assert sim.customers.fetch(created["id"]).name == "Acme"  # ...so what it names exists
    assert created["id"] == first["id"]  # and ids continue from the restored generator


def test_a_retry_after_restoring_a_later_snapshot_replays() -> None:
    sim = make_sim()
    first = call(sim, "POST", "/v1/customers", CUSTOMER, headers=KEYED)
    after = sim.snapshot()
    call(
        sim,
        "POST",
        "/v1/customers",
        {**CUSTOMER, "name": "Other"},
        headers={"idempotency-key": "2"},
    )
    sim.restore(after)
    retry = call(sim, "POST", "/v1/customers", CUSTOMER, headers=KEYED)
    assert retry.header("idempotent-replayed") == "true"
    assert retry.body == first.body
    assert len(sim.customers.list().data) == 1
    # the key used after the snapshot is gone with it: the same key now runs afresh
    fresh = call(
        sim,
        "POST",
        "/v1/customers",
        {**CUSTOMER, "name": "Other"},
        headers={"idempotency-key": "2"},
    )
    assert fresh.header("idempotent-replayed") is None


def test_a_snapshot_holds_a_copy_of_the_keys() -> None:
    sim = make_sim()
    call(sim, "POST", "/v1/customers", CUSTOMER, headers=KEYED)
    snapshot = sim.snapshot()
    call(sim, "POST", "/v1/customers", CUSTOMER, headers={"idempotency-key": "later"})
    assert len(sim.wire.idempotency) == 2
    sim.restore(snapshot)
    assert len(sim.wire.idempotency) == 1
    call(sim, "POST", "/v1/customers", CUSTOMER, headers={"idempotency-key": "again"})
    sim.restore(snapshot)  # the snapshot itself was not changed by the use after the restore
    assert len(sim.wire.idempotency) == 1


def test_keys_travel_in_state_files(tmp_path: Path) -> None:
    sim = make_sim()
    first = call(sim, "POST", "/v1/customers", CUSTOMER, headers=KEYED)
    missing = {"customer_id": "nope", "plan_id": "nope"}
    refused = call(sim, "POST", "/v1/subscriptions", missing, headers={"idempotency-key": "s"})
    assert refused.status == 404
    sim.dump(tmp_path / "state.json")
    stored = json.loads((tmp_path / "state.json").read_text())["extensions"]["idempotency"]
    assert [entry["key"] for entry in stored] == ["create-acme", "s"]

    loaded = OrbSim.load(tmp_path / "state.json")
    replay = call(loaded, "POST", "/v1/customers", CUSTOMER, headers=KEYED)
    assert replay.header("idempotent-replayed") == "true"
    assert (replay.status, replay.body) == (first.status, first.body)
    assert replay.header("idempotency-key") == "create-acme"
    again = call(loaded, "POST", "/v1/subscriptions", missing, headers={"idempotency-key": "s"})
    assert (again.status, again.body) == (404, refused.body)
    other = call(loaded, "POST", "/v1/customers", {**CUSTOMER, "name": "B"}, headers=KEYED)
    assert other.status == 409
    assert len(loaded.customers.list().data) == 1


def test_keys_keep_expiring_after_a_load(tmp_path: Path) -> None:
    clock = ManualClock(START)
    sim = OrbSim(clock=clock)
    call(sim, "POST", "/v1/customers", CUSTOMER, headers=KEYED)
    sim.dump(tmp_path / "state.json")
    later = ManualClock(START + timedelta(hours=48))
    loaded = OrbSim.load(tmp_path / "state.json", clock=later)
    retry = call(loaded, "POST", "/v1/customers", CUSTOMER, headers=KEYED)
    assert retry.header("idempotent-replayed") is None
    assert len(loaded.customers.list().data) == 2


def test_store_round_trips_through_its_json_form() -> None:
    sim = make_sim()
    for key in ("a", "b", "c"):
        call(
            sim,
            "POST",
            "/v1/customers",
            {**CUSTOMER, "name": key},
            headers={"idempotency-key": key},
        )
    call(sim, "POST", "/v1/customers", {**CUSTOMER, "name": "a"}, headers={"idempotency-key": "a"})
    store = sim.wire.idempotency
    data = store.dump_state()
    assert json.loads(json.dumps(data)) == data
    copied = IdempotencyStore.from_state(data)
    assert copied.entries == store.entries
    assert list(copied._order) == list(store._order)
    deep = copy.deepcopy(store)
    assert deep.entries == store.entries and deep.entries is not store.entries


@pytest.mark.parametrize(
    "data",
    [
        {"not": "a list"},
        [{"key": "k"}],
        [
            {
                "key": 1,
                "expires_at": "2024-05-01T00:00:00+00:00",
                "method": "POST",
                "path": "/p",
                "query": "",
                "body_sha256": "00",
                "status": 200,
                "headers": [],
                "body": "",
            }
        ],
        [
            {
                "key": "k",
                "expires_at": "2024-05-01T00:00:00",
                "method": "POST",
                "path": "/p",
                "query": "",
                "body_sha256": "00",
                "status": 200,
                "headers": [],
                "body": "",
            }
        ],
        [
            {
                "key": "k",
                "expires_at": "2024-05-01T00:00:00+00:00",
                "method": "POST",
                "path": "/p",
                "query": "",
                "body_sha256": "zz",
                "status": 200,
                "headers": [],
                "body": "",
            }
        ],
    ],
)
def test_malformed_key_data_makes_the_state_file_unreadable(tmp_path: Path, data: Any) -> None:
    make_sim().dump(tmp_path / "state.json")
    document = json.loads((tmp_path / "state.json").read_text())
    document["extensions"]["idempotency"] = data
    (tmp_path / "state.json").write_text(json.dumps(document))
    with pytest.raises(ValueError):
        OrbSim.load(tmp_path / "state.json")


# -- the journal, in process -----------------------------------------------------------------------


def wire(method: str, path: str, body: Any = None, **headers: str) -> WireRequest:
    fields = {"authorization": "Bearer k", **headers}
    content = b""
    if body is not None:
        content = json.dumps(body).encode()
        fields["content-type"] = "application/json"
    return WireRequest(method, path, "", fields, content)


def state_of(sim: OrbSim) -> dict[str, Any]:
    """The whole state as a document, without the moment it was taken."""
    document = sim.state_document()
    del document["clock"]
    return document


def restart(path: Path, clock: PinnableManualClock | PinnableSystemClock) -> OrbSim:
    """What ``orbsim serve --state`` does at start: load, then replay the journal."""
    sim = OrbSim.load(path)
    sim.clock = clock
    StateFile(sim, path, dispatch).replay()
    return sim


def served(tmp_path: Path, clock: PinnableManualClock | PinnableSystemClock) -> StateFile:
    sim = OrbSim(clock=clock, seed=3)
    state = StateFile(sim, tmp_path / "state.json", dispatch)
    state.compact()
    return state


def scenario(state: StateFile) -> list[int]:
    """Writes of every kind, some refused, some keyed; returns the statuses."""
    send = state.dispatch
    sim = state.sim
    statuses = []
    customer = send(
        sim, wire("POST", "/v1/customers", {**CUSTOMER, "external_customer_id": "acme"})
    )
    statuses.append(customer.status)
    cid = json.loads(customer.body)["id"]
    now = sim.now()
    events = [
        {
            "idempotency_key": f"e{i}",
            "event_name": "call",
            "customer_id": cid,
            "timestamp": (now - timedelta(minutes=i)).isoformat(),
            "properties": {"i": i},
        }
        for i in range(5)
    ]
    requests = [
        wire("POST", "/v1/ingest", {"events": events}),
        wire("POST", "/v1/ingest", {"events": events[:2]}),  # duplicates: skipped
        wire("POST", "/v1/ingest", {"events": [{"bad": 1}]}),  # refused: not journalled
        wire("PUT", f"/v1/customers/{cid}", {"name": "Acme 2"}),
        wire(
            "POST",
            "/v1/events/backfills",
            {
                "timeframe_start": (now - timedelta(days=3)).isoformat(),
                "timeframe_end": (now - timedelta(days=2)).isoformat(),
                "customer_id": cid,
            },
            **{"idempotency-key": "bf"},
        ),
        wire(
            "POST",
            "/v1/subscriptions",
            {"customer_id": "x", "plan_id": "y"},
            **{"idempotency-key": "stored-404"},
        ),
        wire("POST", "/v1/customers", {**CUSTOMER, "name": "Second"}),
    ]
    for request in requests:
        statuses.append(send(sim, request).status)
    backfill = json.loads(send(sim, wire("GET", "/v1/events/backfills")).body)["data"][0]
    statuses.append(send(sim, wire("POST", f"/v1/events/backfills/{backfill['id']}/close")).status)
    return statuses


def test_a_restart_replays_the_journal_to_the_same_state(tmp_path: Path) -> None:
    state = served(tmp_path, PinnableManualClock(START))
    statuses = scenario(state)
    assert statuses == [201, 200, 200, 400, 200, 200, 404, 201, 200]
    assert state.journalled == 8  # everything but the refused ingest
    clock = PinnableManualClock(state.sim.clock.now())
    assert state_of(restart(state.path, clock)) == state_of(state.sim)


def test_a_restart_on_the_system_clock_replays_at_the_recorded_times(tmp_path: Path) -> None:
    state = served(tmp_path, PinnableSystemClock())
    scenario(state)
    assert state_of(restart(state.path, PinnableSystemClock())) == state_of(state.sim)


def test_admin_clock_moves_and_resets_are_journalled(tmp_path: Path) -> None:
    state = served(tmp_path, PinnableManualClock(START))
    sim = state.sim
    scenario(state)
    moved = state.dispatch(sim, wire("POST", "/_orbsim/clock/advance", {"seconds": 90}))
    assert moved.status == 200
    assert state.journalled == 9
    restarted = restart(state.path, PinnableManualClock(START))
    assert restarted.now() == START + timedelta(seconds=90)
    assert state_of(restarted) == state_of(sim)

    assert state.dispatch(sim, wire("POST", "/v1/_orbsim/reset")).status == 200
    assert state.journalled == 10  # no compaction under the lock: the reset is replayed
    restarted = restart(state.path, PinnableManualClock(START))
    assert restarted.customers.list().data == []
    assert state_of(restarted) == state_of(sim)


def test_a_torn_last_line_is_dropped_with_a_notice(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = served(tmp_path, PinnableManualClock(START))
    state.dispatch(state.sim, wire("POST", "/v1/customers", CUSTOMER))
    with state.journal_path.open("ab") as journal:
        journal.write(b'0badc0de {"at":null,"method":"POST","path":"/v1/cust')  # died mid-write
    restarted = restart(state.path, PinnableManualClock(START))
    assert len(restarted.customers.list().data) == 1
    notice = capsys.readouterr().err
    assert "ends with an incomplete record (52 bytes)" in notice
    assert "before acknowledging it" in notice


class Paused:
    """Stops a compaction at one of its steps (``orbsim.wire.statefile._checkpoint``) until
    ``release``; then it goes on, or dies there as a killed server would (``kill=True``)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, step: str, *, kill: bool) -> None:
        self.step, self.kill = step, kill
        self.reached, self.go = threading.Event(), threading.Event()
        monkeypatch.setattr("orbsim.wire.statefile._checkpoint", self)

    def __call__(self, step: str) -> None:
        if step == self.step:
            self.reached.set()
            assert self.go.wait(TIMEOUT)
            if self.kill:
                raise OSError(f"killed at {step!r}")

    def release(self) -> None:
        self.go.set()


STEPS = ["snapshot", "written", "marked", "replaced", "journal copied"]


@pytest.mark.parametrize("step", STEPS)
def test_a_compaction_killed_at_any_step_loses_no_acknowledged_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    state = served(tmp_path, PinnableManualClock(START))
    sim = state.sim
    for n in range(3):
        state.dispatch(sim, wire("POST", "/v1/customers", {**CUSTOMER, "name": f"before{n}"}))
    paused = Paused(monkeypatch, step, kill=True)
    assert state.compact_later()
    assert paused.reached.wait(TIMEOUT)
    for n in range(3):  # answered while the compaction waits: it holds no lock
        created = state.dispatch(sim, wire("POST", "/v1/customers", {**CUSTOMER, "name": f"d{n}"}))
        assert created.status == 201
    paused.release()
    assert state.wait(TIMEOUT)
    monkeypatch.undo()
    state._close_journal()  # the process is gone; its files stay as the step left them
    restarted = restart(state.path, PinnableManualClock(START))
    assert state_of(restarted) == state_of(sim)
    assert len(restarted.customers.list().data) == 6


def test_a_compaction_writes_the_state_of_its_snapshot_while_writes_go_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = served(tmp_path, PinnableManualClock(START))
    sim = state.sim
    customer = payload(state.dispatch(sim, wire("POST", "/v1/customers", CUSTOMER)))
    events = [
        {
            "idempotency_key": f"e{i}",
            "event_name": "call",
            "customer_id": customer["id"],
            "timestamp": START.isoformat(),
            "properties": {"i": i},
        }
        for i in range(3)
    ]
    state.dispatch(sim, wire("POST", "/v1/ingest", {"events": events}))
    state.dispatch(sim, wire("POST", "/v1/plans", {"name": "P"}))
    plan = sim.plans.list().data[0].id
    state.dispatch(
        sim,
        wire(
            "POST",
            "/v1/subscriptions",
            {"customer_id": customer["id"], "plan_id": plan, "start_date": "2024-01-01"},
        ),
    )
    paused = Paused(monkeypatch, "snapshot", kill=False)
    assert state.compact_later()
    assert paused.reached.wait(TIMEOUT)
    amend = {"event_name": "renamed", "properties": {"i": 9}, "timestamp": START.isoformat()}
    assert (
        state.dispatch(
            sim, wire("PUT", "/v1/events/e0", {**amend, "customer_id": customer["id"]})
        ).status
        == 200
    )
    assert state.dispatch(sim, wire("PUT", "/v1/events/e1/deprecate")).status == 200
    paused.release()
    assert state.wait(TIMEOUT)
    assert state.failed is None and state.compactions == 2
    alone = OrbSim.load(state.path)  # the state file holds the snapshot's versions...
    assert [len(alone.event_versions(k)) for k in ("e0", "e1", "e2")] == [1, 1, 1]
    assert state.journalled == 2  # ...and the journal what came after it
    restarted = restart(state.path, PinnableManualClock(START))
    assert [len(restarted.event_versions(k)) for k in ("e0", "e1", "e2")] == [2, 2, 1]
    assert state_of(restarted) == state_of(sim)


def test_a_stop_during_a_compaction_abandons_it_and_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("orbsim.wire.statefile._REWRITE_LIMIT", 0)  # a "large" state
    state = served(tmp_path, PinnableManualClock(START))
    sim = state.sim
    state.dispatch(sim, wire("POST", "/v1/customers", CUSTOMER))
    paused = Paused(monkeypatch, "snapshot", kill=False)
    assert state.compact_later()
    assert paused.reached.wait(TIMEOUT)
    state.dispatch(sim, wire("POST", "/v1/customers", {**CUSTOMER, "name": "during"}))
    stopper = threading.Thread(target=state.close)
    stopper.start()
    paused.release()
    stopper.join(TIMEOUT)
    assert not stopper.is_alive() and state.failed is None
    assert not list(tmp_path.glob(".*compacting*"))  # its temporary file is gone
    restarted = restart(state.path, PinnableManualClock(START))
    assert state_of(restarted) == state_of(sim)


def test_a_start_after_the_state_file_was_replaced_continues_from_the_mark(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("orbsim.wire.statefile._REWRITE_LIMIT", 0)  # no rewrite at start
    state = served(tmp_path, PinnableManualClock(START))
    sim = state.sim
    state.dispatch(sim, wire("POST", "/v1/customers", CUSTOMER))
    paused = Paused(monkeypatch, "replaced", kill=True)
    state.compact_later()
    assert paused.reached.wait(TIMEOUT)
    state.dispatch(sim, wire("POST", "/v1/customers", {**CUSTOMER, "name": "during"}))
    paused.release()
    state.wait(TIMEOUT)
    state._close_journal()  # the process is gone: its files stay, its lock goes
    assert state.lock is not None
    state.lock.release()
    monkeypatch.setattr("orbsim.wire.statefile._checkpoint", lambda step: None)
    assert b'"compacted"' in state.journal_path.read_bytes()
    loaded = OrbSim.load(state.path)
    loaded.clock = PinnableManualClock(START)
    again = StateFile(loaded, state.path, dispatch)
    assert again.replay() == 1  # only what came after the snapshot
    again.begin()  # a new journal: the records the state file does not hold
    assert b'"compacted"' not in state.journal_path.read_bytes()
    again.dispatch(again.sim, wire("POST", "/v1/customers", {**CUSTOMER, "name": "after"}))
    again.close()
    restarted = restart(state.path, PinnableManualClock(START))
    assert sorted(c.name for c in restarted.customers.list().data) == ["Acme", "after", "during"]


def _raise_killed(*args: Any) -> None:
    raise OSError("killed")


def test_a_journal_that_does_not_belong_to_the_state_file_stops_the_start(
    tmp_path: Path,
) -> None:
    state = served(tmp_path, PinnableManualClock(START))
    for n in range(3):
        state.dispatch(state.sim, wire("POST", "/v1/customers", {**CUSTOMER, "name": f"c{n}"}))
    document = json.loads(state.path.read_text())
    state.path.write_text(json.dumps(document, indent=4))  # re-indented: same data, other bytes
    with pytest.raises(JournalError) as caught:
        restart(state.path, PinnableManualClock(START))
    message = str(caught.value)
    assert "does not belong to the state file" in message
    assert "3 journalled writes would be lost" in message
    assert "put back the state file" in message and "move" in message


def test_a_damaged_record_stops_the_start_and_says_where(tmp_path: Path) -> None:
    state = served(tmp_path, PinnableManualClock(START))
    for n in range(3):
        state.dispatch(state.sim, wire("POST", "/v1/customers", {**CUSTOMER, "name": f"c{n}"}))
    raw = state.journal_path.read_bytes()
    lines = raw.split(b"\n")
    offset = len(lines[0]) + len(lines[1]) + 2
    assert lines[2].count(b"c1") == 1
    lines[2] = lines[2].replace(b"c1", b"c7")  # still JSON, one byte off
    state.journal_path.write_bytes(b"\n".join(lines))
    with pytest.raises(JournalError) as caught:
        restart(state.path, PinnableManualClock(START))
    message = str(caught.value)
    assert f"record 3 of 4 (at byte {offset}) is damaged: checksum mismatch" in message
    assert "The 1 writes before it are intact" in message
    assert f"truncate -s {offset}" in message


def test_a_version_1_journal_is_still_replayed(tmp_path: Path) -> None:
    state = served(tmp_path, PinnableManualClock(START))
    sim = state.sim
    base = hashlib.sha256(state.path.read_bytes()).hexdigest()
    header = {"format": "orbsim-journal", "version": 1, "base": base}
    entry = {
        "at": START.isoformat(),
        "method": "POST",
        "path": "/v1/customers",
        "query": "",
        "headers": {"authorization": "Bearer old", "content-type": "application/json"},
        "status": 201,
        "body": json.dumps(CUSTOMER),
    }
    lines = [json.dumps(header), json.dumps(entry), ""]
    state._close_journal()
    state.journal_path.write_text("\n".join(lines))
    restarted = restart(state.path, PinnableManualClock(START))
    assert [c.name for c in restarted.customers.list().data] == ["Acme"]
    assert sim.customers.list().data == []


def _line(data: dict[str, Any]) -> bytes:
    payload = json.dumps(data).encode()
    return b"%08x %b\n" % (zlib.crc32(payload), payload)


def test_a_version_2_journal_is_replayed_and_a_sealed_one_skipped(tmp_path: Path) -> None:
    state = served(tmp_path, PinnableManualClock(START))
    state.close()
    base = hashlib.sha256(state.path.read_bytes()).hexdigest()
    entry = {
        "at": START.isoformat(),
        "method": "POST",
        "path": "/v1/customers",
        "query": "",
        "headers": {"content-type": "application/json"},
        "status": 201,
        "body": json.dumps(CUSTOMER),
    }
    header = {"format": "orbsim-journal", "version": 2, "base": base}
    state.journal_path.write_bytes(_line(header) + _line(entry))
    restarted = restart(state.path, PinnableManualClock(START))
    assert [c.name for c in restarted.customers.list().data] == ["Acme"]

    sealed = {"format": "orbsim-journal", "version": 2, "base": "0" * 64}  # folded into FILE
    state.journal_path.write_bytes(_line(sealed) + _line(entry) + _line({"sealed": base}))
    assert restart(state.path, PinnableManualClock(START)).customers.list().data == []


def test_the_files_are_private_and_hold_no_credentials(tmp_path: Path) -> None:
    sim = OrbSim(
        settings=Settings(api_keys=frozenset({"s3cret-key"})), clock=PinnableManualClock(START)
    )
    state = StateFile(sim, tmp_path / "state.json", dispatch)
    state.compact()
    request = wire("POST", "/v1/customers", CUSTOMER, authorization="Bearer s3cret-key")
    assert state.dispatch(sim, request).status == 201
    assert state.lock is not None
    for path in (state.path, state.journal_path, state.lock.path):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert b"s3cret" not in state.journal_path.read_bytes()
    assert b"authorization" not in state.journal_path.read_bytes().lower()
    restarted = restart(state.path, PinnableManualClock(START))  # replays without the header
    assert [c.name for c in restarted.customers.list().data] == ["Acme"]


def test_one_state_file_has_one_owner(tmp_path: Path) -> None:
    state = served(tmp_path, PinnableManualClock(START))
    with pytest.raises(StateFileInUse) as caught:
        served(tmp_path, PinnableManualClock(START))
    assert f"{state.path} is in use by another orbsim server (pid {os.getpid()}" in str(
        caught.value
    )
    state.close()
    served(tmp_path, PinnableManualClock(START)).close()  # released: the next owner starts


def test_a_large_state_file_is_not_rewritten_at_start_or_shutdown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("orbsim.wire.statefile._REWRITE_LIMIT", 0)  # every state is "large"
    state = served(tmp_path, PinnableManualClock(START))
    state.dispatch(state.sim, wire("POST", "/v1/customers", {**CUSTOMER, "name": "A"}))
    written = state.path.read_bytes()
    state.close()  # no O(state) rewrite: the fsynced journal stays beside the state file
    assert state.path.read_bytes() == written and state.journal_path.exists()

    sim = OrbSim.load(state.path)
    sim.clock = PinnableManualClock(START)
    again = StateFile(sim, state.path, dispatch)
    with state.journal_path.open("ab") as journal:
        journal.write(b"0badc0de {")  # a torn record: begin() must cut it before appending
    assert again.replay() == 1
    again.begin()  # what orbsim serve does after the replay: continue the journal
    assert state.path.read_bytes() == written
    again.dispatch(sim, wire("POST", "/v1/customers", {**CUSTOMER, "name": "B"}))
    again.close()
    restarted = restart(state.path, PinnableManualClock(START))
    assert sorted(c.name for c in restarted.customers.list().data) == ["A", "B"]


def test_a_large_dump_starts_with_a_new_journal_and_no_rewrite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("orbsim.wire.statefile._REWRITE_LIMIT", 0)
    path = tmp_path / "state.json"
    OrbSim(clock=PinnableManualClock(START)).dump(path)
    written = path.read_bytes()
    sim = OrbSim.load(path)
    sim.clock = PinnableManualClock(START)
    state = StateFile(sim, path, dispatch)
    assert state.replay() == 0
    state.begin()
    assert path.read_bytes() == written and state.compactions == 0
    state.dispatch(sim, wire("POST", "/v1/customers", CUSTOMER))
    state.close()
    assert [c.name for c in restart(path, PinnableManualClock(START)).customers.list().data] == [
        "Acme"
    ]


def test_the_journal_is_compacted_once_larger_than_the_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("orbsim.wire.statefile._COMPACT_AT_LEAST", 4096)
    state = served(tmp_path, PinnableManualClock(START))
    sim = state.sim
    for i in range(80):  # the journal outgrows the (about 9 KB) state file
        state.dispatch(sim, wire("POST", "/v1/customers", {**CUSTOMER, "name": f"c{i}"}))
        state.wait(TIMEOUT)  # compactions run on their own thread
    assert state.compactions > 1
    assert state.journal_path.stat().st_size <= max(state.path.stat().st_size, 4096) + 512
    restarted = restart(state.path, PinnableManualClock(START))
    assert len(restarted.customers.list(limit=100).data) == 80


def test_the_journal_is_compacted_at_its_limit_however_large_the_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("orbsim.wire.statefile._COMPACT_AT_LEAST", 1024)
    monkeypatch.setattr("orbsim.wire.statefile._JOURNAL_LIMIT", 4096)  # below the state's size
    state = served(tmp_path, PinnableManualClock(START))
    sim = state.sim
    for i in range(60):
        state.dispatch(sim, wire("POST", "/v1/customers", {**CUSTOMER, "name": f"c{i}"}))
        state.wait(TIMEOUT)
        assert state.journal_path.stat().st_size <= 4096 + 512
    assert state.path.stat().st_size > 4096 and state.compactions > 2
    restarted = restart(state.path, PinnableManualClock(START))
    assert len(restarted.customers.list(limit=100).data) == 60


def test_on_compacted_is_called_after_each_compaction_that_replaced_the_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("orbsim.wire.statefile._COMPACT_AT_LEAST", 4096)
    calls: list[tuple[int, bytes]] = []
    sim = OrbSim(clock=PinnableManualClock(START), seed=3)
    state = StateFile(sim, tmp_path / "state.json", dispatch)
    state.on_compacted = lambda: calls.append((state.compactions, state.path.read_bytes()))
    state.compact()
    for i in range(40):
        state.dispatch(sim, wire("POST", "/v1/customers", {**CUSTOMER, "name": f"c{i}"}))
        state.wait(TIMEOUT)
    assert [n for n, _ in calls] == list(range(1, state.compactions + 1))
    assert state.compactions > 1
    # called once the new state file is in place: each call saw a larger one
    sizes = [len(data) for _, data in calls]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]


def test_faults_decide_what_is_persisted(tmp_path: Path) -> None:
    state = served(tmp_path, PinnableManualClock(START))
    sim = state.sim
    faults = sim.faults
    compactions = state.compactions

    faults.add(503, path="/customers")  # the simulator never runs it: nothing to persist
    assert state.dispatch(sim, wire("POST", "/v1/customers", CUSTOMER)).status == 503
    faults.add("connect_error", path="/customers")
    state.dispatch(sim, wire("POST", "/v1/customers", CUSTOMER))
    assert (state.journalled, state.compactions) == (0, compactions)

    faults.add("lost_response", path="/customers")  # ran and committed: journalled
    lost = state.dispatch(sim, wire("POST", "/v1/customers", CUSTOMER))
    assert lost.transport_fault == "lost_response"
    assert state.journalled == 1
    restarted = restart(state.path, PinnableManualClock(START))
    assert len(restarted.customers.list().data) == 1
    assert len(restarted.requests) == 0  # the replay is not traffic


def test_an_unexplained_500_compacts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state = served(tmp_path, PinnableManualClock(START))
    sim = state.sim
    compactions = state.compactions

    def broken(*args: Any, **kwargs: Any) -> Any:
        sim.customers.create(name="half-done", email="h@x.test")  # committed, then a bug
        raise RuntimeError("boom")

    monkeypatch.setattr(sim.plans, "create", broken)
    response = state.dispatch(sim, wire("POST", "/v1/plans", {"name": "p"}))
    assert response.status == 500
    assert state.compactions == compactions + 1
    assert [c.name for c in OrbSim.load(state.path).customers.list().data] == ["half-done"]


def test_a_write_that_cannot_be_persisted_is_not_acknowledged(tmp_path: Path) -> None:
    failures: list[BaseException] = []
    sim = OrbSim(clock=PinnableManualClock(START))
    state = StateFile(sim, tmp_path / "state.json", dispatch, on_failure=failures.append)
    state.compact()
    state._close_journal()
    state._fd = 10_000  # a descriptor that is not open: the append fails
    response = state.dispatch(sim, wire("POST", "/v1/customers", CUSTOMER))
    assert response.status == 500
    assert "not acknowledged" in json.loads(response.body)["detail"]
    assert len(failures) == 1
    again = state.dispatch(sim, wire("POST", "/v1/customers", CUSTOMER))
    assert again.status == 500
    assert len(sim.customers.list().data) == 1  # the second write did not even run
    assert state.dispatch(sim, wire("GET", "/v1/ping")).status == 200


# -- the real thing: orbsim serve --state, killed and restarted ------------------------------------


@pytest.fixture
def state_path(tmp_path: Path) -> Path:
    return tmp_path / "orbsim-state.json"


@pytest.fixture
def servers() -> Iterator[list[Served]]:
    started: list[Served] = []
    try:
        yield started
    finally:
        for server in started:
            server.close()


def start(servers: list[Served], *args: str) -> Served:
    server = Served(*args)
    servers.append(server)
    return server


def observe(client: orb.Orb, customer_ids: list[str], event_ids: list[str]) -> dict[str, Any]:
    """What a client can see of the account: fetches, lists, search and backfills."""
    now = datetime.now(UTC)
    return {
        "customers": [client.customers.fetch(c).to_dict() for c in customer_ids],
        "listed": [c.to_dict() for c in client.customers.list(limit=100).data],
        "search": [
            e.to_dict()
            for e in client.events.search(
                event_ids=event_ids,
                timeframe_start=now - timedelta(days=6),
                timeframe_end=now + timedelta(minutes=5),
            ).data
        ],
        "backfills": [b.to_dict() for b in client.events.backfills.list(limit=100).data],
    }


def write_some(client: orb.Orb, tag: str, count: int) -> tuple[list[str], list[str]]:
    now = datetime.now(UTC)
    customers = [
        client.customers.create(
            name=f"{tag}-{i}", email=f"{tag}{i}@x.test", external_customer_id=f"{tag}-{i}"
        ).id
        for i in range(count)
    ]
    events: list[str] = []
    for i, customer in enumerate(customers):
        batch: list[Event] = [
            {
                "idempotency_key": f"{tag}-{i}-{j}",
                "event_name": "call",
                "customer_id": customer,
                "timestamp": now - timedelta(minutes=j),
                "properties": {"j": j},
            }
            for j in range(3)
        ]
        client.events.ingest(events=batch)
        events += [e["idempotency_key"] for e in batch]
    backfill = client.events.backfills.create(
        timeframe_start=now - timedelta(days=3),
        timeframe_end=now - timedelta(days=2),
        customer_id=customers[0],
    )
    client.events.ingest(
        backfill_id=backfill.id,
        events=[
            {
                "idempotency_key": f"{tag}-bf",
                "event_name": "call",
                "customer_id": customers[0],
                "timestamp": now - timedelta(days=2, hours=12),
                "properties": {},
            }
        ],
    )
    client.events.backfills.close(backfill.id)
    return customers, events


def test_a_killed_server_keeps_every_acknowledged_write(
    servers: list[Served], state_path: Path
) -> None:
    first = start(servers, "--state", str(state_path))
    with sdk(first) as client:
        customers, events = write_some(client, "a", 4)
        seen = observe(client, customers, events)
    first.process.kill()  # SIGKILL: no chance to save anything more
    first.close()

    second = start(servers, "--state", str(state_path))
    with sdk(second) as client:
        assert observe(client, customers, events) == seen
        more_customers, more_events = write_some(client, "b", 2)  # ids continue, no clash
        seen = observe(client, customers + more_customers, events + more_events)
        assert len(seen["listed"]) == 6
    second.process.send_signal(signal.SIGKILL)
    second.close()

    third = start(servers, "--state", str(state_path))
    with sdk(third) as client:
        assert observe(client, customers + more_customers, events + more_events) == seen
    assert third.stop(signal.SIGTERM) == 0


def test_sigterm_saves_the_state_file_alone(servers: list[Served], state_path: Path) -> None:
    first = start(servers, "--state", str(state_path))
    with sdk(first) as client:
        customers, events = write_some(client, "t", 2)
        seen = observe(client, customers, events)
    assert first.stop(signal.SIGTERM) == 0
    assert first.close() == ""
    journal = state_path.with_name(state_path.name + ".journal")
    assert not journal.exists()
    loaded = OrbSim.load(state_path)
    assert sorted(c.id for c in loaded.customers.list().data) == sorted(customers)

    second = start(servers, "--state", str(state_path))
    with sdk(second) as client:
        assert observe(client, customers, events) == seen
    assert second.stop(signal.SIGINT) == 0


def test_an_idempotent_retry_replays_across_a_restart(
    servers: list[Served], state_path: Path
) -> None:
    first = start(servers, "--state", str(state_path))
    headers = {"Authorization": "Bearer k", "Idempotency-Key": "create-1"}
    body = {"name": "Acme", "email": "a@acme.test"}
    original = httpx.post(
        f"{first.base_url}/customers", json=body, headers=headers, timeout=TIMEOUT
    )
    assert original.status_code == 201
    first.process.kill()
    first.close()

    second = start(servers, "--state", str(state_path))
    retry = httpx.post(f"{second.base_url}/customers", json=body, headers=headers, timeout=TIMEOUT)
    assert retry.status_code == 201
    assert retry.headers["idempotent-replayed"] == "true"
    assert retry.json() == original.json()
    listed = httpx.get(f"{second.base_url}/customers", headers=headers, timeout=TIMEOUT).json()
    assert [c["id"] for c in listed["data"]] == [original.json()["id"]]


def test_a_manual_clock_and_its_time_survive_restarts(
    servers: list[Served], state_path: Path
) -> None:
    auth = {"Authorization": "Bearer k"}
    first = start(
        servers, "--state", str(state_path), "--clock", "manual", "--now", "2024-05-20T12:00:00Z"
    )
    moved = httpx.post(
        f"{first.base_url}/_orbsim/clock/advance",
        json={"seconds": 60},
        headers=auth,
        timeout=TIMEOUT,
    )
    assert moved.json() == {"now": "2024-05-20T12:01:00Z", "manual": True}
    first.process.kill()
    first.close()

    second = start(servers, "--state", str(state_path))  # the kind and time come from the file
    clock = httpx.get(f"{second.base_url}/_orbsim/clock", headers=auth, timeout=TIMEOUT).json()
    assert clock == {"now": "2024-05-20T12:01:00Z", "manual": True}
    assert second.stop(signal.SIGTERM) == 0
    second.close()

    third = start(servers, "--state", str(state_path), "--clock", "system")
    clock = httpx.get(f"{third.base_url}/_orbsim/clock", headers=auth, timeout=TIMEOUT).json()
    assert clock["manual"] is False


def test_an_unreadable_state_file_stops_the_server_with_a_message(state_path: Path) -> None:
    state_path.write_text('{"format": "something else"}')
    result = subprocess.run(
        [sys.executable, "-m", "orbsim.cli", "serve", "--port", "0", "--state", str(state_path)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert result.returncode == 1
    assert "not an orbsim state file" in result.stderr
    assert state_path.read_text() == '{"format": "something else"}'  # left as it was


def test_a_second_server_on_the_same_state_file_refuses_to_start(
    servers: list[Served], state_path: Path
) -> None:
    first = start(servers, "--state", str(state_path))
    with sdk(first) as client:
        client.customers.create(name="Kept", email="kept@x.test")
        second = subprocess.run(
            [
                sys.executable,
                "-m",
                "orbsim.cli",
                "serve",
                "--port",
                "0",
                "--state",
                str(state_path),
            ],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
        assert second.returncode == 1
        assert f"{state_path} is in use by another orbsim server (pid {first.process.pid}" in (
            second.stderr
        )
        client.customers.create(name="Also kept", email="also@x.test")  # the first one goes on
    assert first.stop(signal.SIGTERM) == 0
    names = {c.name for c in OrbSim.load(state_path).customers.list().data}
    assert names == {"Kept", "Also kept"}


def test_now_before_the_saved_time_is_refused(state_path: Path) -> None:
    sim = OrbSim(clock=ManualClock(START))
    sim.dump(state_path)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "orbsim.cli",
            "serve",
            "--port",
            "0",
            "--state",
            str(state_path),
            "--clock",
            "manual",
            "--now",
            "2024-01-01T00:00:00Z",
        ],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert result.returncode == 1
    assert "never goes back" in result.stderr


def test_concurrent_writes_are_journalled_in_the_order_they_were_applied(tmp_path: Path) -> None:
    """Writes from many connections, then a "kill" (no final save): the replay rebuilds the
    exact state, so the journal's order is the order in which the engine applied them."""
    sim = OrbSim(settings=SETTINGS, clock=PinnableManualClock(START), seed=5)
    ids = setup(sim)
    state = StateFile(sim, tmp_path / "state.json", dispatch)
    state.compact()
    scripts = [script(t, ids)[:150] for t in range(4)]
    errors: list[BaseException] = []
    with sim.serve(dispatch=state.dispatch) as server:

        def worker(requests: list[Any]) -> None:
            try:
                with httpx.Client(base_url=server.url, headers=AUTH, timeout=30) as http:
                    for method, path, body, headers in requests:
                        content = None if body is None else json.dumps(body)
                        http.request(method, path, content=content, headers=headers)
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(s,)) for s in scripts]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == []
    assert state.journalled > 300
    restarted = restart(state.path, PinnableManualClock(START))
    assert state_of(restarted) == state_of(sim)


def test_a_state_file_needs_a_pinnable_clock(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="Pinnable"):
        StateFile(OrbSim(clock=ManualClock(START)), tmp_path / "state.json", dispatch)
