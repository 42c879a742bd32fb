"""The dashboard (``GET /_orbsim/``): what it shows, that it is offline and protected, and that a
real headless Chromium renders it without console errors (and makes the docs' screenshot)."""

from __future__ import annotations

import base64
import importlib.util
import os
import sys
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path
from types import ModuleType

import httpx
import pytest

from orbsim import ManualClock, OrbSim, Settings
from orbsim.wire.messages import WireRequest
from orbsim.wire.routes import dispatch

ROOT = Path(__file__).resolve().parents[2]


def _tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "dashboard_screenshot", ROOT / "docs" / "_tools" / "dashboard_screenshot.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


TOOL = _tool()


def get(sim: OrbSim, path: str = "/_orbsim/", **headers: str) -> tuple[int, dict[str, str], str]:
    response = dispatch(sim, WireRequest("GET", path, "", headers))
    return response.status, dict(response.headers), response.body.decode()


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.tags: Counter[str] = Counter()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags[tag] += 1
        self.urls += [value or "" for name, value in attrs if name in ("src", "href", "action")]


def test_the_page_shows_customers_periods_backfills_events_and_requests() -> None:
    sim = TOOL.seeded_sim()
    status, headers, page = get(sim)
    assert status == 200
    assert headers["content-type"] == "text/html; charset=utf-8"
    for customer in sim.customers.list().data:
        assert customer.name in page and customer.id in page
    shown = sim.events.backfills.peek_all()  # as the page saw them (a list would be a read)
    for backfill in shown:
        assert f'class="backfill {backfill.status}" data-backfill="{backfill.id}"' in page
    assert {b.status for b in shown} == {
        "pending",
        "reflected",
        "reverted",
    }
    assert "May 1 – Jun 1 · current" in page and "Apr 1 – May 1 · invoiced" in page
    acme = sim.customers.fetch_by_external_id("acme")
    per_hour = Counter(
        e.timestamp.strftime("%Y-%m-%d %H:00 UTC") for e in sim.billable_events(customer_id=acme.id)
    )
    hour, count = per_hour.most_common(1)[0]
    assert f"<title>{hour}: {count} events</title>" in page
    assert f"peak {count}/h" in page
    # the recent requests, newest first, with the detail of the refusals
    assert page.index("/customers/no-such-customer") < page.index("/customers</code>")
    assert "older than the grace period" in page
    parser = _Links()
    parser.feed(page)
    assert parser.tags["svg"] == 2 * len(sim.customers.list().data)


def test_the_page_loads_nothing_from_anywhere() -> None:
    status, headers, page = get(TOOL.seeded_sim())
    assert status == 200
    assert "default-src 'none'" in headers["content-security-policy"]
    parser = _Links()
    parser.feed(page)
    assert parser.tags["script"] == 0
    assert parser.urls and all(url.startswith(("data:", "#")) for url in parser.urls)


def test_names_are_escaped() -> None:
    sim = OrbSim(clock=ManualClock("2024-05-20T12:00:00Z"))
    sim.customers.create(name="<script>alert(1)</script>", email="x@example.com")
    _, _, page = get(sim)
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_an_empty_simulator() -> None:
    status, _, page = get(OrbSim())
    assert status == 200
    assert "no customers yet" in page and "no requests yet" in page


def test_a_customers_invoices_are_listed_with_their_status() -> None:
    sim = OrbSim(clock=ManualClock("2024-05-20T12:00:00Z"))
    customer = sim.customers.create(name="Acme", email="billing@acme.test")
    plan = sim.plans.create(name="API usage", billing_cadence="monthly")
    sim.subscriptions.create(
        customer_id=customer.id, plan_id=plan.id, start_date="2024-03-01T00:00:00Z"
    )
    invoices = sim.invoices.list(customer_id=customer.id).data
    assert [invoice.status for invoice in invoices] == ["issued", "issued"]
    status, _, page = get(sim)
    assert status == 200
    assert "not simulated" not in page
    for invoice in invoices:
        assert f"<code>{invoice.id}</code>" in page


def test_looking_at_the_dashboard_is_not_a_request_of_the_api() -> None:
    sim = OrbSim()
    for path in ("/_orbsim/", "/v1/_orbsim/"):
        assert get(sim, path)[0] == 200
    assert len(sim.requests) == 0


def test_api_keys_protect_it_and_a_browser_is_asked_for_one() -> None:
    sim = OrbSim(settings=Settings(api_keys={"secret"}))
    status, headers, _ = get(sim)
    assert status == 401
    assert headers["www-authenticate"].startswith('Basic realm="orbsim"')

    def basic(user: str, password: str) -> str:
        return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    assert get(sim, authorization="Bearer secret")[0] == 200
    assert get(sim, authorization=basic("secret", ""))[0] == 200
    assert get(sim, authorization=basic("me", "secret"))[0] == 200
    for wrong in ("Bearer nope", basic("me", "nope"), "Basic !!!", "Token secret"):
        assert get(sim, authorization=wrong)[0] == 401, wrong


def test_other_methods_on_the_dashboard_path_are_405_with_allow_get() -> None:
    """Like every served path asked with another method (Behaviour notes: routing)."""
    response = dispatch(
        OrbSim(), WireRequest("POST", "/_orbsim/", "", {"authorization": "Bearer k"})
    )
    assert response.status == 405
    assert response.header("allow") == "GET"
    assert b"url-not-found" in response.body


def test_served_over_http() -> None:
    sim = TOOL.seeded_sim()
    with sim.serve(host="127.0.0.1", port=0) as server:
        root = server.base_url.removesuffix("/v1")
        response = httpx.get(f"{root}/_orbsim/", timeout=10)
    assert response.status_code == 200
    assert "Acme Corp" in response.text


# -- in a real browser -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chromium() -> ModuleType:
    if TOOL.chromium_binary() is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: .ci/run installs it with apt-get")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return TOOL


def test_the_problem_check_catches_console_errors_and_failed_loads(chromium: ModuleType) -> None:
    page = chromium.load_page(
        "data:text/html,<img src='http://127.0.0.1:9/missing.png'>"
        "<script>console.error('boom'); notAFunction()</script>"
    )
    assert "console.error: boom" in page.problems
    assert any(problem.startswith("exception: Uncaught") for problem in page.problems)
    assert any("Failed to load resource" in problem for problem in page.problems)


def test_the_problem_check_catches_refused_loads(chromium: ModuleType) -> None:
    page = chromium.load_page(
        "data:text/html,<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'\">"
        "<img src='http://127.0.0.1:9/external.png'>"
    )
    assert any("Content Security Policy" in problem for problem in page.problems), page.problems


def test_chromium_renders_the_seeded_dashboard(chromium: ModuleType, tmp_path: Path) -> None:
    sim = TOOL.seeded_sim()
    with sim.serve(host="127.0.0.1", port=0) as server:
        page = chromium.load_page(server.base_url.removesuffix("/v1") + "/_orbsim/")
    assert page.problems == []
    for name in ("Acme Corp", "Globex", "Recent requests", "billable events per hour"):
        assert name in page.dom
    for backfill in sim.events.backfills.list().data:
        assert f'data-backfill="{backfill.id}"' in page.dom
    assert page.png.startswith(b"\x89PNG\r\n\x1a\n") and len(page.png) > 20_000
    (tmp_path / "dashboard.png").write_bytes(page.png)  # what docs/assets/dashboard.png shows


def test_chromium_with_an_api_key(chromium: ModuleType) -> None:
    sim = TOOL.seeded_sim(Settings(api_keys={"secret"}))
    with sim.serve(host="127.0.0.1", port=0) as server:
        root = server.base_url.removesuffix("/v1")
        refused = chromium.load_page(root + "/_orbsim/")
        allowed = chromium.load_page(root.replace("http://", "http://secret@") + "/_orbsim/")
    # headless Chromium cannot show the password prompt a 401 with WWW-Authenticate asks for
    assert "Acme Corp" not in refused.dom
    assert any("status of 401" in problem for problem in refused.problems), refused.problems
    assert "Acme Corp" in allowed.dom
    assert allowed.problems == []


def test_the_docs_have_a_screenshot() -> None:
    image = (ROOT / "docs" / "assets" / "dashboard.png").read_bytes()
    assert image.startswith(b"\x89PNG\r\n\x1a\n") and len(image) > 20_000
    assert "../assets/dashboard.png" in (ROOT / "docs" / "guides" / "dashboard.md").read_text()


def test_looking_at_the_dashboard_does_not_move_a_reflecting_backfill_on() -> None:
    # Under the default progression a fetch or list is a read that advances a closed backfill;
    # the dashboard only looks, so the user's own poll is still the first read.
    sim = OrbSim(clock=ManualClock("2024-05-15T00:00:00Z"))
    customer = sim.customers.create(name="Acme", email="a@acme.test")
    backfill = sim.events.backfills.create(
        timeframe_start="2024-05-10T00:00:00Z",
        timeframe_end="2024-05-11T00:00:00Z",
        customer_id=customer.id,
    )
    sim.events.backfills.close(backfill.id)
    for _ in range(3):
        status, _headers, page = get(sim)
        assert status == 200
        assert f'class="backfill pending" data-backfill="{backfill.id}"' in page
    assert sim.events.backfills.fetch(backfill.id).status == "reflected"
