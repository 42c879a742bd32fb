"""Seed a simulator, serve it, and take a screenshot of its dashboard with headless Chromium.

    python docs/_tools/dashboard_screenshot.py [docs/assets/dashboard.png]

The docs' screenshot (``docs/assets/dashboard.png``) is made by this script; the dashboard tests
(``tests/wire/test_dashboard.py``) use the same seeding and the same Chromium invocation. Needs
Debian's ``chromium`` (``apt-get install chromium``).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orb

from orbsim import ManualClock, OrbSim, Settings

NOW = "2024-05-20T12:00:00Z"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]


def seeded_sim(settings: Settings | None = None) -> OrbSim:
    """Two customers with subscriptions, a day of usage, backfills in every status, requests."""
    sim = OrbSim(clock=ManualClock(NOW), settings=settings, seed=7)
    client = sim.client(api_key=sorted(sim.settings.api_keys or {"demo"})[0], max_retries=0)
    plan = sim.plans.create(name="API usage", billing_cadence="monthly")
    acme = client.customers.create(
        name="Acme Corp", email="billing@acme.test", external_customer_id="acme"
    )
    globex = client.customers.create(name="Globex", email="ap@globex.test")
    for customer in (acme, globex):
        sim.subscriptions.create(
            customer_id=customer.id, plan_id=plan.id, start_date="2024-04-01T00:00:00Z"
        )
    events = []
    for hour in range(11):
        for n in range(1 + (hour * 7) % 5):
            events.append(
                {
                    "idempotency_key": f"acme-{hour}-{n}",
                    "event_name": "api_call",
                    "external_customer_id": "acme",
                    "timestamp": f"2024-05-20T{1 + hour:02d}:{n * 7:02d}:00Z",
                    "properties": {"region": "eu" if n % 2 else "us"},
                }
            )
    client.events.ingest(events=events)
    client.events.ingest(
        events=[
            {
                "idempotency_key": f"globex-{n}",
                "event_name": "storage_gb",
                "customer_id": globex.id,
                "timestamp": f"2024-05-20T{3 + n:02d}:30:00Z",
                "properties": {"gb": 10 + n},
            }
            for n in range(4)
        ]
    )
    reflected = sim.events.backfills.create(
        timeframe_start="2024-05-10T00:00:00Z",
        timeframe_end="2024-05-12T00:00:00Z",
        external_customer_id="acme",
    )
    sim.events.ingest(
        backfill_id=reflected.id,
        events=[
            {
                "idempotency_key": f"fix-{n}",
                "event_name": "api_call",
                "external_customer_id": "acme",
                "timestamp": f"2024-05-1{n}T08:00:00Z",
                "properties": {"region": "eu"},
            }
            for n in (0, 1)
        ],
    )
    sim.events.backfills.close(reflected.id)
    sim.events.backfills.fetch(reflected.id)  # the read that reflects it (as a poll would)
    reverted = sim.events.backfills.create(
        timeframe_start="2024-05-02T00:00:00Z",
        timeframe_end="2024-05-04T00:00:00Z",
        external_customer_id="acme",
    )
    sim.events.backfills.revert(reverted.id)
    client.events.backfills.create(
        timeframe_start="2024-05-14T00:00:00Z",
        timeframe_end="2024-05-16T00:00:00Z",
        customer_id=globex.id,
    )
    with contextlib.suppress(orb.NotFoundError):  # a 404 the dashboard shows among the requests
        client.customers.fetch("no-such-customer")
    with contextlib.suppress(orb.BadRequestError):  # a refused late event, shown with its detail
        client.events.ingest(
            events=[
                {
                    "idempotency_key": "late",
                    "event_name": "api_call",
                    "external_customer_id": "acme",
                    "timestamp": "2024-05-18T00:00:00Z",
                    "properties": {},
                }
            ]
        )
    return sim


def chromium_binary() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass
class PageLoad:
    """What Chromium saw loading a page: its DOM, a PNG screenshot, and every problem it logged
    (console errors and warnings, uncaught exceptions, failed loads, refused loads)."""

    dom: str
    png: bytes
    problems: list[str]


class _DevTools:
    """Chrome DevTools Protocol over ``--remote-debugging-pipe`` (fd 3 in, fd 4 out, messages
    separated by NUL bytes): no websocket library, no port, nothing but the two pipes."""

    def __init__(self, binary: str, profile: str, size: tuple[int, int]) -> None:
        to_chrome_r, self._out = os.pipe()
        self._in, from_chrome_w = os.pipe()
        script = f'exec "$0" "$@" 3<&{to_chrome_r} 4>&{from_chrome_w}'
        self.process = subprocess.Popen(
            [
                "bash",
                "-c",
                script,
                binary,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={profile}",
                f"--window-size={size[0]},{size[1]}",
                "--remote-debugging-pipe",
                "about:blank",
            ],
            pass_fds=(to_chrome_r, from_chrome_w),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    def _receive(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._in], [], [], left)[0]:
                raise TimeoutError("chromium did not answer in time")
            chunk = os.read(self._in, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium closed its DevTools pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        parsed: dict[str, Any] = json.loads(message)
        return parsed

    def call(
        self, method: str, session: str | None = None, timeout: float = 60, **params: Any
    ) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if session is not None:
            message["sessionId"] = session
        os.write(self._out, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            answer = self._receive(deadline)
            if answer.get("id") == self._next_id:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                result: dict[str, Any] = answer.get("result", {})
                return result
            self.events.append(answer)

    def wait_for(self, method: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not any(event.get("method") == method for event in self.events):
            self.events.append(self._receive(deadline))

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.call("Browser.close", timeout=10)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=20)
        os.close(self._in)
        os.close(self._out)


def _problems(events: list[dict[str, Any]]) -> list[str]:
    found = []
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "warning"):
            texts = [str(arg.get("value", arg.get("description", ""))) for arg in params["args"]]
            found.append(f"console.{params['type']}: {' '.join(texts)}")
        elif method == "Runtime.exceptionThrown":
            found.append(f"exception: {params['exceptionDetails'].get('text')}")
        elif method == "Log.entryAdded" and params["entry"]["level"] in ("error", "warning"):
            entry = params["entry"]
            where = entry.get("url", "")
            found.append(f"{entry['source']} {entry['level']}: {entry['text']} {where}".strip())
    return found


def load_page(url: str, size: tuple[int, int] = (1200, 1500), timeout: float = 60) -> PageLoad:
    """Load ``url`` in a fresh headless Chromium; return its DOM, a screenshot and its problems."""
    binary = chromium_binary()
    if binary is None:
        raise RuntimeError("chromium is not installed (apt-get install chromium)")
    with tempfile.TemporaryDirectory(prefix="orbsim-chromium-") as profile:
        devtools = _DevTools(binary, profile, size)
        try:
            target = devtools.call("Target.createTarget", url="about:blank", timeout=timeout)
            session = devtools.call(
                "Target.attachToTarget", targetId=target["targetId"], flatten=True
            )["sessionId"]
            for domain in ("Page", "Runtime", "Log"):
                devtools.call(f"{domain}.enable", session)
            devtools.call(
                "Emulation.setDeviceMetricsOverride",
                session,
                width=size[0],
                height=size[1],
                deviceScaleFactor=1,
                mobile=False,
            )
            devtools.call("Page.navigate", session, url=url, timeout=timeout)
            devtools.wait_for("Page.loadEventFired", timeout=timeout)
            dom = devtools.call(
                "Runtime.evaluate", session, expression="document.documentElement.outerHTML"
            )["result"]["value"]
            shot = devtools.call(
                "Page.captureScreenshot", session, format="png", captureBeyondViewport=True
            )
            png = base64.b64decode(shot["data"])
            devtools.call("Runtime.evaluate", session, expression="0")  # flush pending events
            return PageLoad(dom=dom, png=png, problems=_problems(devtools.events))
        finally:
            devtools.close()


def main() -> int:
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/assets/dashboard.png").resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    sim = seeded_sim()
    with sim.serve(host="127.0.0.1", port=0) as server:
        page = load_page(server.base_url.removesuffix("/v1") + "/_orbsim/")
    if page.problems:
        print("\n".join(page.problems), file=sys.stderr)
        return 1
    target.write_bytes(page.png)
    print(f"wrote {target} ({len(page.png):,} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
