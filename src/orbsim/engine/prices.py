"""Price models as pure functions: validate a configuration, then turn quantities into money.

Everything here is ``Decimal``: amounts arrive as the decimal strings Orb sends ("0.50"), and
quantities as the exact values the metric evaluator produced. Nothing in this module knows about
events, subscriptions or HTTP.

Models (Orb's "Price configuration" page, docs.withorb.com/product-catalog/price-configuration):

* ``unit``: ``quantity * unit_amount``;
* ``package``: quantity is billed in whole packages, rounded up ("if the package size is set to 5,
  then 4 units will be billed as 5 and 6 units will be billed at 10"):
  ``ceil(quantity / package_size) * package_amount``;
* ``tiered`` (graduated): each unit costs the rate of the tier it falls into; ``first_unit`` is
  exclusive and ``last_unit`` inclusive, ``last_unit`` is null on (and only on) the last tier. So
  tiers must start at 0, touch each other exactly (a tier starts where the previous one ends),
  and each must be non-empty; fractional quantities are charged pro rata inside a tier;
* ``bulk`` (volume): the whole quantity is billed at the rate of the first tier whose
  ``maximum_units`` is >= the quantity ("101 units total would be $40.40"); a quantity above every
  maximum uses the last tier (orbsim's choice: Orb's own example ends with a bounded tier);
* ``matrix``: one quantity per combination of dimension values (event properties), each billed at
  its ``matrix_values`` rate, anything else at ``default_unit_amount``;
* fixed fees: a ``unit`` price without a billable metric, billed ``fixed_price_quantity`` times.

Rounding (orbsim's rule; Orb documents none): every computed amount is kept exact and rounded
once, half up, to the currency's minor unit (ISO 4217: 2 decimals for most currencies, 0 for JPY,
KRW, ..., 3 for BHD, KWD, ...) when it becomes a price's subtotal for a timeframe. Unit amounts
themselves are never rounded ("0.0005" per call is a valid price).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Final

from orbsim.engine.edges import Inert, null_or, null_or_one, unsimulated_problems

__all__ = [
    "BulkTier",
    "MatrixConfig",
    "PriceConfigError",
    "PriceModel",
    "Tier",
    "minor_unit",
    "parse_amount",
    "price_amount",
    "round_money",
    "validate_bulk",
    "validate_matrix",
    "validate_package",
    "validate_tiers",
    "validate_unit",
]

_ZERO_DECIMAL: Final = frozenset(
    [
        "BIF",
        "CLP",
        "DJF",
        "GNF",
        "ISK",
        "JPY",
        "KMF",
        "KRW",
        "PYG",
        "RWF",
        "UGX",
        "UYI",
        "VND",
        "VUV",
        "XAF",
        "XOF",
        "XPF",
    ]
)
_THREE_DECIMAL: Final = frozenset(["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"])


class PriceConfigError(ValueError):
    """A price configuration that is not valid; the message names the field and the value."""


def minor_unit(currency: str) -> int:
    """Decimal places of a currency's minor unit (ISO 4217); 2 for any other code."""
    code = currency.upper()
    if code in _ZERO_DECIMAL:
        return 0
    if code in _THREE_DECIMAL:
        return 3
    return 2


def round_money(amount: Decimal, currency: str) -> Decimal:
    """Round half up to the currency's minor unit."""
    return amount.quantize(Decimal(1).scaleb(-minor_unit(currency)), rounding=ROUND_HALF_UP)


def parse_amount(value: object, field: str, *, allow_zero: bool = True) -> Decimal:
    """A non-negative decimal amount given as a string (or a number), as Orb accepts."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise PriceConfigError(f"{field}: expected a decimal string, got {value!r}")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise PriceConfigError(f"{field}: {value!r} is not a decimal amount") from None
    if not amount.is_finite():
        raise PriceConfigError(f"{field}: {value!r} is not a finite amount")
    if amount < 0:
        raise PriceConfigError(f"{field}: amounts cannot be negative, got {value!r}")
    if amount == 0 and not allow_zero:
        raise PriceConfigError(f"{field}: must be greater than 0, got {value!r}")
    return amount


def _quantity(value: object, field: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise PriceConfigError(f"{field}: expected a number, got {value!r}")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise PriceConfigError(f"{field}: {value!r} is not a number") from None
    if not number.is_finite() or number < 0:
        raise PriceConfigError(f"{field}: must be a non-negative number, got {value!r}")
    return number


@dataclass(frozen=True, slots=True)
class Tier:
    first_unit: Decimal
    last_unit: Decimal | None
    unit_amount: Decimal


@dataclass(frozen=True, slots=True)
class BulkTier:
    maximum_units: Decimal | None
    unit_amount: Decimal


@dataclass(frozen=True, slots=True)
class MatrixConfig:
    dimensions: tuple[str, ...]
    default_unit_amount: Decimal
    values: Mapping[tuple[str, ...], Decimal]


@dataclass(frozen=True, slots=True)
class PriceModel:
    """What the arithmetic needs from a price: its model and parsed configuration."""

    model_type: str
    unit_amount: Decimal | None = None
    package_amount: Decimal | None = None
    package_size: int | None = None
    tiers: tuple[Tier, ...] = ()
    bulk_tiers: tuple[BulkTier, ...] = ()
    matrix: MatrixConfig | None = None


def _mapping(value: object, field: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise PriceConfigError(f"{field}: expected an object, got {value!r}")
    return value


_CONFIG_FIELDS: dict[str, tuple[Inert, str]] = {
    "prorated": (null_or(False), "prorating subtotals by the service period is not simulated"),
    "scaling_factor": (null_or_one, "scaling rated quantities is not simulated"),
}
"""Optional configuration fields orbsim does not simulate, accepted as null or their no-op."""


def _refuse_unsimulated(config: Mapping[str, Any], field: str, allowed: set[str]) -> None:
    for key, value in config.items():
        if key in allowed:
            continue
        rule = _CONFIG_FIELDS.get(key)
        if rule is not None:
            problems = unsimulated_problems({key: value}, {key: rule}, f"{field}.")
            if problems:
                raise PriceConfigError(problems[0])
        elif value is not None:
            raise PriceConfigError(
                f"{field}.{key}: {value!r} is not simulated by orbsim; omit it or send null"
            )


def validate_unit(config: object, field: str = "unit_config") -> PriceModel:
    mapping = _mapping(config, field)
    _refuse_unsimulated(mapping, field, {"unit_amount"})
    if "unit_amount" not in mapping:
        raise PriceConfigError(f"{field}.unit_amount is required")
    return PriceModel(
        "unit", unit_amount=parse_amount(mapping["unit_amount"], f"{field}.unit_amount")
    )


def validate_package(config: object, field: str = "package_config") -> PriceModel:
    mapping = _mapping(config, field)
    _refuse_unsimulated(mapping, field, {"package_amount", "package_size"})
    for key in ("package_amount", "package_size"):
        if key not in mapping:
            raise PriceConfigError(f"{field}.{key} is required")
    size = mapping["package_size"]
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise PriceConfigError(f"{field}.package_size: expected a positive integer, got {size!r}")
    amount = parse_amount(mapping["package_amount"], f"{field}.package_amount")
    return PriceModel("package", package_amount=amount, package_size=size)


def _tier_list(config: object, field: str) -> list[Any]:
    """The non-empty ``tiers`` list of a tiered or bulk configuration."""
    mapping = _mapping(config, field)
    _refuse_unsimulated(mapping, field, {"tiers"})
    raw = mapping.get("tiers")
    if not isinstance(raw, list) or not raw:
        raise PriceConfigError(f"{field}.tiers: expected a non-empty list, got {raw!r}")
    return raw


def _tier_items(
    raw: list[Any], field: str, allowed: set[str]
) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Each tier as (its field path, its mapping), refusing keys orbsim does not simulate."""
    for index, item in enumerate(raw):
        where = f"{field}.tiers[{index}]"
        tier = _mapping(item, where)
        _refuse_unsimulated(tier, where, allowed)
        yield where, tier


def validate_tiers(config: object, field: str = "tiered_config") -> PriceModel:
    """Tiers must start at 0 and touch exactly: overlaps and gaps are errors naming the tier."""
    raw = _tier_list(config, field)
    tiers: list[Tier] = []
    for index, (where, tier) in enumerate(
        _tier_items(raw, field, {"first_unit", "last_unit", "unit_amount"})
    ):
        if "first_unit" not in tier or "unit_amount" not in tier:
            raise PriceConfigError(f"{where}: first_unit and unit_amount are required")
        first = _quantity(tier["first_unit"], f"{where}.first_unit")
        last_raw = tier.get("last_unit")
        last = None if last_raw is None else _quantity(last_raw, f"{where}.last_unit")
        amount = parse_amount(tier["unit_amount"], f"{where}.unit_amount")
        is_last = index == len(raw) - 1
        if last is None and not is_last:
            raise PriceConfigError(
                f"{where}.last_unit: only the last tier may be unbounded (null), got null"
            )
        if last is not None and last <= first:
            raise PriceConfigError(
                f"{where}: last_unit {last_raw!r} must be greater than first_unit"
                f" {tier['first_unit']!r}"
            )
        if index == 0 and first != 0:
            raise PriceConfigError(
                f"{where}.first_unit: the first tier must start at 0, got {tier['first_unit']!r}"
                " (units 0..first_unit would have no price)"
            )
        if index > 0:
            previous = tiers[-1].last_unit
            assert previous is not None
            if first < previous:
                raise PriceConfigError(
                    f"{where}.first_unit: {tier['first_unit']!r} overlaps the previous tier,"
                    f" which ends at {previous}"
                )
            if first > previous:
                raise PriceConfigError(
                    f"{where}.first_unit: {tier['first_unit']!r} leaves a gap after the previous"
                    f" tier, which ends at {previous}"
                )
        tiers.append(Tier(first, last, amount))
    return PriceModel("tiered", tiers=tuple(tiers))


def validate_bulk(config: object, field: str = "bulk_config") -> PriceModel:
    raw = _tier_list(config, field)
    tiers: list[BulkTier] = []
    for index, (where, tier) in enumerate(
        _tier_items(raw, field, {"maximum_units", "unit_amount"})
    ):
        if "unit_amount" not in tier:
            raise PriceConfigError(f"{where}.unit_amount is required")
        maximum_raw = tier.get("maximum_units")
        maximum = None if maximum_raw is None else _quantity(maximum_raw, f"{where}.maximum_units")
        if maximum is None and index != len(raw) - 1:
            raise PriceConfigError(
                f"{where}.maximum_units: only the last tier may be unbounded (null), got null"
            )
        previous = tiers[-1].maximum_units if tiers else None
        if maximum is not None and previous is not None and maximum <= previous:
            raise PriceConfigError(
                f"{where}.maximum_units: {maximum_raw!r} overlaps the previous tier, whose"
                f" maximum_units is {previous}; maxima must increase"
            )
        tiers.append(BulkTier(maximum, parse_amount(tier["unit_amount"], f"{where}.unit_amount")))
    return PriceModel("bulk", bulk_tiers=tuple(tiers))


def validate_matrix(config: object, field: str = "matrix_config") -> PriceModel:
    mapping = _mapping(config, field)
    _refuse_unsimulated(mapping, field, {"dimensions", "default_unit_amount", "matrix_values"})
    dimensions = mapping.get("dimensions")
    if (
        not isinstance(dimensions, list)
        or not 1 <= len(dimensions) <= 2
        or not all(isinstance(d, str) and d for d in dimensions)
    ):
        raise PriceConfigError(
            f"{field}.dimensions: expected one or two property names, got {dimensions!r}"
        )
    if "default_unit_amount" not in mapping:
        raise PriceConfigError(f"{field}.default_unit_amount is required")
    default = parse_amount(mapping["default_unit_amount"], f"{field}.default_unit_amount")
    values_raw = mapping.get("matrix_values")
    if not isinstance(values_raw, list):
        raise PriceConfigError(f"{field}.matrix_values: expected a list, got {values_raw!r}")
    values: dict[tuple[str, ...], Decimal] = {}
    for index, item in enumerate(values_raw):
        where = f"{field}.matrix_values[{index}]"
        entry = _mapping(item, where)
        _refuse_unsimulated(entry, where, {"dimension_values", "unit_amount"})
        keys = entry.get("dimension_values")
        if (
            not isinstance(keys, list)
            or len(keys) != len(dimensions)
            or not all(isinstance(k, str) for k in keys)
        ):
            raise PriceConfigError(
                f"{where}.dimension_values: expected {len(dimensions)} string(s), one per"
                f" dimension, got {keys!r}"
            )
        key = tuple(keys)
        if key in values:
            raise PriceConfigError(f"{where}.dimension_values: {keys!r} is listed twice")
        if "unit_amount" not in entry:
            raise PriceConfigError(f"{where}.unit_amount is required")
        values[key] = parse_amount(entry["unit_amount"], f"{where}.unit_amount")
    return PriceModel("matrix", matrix=MatrixConfig(tuple(dimensions), default, values))


# --- arithmetic ---------------------------------------------------------------------------------


def price_amount(
    model: PriceModel,
    quantity: Decimal,
    groups: Mapping[tuple[str, ...], Decimal] | None = None,
) -> Decimal:
    """The exact (unrounded) amount for ``quantity``; matrix prices take per-group ``groups``."""
    kind = model.model_type
    if kind == "unit":
        assert model.unit_amount is not None
        return quantity * model.unit_amount
    if kind == "package":
        assert model.package_amount is not None and model.package_size is not None
        packages = (quantity / model.package_size).to_integral_value(rounding=ROUND_CEILING)
        return packages * model.package_amount
    if kind == "tiered":
        return _graduated(model.tiers, quantity)
    if kind == "bulk":
        return quantity * _bulk_rate(model.bulk_tiers, quantity)
    if kind == "matrix":
        assert model.matrix is not None
        matrix = model.matrix
        total = Decimal(0)
        for key, amount in (groups or {}).items():
            total += amount * matrix.values.get(key, matrix.default_unit_amount)
        return total
    raise ValueError(f"unknown price model {kind!r}")


def _graduated(tiers: Sequence[Tier], quantity: Decimal) -> Decimal:
    total = Decimal(0)
    for tier in tiers:
        if quantity <= tier.first_unit:
            break
        top = quantity if tier.last_unit is None else min(quantity, tier.last_unit)
        total += (top - tier.first_unit) * tier.unit_amount
    return total


def _bulk_rate(tiers: Sequence[BulkTier], quantity: Decimal) -> Decimal:
    for tier in tiers:
        if tier.maximum_units is None or quantity <= tier.maximum_units:
            return tier.unit_amount
    return tiers[-1].unit_amount
