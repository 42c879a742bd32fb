"""The httpx transports and the SDK-client helpers, without going through the SDK."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import httpx
import pytest

from helpers.wire import make_sim
from orbsim.wire.transport import AsyncOrbSimTransport, HeaderView, OrbSimTransport

AUTH = {"Authorization": "Bearer k"}


def test_sync_transport_answers_from_the_sim() -> None:
    sim = make_sim()
    assert isinstance(sim.transport(), OrbSimTransport)
    with httpx.Client(transport=sim.transport(), base_url="http://orbsim.test/v1/") as http:
        created = http.post("customers", json={"name": "A", "email": "a@x.test"}, headers=AUTH)
        assert created.status_code == 201
        assert created.headers["content-length"] == str(len(created.content))
        assert http.get(f"customers/{created.json()['id']}", headers=AUTH).json() == created.json()
        missing = http.get("customers/nope", headers=AUTH)
        assert missing.status_code == 404
        assert missing.json()["type"].endswith("#404-resource-not-found")


def test_encoded_slash_stays_inside_one_path_parameter() -> None:
    sim = make_sim()
    sim.customers.create(name="A", email="a@x.test", external_customer_id="x/y")
    with httpx.Client(transport=sim.transport()) as http:
        url = "http://orbsim.test/v1/customers/external_customer_id/x%2Fy"
        assert http.get(url, headers=AUTH).json()["external_customer_id"] == "x/y"
        unencoded = "http://orbsim.test/v1/customers/external_customer_id/x/y"
        assert http.get(unencoded, headers=AUTH).status_code == 404


def test_streamed_request_body_is_read() -> None:
    sim = make_sim()

    def chunks() -> Iterator[bytes]:
        yield b'{"name": "A", '
        yield b'"email": "a@x.test"}'

    with httpx.Client(transport=sim.transport()) as http:
        response = http.post(
            "http://orbsim.test/v1/customers",
            content=chunks(),
            headers={**AUTH, "content-type": "application/json"},
        )
    assert response.status_code == 201


@pytest.mark.asyncio
async def test_async_transport_answers_from_the_sim() -> None:
    sim = make_sim()
    assert isinstance(sim.async_transport(), AsyncOrbSimTransport)
    async with httpx.AsyncClient(transport=sim.async_transport()) as http:
        response = await http.get("http://orbsim.test/v1/ping", headers=AUTH)
    assert response.json() == {"response": "pong"}


def test_header_view_is_a_case_insensitive_mapping() -> None:
    view = HeaderView(httpx.Headers({"Content-Type": "application/json", "X-A": "1"}))
    assert view.get("content-type") == "application/json"
    assert view["X-a"] == "1"
    assert view.get("missing") is None
    assert sorted(view) == ["content-type", "x-a"]
    assert len(view) == 2
    with pytest.raises(KeyError):
        view["missing"]


def test_client_without_the_sdk_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    sim = make_sim()
    monkeypatch.setitem(sys.modules, "orb", None)  # makes ``import orb`` fail
    with pytest.raises(ImportError, match=r"pip install 'orbsim\[sdk\]'"):
        sim.client()
    with pytest.raises(ImportError, match=r"orbsim\[sdk\]"):
        sim.async_client()
