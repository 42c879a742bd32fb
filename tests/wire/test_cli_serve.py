"""``orbsim serve``: a subprocess that listens on loopback and exits 0 on SIGTERM/SIGINT."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from helpers.served import TIMEOUT, Served
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
