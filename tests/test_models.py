"""Response models serialise to JSON the official SDK parses strictly; params refuse bad input.

Each response model is built with only the fields the engine passes, dumped with
``model_dump(mode="json")`` and validated with the SDK's own type (what
``Orb(_strict_response_validation=True)`` does), and every key the SDK declares must be present, so
the SPEC's required-but-nullable keys are sent as ``null`` rather than left out.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

orb = pytest.importorskip("orb")

import orb.types as sdk  # noqa: E402
import orb.types.events as sdk_events  # noqa: E402
from orb.pagination import SyncPage  # noqa: E402
from pydantic import BaseModel, ValidationError  # noqa: E402

from orbsim.models import (  # noqa: E402
    AmendResult,
    Backfill,
    BillableEvent,
    BillingCycleAnchorConfiguration,
    Customer,
    CustomerHierarchy,
    CustomerMinified,
    DeprecateResult,
    Event,
    EventSearchResponse,
    EventVersion,
    EventVolume,
    EventVolumes,
    IngestDebug,
    IngestResponse,
    IngestValidationFailure,
    MutatedSubscription,
    Page,
    PaginationMetadata,
    Plan,
    Subscription,
)
from orbsim.params import (  # noqa: E402
    EditCustomerParams,
    NewCustomerParams,
    NewPlanParams,
    NewSubscriptionParams,
    validation_messages,
)

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

# Keys the SPEC requires (orb-openapi-subset.json, `required` lists).
SPEC_REQUIRED = {
    "Customer": {
        "metadata", "id", "external_customer_id", "name", "email", "timezone",
        "payment_provider_id", "payment_provider", "created_at", "shipping_address",
        "billing_address", "balance", "currency", "tax_id", "auto_collection",
        "exempt_from_automated_tax", "email_delivery", "auto_issuance", "additional_emails",
        "portal_url", "hierarchy",
    },
    "Plan": {
        "metadata", "id", "name", "description", "maximum_amount", "minimum_amount",
        "created_at", "status", "maximum", "minimum", "discount", "product", "version",
        "trial_config", "plan_phases", "base_plan", "base_plan_id", "external_plan_id",
        "currency", "invoicing_currency", "net_terms", "default_invoice_memo", "prices",
        "adjustments",
    },
    "Subscription": {
        "metadata", "id", "customer", "plan", "name", "start_date", "end_date", "created_at",
        "current_billing_period_start_date", "current_billing_period_end_date", "status",
        "trial_info", "active_plan_phase_order", "fixed_fee_quantity_schedule",
        "default_invoice_memo", "auto_collection", "auto_issuance", "net_terms",
        "redeemed_coupon", "billing_cycle_day", "billing_cycle_anchor_configuration",
        "invoicing_threshold", "price_intervals", "adjustment_intervals", "discount_intervals",
        "minimum_intervals", "maximum_intervals", "pending_subscription_change",
    },
    "Backfill": {
        "id", "status", "created_at", "timeframe_start", "timeframe_end", "events_ingested",
        "close_time", "reverted_at", "customer_id", "replace_existing_events",
    },
}  # fmt: skip
PLAN_EXTENSIONS = frozenset({"billing_cadence"})  # orbsim's addition; the SDK keeps unknown keys


def sdk_parse(
    sdk_type: type[BaseModel], data: dict[str, Any], *, extensions: frozenset[str] = frozenset()
) -> Any:
    """Validate like the SDK does and check that every key it declares is present (no extras)."""
    parsed = sdk_type.model_validate(data)
    declared = set(sdk_type.model_fields)
    assert declared <= data.keys(), f"missing keys: {sorted(declared - data.keys())}"
    assert data.keys() - declared <= extensions, f"extra keys: {sorted(data.keys() - declared)}"
    required = {name for name, f in sdk_type.model_fields.items() if f.is_required()}
    assert required <= data.keys()
    return parsed


# --------------------------------------------------------------------------------------------------
# Builders: only the fields the engine passes


def make_customer(**overrides: Any) -> Customer:
    fields: dict[str, Any] = {
        "id": "cus_1",
        "created_at": NOW,
        "name": "Acme",
        "email": "billing@acme.test",
        "timezone": "Etc/UTC",
        "external_customer_id": None,
        "metadata": {},
        "currency": None,
    }
    return Customer(**(fields | overrides))


def make_plan(**overrides: Any) -> Plan:
    fields: dict[str, Any] = {
        "id": "plan_1",
        "created_at": NOW,
        "name": "Usage",
        "currency": "USD",
        "external_plan_id": None,
        "billing_cadence": "monthly",
    }
    return Plan(**(fields | overrides))


def subscription_fields(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "id": "sub_1",
        "customer": make_customer(currency="USD"),
        "plan": make_plan(),
        "name": "Usage",
        "status": "active",
        "start_date": datetime(2024, 4, 15, tzinfo=UTC),
        "end_date": None,
        "created_at": NOW,
        "current_billing_period_start_date": datetime(2024, 5, 1, tzinfo=UTC),
        "current_billing_period_end_date": datetime(2024, 6, 1, tzinfo=UTC),
        "billing_cycle_day": 1,
        "billing_cycle_anchor_configuration": {"day": 1, "month": None, "year": None},
        "metadata": {},
    }
    return fields | overrides


def make_backfill(**overrides: Any) -> Backfill:
    fields: dict[str, Any] = {
        "id": "bf_1",
        "status": "pending",
        "created_at": NOW,
        "timeframe_start": NOW - timedelta(days=8),
        "timeframe_end": NOW - timedelta(days=1),
        "events_ingested": 0,
        "close_time": NOW + timedelta(days=1),
        "reverted_at": None,
        "customer_id": None,
        "replace_existing_events": True,
    }
    return Backfill(**(fields | overrides))


# --------------------------------------------------------------------------------------------------
# Customers


def test_minimal_customer_parses_with_the_sdk() -> None:
    data = make_customer().model_dump(mode="json")
    parsed = sdk_parse(sdk.Customer, data)
    assert SPEC_REQUIRED["Customer"] <= data.keys()
    assert len(data) == 26
    assert data["created_at"] == "2024-05-01T12:00:00Z"
    assert parsed.created_at == NOW
    assert data["balance"] == "0.00"
    assert data["hierarchy"] == {"parent": None, "children": []}
    assert data["auto_collection"] is False
    assert data["email_delivery"] is True
    assert data["metadata"] == {}


def test_fully_populated_customer_parses_with_the_sdk() -> None:
    address = {"line1": "1 Main St", "city": "Springfield", "country": "US"}
    customer = make_customer(
        external_customer_id="acme",
        currency="USD",
        metadata={"tier": "gold"},
        payment_provider="stripe_charge",
        payment_provider_id="cus_stripe",
        billing_address=address,
        shipping_address=address,
        tax_id={"country": "US", "type": "us_ein", "value": "12-3456789"},
        auto_collection=True,
        auto_issuance=False,
        email_delivery=False,
        additional_emails=["ap@acme.test"],
        exempt_from_automated_tax=False,
        hierarchy=CustomerHierarchy(
            parent=CustomerMinified(id="cus_0", external_customer_id=None),
            children=[CustomerMinified(id="cus_2", external_customer_id="child")],
        ),
        accounting_sync_configuration={
            "excluded": False,
            "accounting_providers": [{"provider_type": "netsuite", "external_provider_id": "x"}],
        },
        reporting_configuration={"exempt": True},
        payment_configuration={"payment_providers": [{"provider_type": "stripe"}]},
        default_payment_method={
            "id": "pm_1",
            "created_at": NOW,
            "customer_id": "cus_1",
            "default": True,
            "external_payment_method_id": "pm_stripe",
            "payment_method_type": "card",
        },
        automatic_tax_enabled=False,
    )
    data = customer.model_dump(mode="json")
    parsed = sdk_parse(sdk.Customer, data)
    assert data["billing_address"]["line2"] is None  # all six address keys are sent
    assert parsed.hierarchy.children[0].external_customer_id == "child"
    assert parsed.tax_id is not None and parsed.tax_id.type == "us_ein"
    assert parsed.accounting_sync_configuration is not None
    assert parsed.default_payment_method is not None


def test_customer_from_create_params_as_the_engine_forwards_them() -> None:
    params = NewCustomerParams.model_validate(
        {
            "name": "Acme",
            "email": "a@acme.test",
            "metadata": {"keep": "1", "drop": None},
            "auto_collection": None,
            "email_delivery": None,
            "additional_emails": None,
            "billing_address": {"city": "Paris"},
            "accounting_sync_configuration": {"excluded": None, "accounting_providers": None},
            "reporting_configuration": {"exempt": False},
            "payment_configuration": {"payment_providers": [{"provider_type": "stripe"}]},
        }
    )
    forwarded = params.model_dump(exclude={"tax_configuration", "hierarchy", "timezone"})
    customer = Customer(id="cus_9", created_at=NOW, timezone="Etc/UTC", **forwarded)
    data = customer.model_dump(mode="json")
    sdk_parse(sdk.Customer, data)
    assert data["metadata"] == {"keep": "1"}
    assert data["auto_collection"] is False
    assert data["additional_emails"] == []
    assert data["accounting_sync_configuration"] == {"accounting_providers": [], "excluded": False}
    assert data["billing_address"]["city"] == "Paris"


def test_customer_refuses_unknown_fields_and_bad_tax_ids() -> None:
    with pytest.raises(ValidationError):
        make_customer(tax_configuration={"tax_provider": "stripe", "tax_exempt": False})
    with pytest.raises(ValidationError):
        make_customer(tax_id={"country": "XX", "type": "us_ein", "value": "1"})
    with pytest.raises(ValidationError):
        make_customer(tax_id={"country": "US", "type": "us_ssn", "value": "1"})


def test_customer_page_parses_as_the_sdk_list_page() -> None:
    page = Page[Customer](
        data=[make_customer(), make_customer(id="cus_2")],
        pagination_metadata=PaginationMetadata(has_more=True, next_cursor="abc"),
    )
    data = page.model_dump(mode="json")
    parsed = SyncPage[sdk.Customer].model_validate(data)
    assert [c.id for c in parsed.data] == ["cus_1", "cus_2"]
    assert parsed.pagination_metadata.next_cursor == "abc"
    for item in data["data"]:
        sdk_parse(sdk.Customer, item)


# --------------------------------------------------------------------------------------------------
# Plans


def test_minimal_plan_parses_with_the_sdk() -> None:
    data = make_plan().model_dump(mode="json")
    parsed = sdk_parse(sdk.Plan, data, extensions=PLAN_EXTENSIONS)
    assert SPEC_REQUIRED["Plan"] <= data.keys()
    assert len(SPEC_REQUIRED["Plan"]) == 24
    assert data["invoicing_currency"] == "USD"
    assert data["product"] == {
        "id": "prod_plan_1",
        "name": "Usage",
        "created_at": data["created_at"],
    }
    assert data["trial_config"] == {"trial_period": None, "trial_period_unit": "days"}
    assert data["status"] == "active" and data["version"] == 1 and data["description"] == ""
    assert parsed.billing_cadence == "monthly"  # kept as an extra


def test_plan_optional_inputs_and_explicit_derived_fields() -> None:
    plan = make_plan(
        description=None,
        metadata={"a": "b", "gone": None},
        net_terms=30,
        default_invoice_memo="Thanks",
        invoicing_currency="EUR",
        billing_cadence="quarterly",
    )
    data = plan.model_dump(mode="json")
    sdk_parse(sdk.Plan, data, extensions=PLAN_EXTENSIONS)
    assert data["description"] == ""
    assert data["metadata"] == {"a": "b"}
    assert data["invoicing_currency"] == "EUR"
    assert data["net_terms"] == 30


@pytest.mark.parametrize("cadence", ["monthly", "quarterly", "semi_annual", "annual"])
def test_every_cadence_is_accepted(cadence: str) -> None:
    assert make_plan(billing_cadence=cadence).billing_cadence == cadence


def test_plan_refuses_an_unknown_cadence() -> None:
    with pytest.raises(ValidationError):
        make_plan(billing_cadence="weekly")


# --------------------------------------------------------------------------------------------------
# Subscriptions


def test_subscription_parses_with_the_sdk() -> None:
    data = Subscription(**subscription_fields()).model_dump(mode="json")
    parsed = sdk_parse(sdk.Subscription, data)
    assert SPEC_REQUIRED["Subscription"] <= data.keys()
    assert len(SPEC_REQUIRED["Subscription"]) == 28
    sdk_parse(sdk.Customer, data["customer"])
    sdk_parse(sdk.Plan, data["plan"], extensions=PLAN_EXTENSIONS)
    assert data["trial_info"] == {"end_date": None}
    assert data["net_terms"] == 0
    assert data["price_intervals"] == []
    assert parsed.current_billing_period_end_date == datetime(2024, 6, 1, tzinfo=UTC)


def test_subscription_without_plan_or_period_parses() -> None:
    fields = subscription_fields(
        plan=None,
        status="ended",
        end_date=datetime(2024, 4, 30, tzinfo=UTC),
        current_billing_period_start_date=None,
        current_billing_period_end_date=None,
        billing_cycle_anchor_configuration=BillingCycleAnchorConfiguration(day=15, month=4),
        billing_cycle_day=15,
        metadata=None,
    )
    data = Subscription(**fields).model_dump(mode="json")
    sdk_parse(sdk.Subscription, data)
    assert data["plan"] is None
    assert data["metadata"] == {}
    assert data["billing_cycle_anchor_configuration"] == {"day": 15, "month": 4, "year": None}


def test_mutated_subscription_parses_with_the_sdk() -> None:
    data = MutatedSubscription(**subscription_fields()).model_dump(mode="json")
    sdk_parse(sdk.MutatedSubscription, data)
    assert data["changed_resources"] is None


def test_subscription_page_parses() -> None:
    page = Page[Subscription](
        data=[Subscription(**subscription_fields())],
        pagination_metadata=PaginationMetadata(has_more=False, next_cursor=None),
    )
    parsed = SyncPage[sdk.Subscription].model_validate(page.model_dump(mode="json"))
    assert parsed.data[0].customer.id == "cus_1"


@pytest.mark.parametrize("status", ["paused", "canceled"])
def test_subscription_refuses_unknown_status(status: str) -> None:
    with pytest.raises(ValidationError):
        Subscription(**subscription_fields(status=status))


# --------------------------------------------------------------------------------------------------
# Backfills and events


@pytest.mark.parametrize(
    "sdk_type",
    [
        sdk_events.BackfillCreateResponse,
        sdk_events.BackfillFetchResponse,
        sdk_events.BackfillCloseResponse,
        sdk_events.BackfillRevertResponse,
        sdk_events.BackfillListResponse,
    ],
)
def test_backfill_parses_as_every_sdk_backfill_type(sdk_type: type[BaseModel]) -> None:
    data = make_backfill().model_dump(mode="json")
    sdk_parse(sdk_type, data)
    assert SPEC_REQUIRED["Backfill"] <= data.keys()
    assert data["deprecation_filter"] is None


def test_reverted_scoped_backfill_parses() -> None:
    backfill = make_backfill(
        status="reverted",
        reverted_at=NOW,
        customer_id="cus_1",
        replace_existing_events=False,
        deprecation_filter="region = 'eu'",
        events_ingested=12,
    )
    parsed = sdk_parse(sdk_events.BackfillFetchResponse, backfill.model_dump(mode="json"))
    assert parsed.status == "reverted"


def test_backfill_page_parses() -> None:
    page = Page[Backfill](
        data=[make_backfill()], pagination_metadata={"has_more": False, "next_cursor": None}
    )
    parsed = SyncPage[sdk_events.BackfillListResponse].model_validate(page.model_dump(mode="json"))
    assert parsed.data[0].id == "bf_1"


def test_event_search_response_parses() -> None:
    response = EventSearchResponse(
        data=[
            Event(
                id="idem-1",
                customer_id="cus_1",
                external_customer_id=None,
                event_name="api_call",
                properties={"n": 3, "region": "eu", "ok": True},
                timestamp=NOW,
                deprecated=False,
            )
        ]
    )
    data = response.model_dump(mode="json")
    parsed = sdk_parse(sdk.EventSearchResponse, data)
    sdk_parse(type(parsed.data[0]), data["data"][0])
    assert parsed.data[0].timestamp == NOW


def test_event_volumes_parse_with_orbsims_pagination_extension() -> None:
    volumes = EventVolumes(
        data=[EventVolume(timeframe_start=NOW, timeframe_end=NOW + timedelta(hours=1), count=7)],
        pagination_metadata=PaginationMetadata(has_more=False, next_cursor=None),
    )
    data = volumes.model_dump(mode="json")
    parsed = sdk_parse(sdk_events.EventVolumes, data, extensions=frozenset({"pagination_metadata"}))
    sdk_parse(type(parsed.data[0]), data["data"][0])
    assert parsed.data[0].count == 7


def test_ingest_response_parses() -> None:
    empty = IngestResponse().model_dump(mode="json", exclude_none=True)
    assert empty == {"validation_failed": []}
    sdk_parse(sdk.EventIngestResponse, empty)
    debugged = IngestResponse(debug=IngestDebug(ingested=["a"])).model_dump(mode="json")
    assert debugged["debug"] == {"duplicate": [], "ingested": ["a"]}
    sdk_parse(sdk.EventIngestResponse, debugged, extensions=frozenset({"debug"}))  # kept by 4.90
    failed = IngestResponse(
        validation_failed=[
            IngestValidationFailure(idempotency_key="k1", validation_errors=["bad timestamp"])
        ]
    ).model_dump(mode="json", exclude_none=True)
    parsed = sdk_parse(sdk.EventIngestResponse, failed)
    assert parsed.validation_failed[0].idempotency_key == "k1"


def test_amend_and_deprecate_results_parse() -> None:
    sdk_parse(sdk.EventUpdateResponse, AmendResult(amended="idem-1").model_dump(mode="json"))
    deprecated = DeprecateResult(deprecated="idem-1").model_dump(mode="json")
    sdk_parse(sdk.EventDeprecateResponse, deprecated)


def test_billable_event_and_version_are_frozen() -> None:
    event = BillableEvent(
        id="idem-1",
        customer_id="cus_1",
        external_customer_id=None,
        event_name="api_call",
        properties={"n": 1},
        timestamp=NOW,
    )
    assert event.backfill_id is None
    with pytest.raises(ValidationError):
        event.event_name = "other"  # type: ignore[misc]
    version = EventVersion(
        id="idem-1",
        version=2,
        kind="amended",
        event_name="api_call",
        properties={"n": 2},
        timestamp=NOW,
        customer_id="cus_1",
        external_customer_id=None,
        recorded_at=NOW,
        backfill_id=None,
    )
    with pytest.raises(ValidationError):
        version.version = 3  # type: ignore[misc]
    with pytest.raises(ValidationError):
        EventVersion(**(version.model_dump() | {"kind": "replaced"}))


# --------------------------------------------------------------------------------------------------
# Params


def test_new_customer_minimal_and_unknown_keys() -> None:
    params = NewCustomerParams.model_validate({"name": "Acme", "email": "a@acme.test"})
    assert params.model_fields_set == {"name", "email"}
    with pytest.raises(ValidationError) as info:
        NewCustomerParams.model_validate({"name": "Acme", "email": "a@acme.test", "foo": 1})
    assert validation_messages(info.value) == ["unknown field 'foo'"]
    with pytest.raises(ValidationError) as info:
        NewCustomerParams.model_validate(
            {"name": "Acme", "email": "a@acme.test", "billing_address": {"zip": "1"}}
        )
    assert validation_messages(info.value) == ["unknown field 'billing_address.zip'"]


def test_new_customer_accepts_every_spec_field() -> None:
    body: dict[str, Any] = {
        "name": "Acme",
        "email": "a@acme.test",
        "external_customer_id": "acme",
        "timezone": "America/Los_Angeles",
        "currency": "usd",
        "metadata": {"a": "1", "b": None},
        "payment_provider": "adyen",
        "payment_provider_id": "x",
        "billing_address": {"line1": "1 Main St"},
        "shipping_address": None,
        "tax_id": {"country": "DE", "type": "eu_vat", "value": "DE123"},
        "auto_collection": True,
        "auto_issuance": None,
        "email_delivery": False,
        "additional_emails": ["b@acme.test"],
        "reporting_configuration": {"exempt": True},
        "accounting_sync_configuration": {"excluded": True},
        "payment_configuration": {"payment_providers": []},
        "tax_configuration": {
            "tax_provider": "avalara",
            "tax_exempt": False,
            "tax_exemption_code": "E",
        },
        "hierarchy": {"parent_customer_id": "cus_0", "child_customer_ids": []},
    }
    params = NewCustomerParams.model_validate(body)
    assert params.model_fields_set == body.keys()
    assert len(NewCustomerParams.model_fields) == 20
    assert params.currency == "USD"
    assert params.hierarchy == {"parent_customer_id": "cus_0", "child_customer_ids": []}
    assert isinstance(params.accounting_sync_configuration, dict)


@pytest.mark.parametrize(
    ("email", "message"),
    [
        ("nope", "email: must contain '@' (got 'nope')"),
        ("a@b@c", "email: must contain exactly one '@' (got 'a@b@c')"),
        ("@acme.test", "email: must have text before and after '@' (got '@acme.test')"),
        ("a@", "email: must have text before and after '@' (got 'a@')"),
        ("a b@acme.test", "email: must not contain whitespace (got 'a b@acme.test')"),
    ],
)
def test_email_checks(email: str, message: str) -> None:
    with pytest.raises(ValidationError) as info:
        NewCustomerParams.model_validate({"name": "Acme", "email": email})
    assert validation_messages(info.value) == [message]


def test_email_and_name_lengths() -> None:
    long_email = "a" * 495 + "@b.cd"
    assert len(long_email) == 500
    NewCustomerParams(name="x" * 500, email=long_email)
    with pytest.raises(ValidationError):
        NewCustomerParams(name="x", email="a" + long_email)
    with pytest.raises(ValidationError) as info:
        NewCustomerParams(name="x" * 501, email="a@b")
    (message,) = validation_messages(info.value)
    assert message.startswith("name: string should have at most 500 characters (got 'xxx")
    assert message.endswith("...)")
    assert len(message.split("(got ", 1)[1]) == 81  # 80-character repr plus ")"


def test_additional_emails_limit() -> None:
    ok = [f"u{i}@acme.test" for i in range(49)]
    NewCustomerParams(name="x", email="a@b", additional_emails=ok)
    with pytest.raises(ValidationError) as info:
        NewCustomerParams(name="x", email="a@b", additional_emails=[*ok, "u49@acme.test"])
    assert validation_messages(info.value)[0].startswith("additional_emails: at most 49")
    with pytest.raises(ValidationError) as info:
        NewCustomerParams(name="x", email="a@b", additional_emails=["good@x", "bad"])
    assert validation_messages(info.value) == ["additional_emails.1: must contain '@' (got 'bad')"]


def test_required_fields_and_root_type() -> None:
    with pytest.raises(ValidationError) as info:
        NewCustomerParams.model_validate({})
    assert validation_messages(info.value) == ["name: field required", "email: field required"]
    with pytest.raises(ValidationError) as info:
        NewCustomerParams.model_validate([1, 2])
    assert validation_messages(info.value) == ["body: must be a JSON object (got [1, 2])"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("timezone", "Mars/Olympus_Mons"),
        ("timezone", "America"),
        ("currency", "US"),
        ("currency", "U$D"),
        ("external_customer_id", ""),
        ("payment_provider", "paypal"),
        ("auto_collection", "yes"),
        ("metadata", {"a": 1}),
        (
            "tax_configuration",
            {"tax_provider": "stripe", "tax_exempt": True, "tax_exemption_code": ""},
        ),
        ("hierarchy", {"parent": "cus_0"}),
        ("reporting_configuration", {}),
    ],
)
def test_new_customer_refuses_bad_values(field: str, value: Any) -> None:
    with pytest.raises(ValidationError) as info:
        NewCustomerParams.model_validate({"name": "Acme", "email": "a@b", field: value})
    (message,) = validation_messages(info.value)
    assert field in message


def test_edit_customer_refuses_timezone_and_tells_null_from_absent() -> None:
    with pytest.raises(ValidationError) as info:
        EditCustomerParams.model_validate({"timezone": "Etc/UTC"})
    assert validation_messages(info.value) == ["unknown field 'timezone'"]
    assert EditCustomerParams.model_validate({}).model_fields_set == set()
    cleared = EditCustomerParams.model_validate(
        {"metadata": None, "default_payment_method_id": None}
    )
    assert cleared.model_fields_set == {"metadata", "default_payment_method_id"}
    assert cleared.metadata is None
    edit = EditCustomerParams.model_validate({"external_customer_id": "acme", "name": "New"})
    assert edit.model_fields_set == {"external_customer_id", "name"}
    assert "timezone" not in EditCustomerParams.model_fields
    with pytest.raises(ValidationError):
        EditCustomerParams.model_validate({"additional_emails": ["a@b", "a@b"]})
    with pytest.raises(ValidationError):
        EditCustomerParams.model_validate({"email": "nope"})


def test_new_plan_params() -> None:
    params = NewPlanParams.model_validate({"name": "Usage", "prices": []})
    assert (params.currency, params.billing_cadence, params.status) == ("USD", "monthly", "active")
    with pytest.raises(ValidationError):
        NewPlanParams.model_validate({"name": ""})
    with pytest.raises(ValidationError):
        NewPlanParams.model_validate({"name": "p", "net_terms": 366})
    with pytest.raises(ValidationError) as info:
        NewPlanParams.model_validate({"name": "p", "billing_cadence": "weekly", "x": 1})
    messages = validation_messages(info.value)
    assert messages[0].startswith("billing_cadence: input should be 'monthly'")
    assert messages[1] == "unknown field 'x'"


def test_new_subscription_params() -> None:
    params = NewSubscriptionParams.model_validate(
        {
            "customer_id": "cus_1",
            "plan_id": "plan_1",
            "start_date": "2024-05-01T02:00:00+02:00",
            "end_date": "2024-07-01T00:00:00",
            "billing_cycle_anchor_configuration": {"day": 31},
        }
    )
    assert params.start_date == datetime(2024, 5, 1, tzinfo=UTC)
    assert params.end_date == datetime(2024, 7, 1, tzinfo=UTC)
    assert params.align_billing_with_subscription_start_date is False
    assert params.billing_cycle_anchor_configuration == BillingCycleAnchorConfiguration(day=31)
    NewSubscriptionParams.model_validate({"external_customer_id": "acme", "external_plan_id": "p"})


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"plan_id": "p"}, "exactly one of customer_id or external_customer_id is required"),
        (
            {"customer_id": "c", "external_customer_id": "e", "plan_id": "p"},
            "exactly one of customer_id or external_customer_id is required",
        ),
        ({"customer_id": "c", "plan_id": None}, "one of plan_id or external_plan_id is required"),
        ({"customer_id": "c", "plan_id": "p", "foo": 1}, "unknown field 'foo'"),
        (
            {"customer_id": "c", "plan_id": "p", "billing_cycle_anchor_configuration": {"day": 0}},
            "billing_cycle_anchor_configuration.day: input should be greater than or equal to 1"
            " (got 0)",
        ),
    ],
)
def test_new_subscription_params_refusals(body: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as info:
        NewSubscriptionParams.model_validate(body)
    assert validation_messages(info.value) == [message]


def test_validation_messages_truncates_long_inputs() -> None:
    with pytest.raises(ValidationError) as info:
        NewCustomerParams.model_validate({"name": "Acme", "email": "x" * 200})
    (message,) = validation_messages(info.value)
    got = message.split("(got ", 1)[1].removesuffix(")")
    assert len(got) == 80 and got.endswith("...")
