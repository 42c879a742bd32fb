"""Public response models: what the engine returns and what the HTTP layer serialises.

Field names and JSON shapes are those of the official ``orb-billing`` SDK (and the SPEC schemas),
so ``model.model_dump(mode="json")`` parses with ``Orb(_strict_response_validation=True)`` and
carries every key the SPEC marks required (nullable ones as ``null``). Every model forbids unknown
fields, so a typo in the engine fails loudly instead of leaking a key the SDK does not know.

Fields the engine does not naturally know (balances, payment-provider data, price intervals,
...) have neutral defaults, so the engine builds a model from the handful of values it owns. For
top-level resources ``None`` passed for a non-nullable field means "use the default" (the engine
can forward request parameters, where absent and ``null`` look alike), and ``None`` values inside
``metadata`` are dropped (a null value removes a key, as in Orb).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "TAX_ID_COUNTRIES",
    "TAX_ID_TYPES",
    "AccountingProvider",
    "AccountingSyncConfiguration",
    "Address",
    "AmendResult",
    "Backfill",
    "BackfillStatus",
    "BasePlan",
    "BillableEvent",
    "BillingCadence",
    "BillingCycleAnchorConfiguration",
    "CouponRedemption",
    "Customer",
    "CustomerHierarchy",
    "CustomerMinified",
    "CustomerTaxId",
    "DefaultPaymentMethod",
    "DeprecateResult",
    "Event",
    "EventSearchResponse",
    "EventVersion",
    "EventVersionKind",
    "EventVolume",
    "EventVolumes",
    "FixedFeeQuantityScheduleEntry",
    "IngestResponse",
    "IngestValidationFailure",
    "MutatedSubscription",
    "Page",
    "PaginationMetadata",
    "PaymentConfiguration",
    "PaymentConfigurationProvider",
    "PaymentProvider",
    "Plan",
    "PlanStatus",
    "Product",
    "ReportingConfiguration",
    "Subscription",
    "SubscriptionChangeMinified",
    "SubscriptionStatus",
    "SubscriptionTrialInfo",
    "TrialConfig",
    "WebhookEndpoint",
    "WebhookEndpointWithSecret",
]

BillingCadence = Literal["monthly", "quarterly", "semi_annual", "annual"]
PaymentProvider = Literal[
    "quickbooks", "bill.com", "stripe_charge", "stripe_invoice", "netsuite", "adyen"
]
SubscriptionStatus = Literal["active", "ended", "upcoming"]
PlanStatus = Literal["active", "archived", "draft"]
BackfillStatus = Literal["pending", "reflected", "pending_revert", "reverted"]
EventVersionKind = Literal["ingested", "amended", "deprecated"]

T = TypeVar("T")

# SPEC `CustomerTaxId` enums (identical to the SDK's Literals). Checked rather than typed as
# Literals so that an error names the bad value instead of listing 116 alternatives.
_TAX_ID_COUNTRY_CODES = (
    "AD AE AL AM AO AR AT AU AW AZ BA BB BD BE BF BG BH BJ BO BR BS BY CA CD CH CL CM CN CO "
    "CR CV CY CZ DE DK DO EC EE EG ES ET EU FI FO FR GB GE GI GN GR HK HR HU ID IE IL IN IS "
    "IT JP KE KG KH KR KZ LA LI LK LT LU LV MA MD ME MK MR MT MX MY NG NL NO NP NZ OM PE PH "
    "PL PT PY RO RS RU SA SE SG SI SK SN SR SV TH TJ TR TW TZ UA UG US UY UZ VE VN ZA ZM ZW"
)
_TAX_ID_TYPE_CODES = (
    "ad_nrt ae_trn al_tin am_tin ao_tin ar_cuit eu_vat au_abn au_arn aw_tin az_tin ba_tin "
    "bb_tin bd_bin bf_ifu bg_uic bh_vat bj_ifu bo_tin br_cnpj br_cpf bs_tin by_tin ca_bn "
    "ca_gst_hst ca_pst_bc ca_pst_mb ca_pst_sk ca_qst cd_nif ch_uid ch_vat cl_tin cm_niu "
    "cn_tin co_nit cr_tin cv_nif de_stn do_rcn ec_ruc eg_tin es_cif et_tin eu_oss_vat fo_vat "
    "gb_vat ge_vat gi_tin gn_nif hk_br hr_oib hu_tin id_npwp il_vat in_gst is_vat it_cf jp_cn "
    "jp_rn jp_trn ke_pin kg_tin kh_tin kr_brn kz_bin la_tin li_uid li_vat lk_vat ma_vat "
    "md_vat me_pib mk_vat mr_nif mx_rfc my_frp my_itn my_sst ng_tin no_vat no_voec np_pan "
    "nz_gst om_vat pe_ruc ph_tin pl_nip py_ruc ro_tin rs_pib ru_inn ru_kpp sa_vat sg_gst "
    "sg_uen si_tin sn_ninea sr_fin sv_nit th_vat tj_tin tr_tin tw_vat tz_vat ua_vat ug_tin "
    "us_ein uy_ruc uz_tin uz_vat ve_rif vn_tin za_vat zm_tin zw_tin"
)
TAX_ID_COUNTRIES: frozenset[str] = frozenset(_TAX_ID_COUNTRY_CODES.split())
TAX_ID_TYPES: frozenset[str] = frozenset(_TAX_ID_TYPE_CODES.split())


class _Model(BaseModel):
    """Base of every orbsim model: unknown fields are an error, never silently kept."""

    model_config = ConfigDict(extra="forbid")


class _Resource(_Model):
    """A top-level resource built by the engine from request parameters.

    ``None`` for a field listed in ``_none_means_default`` is dropped (so the default applies);
    ``None`` values inside ``metadata`` are dropped; pydantic models of other classes (request
    parameter models) are turned into dicts so they validate as the response shape.
    """

    _none_means_default: ClassVar[frozenset[str]] = frozenset({"metadata"})

    @model_validator(mode="before")
    @classmethod
    def _normalise_inputs(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        drop = cls._none_means_default
        out: dict[str, Any] = {}
        for key, value in data.items():
            if value is None and key in drop:
                continue
            if isinstance(value, BaseModel) and not isinstance(value, _Model):
                value = value.model_dump()
            out[key] = value
        metadata = out.get("metadata")
        if isinstance(metadata, dict) and any(v is None for v in metadata.values()):
            out["metadata"] = {k: v for k, v in metadata.items() if v is not None}
        return out


# --------------------------------------------------------------------------------------------------
# Pagination


class PaginationMetadata(_Model):
    """Orb's list envelope cursor: ``next_cursor`` is ``null`` on the last page."""

    has_more: bool
    next_cursor: str | None


class Page(_Model, Generic[T]):
    """One page of a list endpoint (``Page[Customer]``), Orb's ``{data, pagination_metadata}``."""

    data: list[T]
    pagination_metadata: PaginationMetadata


# --------------------------------------------------------------------------------------------------
# Customers


class Address(_Model):
    """A postal address; all six keys are always serialised (SPEC requires them, nullable)."""

    line1: str | None = None
    line2: str | None = None
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None
    country: str | None = None


class CustomerTaxId(_Model):
    """A tax id; country and type must be one of the SPEC's values or the SDK refuses the body."""

    country: str
    type: str
    value: str

    @field_validator("country")
    @classmethod
    def _known_country(cls, v: str) -> str:
        if v not in TAX_ID_COUNTRIES:
            raise ValueError("not a supported tax id country (two-letter code such as 'US')")
        return v

    @field_validator("type")
    @classmethod
    def _known_type(cls, v: str) -> str:
        if v not in TAX_ID_TYPES:
            raise ValueError("not a supported tax id type (such as 'us_ein' or 'eu_vat')")
        return v


class CustomerMinified(_Model):
    """A customer reference inside a hierarchy."""

    id: str
    external_customer_id: str | None = None


class CustomerHierarchy(_Model):
    """The customer's parent and children; both keys are required by the SPEC."""

    parent: CustomerMinified | None = None
    children: list[CustomerMinified] = Field(default_factory=list)


class AccountingProvider(_Model):
    """One accounting-sync provider of a customer."""

    provider_type: Literal["quickbooks", "netsuite"]
    external_provider_id: str | None = None


class AccountingSyncConfiguration(_Model):
    """Accounting sync settings; a request's ``None`` (both keys are nullable there) -> default."""

    accounting_providers: list[AccountingProvider] = Field(default_factory=list)
    excluded: bool = False

    @field_validator("accounting_providers", mode="before")
    @classmethod
    def _no_providers(cls, v: Any) -> Any:
        return [] if v is None else v

    @field_validator("excluded", mode="before")
    @classmethod
    def _not_excluded(cls, v: Any) -> Any:
        return False if v is None else v


class ReportingConfiguration(_Model):
    """Whether the customer is exempt from reporting."""

    exempt: bool


class PaymentConfigurationProvider(_Model):
    """Stripe-specific payment settings of a customer."""

    provider_type: Literal["stripe"]
    excluded_payment_method_types: list[str] = Field(default_factory=list)
    default_shared_payment_token: str | None = None


class PaymentConfiguration(_Model):
    """Provider-specific payment configuration of a customer."""

    payment_providers: list[PaymentConfigurationProvider] = Field(default_factory=list)


class DefaultPaymentMethod(_Model):
    """A stored payment instrument; orbsim never creates one, the shape is here for completeness."""

    id: str
    created_at: datetime
    customer_id: str
    default: bool
    external_payment_method_id: str
    payment_method_type: Literal["card", "us_bank_account", "link", "amazon_pay", "crypto"]
    provider_type: str | None = None


class Customer(_Resource):
    """Orb's Customer: all 26 fields (21 SPEC-required, 5 optional keys always sent as null).

    Engine passes: id, created_at, name, email, timezone, external_customer_id, metadata, currency,
    and any optional create/update input that has a response field (addresses, tax_id, payment
    provider, auto_collection, auto_issuance, email_delivery, additional_emails, the configuration
    objects). ``hierarchy`` takes the response shape (``parent``/``children``), not the request's
    ``parent_customer_id``/``child_customer_ids``; ``tax_configuration`` has no response field.
    """

    _none_means_default: ClassVar[frozenset[str]] = frozenset(
        {
            "metadata",
            "balance",
            "auto_collection",
            "email_delivery",
            "additional_emails",
            "hierarchy",
        }
    )

    id: str
    created_at: datetime
    name: str
    email: str
    timezone: str
    external_customer_id: str | None
    metadata: dict[str, str] = Field(default_factory=dict)
    balance: str = "0.00"
    currency: str | None = None
    auto_collection: bool = False
    auto_issuance: bool | None = None
    email_delivery: bool = True
    exempt_from_automated_tax: bool | None = None
    additional_emails: list[str] = Field(default_factory=list)
    payment_provider: PaymentProvider | None = None
    payment_provider_id: str | None = None
    billing_address: Address | None = None
    shipping_address: Address | None = None
    tax_id: CustomerTaxId | None = None
    portal_url: str | None = None
    hierarchy: CustomerHierarchy = Field(default_factory=CustomerHierarchy)
    accounting_sync_configuration: AccountingSyncConfiguration | None = None
    reporting_configuration: ReportingConfiguration | None = None
    payment_configuration: PaymentConfiguration | None = None
    default_payment_method: DefaultPaymentMethod | None = None
    automatic_tax_enabled: bool | None = None


# --------------------------------------------------------------------------------------------------
# Plans


class Product(_Model):
    """The product a plan belongs to (orbsim derives one per plan)."""

    id: str
    created_at: datetime
    name: str


class TrialConfig(_Model):
    """A plan's trial; orbsim plans have none (``trial_period`` null)."""

    trial_period: int | None = None
    trial_period_unit: Literal["days"] = "days"


class BasePlan(_Model):
    """Legacy parent-plan reference (always ``null`` in orbsim)."""

    id: str | None = None
    external_plan_id: str | None = None
    name: str | None = None


class Plan(_Resource):
    """Orb's Plan: the 24 SPEC-required keys plus orbsim's ``billing_cadence`` extension.

    Engine passes: id, created_at, name, currency, external_plan_id, billing_cadence, and optionally
    description, metadata, net_terms, default_invoice_memo. ``invoicing_currency`` defaults to
    ``currency`` and ``product`` to ``{id: "prod_" + id, name, created_at}`` (filled by a
    validator, so the engine need not pass them). The SDK keeps unknown keys, so the extension is
    safe.
    """

    _none_means_default: ClassVar[frozenset[str]] = frozenset(
        {"metadata", "description", "status", "version", "prices", "adjustments", "trial_config"}
    )

    id: str
    created_at: datetime
    name: str
    currency: str
    external_plan_id: str | None
    billing_cadence: BillingCadence
    description: str = ""
    metadata: dict[str, str] = Field(default_factory=dict)
    net_terms: int | None = None
    default_invoice_memo: str | None = None
    status: PlanStatus = "active"
    version: int = 1
    # Defaults only make these optional in __init__; _derive_fields always fills them.
    invoicing_currency: str = Field(default=None)  # type: ignore[assignment]
    product: Product = Field(default=None)  # type: ignore[assignment]
    prices: list[dict[str, Any]] = Field(default_factory=list)
    adjustments: list[dict[str, Any]] = Field(default_factory=list)
    plan_phases: list[dict[str, Any]] | None = None
    trial_config: TrialConfig = Field(default_factory=TrialConfig)
    maximum_amount: str | None = None
    minimum_amount: str | None = None
    maximum: dict[str, Any] | None = None
    minimum: dict[str, Any] | None = None
    discount: dict[str, Any] | None = None
    base_plan: BasePlan | None = None
    base_plan_id: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _derive_fields(cls, data: Any) -> Any:
        """Fill ``invoicing_currency`` and ``product`` from the plan's own fields when absent."""
        if not isinstance(data, dict):
            return data
        if data.get("invoicing_currency") is None and "currency" in data:
            data = {**data, "invoicing_currency": data["currency"]}
        if data.get("product") is None and {"id", "name", "created_at"} <= data.keys():
            product = {"id": f"prod_{data['id']}", "name": data["name"]}
            data = {**data, "product": {**product, "created_at": data["created_at"]}}
        return data


# --------------------------------------------------------------------------------------------------
# Subscriptions


class BillingCycleAnchorConfiguration(_Model):
    """The day (and for longer cadences month/year) that billing periods are anchored on."""

    day: Annotated[int, Field(ge=1, le=31)]
    month: Annotated[int, Field(ge=1, le=12)] | None = None
    year: int | None = None


class SubscriptionTrialInfo(_Model):
    """Trial end of a subscription (orbsim subscriptions have no trial)."""

    end_date: datetime | None = None


class FixedFeeQuantityScheduleEntry(_Model):
    """One entry of a subscription's fixed-fee quantity schedule."""

    price_id: str
    start_date: datetime
    end_date: datetime | None = None
    quantity: float


class CouponRedemption(_Model):
    """A coupon redeemed on a subscription."""

    coupon_id: str
    start_date: datetime
    end_date: datetime | None = None


class SubscriptionChangeMinified(_Model):
    """A pending subscription change reference."""

    id: str


class Subscription(_Resource):
    """Orb's Subscription: all 28 SPEC-required keys.

    Engine passes: id, customer, plan, name, status, start_date, end_date, created_at,
    current_billing_period_start_date, current_billing_period_end_date, billing_cycle_day,
    billing_cycle_anchor_configuration, metadata. Everything orbsim does not simulate (price and
    adjustment intervals, coupons, trials) has a neutral default.
    """

    _none_means_default: ClassVar[frozenset[str]] = frozenset(
        {
            "metadata",
            "net_terms",
            "trial_info",
            "fixed_fee_quantity_schedule",
            "price_intervals",
            "adjustment_intervals",
            "discount_intervals",
            "minimum_intervals",
            "maximum_intervals",
        }
    )

    id: str
    customer: Customer
    plan: Plan | None
    name: str
    status: SubscriptionStatus
    start_date: datetime
    end_date: datetime | None
    created_at: datetime
    current_billing_period_start_date: datetime | None
    current_billing_period_end_date: datetime | None
    billing_cycle_day: Annotated[int, Field(ge=1, le=31)]
    billing_cycle_anchor_configuration: BillingCycleAnchorConfiguration
    metadata: dict[str, str] = Field(default_factory=dict)
    net_terms: int = 0
    auto_collection: bool | None = None
    auto_issuance: bool | None = None
    default_invoice_memo: str | None = None
    invoicing_threshold: str | None = None
    active_plan_phase_order: int | None = None
    trial_info: SubscriptionTrialInfo = Field(default_factory=SubscriptionTrialInfo)
    redeemed_coupon: CouponRedemption | None = None
    pending_subscription_change: SubscriptionChangeMinified | None = None
    fixed_fee_quantity_schedule: list[FixedFeeQuantityScheduleEntry] = Field(default_factory=list)
    price_intervals: list[dict[str, Any]] = Field(default_factory=list)
    adjustment_intervals: list[dict[str, Any]] = Field(default_factory=list)
    discount_intervals: list[dict[str, Any]] = Field(default_factory=list)
    minimum_intervals: list[dict[str, Any]] = Field(default_factory=list)
    maximum_intervals: list[dict[str, Any]] = Field(default_factory=list)


class MutatedSubscription(Subscription):
    """The create response: a Subscription plus ``changed_resources``.

    The SDK types ``changed_resources`` as a structured object (created/voided invoices and credit
    notes); orbsim issues no invoices, so it is always ``null``.
    """

    changed_resources: dict[str, Any] | None = None


# --------------------------------------------------------------------------------------------------
# Events


class IngestValidationFailure(_Model):
    """The validation errors of one event of an ingest batch."""

    idempotency_key: str
    validation_errors: list[str]


class IngestResponse(_Model):
    """``POST /ingest`` response; ``validation_failed`` is always present (empty on success)."""

    validation_failed: list[IngestValidationFailure] = Field(default_factory=list)


class AmendResult(_Model):
    """``PUT /events/{id}`` response: the id of the amended event."""

    amended: str


class DeprecateResult(_Model):
    """``PUT /events/{id}/deprecate`` response: the id of the deprecated event."""

    deprecated: str


class Event(_Model):
    """One event search result (the newest version; ``deprecated`` if it no longer counts)."""

    id: str
    customer_id: str | None
    external_customer_id: str | None
    event_name: str
    properties: dict[str, Any]
    timestamp: datetime
    deprecated: bool


class EventSearchResponse(_Model):
    """``POST /events/search`` response: only ``data`` (Orb sends no pagination here)."""

    data: list[Event]


class EventVolume(_Model):
    """The number of billable events with a timestamp in one UTC hour."""

    timeframe_start: datetime
    timeframe_end: datetime
    count: int


class EventVolumes(_Model):
    """``GET /events/volume`` response.

    ``pagination_metadata`` is an orbsim addition (SPEC and SDK declare only ``data``, although the
    endpoint takes ``cursor``/``limit``); the SDK keeps unknown keys, so it parses.
    """

    data: list[EventVolume]
    pagination_metadata: PaginationMetadata


class _FrozenModel(BaseModel):
    """Immutable records shared between the engine's indexes without defensive copies."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class BillableEvent(_FrozenModel):
    """The version of an event that counts for billing now (orbsim extension, not an SDK type)."""

    id: str
    customer_id: str | None
    external_customer_id: str | None
    event_name: str
    properties: dict[str, Any]
    timestamp: datetime
    backfill_id: str | None = None


class EventVersion(_FrozenModel):
    """One entry of an event's audit trail; version 1 is the event as ingested."""

    id: str
    version: int
    kind: EventVersionKind
    event_name: str
    properties: dict[str, Any]
    timestamp: datetime
    customer_id: str | None
    external_customer_id: str | None
    recorded_at: datetime
    backfill_id: str | None = None


# --------------------------------------------------------------------------------------------------
# Backfills


class Backfill(_Model):
    """A backfill; ``deprecation_filter`` is the only key the SPEC does not require."""

    id: str
    status: BackfillStatus
    created_at: datetime
    timeframe_start: datetime
    timeframe_end: datetime
    events_ingested: int
    close_time: datetime | None
    reverted_at: datetime | None
    customer_id: str | None
    replace_existing_events: bool
    deprecation_filter: str | None = None


# --------------------------------------------------------------------------------------------------
# Webhook endpoints


class WebhookEndpoint(_Model):
    """A webhook endpoint (``orb.types.WebhookEndpoint``): where Orb sends which events."""

    id: str
    created_at: datetime
    enabled: bool
    enabled_event_types: list[str] | None
    """None: every event type."""
    payload_style: Literal["expanded", "standard"]
    url: str


class WebhookEndpointWithSecret(WebhookEndpoint):
    """The create response: the endpoint and the secret its deliveries are signed with."""

    secret: str
