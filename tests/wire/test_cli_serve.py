"""``orbsim serve``: a subprocess that listens on loopback and exits 0 on SIGTERM/SIGINT."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from helpers.sdk import START, event
from helpers.served import TIMEOUT, Served
from orbsim import ManualClock, OrbSim, Settings
from orbsim.cli import main

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


def test_serve_port_0_prints_real_port_answers_ping_and_exits_0_on_sigterm(
    served: Served,
) -> None:
    assert served.port > 0
    response = httpx.get(
        f"{served.base_url}/ping", headers={"Authorization": "Bearer x"}, timeout=TIMEOUT
    )
    assert response.status_code == 200
    assert response.json() == {"response": "pong"}
    assert served.stop(signal.SIGTERM) == 0
    assert served.close() == ""  # quiet by default


def test_serve_exits_0_on_sigint_with_an_idle_keep_alive_connection(served: Served) -> None:
    with httpx.Client(base_url=served.base_url, timeout=TIMEOUT) as http:
        assert http.get("/ping", headers={"Authorization": "Bearer x"}).status_code == 200
        assert served.stop(signal.SIGINT) == 0


def test_serve_api_keys_and_grace_period() -> None:
    server = Served("--api-key", "one", "--api-key", "two", "--grace-period-hours", "48")
    try:
        with httpx.Client(base_url=server.base_url, timeout=TIMEOUT) as http:
            assert http.get("/ping", headers={"Authorization": "Bearer x"}).status_code == 401
            for key in ("one", "two"):
                assert http.get("/ping", headers={"Authorization": f"Bearer {key}"}).is_success
            late = datetime.now(UTC) - timedelta(hours=20)  # outside the default 12 h grace
            response = http.post(
                "/ingest",
                headers={"Authorization": "Bearer one"},
                json={
                    "events": [
                        {
                            "idempotency_key": "late",
                            "event_name": "api_call",
                            "external_customer_id": "acme",
                            "timestamp": late.isoformat(),
                            "properties": {},
                        }
                    ]
                },
            )
            assert response.status_code == 200, response.text
        assert server.stop(signal.SIGTERM) == 0
    finally:
        server.close()


def test_serve_allow_host_accepts_a_named_host() -> None:
    server = Served("--allow-host", "orbsim.test")
    try:
        with httpx.Client(base_url=server.base_url, timeout=TIMEOUT) as http:
            auth = {"Authorization": "Bearer x"}
            assert http.get("/ping", headers={**auth, "Host": "orbsim.test:1"}).is_success
            refused = http.get("/ping", headers={**auth, "Host": "elsewhere.test"})
            assert refused.status_code == 400
            assert "elsewhere.test" in refused.json()["detail"]
        assert server.stop(signal.SIGTERM) == 0
    finally:
        server.close()


def test_serve_on_a_busy_port_exits_1_with_a_message() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "orbsim.cli", "serve", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
    assert result.returncode == 1
    assert result.stdout == ""
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["--port", "65536"],
        ["--port", "-1"],
        ["--grace-period-hours", "-2"],
        ["--grace-period-hours", "nan"],
        ["--api-key", ""],
    ],
)
def test_serve_rejects_bad_arguments(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", *args])
    assert exit_info.value.code == 2
    assert "orbsim serve: error" in capsys.readouterr().err


def test_serve_settings_on_the_command_line() -> None:
    server = Served(
        "--setting",
        "grace_period=48h",
        "--setting",
        "max_events_per_request=1",
        "--setting",
        "api_keys=one,two",
    )
    try:
        with httpx.Client(base_url=server.base_url, timeout=TIMEOUT) as http:
            assert http.get("/ping", headers={"Authorization": "Bearer x"}).status_code == 401
            late = datetime.now(UTC) - timedelta(hours=20)  # outside the default 12 h grace
            event = {
                "event_name": "api_call",
                "external_customer_id": "acme",
                "timestamp": late.isoformat(),
                "properties": {},
            }
            auth = {"Authorization": "Bearer two"}
            one = http.post(
                "/ingest", headers=auth, json={"events": [{**event, "idempotency_key": "a"}]}
            )
            assert one.status_code == 200, one.text
            two = [{**event, "idempotency_key": key} for key in ("b", "c")]
            too_many = http.post("/ingest", headers=auth, json={"events": two})
            assert too_many.status_code == 413, too_many.text
        assert server.stop(signal.SIGTERM) == 0
    finally:
        server.close()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--setting", "grace=12h"], "unknown setting 'grace'; valid settings: grace_period,"),
        (["--setting", "grace_period"], "NAME=VALUE"),
        (["--setting", "grace_period=12"], "grace_period=12: '12' is not a duration"),
        (["--setting", "amend_limit=lots"], "amend_limit=lots"),
        (
            ["--grace-period-hours", "2", "--setting", "grace_period=1h"],
            "--grace-period-hours and --setting grace_period",
        ),
    ],
)
def test_serve_refuses_bad_settings_naming_the_problem(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", *args])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "orbsim serve: error" in err
    assert message in err


def test_every_settings_field_can_be_given_on_the_command_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    for name in Settings.model_fields:
        assert name in help_text


def test_settings_apply_over_a_loaded_state_file(tmp_path: Path) -> None:
    state = str(tmp_path / "orb.json")

    def served_settings(*args: str) -> dict[str, object]:
        server = Served("--state", state, *args)
        try:
            with httpx.Client(base_url=server.base_url, timeout=TIMEOUT) as http:
                document = http.get("/_orbsim/state", headers={"Authorization": "Bearer x"})
            assert server.stop(signal.SIGTERM) == 0
        finally:
            server.close()
        settings: dict[str, object] = document.json()["state"]["settings"]
        return settings

    first = served_settings("--setting", "amend_limit=3", "--setting", "reflection_delay=10m")
    assert (first["amend_limit"], first["reflection_delay"]) == (3, "PT10M")
    second = served_settings("--setting", "deprecate_limit=2")  # the saved settings stay
    assert (second["amend_limit"], second["deprecate_limit"]) == (3, 2)
    assert second["reflection_delay"] == "PT10M"


def _with_events(count: int) -> OrbSim:
    """A simulator holding ``count`` events of one customer (``helpers.sdk.event``)."""
    sim = OrbSim(clock=ManualClock(START + timedelta(hours=1)))
    customer = sim.customers.create(name="A", email="a@a.test")
    sim.events.ingest(events=[event(f"k{n}", customer.id, n=n) for n in range(count)])
    return sim


_PREPARED_FREEZE_COUNT = """
import gc, sys
from orbsim.cli import _prepare
path = None if sys.argv[1] == "-" else sys.argv[1]
sim, state_file = _prepare({}, [], 0, path, None, None, lambda exc: None)
if state_file is not None:
    state_file.close()
print(gc.get_freeze_count())
"""


def test_serve_moves_a_loaded_state_out_of_the_garbage_collectors_walks(tmp_path: Path) -> None:
    """After loading a state file, and after each compaction of it, ``orbsim serve`` calls
    ``gc.freeze()`` (a full collection would otherwise walk every loaded event while a request
    waits); without ``--state`` it does not. Run in a subprocess: freezing is a property of the
    whole process."""
    state = tmp_path / "orb.json"

    def frozen_after_start(path: str) -> int:
        found = subprocess.run(
            [sys.executable, "-c", _PREPARED_FREEZE_COUNT, path],
            capture_output=True,
            text=True,
            timeout=TIMEOUT * 3,
            check=True,
        )
        return int(found.stdout.split()[-1])

    assert frozen_after_start("-") == 0  # no state file: nothing frozen
    fresh = frozen_after_start(str(state))  # the start's compaction froze what was there
    _with_events(3000).dump(state)
    loaded = frozen_after_start(str(state))
    assert loaded >= fresh + 3000  # every loaded event is frozen


def test_serve_builds_a_loaded_states_hour_indexes_in_the_background(tmp_path: Path) -> None:
    """``orbsim serve`` indexes a loaded state in slices after it starts listening, so the first
    read does not build the indexes of every event itself; a stop ends it early."""
    import threading

    from orbsim.cli import _index_events

    _with_events(50).dump(tmp_path / "state.json")
    stopped, running = threading.Event(), threading.Event()
    stopped.set()
    for stop, indexed in ((stopped, False), (running, True)):
        loaded = OrbSim.load(tmp_path / "state.json")
        _index_events(loaded, stop)
        assert loaded.engine.index_events(0) is indexed
