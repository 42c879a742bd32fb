"""Items, billable metrics and prices: what a plan charges for, and how.

``sim.items``, ``sim.metrics`` and ``sim.prices`` mirror the SDK's resources. A metric's SQL is
compiled once at creation by :mod:`orbsim.engine.expressions` (a parse error or an unsupported
construct is a 400 naming it); a price's configuration is checked by :mod:`orbsim.engine.prices`.
Every check runs before anything is stored, so a rejected request changes nothing.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Final

from pydantic import TypeAdapter

from orbsim.engine.edges import Inert, created_at_filter, is_null, null_or_one, unsimulated_problems
from orbsim.engine.expressions import CompiledMetric, ExpressionSyntaxError, compile_metric
from orbsim.engine.pagination import paginate
from orbsim.engine.prices import (
    PriceConfigError,
    PriceModel,
    validate_bulk,
    validate_matrix,
    validate_package,
    validate_tiers,
    validate_unit,
)
from orbsim.engine.reporting import reports_errors
from orbsim.errors import (
    DuplicateResourceCreation,
    RequestValidationError,
    ResourceNotFound,
)
from orbsim.models import Page, PaginationMetadata
from orbsim.models_billing import BillableMetric, Item, Price

if TYPE_CHECKING:
    from orbsim.engine.core import Engine

_PRICE: Final[TypeAdapter[Price]] = TypeAdapter(Price)
_MISSING: Any = object()
"""Default of the update methods' keyword parameters: not given (an explicit None clears)."""

__all__ = [
    "ItemRecord",
    "Items",
    "MetricRecord",
    "Metrics",
    "PriceRecord",
    "Prices",
    "compiled_metric",
    "price_model",
]

SIMULATED_MODELS: Final = {
    "unit": validate_unit,
    "package": validate_package,
    "tiered": validate_tiers,
    "bulk": validate_bulk,
    "matrix": validate_matrix,
}
CADENCE_MONTHS: Final = {
    "one_time": 1,
    "monthly": 1,
    "quarterly": 3,
    "semi_annual": 6,
    "annual": 12,
}
_ONE_CURRENCY = "prices are billed in their own currency"
_UNSIMULATED_PRICE_FIELDS: Final[dict[str, tuple[Inert, str]]] = {
    "conversion_rate": (null_or_one, f"currency conversion is not simulated: {_ONE_CURRENCY}"),
    "conversion_rate_config": (is_null, f"currency conversion is not simulated: {_ONE_CURRENCY}"),
    "dimensional_price_configuration": (is_null, "dimensional price groups are not simulated"),
    "invoicing_cycle_configuration": (
        is_null,
        "invoicing cycles are not simulated: one invoice per billing cycle",
    ),
    "license_type_id": (is_null, "licenses are not simulated"),
    "invoice_grouping_key": (
        is_null,
        "grouping a price's invoice line items by a property is not simulated: line items"
        " have grouping null",
    ),
}
"""Price fields orbsim does not simulate, each refused unless null (or the value it behaves as)."""
_PLAN_PRICE_FIELDS: Final[dict[str, tuple[Inert, str]]] = {
    "allocation_price": (is_null, "credit allocations are not simulated"),
    "license_allocation_price": (is_null, "licenses are not simulated"),
    "plan_phase_order": (is_null, "plan phases are not simulated"),
}
"""The fields of a plan's price entry besides ``price``, refused unless null."""
_PLAN_PRICE_KEYS: Final = frozenset({"price", *_PLAN_PRICE_FIELDS})
_PRICE_KEYS: Final = frozenset(
    {
        "cadence",
        "currency",
        "item_id",
        "model_type",
        "name",
        "billable_metric_id",
        "billed_in_advance",
        "billing_cycle_configuration",
        "external_price_id",
        "fixed_price_quantity",
        "metadata",
        "reference_id",
        *_UNSIMULATED_PRICE_FIELDS,
        *(f"{name}_config" for name in SIMULATED_MODELS),
    }
)


@dataclass(slots=True)
class ItemRecord:
    model: Item
    seq: int

    def sort_key(self) -> tuple[int, int]:
        return int(self.model.created_at.timestamp() * 1_000_000), self.seq


@dataclass(slots=True)
class MetricRecord:
    """A billable metric; its SQL is compiled once per text (``compiled_metric``)."""

    id: str
    name: str
    description: str | None
    item_id: str
    sql: str
    metadata: dict[str, str]
    created_at: datetime
    seq: int

    @property
    def compiled(self) -> CompiledMetric:
        return compiled_metric(self.sql)

    def sort_key(self) -> tuple[int, int]:
        return int(self.created_at.timestamp() * 1_000_000), self.seq


@dataclass(slots=True)
class PriceRecord:
    """A stored price: its response body (``data``, JSON-ready); the arithmetic is derived."""

    data: dict[str, Any]
    created_at: datetime
    seq: int

    @property
    def id(self) -> str:
        return str(self.data["id"])

    @property
    def metric_id(self) -> str | None:
        metric = self.data["billable_metric"]
        return None if metric is None else str(metric["id"])

    @property
    def model(self) -> PriceModel:
        model_type = str(self.data["model_type"])
        config = json.dumps(self.data[f"{model_type}_config"], sort_keys=True)
        return price_model(model_type, config)

    def sort_key(self) -> tuple[int, int]:
        return int(self.created_at.timestamp() * 1_000_000), self.seq


@lru_cache(maxsize=1024)
def compiled_metric(sql: str) -> CompiledMetric:
    """The compiled form of a metric's SQL (valid: it was checked at creation)."""
    return compile_metric(sql)


@lru_cache(maxsize=1024)
def price_model(model_type: str, config_json: str) -> PriceModel:
    """The parsed arithmetic of a stored price configuration (valid: checked at creation)."""
    return SIMULATED_MODELS[model_type](json.loads(config_json))


def _metadata(value: object, what: str, current: Mapping[str, str] | None = None) -> dict[str, str]:
    """Orb's metadata rules: null clears all; a null value removes a key; values are strings."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise RequestValidationError(f"{what}.metadata: expected an object, got {value!r}")
    merged = dict(current or {})
    for key, item in value.items():
        if not isinstance(key, str):
            raise RequestValidationError(f"{what}.metadata: keys must be strings, got {key!r}")
        if item is None:
            merged.pop(key, None)
        elif isinstance(item, str):
            merged[key] = item
        else:
            raise RequestValidationError(
                f"{what}.metadata.{key}: values must be strings, got {item!r}"
            )
    return merged


def _refuse_unknown(unknown: Mapping[str, Any], what: str) -> None:
    if unknown:
        names = sorted(unknown)
        raise RequestValidationError(
            f"{what}: unknown field(s) {', '.join(names)}",
            validation_errors=[f"unknown field {name!r}" for name in names],
        )


def _name(value: object, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise RequestValidationError(f"{what}.name: expected a non-empty string, got {value!r}")
    return value


def _page(records: list[Any], models: list[Any], next_cursor: str | None) -> Page[Any]:
    del records
    return Page[Any](
        data=models,
        pagination_metadata=PaginationMetadata(
            has_more=next_cursor is not None, next_cursor=next_cursor
        ),
    )


@reports_errors
class Items:
    """``sim.items``: the products that metrics and prices bill for."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def require(self, item_id: str) -> ItemRecord:
        record = self._engine.state.items.get(item_id)
        if record is None:
            raise ResourceNotFound.of("Item", item_id)
        return record

    def create(
        self,
        *,
        name: str | None = None,
        metadata: Mapping[str, str | None] | None = None,
        **unknown: Any,
    ) -> Item:
        _refuse_unknown(unknown, "item")
        with self._engine.transaction() as now:
            model = Item(
                id=self._engine.state.new_id(),
                created_at=now,
                name=_name(name, "item"),
                metadata=_metadata(metadata, "item"),
            )
            record = ItemRecord(model, self._engine.state.take_seq())
            self._engine.state.items[model.id] = record
            return model.model_copy(deep=True)

    def fetch(self, item_id: str) -> Item:
        with self._engine.transaction():
            return self.require(item_id).model.model_copy(deep=True)

    def list(self, *, limit: int = 20, cursor: str | None = None) -> Page[Item]:
        with self._engine.transaction():
            page, next_cursor = paginate(
                self._engine.state.items.values(), ItemRecord.sort_key, limit, cursor
            )
            return _page(list(page), [r.model.model_copy(deep=True) for r in page], next_cursor)

    def update(
        self,
        item_id: str,
        *,
        name: str = _MISSING,
        metadata: Mapping[str, str | None] | None = _MISSING,
        external_connections: builtins.list[Mapping[str, Any]] | None = _MISSING,
        **unknown: Any,
    ) -> Item:
        """Change what is given: ``name`` (never null), ``metadata`` (a null value removes a
        key, null clears them all) and ``external_connections`` (null: none)."""
        _refuse_unknown(unknown, "item")
        with self._engine.transaction():
            record = self.require(item_id)
            changes: dict[str, Any] = {}
            if name is not _MISSING:
                changes["name"] = _name(name, "item")
            if metadata is not _MISSING:
                changes["metadata"] = _metadata(metadata, "item", record.model.metadata)
            if external_connections is not _MISSING:
                changes["external_connections"] = external_connections or []
            try:
                updated = Item.model_validate({**record.model.model_dump(), **changes})
            except ValueError as exc:
                raise RequestValidationError(f"invalid item: {exc}") from None
            record.model = updated
            return updated.model_copy(deep=True)

    def archive(self, item_id: str) -> Item:
        """Archive an item: no new metric or price may use it; existing ones keep working."""
        with self._engine.transaction() as now:
            record = self.require(item_id)
            if record.model.archived_at is None:
                record.model = record.model.model_copy(update={"archived_at": now})
            return record.model.model_copy(deep=True)


@reports_errors
class Metrics:
    """``sim.metrics``: billable metrics, each a SQL query over the ``events`` table."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def require(self, metric_id: str) -> MetricRecord:
        record = self._engine.state.metrics.get(metric_id)
        if record is None:
            raise ResourceNotFound.of("Billable metric", metric_id)
        return record

    def model(self, record: MetricRecord) -> BillableMetric:
        item = self._engine.state.items[record.item_id].model
        return BillableMetric(
            id=record.id,
            name=record.name,
            description=record.description,
            item=item.model_copy(deep=True),
            metadata=dict(record.metadata),
            sql=record.sql,
        )

    def create(
        self,
        *,
        name: str | None = None,
        description: str | None = None,
        item_id: str | None = None,
        sql: str | None = None,
        metadata: Mapping[str, str | None] | None = None,
        **unknown: Any,
    ) -> BillableMetric:
        _refuse_unknown(unknown, "metric")
        with self._engine.transaction() as now:
            errors = []
            if not isinstance(name, str) or not name.strip():
                errors.append(f"name: expected a non-empty string, got {name!r}")
            if description is not None and not isinstance(description, str):
                errors.append(f"description: expected a string or null, got {description!r}")
            compiled = None
            if not isinstance(sql, str):
                errors.append(f"sql: expected a string, got {sql!r}")
            else:
                try:
                    compiled = compile_metric(sql)
                except ExpressionSyntaxError as exc:
                    errors.append(f"sql: {exc}")
            item = self._engine.state.items.get(item_id) if isinstance(item_id, str) else None
            if item is None:
                errors.append(f"item_id: no item with id {item_id!r}")
            elif item.model.archived_at is not None:
                errors.append(
                    f"item_id: item {item_id} is archived; a new metric needs a live item"
                )
            try:
                clean_metadata = _metadata(metadata, "metric")
            except RequestValidationError as exc:
                errors.append(exc.detail)
            if errors:
                raise RequestValidationError(
                    "invalid metric: " + "; ".join(errors), validation_errors=errors
                )
            assert compiled is not None and name is not None and item_id is not None
            assert sql is not None
            record = MetricRecord(
                id=self._engine.state.new_id(),
                name=name,
                description=description,
                item_id=item_id,
                sql=sql,
                metadata=clean_metadata,
                created_at=now,
                seq=self._engine.state.take_seq(),
            )
            self._engine.state.metrics[record.id] = record
            return self.model(record)

    def fetch(self, metric_id: str) -> BillableMetric:
        with self._engine.transaction():
            return self.model(self.require(metric_id))

    def list(
        self,
        *,
        limit: int = 20,
        cursor: str | None = None,
        status: str | None = None,
        created_at_gte: datetime | str | None = None,
        created_at_gt: datetime | str | None = None,
        created_at_lt: datetime | str | None = None,
        created_at_lte: datetime | str | None = None,
    ) -> Page[BillableMetric]:
        """Metrics, newest first, filtered by creation time and ``status`` (every metric is
        active: metrics are never archived here)."""
        if status not in (None, "active", "archived", "draft"):
            raise RequestValidationError(
                f"status: expected active, archived or draft, got {status!r}"
            )
        created = created_at_filter(
            gte=created_at_gte, gt=created_at_gt, lt=created_at_lt, lte=created_at_lte
        )
        with self._engine.transaction():
            metrics = [] if status in ("archived", "draft") else self._engine.state.metrics.values()
            records = [r for r in metrics if created(r.created_at)]
            page, next_cursor = paginate(records, MetricRecord.sort_key, limit, cursor)
            return _page(list(page), [self.model(r) for r in page], next_cursor)

    def update(
        self,
        metric_id: str,
        *,
        name: str = _MISSING,
        description: str | None = _MISSING,
        metadata: Mapping[str, str | None] | None = _MISSING,
        **unknown: Any,
    ) -> BillableMetric:
        """Change what is given: ``name`` (never null), ``description`` (null empties it) and
        ``metadata`` (a null value removes a key, null clears them all)."""
        _refuse_unknown(unknown, "metric")
        with self._engine.transaction():
            record = self.require(metric_id)
            new_name = record.name if name is _MISSING else _name(name, "metric")
            if description not in (_MISSING, None) and not isinstance(description, str):
                raise RequestValidationError(
                    f"metric.description: expected a string or null, got {description!r}"
                )
            new_metadata = (
                record.metadata
                if metadata is _MISSING
                else _metadata(metadata, "metric", record.metadata)
            )
            record.name = new_name
            if description is not _MISSING:
                record.description = description
            record.metadata = new_metadata
            return self.model(record)


@reports_errors
class ExternalPriceIds:
    """``sim.prices.external_price_id``: prices by their alias."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def fetch(self, external_price_id: str) -> Price:
        with self._engine.transaction():
            record = self._engine.state.prices_by_external.get(external_price_id)
            if record is None:
                raise ResourceNotFound.of("Price", f"external_price_id={external_price_id}")
            return Prices.model(record)


@reports_errors
class Prices:
    """``sim.prices``: unit, package, tiered, bulk and matrix prices, and fixed fees."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self.external_price_id = ExternalPriceIds(engine)

    def require(self, price_id: str) -> PriceRecord:
        record = self._engine.state.prices.get(price_id)
        if record is None:
            raise ResourceNotFound.of("Price", price_id)
        return record

    @staticmethod
    def model(record: PriceRecord) -> Price:
        return _PRICE.validate_python(record.data)

    def build(
        self,
        fields: Mapping[str, Any],
        now: datetime,
        *,
        what: str = "price",
        currency: str | None = None,
        reserved_external_ids: set[str] | None = None,
    ) -> PriceRecord:
        """Validate a price body and build its record (not stored); raises RequestValidationError.

        ``currency`` is the plan's currency for plan prices (a mismatch is an error, an absent
        price currency inherits it).
        """
        errors: list[str] = []
        unknown = sorted(set(fields) - _PRICE_KEYS)
        for key in unknown:
            if key.endswith("_config") or key == "model_type":
                continue
            errors.append(f"{what}.{key}: unknown field")
        errors.extend(unsimulated_problems(fields, _UNSIMULATED_PRICE_FIELDS, f"{what}."))
        reference = fields.get("reference_id")
        if reference is not None and not isinstance(reference, str):
            errors.append(f"{what}.reference_id: expected a string, got {reference!r}")
        model_type = fields.get("model_type")
        validate = SIMULATED_MODELS.get(model_type) if isinstance(model_type, str) else None
        parsed: PriceModel | None = None
        config_key = f"{model_type}_config"
        if validate is None:
            errors.append(
                f"{what}.model_type: {model_type!r} is not simulated by orbsim"
                f" (simulated: {', '.join(SIMULATED_MODELS)})"
            )
        else:
            for key in fields:
                if (
                    key.endswith("_config")
                    and key not in (config_key, "conversion_rate_config")
                    and fields[key] is not None
                ):
                    errors.append(f"{what}.{key}: does not belong to a {model_type} price")
            if fields.get(config_key) is None:
                errors.append(f"{what}.{config_key} is required for model_type {model_type!r}")
            else:
                try:
                    parsed = validate(fields[config_key], f"{what}.{config_key}")
                except PriceConfigError as exc:
                    errors.append(str(exc))
        name = fields.get("name")
        if not isinstance(name, str) or not name.strip():
            errors.append(f"{what}.name: expected a non-empty string, got {name!r}")
        cadence = fields.get("cadence")
        if not isinstance(cadence, str) or cadence not in CADENCE_MONTHS:
            shown = (
                "custom cadences are not simulated by orbsim"
                if cadence == "custom"
                else (f"expected one of {', '.join(CADENCE_MONTHS)}")
            )
            errors.append(f"{what}.cadence: {cadence!r}: {shown}")
        price_currency = fields.get("currency")
        if price_currency is None and currency is not None:
            price_currency = currency  # a plan price inherits the plan's currency
        if not isinstance(price_currency, str) or not price_currency.strip():
            errors.append(f"{what}.currency: expected a currency code, got {price_currency!r}")
        elif currency is not None and price_currency != currency:
            errors.append(
                f"{what}.currency: {price_currency!r} does not match the plan's currency"
                f" {currency!r}"
            )
        item_id = fields.get("item_id")
        item = self._engine.state.items.get(item_id) if isinstance(item_id, str) else None
        if item is None:
            errors.append(f"{what}.item_id: no item with id {item_id!r}")
        elif item.model.archived_at is not None:
            errors.append(f"{what}.item_id: item {item_id} is archived")
        metric_id = fields.get("billable_metric_id")
        if metric_id is not None and (
            not isinstance(metric_id, str) or metric_id not in self._engine.state.metrics
        ):
            errors.append(f"{what}.billable_metric_id: no billable metric with id {metric_id!r}")
        fixed = metric_id is None
        quantity = fields.get("fixed_price_quantity")
        if quantity is not None:
            if not fixed:
                errors.append(
                    f"{what}.fixed_price_quantity: only a fixed fee (a price without"
                    f" billable_metric_id) has a fixed quantity, got {quantity!r}"
                )
            elif (
                isinstance(quantity, bool) or not isinstance(quantity, int | float) or quantity < 0
            ):
                errors.append(
                    f"{what}.fixed_price_quantity: expected a non-negative number, got {quantity!r}"
                )
        if fixed and model_type == "matrix":
            errors.append(f"{what}.model_type: a matrix price needs a billable_metric_id")
        in_advance = fields.get("billed_in_advance")
        if in_advance is not None and not isinstance(in_advance, bool):
            errors.append(f"{what}.billed_in_advance: expected a boolean, got {in_advance!r}")
        if in_advance and not fixed:
            errors.append(
                f"{what}.billed_in_advance: usage prices are billed in arrears; only fixed fees"
                " can be billed in advance"
            )
        cycle = None
        if isinstance(cadence, str) and cadence in CADENCE_MONTHS:
            cycle = {"duration": CADENCE_MONTHS[cadence], "duration_unit": "month"}
            given = fields.get("billing_cycle_configuration")
            if given is not None and given != cycle:
                errors.append(
                    f"{what}.billing_cycle_configuration: {given!r} differs from the {cadence}"
                    f" cadence ({cycle}); custom billing cycles are not simulated"
                )
        external = fields.get("external_price_id")
        if external is not None:
            if not isinstance(external, str) or not external:
                errors.append(f"{what}.external_price_id: expected a non-empty string")
            elif external in self._engine.state.prices_by_external or external in (
                reserved_external_ids or set()
            ):
                errors.append(f"{what}.external_price_id: {external!r} is already in use")
        try:
            metadata = _metadata(fields.get("metadata"), what)
        except RequestValidationError as exc:
            errors.append(exc.detail)
            metadata = {}
        if errors:
            duplicate = [e for e in errors if "is already in use" in e]
            if duplicate and len(duplicate) == len(errors):
                raise DuplicateResourceCreation(duplicate[0])
            raise RequestValidationError(
                f"invalid {what}: " + "; ".join(errors), validation_errors=errors
            )
        assert parsed is not None and item is not None and cycle is not None
        data: dict[str, Any] = {
            "id": self._engine.state.new_id(),
            "billable_metric": None if fixed else {"id": metric_id},
            "billing_cycle_configuration": cycle,
            "billing_mode": "in_advance" if in_advance else "in_arrear",
            "cadence": cadence,
            "created_at": now,
            "currency": price_currency,
            "external_price_id": external,
            "fixed_price_quantity": (
                (float(quantity) if quantity is not None else 1.0) if fixed else None
            ),
            "invoice_grouping_key": None,
            "item": {"id": item.model.id, "name": item.model.name},
            "metadata": metadata,
            "model_type": model_type,
            "name": name,
            "price_type": "fixed_price" if fixed else "usage_price",
            config_key: fields[config_key],
        }
        try:
            self.model(PriceRecord(data, now, 0))
        except ValueError as exc:
            raise RequestValidationError(f"invalid {what}: {exc}") from None
        return PriceRecord(data, now, self._engine.state.take_seq())

    def build_plan_prices(
        self, raw: object, currency: str, now: datetime
    ) -> builtins.list[PriceRecord]:
        """Validate ``plans.create(prices=[{"price": {...}}, ...])``; nothing is stored.

        Each entry must be ``{"price": {...}}`` (SDK 4.90) or a bare price body (older SDKs);
        ``allocation_price``, ``license_allocation_price`` and ``plan_phase_order`` are not
        simulated. Every problem of every price is reported at once.
        """
        if raw is None:
            return []
        if not isinstance(raw, builtins.list):
            raise RequestValidationError(f"plan.prices: expected a list, got {raw!r}")
        records: builtins.list[PriceRecord] = []
        errors: builtins.list[str] = []
        reserved: set[str] = set()
        for index, entry in enumerate(raw):
            where = f"prices[{index}]"
            if not isinstance(entry, Mapping):
                errors.append(f"{where}: expected an object, got {entry!r}")
                continue
            if _PLAN_PRICE_KEYS.intersection(entry):
                problems = unsimulated_problems(entry, _PLAN_PRICE_FIELDS, f"{where}.")
                problems += [
                    f"{where}.{key}: unknown field" for key in sorted(set(entry) - _PLAN_PRICE_KEYS)
                ]
                if problems:
                    errors.extend(problems)
                    continue
                body = entry.get("price")
                where = f"{where}.price"
            else:
                body = entry
            if not isinstance(body, Mapping):
                errors.append(f"{where}: expected an object, got {body!r}")
                continue
            try:
                record = self.build(
                    body, now, what=where, currency=currency, reserved_external_ids=reserved
                )
            except (RequestValidationError, DuplicateResourceCreation) as exc:
                if isinstance(exc, RequestValidationError):
                    errors.extend(str(e) for e in exc.validation_errors)
                else:
                    errors.append(exc.detail)
                continue
            external = record.data["external_price_id"]
            if external is not None:
                reserved.add(external)
            records.append(record)
        if errors:
            raise RequestValidationError(
                "invalid plan: " + "; ".join(errors), validation_errors=errors
            )
        return records

    def store(self, record: PriceRecord) -> None:
        self._engine.state.prices[record.id] = record
        external = record.data["external_price_id"]
        if external is not None:
            self._engine.state.prices_by_external[external] = record

    def create(self, **fields: Any) -> Price:
        with self._engine.transaction() as now:
            record = self.build(fields, now)
            self.store(record)
            return self.model(record)

    def fetch(self, price_id: str) -> Price:
        with self._engine.transaction():
            return self.model(self.require(price_id))

    def list(self, *, limit: int = 20, cursor: str | None = None) -> Page[Price]:
        with self._engine.transaction():
            page, next_cursor = paginate(
                self._engine.state.prices.values(), PriceRecord.sort_key, limit, cursor
            )
            return _page(list(page), [self.model(r) for r in page], next_cursor)

    def update(
        self,
        price_id: str,
        *,
        metadata: Mapping[str, str | None] | None = _MISSING,
        **unknown: Any,
    ) -> Price:
        """Change ``metadata`` (a null value removes a key, null clears them all)."""
        _refuse_unknown(unknown, "price")
        with self._engine.transaction():
            record = self.require(price_id)
            if metadata is not _MISSING:
                record.data["metadata"] = _metadata(metadata, "price", record.data["metadata"])
            return self.model(record)
