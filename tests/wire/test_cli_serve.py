"""``orbsim serve``: a subprocess that listens on loopback and exits 0 on SIGTERM/SIGINT."""

from __future__ import annotations

import queue
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from orbsim import Settings
from orbsim.cli import main

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

LISTENING = re.compile(r"^orbsim listening on (http://127\.0\.0\.1:(\d+)/v1)$")
TIMEOUT = 20.0


class Served:
    """A running ``orbsim serve`` subprocess and the base URL it announced."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "orbsim.cli", "serve", "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.stderr: str | None = None
        assert self.process.stdout is not None
        stdout = self.process.stdout
        self.reader = threading.Thread(
            target=lambda: [self.lines.put(line) for line in stdout], daemon=True
        )
        self.reader.start()
        try:
            first = self.lines.get(timeout=TIMEOUT).rstrip("\n")
        except queue.Empty:
            self.close()
            pytest.fail("orbsim serve printed nothing")
        match = LISTENING.match(first)
        assert match, f"unexpected first line {first!r}"
        self.base_url = match.group(1)
        self.port = int(match.group(2))

    def stop(self, sig: signal.Signals) -> int:
        self.process.send_signal(sig)
        return self.process.wait(timeout=TIMEOUT)

    def close(self) -> str:
        """Kill the process if still running, close its pipes; returns what it wrote to stderr."""
        if self.stderr is not None:
            return self.stderr
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=TIMEOUT)
        self.reader.join(timeout=TIMEOUT)
        assert self.process.stdout is not None and self.process.stderr is not None
        self.stderr = self.process.stderr.read()
        self.process.stdout.close()
        self.process.stderr.close()
        return self.stderr


@pytest.fixture
def served() -> Iterator[Served]:
    server = Served()
    try:
        yield server
    finally:
        server.close()


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
