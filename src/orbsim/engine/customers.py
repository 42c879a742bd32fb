"""Customers: create, fetch (by id or alias), list, update, delete — with Orb's rules.

Aliases (``external_customer_id``) are unique among live customers; the timezone is immutable;
a customer with an issued invoice cannot be deleted; deleted customers are 404.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from orbsim.engine.edges import (
    Inert,
    created_at_filter,
    is_empty,
    is_null,
    null_or,
    parse_params,
    refuse_unsimulated,
)
from orbsim.engine.edges import merge_metadata as _merge_metadata
from orbsim.engine.pagination import paginate
from orbsim.engine.reporting import raises_no_orb_error, reports_errors
from orbsim.errors import (
    ConstraintViolation,
    DuplicateResourceCreation,
    RequestValidationError,
    ResourceNotFound,
)
from orbsim.models import Customer, Page, PaginationMetadata
from orbsim.params import EditCustomerParams, NewCustomerParams
from orbsim.times import zone

if TYPE_CHECKING:
    from orbsim.engine.core import Engine
    from orbsim.models_billing import Costs

# Fields of the create/edit parameters that appear unchanged on the Customer object.
_COPIED = (
    "payment_provider",
    "payment_provider_id",
    "billing_address",
    "shipping_address",
    "tax_id",
    "auto_collection",
    "auto_issuance",
    "email_delivery",
    "additional_emails",
    "reporting_configuration",
    "accounting_sync_configuration",
    "payment_configuration",
)


_UNSIMULATED: dict[str, tuple[Inert, str]] = {
    "auto_collection": (
        null_or(False),
        "orbsim charges no payment method: invoices are never collected automatically",
    ),
    "tax_configuration": (is_null, "taxes are not calculated"),
    "hierarchy": (is_empty, "parent and child customers are not billed together"),
}
"""Customer fields with behaviour in Orb that orbsim does not simulate (Behaviour notes)."""


@dataclass(slots=True)
class CustomerRecord:
    model: Customer
    seq: int
    deleted: bool = False

    @property
    def id(self) -> str:
        return self.model.id

    @property
    def alias(self) -> str | None:
        return self.model.external_customer_id

    def sort_key(self) -> tuple[int, int]:
        return int(self.model.created_at.timestamp() * 1_000_000), self.seq


def _check_timezone(name: str) -> str:
    if zone(name) is None:
        raise RequestValidationError(
            f"timezone: {name!r} is not an IANA timezone name (e.g. 'America/New_York')"
        )
    return name


@reports_errors
class Customers:
    """``sim.customers``: the customer resource."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @property
    def costs(self) -> CustomerCosts:
        """``sim.customers.costs.list(customer_id, ...)`` / ``.list_by_external_id(alias, ...)``."""
        return CustomerCosts(self._engine)

    # -- lookups used by the rest of the engine (no locking, no settling) --------------------

    @raises_no_orb_error
    def get_live(self, customer_id: str) -> CustomerRecord | None:
        record = self._engine.state.customers.get(customer_id)
        return None if record is None or record.deleted else record

    @raises_no_orb_error
    def holder_of(self, alias: str) -> CustomerRecord | None:
        return self._engine.state.customers_by_alias.get(alias)

    def require(self, customer_id: str) -> CustomerRecord:
        record = self.get_live(customer_id)
        if record is None:
            raise ResourceNotFound.of("Customer", customer_id)
        return record

    def require_alias(self, alias: str) -> CustomerRecord:
        record = self._engine.state.customers_by_alias.get(alias)
        if record is None:
            raise ResourceNotFound.of("Customer", f"external_customer_id={alias}")
        return record

    def live_records(self) -> list[CustomerRecord]:
        return [r for r in self._engine.state.customers.values() if not r.deleted]

    # -- public API ------------------------------------------------------------------------

    def create(
        self,
        *,
        name: str | None = None,
        email: str | None = None,
        external_customer_id: str | None = None,
        timezone: str | None = None,
        metadata: dict[str, str | None] | None = None,
        **fields: Any,
    ) -> Customer:
        """Create a customer: ``name`` and ``email`` required, other fields per NewCustomer."""
        given = dict(fields)
        for key, value in (
            ("name", name),
            ("email", email),
            ("external_customer_id", external_customer_id),
            ("timezone", timezone),
            ("metadata", metadata),
        ):
            if value is not None:
                given[key] = value
        params = parse_params(NewCustomerParams, given, "customer")
        refuse_unsimulated("customer", given, _UNSIMULATED)
        with self._engine.transaction() as now:
            state = self._engine.state
            tz = _check_timezone(params.timezone or state.settings.default_timezone)
            alias = params.external_customer_id
            if alias is not None and alias in state.customers_by_alias:
                raise DuplicateResourceCreation(
                    f"external_customer_id {alias!r} already belongs to customer "
                    f"{state.customers_by_alias[alias].id}; aliases are unique among customers"
                )
            data: dict[str, Any] = {
                "id": self._engine.state.new_id(),
                "created_at": now,
                "name": params.name,
                "email": params.email,
                "timezone": tz,
                "external_customer_id": alias,
                "metadata": _merge_metadata({}, params.metadata or {}),
                "currency": params.currency,
                "auto_collection": params.payment_provider is not None,
            }
            for key in _COPIED:
                if key in params.model_fields_set and getattr(params, key) is not None:
                    data[key] = _plain(getattr(params, key))
            record = CustomerRecord(Customer.model_validate(data), seq=state.take_seq())
            state.customers[record.id] = record
            if alias is not None:
                state.customers_by_alias[alias] = record
            self._engine.emit_webhook("customer.created", now, record.model.model_copy)
            return record.model.model_copy(deep=True)

    def fetch(self, customer_id: str) -> Customer:
        with self._engine.transaction():
            return self.require(customer_id).model.model_copy(deep=True)

    def fetch_by_external_id(self, external_customer_id: str) -> Customer:
        with self._engine.transaction():
            return self.require_alias(external_customer_id).model.model_copy(deep=True)

    def list(
        self,
        *,
        limit: int = 20,
        cursor: str | None = None,
        created_at_gte: datetime | str | None = None,
        created_at_gt: datetime | str | None = None,
        created_at_lt: datetime | str | None = None,
        created_at_lte: datetime | str | None = None,
    ) -> Page[Customer]:
        """Live customers, newest first, filtered by creation time."""
        created = created_at_filter(
            gte=created_at_gte, gt=created_at_gt, lt=created_at_lt, lte=created_at_lte
        )
        with self._engine.transaction():

            def keep(record: CustomerRecord) -> bool:
                return created(record.model.created_at)

            items = [r for r in self.live_records() if keep(r)]
            page, next_cursor = paginate(items, CustomerRecord.sort_key, limit, cursor)
            return Page[Customer](
                data=[r.model.model_copy(deep=True) for r in page],
                pagination_metadata=PaginationMetadata(
                    has_more=next_cursor is not None, next_cursor=next_cursor
                ),
            )

    def update(self, customer_id: str, /, **fields: Any) -> Customer:
        """Change mutable fields (Orb's EditCustomer); ``timezone`` is immutable."""
        params = parse_params(EditCustomerParams, fields, "customer update")
        refuse_unsimulated("customer update", fields, _UNSIMULATED)
        with self._engine.transaction() as now:
            return self._apply_update(self.require(customer_id), params, now)

    def update_by_external_id(self, external_customer_id: str, /, **fields: Any) -> Customer:
        params = parse_params(EditCustomerParams, fields, "customer update")
        refuse_unsimulated("customer update", fields, _UNSIMULATED)
        with self._engine.transaction() as now:
            return self._apply_update(self.require_alias(external_customer_id), params, now)

    def delete(self, customer_id: str) -> None:
        """Delete a customer and its subscriptions, unless one of its invoices was issued."""
        with self._engine.transaction():
            record = self.require(customer_id)
            invoice = self._engine.invoices.issued_for_customer(record.id)
            if invoice is not None and invoice.issued_at is not None:
                raise ConstraintViolation(
                    f"customer {record.id} cannot be deleted: it has an issued invoice, "
                    f"{invoice.id} (invoiced at {invoice.issued_at.isoformat()}; status "
                    f"{invoice.status})"
                )
            record.deleted = True
            by_alias = self._engine.state.customers_by_alias
            if record.alias is not None and by_alias.get(record.alias) is record:
                del by_alias[record.alias]

    # -- helpers ----------------------------------------------------------------------------

    def set_currency(self, record: CustomerRecord, currency: str) -> None:
        """Set the currency at the first subscription, as Orb does for customers without one."""
        record.model = record.model.model_copy(update={"currency": currency})

    def _apply_update(
        self, record: CustomerRecord, params: EditCustomerParams, now: datetime
    ) -> Customer:
        changes: dict[str, Any] = {}
        current = record.model
        given = params.model_fields_set
        if "external_customer_id" in given:
            alias = params.external_customer_id
            if alias != current.external_customer_id:
                if current.external_customer_id is not None:
                    raise ConstraintViolation(
                        f"customer {current.id} already has external_customer_id "
                        f"{current.external_customer_id!r}; an alias cannot be changed or removed"
                    )
                by_alias = self._engine.state.customers_by_alias
                if alias in by_alias:
                    raise DuplicateResourceCreation(
                        f"external_customer_id {alias!r} already belongs to customer "
                        f"{by_alias[alias].id}"
                    )
                invoiced = self._engine.subscriptions.first_invoice_time(current.id, now)
                if invoiced is not None:
                    raise ConstraintViolation(
                        f"external_customer_id cannot be added to customer {current.id}: it was "
                        f"already invoiced for usage (at {invoiced.isoformat()})"
                    )
                changes["external_customer_id"] = alias
        if "currency" in given and params.currency != current.currency:
            if current.currency is not None:
                raise ConstraintViolation(
                    f"currency of customer {current.id} is already {current.currency!r} "
                    f"and cannot be changed to {params.currency!r}"
                )
            changes["currency"] = params.currency
        if "default_payment_method_id" in given and params.default_payment_method_id is not None:
            raise ResourceNotFound.of("PaymentMethod", params.default_payment_method_id)
        for key in ("name", "email"):
            if key in given:
                value = getattr(params, key)
                if value is None:
                    raise RequestValidationError(f"{key}: cannot be null")
                changes[key] = value
        if "metadata" in given:
            changes["metadata"] = _merge_metadata(current.metadata, params.metadata)
        for key in _COPIED:
            if key in given:
                changes[key] = _plain(getattr(params, key))
        if not changes:
            return current.model_copy(deep=True)
        data = current.model_dump()
        data.update(changes)
        updated = Customer.model_validate(data)
        record.model = updated
        if "external_customer_id" in changes:
            self._engine.state.customers_by_alias[changes["external_customer_id"]] = record
        if updated != current:
            previous = {
                key: getattr(current, key)
                for key in _EDITED_ATTRIBUTES
                if getattr(current, key) != getattr(updated, key)
            }
            self._engine.emit_webhook(
                "customer.edited",
                now,
                updated.model_copy,
                properties={"previous_attributes": previous},
            )
        return updated.model_copy(deep=True)


_EDITED_ATTRIBUTES = (
    "auto_collection",
    "billing_address",
    "email",
    "email_delivery",
    "external_customer_id",
    "metadata",
    "name",
    "payment_provider",
    "payment_provider_id",
    "shipping_address",
    "tax_id",
)
"""The customer fields ``customer.edited`` reports the previous values of (the SDK's
``PropertiesPreviousAttributes``; ``default_payment_method_id`` is never changed by orbsim)."""


def _plain(value: Any) -> Any:
    """Pydantic sub-models of the params become plain data for the response model."""
    if hasattr(value, "model_dump"):
        return value.model_dump()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


class CustomerCosts:
    """A customer's costs across its subscriptions (``orbsim.engine.usage``)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def list(self, customer_id: str, **query: Any) -> Costs:
        return self._engine.usage.customer_costs(customer_id, **query)

    def list_by_external_id(self, external_customer_id: str, **query: Any) -> Costs:
        return self._engine.usage.customer_costs(external_customer_id=external_customer_id, **query)
