"""Request parameter models, validated at the engine's edge.

They mirror the SPEC request schemas (``NewCustomer``, ``EditCustomer``, ``NewPlan``,
``NewSubscription``, ``NewBackfill``), which all say ``additionalProperties: false``: unknown keys
are refused (nested objects too, to catch typos). Booleans and integers are strict, so ``"yes"`` is
not silently read as ``True``. Omitted and ``null`` are different for updates: the engine reads
``model_fields_set``. ``validation_messages`` turns a pydantic error into Orb-style
``validation_errors`` strings.

Complex nested inputs whose request shape differs from the response (``hierarchy``, the
configuration objects) are ``TypedDict``s, so after validation they are plain dicts; addresses and
tax ids reuse the response models, which have the same shape.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, NotRequired, Required

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
    with_config,
)
from typing_extensions import TypedDict  # pydantic needs this one on Python < 3.12

from orbsim.models import (
    Address,
    BillingCadence,
    BillingCycleAnchorConfiguration,
    CustomerTaxId,
    PaymentProvider,
)
from orbsim.times import to_utc, zone

__all__ = [
    "AccountingProviderInput",
    "AccountingSyncConfigurationInput",
    "AddressInput",
    "BillingCycleAnchorConfiguration",
    "EditCustomerParams",
    "HierarchyInput",
    "NewCustomerParams",
    "NewPlanParams",
    "NewSubscriptionParams",
    "PaymentConfigurationInput",
    "PaymentConfigurationProviderInput",
    "ReportingConfigurationInput",
    "TaxConfigurationInput",
    "validation_messages",
]

AddressInput = Address
"""``AddressInput`` has the response ``Address`` shape (six optional nullable strings)."""

MAX_EMAILS = 50
"""Orb: a customer has at most 50 email addresses, the primary one included."""


# --------------------------------------------------------------------------------------------------
# Field checks


def _check_email(value: str) -> str:
    """A light email check (no email-validator dependency): one '@' with text on both sides."""
    if "@" not in value:
        raise ValueError("must contain '@'")
    if value.count("@") != 1:
        raise ValueError("must contain exactly one '@'")
    local, domain = value.split("@")
    if not local or not domain:
        raise ValueError("must have text before and after '@'")
    if any(ch.isspace() for ch in value):
        raise ValueError("must not contain whitespace")
    return value


def _check_currency(value: str) -> str:
    """ISO 4217 codes are three letters; lower case is accepted and normalised to upper case."""
    if len(value) != 3 or not (value.isascii() and value.isalpha()):
        raise ValueError("must be a three-letter ISO 4217 currency code such as 'USD'")
    return value.upper()


def _check_timezone(value: str) -> str:
    """Refuse unknown IANA names here, before they can break billing-period arithmetic later."""
    if zone(value) is None:
        raise ValueError("must be an IANA timezone name such as 'America/Los_Angeles'")
    return value


def _to_utc(value: datetime) -> datetime:
    """Orb reads a time without an offset as UTC; other offsets are converted to UTC."""
    return to_utc(value, "date-time")


Email = Annotated[str, Field(max_length=500), AfterValidator(_check_email)]
NonEmptyStr = Annotated[str, Field(min_length=1)]
CustomerName = Annotated[str, Field(min_length=1, max_length=500)]
Currency = Annotated[str, AfterValidator(_check_currency)]
Timezone = Annotated[str, AfterValidator(_check_timezone)]


def _iso_only(value: object) -> object:
    """Orb takes ISO 8601 strings; pydantic alone would also read numbers as Unix times."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            raise ValueError("must be an ISO 8601 date-time such as 2024-05-01T00:00:00Z") from None
    raise ValueError("must be an ISO 8601 date-time string such as 2024-05-01T00:00:00Z")


UtcDatetime = Annotated[datetime, BeforeValidator(_iso_only), AfterValidator(_to_utc)]
Metadata = dict[str, str | None]
"""A ``null`` value removes the key; a ``null`` map clears all metadata."""


# --------------------------------------------------------------------------------------------------
# Nested inputs (plain dicts after validation)

_FORBID = ConfigDict(extra="forbid")


@with_config(_FORBID)
class HierarchyInput(TypedDict, total=False):
    """Request shape of ``hierarchy`` (the response uses ``parent``/``children`` instead)."""

    parent_customer_id: NonEmptyStr | None
    child_customer_ids: list[NonEmptyStr]


@with_config(_FORBID)
class ReportingConfigurationInput(TypedDict):
    """``NewReportingConfiguration``."""

    exempt: StrictBool


@with_config(_FORBID)
class AccountingProviderInput(TypedDict):
    """``AccountingProviderConfig``: both keys required on input."""

    provider_type: Literal["quickbooks", "netsuite"]
    external_provider_id: str


@with_config(_FORBID)
class AccountingSyncConfigurationInput(TypedDict, total=False):
    """``NewAccountingSyncConfiguration``: both keys optional and nullable."""

    excluded: StrictBool | None
    accounting_providers: list[AccountingProviderInput] | None


@with_config(_FORBID)
class PaymentConfigurationProviderInput(TypedDict, total=False):
    """``PaymentConfigurationItem``."""

    provider_type: Required[Literal["stripe"]]
    excluded_payment_method_types: list[str]
    default_shared_payment_token: str | None


@with_config(_FORBID)
class PaymentConfigurationInput(TypedDict, total=False):
    """``PaymentConfiguration`` (request side)."""

    payment_providers: list[PaymentConfigurationProviderInput]


@with_config(_FORBID)
class TaxConfigurationInput(TypedDict):
    """``NewTaxConfiguration``: one shape for all six providers; only Avalara takes
    ``tax_exemption_code``."""

    tax_provider: Literal["avalara", "taxjar", "sphere", "numeral", "anrok", "stripe"]
    tax_exempt: StrictBool
    automatic_tax_enabled: NotRequired[StrictBool | None]
    tax_exemption_code: NotRequired[str | None]


def _check_tax_configuration(value: TaxConfigurationInput) -> TaxConfigurationInput:
    if "tax_exemption_code" in value and value["tax_provider"] != "avalara":
        raise ValueError("tax_exemption_code is only accepted with tax_provider 'avalara'")
    return value


TaxConfiguration = Annotated[TaxConfigurationInput, AfterValidator(_check_tax_configuration)]


# --------------------------------------------------------------------------------------------------
# Customers


class _Params(BaseModel):
    """Base of request models: unknown keys are refused, as the SPEC's schemas require."""

    model_config = ConfigDict(extra="forbid")


class _CustomerFields(_Params):
    """The fields ``NewCustomer`` and ``EditCustomer`` share, with the same rules."""

    external_customer_id: NonEmptyStr | None = None
    currency: Currency | None = None
    metadata: Metadata | None = None
    payment_provider: PaymentProvider | None = None
    payment_provider_id: str | None = None
    billing_address: AddressInput | None = None
    shipping_address: AddressInput | None = None
    tax_id: CustomerTaxId | None = None
    auto_collection: StrictBool | None = None
    auto_issuance: StrictBool | None = None
    email_delivery: StrictBool | None = None
    additional_emails: list[Email] | None = None
    reporting_configuration: ReportingConfigurationInput | None = None
    accounting_sync_configuration: AccountingSyncConfigurationInput | None = None
    payment_configuration: PaymentConfigurationInput | None = None
    tax_configuration: TaxConfiguration | None = None
    hierarchy: HierarchyInput | None = None

    @field_validator("additional_emails")
    @classmethod
    def _emails_unique_and_limited(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return value
        if len(set(value)) != len(value):
            raise ValueError("must not contain duplicates")
        if len(value) + 1 > MAX_EMAILS:
            raise ValueError(
                f"at most {MAX_EMAILS - 1} additional emails ({MAX_EMAILS} with the primary email)"
            )
        return value


class NewCustomerParams(_CustomerFields):
    """``POST /customers`` body (SPEC ``NewCustomer``, all 20 fields)."""

    name: CustomerName
    email: Email
    timezone: Timezone | None = None


class EditCustomerParams(_CustomerFields):
    """``PUT /customers/{id}`` body (SPEC ``EditCustomer``): every field optional.

    ``timezone`` is immutable and therefore not a field (an unknown key is refused). The engine
    tells "not given" from "given as null" with ``model_fields_set``.
    """

    name: CustomerName | None = None
    email: Email | None = None
    default_payment_method_id: str | None = None


# --------------------------------------------------------------------------------------------------
# Plans


class NewPlanParams(_Params):
    """``POST /plans`` body: the SPEC ``NewPlan`` fields plus orbsim's ``billing_cadence``.

    orbsim does not price usage: ``prices``, ``adjustments`` and ``plan_phases`` are accepted (the
    SDK requires ``prices``) but not interpreted; the cadence of billing periods is
    ``billing_cadence``.
    """

    name: NonEmptyStr
    currency: Currency = "USD"
    external_plan_id: NonEmptyStr | None = None
    billing_cadence: BillingCadence = "monthly"
    description: str | None = None
    metadata: Metadata | None = None
    net_terms: Annotated[StrictInt, Field(ge=0, le=365)] | None = None
    default_invoice_memo: str | None = None
    status: Literal["active", "draft"] = "active"
    prices: list[dict[str, Any]] = Field(default_factory=list)
    adjustments: list[dict[str, Any]] | None = None
    plan_phases: list[dict[str, Any]] | None = None


# --------------------------------------------------------------------------------------------------
# Subscriptions


class EditPlanParams(_Params):
    """``PUT /plans/{id}`` body (SDK ``plans.update``): Orb lets ``name`` (not empty),
    ``external_plan_id``, ``description`` and ``metadata`` change; the other fields of a plan are
    immutable (an unknown key is refused). ``model_fields_set`` tells "not given" from null."""

    name: NonEmptyStr | None = None
    external_plan_id: NonEmptyStr | None = None
    description: str | None = None
    metadata: Metadata | None = None


class EditSubscriptionParams(_Params):
    """``PUT /subscriptions/{id}`` body (SDK ``subscriptions.update``): ``metadata``,
    ``net_terms``, ``auto_collection``, ``auto_issuance``, ``default_invoice_memo`` and
    ``invoicing_threshold``, the fields Orb lets you edit; orbsim stores and echoes the last five
    (``net_terms``, ``auto_issuance`` and ``default_invoice_memo`` shape the invoices issued
    afterwards) and merges ``metadata`` as Orb does."""

    metadata: Metadata | None = None
    net_terms: Annotated[StrictInt, Field(ge=0, le=365)] | None = None
    auto_collection: StrictBool | None = None
    auto_issuance: StrictBool | None = None
    default_invoice_memo: str | None = None
    invoicing_threshold: str | None = None


class NewSubscriptionParams(_Params):
    """``POST /subscriptions`` body (SPEC ``NewSubscription``, every field; the SPEC has no
    ``required`` list).

    Checked here: exactly one of ``customer_id``/``external_customer_id`` and at least one of
    ``plan_id``/``external_plan_id`` (``null`` counts as absent). Price and adjustment overrides
    are accepted with permissive types and not interpreted.
    """

    customer_id: NonEmptyStr | None = None
    external_customer_id: NonEmptyStr | None = None
    plan_id: NonEmptyStr | None = None
    external_plan_id: NonEmptyStr | None = None
    plan_version_number: StrictInt | None = None
    start_date: UtcDatetime | None = None
    end_date: UtcDatetime | None = None
    align_billing_with_subscription_start_date: StrictBool = False
    billing_cycle_anchor_configuration: BillingCycleAnchorConfiguration | None = None
    name: str | None = None
    metadata: Metadata | None = None
    currency: Currency | None = None
    net_terms: StrictInt | None = None
    auto_collection: StrictBool | None = None
    auto_issuance: StrictBool | None = None
    default_invoice_memo: str | None = None
    invoicing_threshold: str | None = None
    trial_duration_days: Annotated[StrictInt, Field(ge=0, lt=1_000_000)] | None = None
    initial_phase_order: StrictInt | None = None
    coupon_redemption_code: str | None = None
    filter: str | None = None
    usage_customer_ids: list[str] | None = None
    add_prices: list[dict[str, Any]] | None = None
    remove_prices: list[dict[str, Any]] | None = None
    replace_prices: list[dict[str, Any]] | None = None
    add_adjustments: list[dict[str, Any]] | None = None
    remove_adjustments: list[dict[str, Any]] | None = None
    replace_adjustments: list[dict[str, Any]] | None = None
    price_overrides: list[Any] | None = None
    per_credit_overage_amount: float | None = None
    credits_overage_rate: float | None = None
    external_marketplace: Literal["google", "aws", "azure"] | None = None
    external_marketplace_reporting_id: str | None = None
    aws_region: str | None = None

    @model_validator(mode="after")
    def _customer_and_plan(self) -> NewSubscriptionParams:
        if (self.customer_id is None) == (self.external_customer_id is None):
            raise ValueError("exactly one of customer_id or external_customer_id is required")
        if self.plan_id is None and self.external_plan_id is None:
            raise ValueError("one of plan_id or external_plan_id is required")
        return self


# --------------------------------------------------------------------------------------------------
# Error messages

_MAX_INPUT_REPR = 80
_ROOT_TYPE_ERRORS = frozenset({"model_type", "model_attributes_type", "dict_type"})


def _short_repr(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _MAX_INPUT_REPR else text[: _MAX_INPUT_REPR - 3] + "..."


def _path(loc: tuple[int | str, ...]) -> str:
    # pydantic inserts schema tags such as "function-after[...]" or "literal['a']" into locations;
    # they mean nothing to an API user.
    parts = [str(p) for p in loc if not (isinstance(p, str) and ("[" in p or "(" in p))]
    return ".".join(parts)


def validation_messages(exc: ValidationError) -> list[str]:
    """Short human messages for a pydantic error, one per problem, for ``validation_errors``.

    Examples: ``"email: must contain '@' (got 'nope')"``, ``"name: field required"``,
    ``"unknown field 'foo'"``.
    """
    messages: list[str] = []
    for error in exc.errors(include_url=False):
        path = _path(error["loc"])
        kind = error["type"]
        if kind == "extra_forbidden":
            messages.append(f"unknown field {path!r}")
            continue
        if kind == "missing":
            messages.append(f"{path}: field required")
            continue
        if not path and kind in _ROOT_TYPE_ERRORS:
            messages.append(f"body: must be a JSON object (got {_short_repr(error['input'])})")
            continue
        message = error["msg"]
        if kind == "value_error":
            message = message.removeprefix("Value error, ")
        elif kind == "assertion_error":
            message = message.removeprefix("Assertion failed, ")
        elif message:
            message = message[0].lower() + message[1:]
        if path:
            messages.append(f"{path}: {message} (got {_short_repr(error['input'])})")
        else:
            messages.append(message)
    return messages
