"""Each deliberate use of a library's private API (``orbsim._internals``) still does what orbsim
relies on; these fail loudly when an upgrade of httpx or pydantic changes it."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from orbsim._internals import set_read_content, trusted_factory
from orbsim.models import BillableEvent, Customer


def test_set_read_content_makes_a_streamed_response_read() -> None:
    response = httpx.Response(200, stream=httpx.ByteStream(b'{"a": 1}'))
    set_read_content(response, b'{"a": 1}')
    # without the private attribute, .content raises httpx.ResponseNotRead here
    assert response.content == b'{"a": 1}'
    assert response.json() == {"a": 1}
    assert response.text == '{"a": 1}'


def test_trusted_model_equals_the_validated_model() -> None:
    fields = {
        "id": "e1",
        "customer_id": "c1",
        "external_customer_id": None,
        "event_name": "api_call",
        "properties": {"n": 1},
        "timestamp": datetime(2024, 5, 1, tzinfo=UTC),
        "backfill_id": None,
    }
    built = trusted_factory(BillableEvent)(dict(fields))
    validated = BillableEvent.model_validate(fields)
    assert built == validated
    assert built.model_dump() == validated.model_dump()
    assert built.model_dump_json() == validated.model_dump_json()
    assert built.model_fields_set == set(BillableEvent.model_fields)
    assert built.model_copy(update={"id": "e2"}).id == "e2"
    assert repr(built) == repr(validated)


def test_trusted_factory_refuses_models_that_are_not_frozen() -> None:
    with pytest.raises(TypeError, match="frozen"):
        trusted_factory(Customer)
