"""Examples of orbsim's price arithmetic: each row is Orb's documented example or a rule's edge."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from orbsim.engine.prices import (
    PriceConfigError,
    minor_unit,
    parse_amount,
    price_amount,
    round_money,
    validate_bulk,
    validate_matrix,
    validate_package,
    validate_tiers,
    validate_unit,
)

D = Decimal


def test_unit_price_multiplies_exactly() -> None:
    model = validate_unit({"unit_amount": "0.50"})

    assert price_amount(model, D(3)) == D("1.50")
    assert price_amount(validate_unit({"unit_amount": "0.0005"}), D(3)) == D("0.0015")


@pytest.mark.parametrize(
    ("quantity", "expected"),
    # Orb: "if the package size is set to 5, then 4 units will be billed as 5 and 6 units at 10"
    [(0, "0"), (4, "0.80"), (5, "0.80"), (6, "1.60"), (D("5.01"), "1.60")],
)
def test_package_price_bills_whole_packages_rounded_up(quantity: Any, expected: str) -> None:
    model = validate_package({"package_amount": "0.80", "package_size": 5})

    assert price_amount(model, D(quantity)) == D(expected)


TIERED = {
    "tiers": [
        {"first_unit": 0, "last_unit": 10, "unit_amount": "0.50"},
        {"first_unit": 10, "last_unit": None, "unit_amount": "0.10"},
    ]
}


@pytest.mark.parametrize(
    ("quantity", "expected"),
    # Orb: "the first ten units may cost $0.50 each and all units thereafter $0.10 each"
    [(0, "0"), (1, "0.50"), (10, "5.00"), (11, "5.10"), (D("10.5"), "5.05"), (110, "15.00")],
)
def test_tiered_price_is_graduated(quantity: Any, expected: str) -> None:
    assert price_amount(validate_tiers(TIERED), D(quantity)) == D(expected)


BULK = {
    "tiers": [
        {"maximum_units": 10, "unit_amount": "0.50"},
        {"maximum_units": 1000, "unit_amount": "0.40"},
    ]
}


@pytest.mark.parametrize(
    ("quantity", "expected"),
    # Orb: "less than 10 units ... $0.50 each; ... 101 units total would be $40.40"
    [(9, "4.50"), (10, "5.00"), (101, "40.40"), (2000, "800.00")],  # beyond every max: last tier
)
def test_bulk_price_bills_every_unit_at_one_rate(quantity: int, expected: str) -> None:
    assert price_amount(validate_bulk(BULK), D(quantity)) == D(expected)


def test_matrix_price_bills_each_group_at_its_rate() -> None:
    model = validate_matrix(
        {
            "dimensions": ["region", "tier"],
            "default_unit_amount": "1",
            "matrix_values": [
                {"dimension_values": ["eu", "pro"], "unit_amount": "3"},
                {"dimension_values": ["us", "pro"], "unit_amount": "2"},
            ],
        }
    )
    groups: dict[tuple[str, ...], Decimal] = {
        ("eu", "pro"): D(2),
        ("us", "pro"): D(5),
        ("eu", "free"): D(7),
    }

    assert price_amount(model, D(14), groups) == D(2 * 3 + 5 * 2 + 7 * 1)


@pytest.mark.parametrize(
    ("currency", "amount", "expected"),
    [
        ("USD", "1.005", "1.01"),  # half up, not banker's rounding
        ("USD", "1.004", "1.00"),
        ("usd", "0.0015", "0.00"),
        ("EUR", "2.675", "2.68"),
        ("JPY", "100.5", "101"),
        ("KWD", "1.0005", "1.001"),
        ("credits", "1.234", "1.23"),  # custom pricing units: two places
    ],
)
def test_rounding_to_the_currency_minor_unit(currency: str, amount: str, expected: str) -> None:
    rounded = round_money(D(amount), currency)

    assert rounded == D(expected)
    assert str(rounded) == expected
    assert minor_unit(currency) == len(expected.partition(".")[2])


@pytest.mark.parametrize(
    ("validate", "config", "message"),
    [
        (
            validate_unit,
            {"unit_amount": "-1"},
            r"unit_config\.unit_amount: amounts cannot be negative, got '-1'",
        ),
        (
            validate_unit,
            {"unit_amount": "abc"},
            r"unit_config\.unit_amount: 'abc' is not a decimal",
        ),
        (validate_unit, {"unit_amount": True}, r"expected a decimal string, got True"),
        (validate_unit, {"unit_amount": "NaN"}, r"'NaN' is not a finite amount"),
        (validate_unit, {}, r"unit_config\.unit_amount is required"),
        (
            validate_unit,
            {"unit_amount": "1", "scaling_factor": 2},
            r"unit_config\.scaling_factor: 2 is not simulated",
        ),
        (validate_unit, "1", r"unit_config: expected an object"),
        (
            validate_package,
            {"package_amount": "1", "package_size": 0},
            r"package_size: expected a positive integer, got 0",
        ),
        (
            validate_package,
            {"package_amount": "-2", "package_size": 5},
            r"package_amount: amounts cannot be negative",
        ),
        (
            validate_tiers,
            {
                "tiers": [
                    {"first_unit": 0, "last_unit": 10, "unit_amount": "1"},
                    {"first_unit": 8, "unit_amount": "1"},
                ]
            },
            r"tiers\[1\]\.first_unit: 8 overlaps the previous tier, which ends at 10",
        ),
        (
            validate_tiers,
            {
                "tiers": [
                    {"first_unit": 0, "last_unit": 10, "unit_amount": "1"},
                    {"first_unit": 11, "unit_amount": "1"},
                ]
            },
            r"tiers\[1\]\.first_unit: 11 leaves a gap after the previous tier, which ends at 10",
        ),
        (
            validate_tiers,
            {"tiers": [{"first_unit": 1, "last_unit": 10, "unit_amount": "1"}]},
            r"tiers\[0\]\.first_unit: the first tier must start at 0, got 1",
        ),
        (
            validate_tiers,
            {
                "tiers": [
                    {"first_unit": 0, "unit_amount": "1"},
                    {"first_unit": 5, "unit_amount": "1"},
                ]
            },
            r"tiers\[0\]\.last_unit: only the last tier may be unbounded",
        ),
        (
            validate_tiers,
            {"tiers": [{"first_unit": 0, "last_unit": 0, "unit_amount": "1"}]},
            r"tiers\[0\]: last_unit 0 must be greater than first_unit 0",
        ),
        (
            validate_tiers,
            {"tiers": [{"first_unit": 0, "unit_amount": "-0.1"}]},
            r"tiers\[0\]\.unit_amount: amounts cannot be negative, got '-0.1'",
        ),
        (validate_tiers, {"tiers": []}, r"tiered_config\.tiers: expected a non-empty list"),
        (
            validate_tiers,
            {"tiers": [{"first_unit": -1, "unit_amount": "1"}]},
            r"first_unit: must be a non-negative number, got -1",
        ),
        (
            validate_bulk,
            {
                "tiers": [
                    {"maximum_units": 10, "unit_amount": "1"},
                    {"maximum_units": 10, "unit_amount": "1"},
                ]
            },
            r"tiers\[1\]\.maximum_units: 10 overlaps the previous tier",
        ),
        (
            validate_bulk,
            {
                "tiers": [
                    {"maximum_units": None, "unit_amount": "1"},
                    {"maximum_units": 10, "unit_amount": "1"},
                ]
            },
            r"tiers\[0\]\.maximum_units: only the last tier may be unbounded",
        ),
        (
            validate_matrix,
            {"dimensions": [], "default_unit_amount": "1", "matrix_values": []},
            r"dimensions: expected one or two property names",
        ),
        (
            validate_matrix,
            {
                "dimensions": ["region"],
                "default_unit_amount": "1",
                "matrix_values": [{"dimension_values": ["eu", "x"], "unit_amount": "1"}],
            },
            r"matrix_values\[0\]\.dimension_values: expected 1 string\(s\)",
        ),
        (
            validate_matrix,
            {
                "dimensions": ["region"],
                "default_unit_amount": "1",
                "matrix_values": [
                    {"dimension_values": ["eu"], "unit_amount": "1"},
                    {"dimension_values": ["eu"], "unit_amount": "2"},
                ],
            },
            r"matrix_values\[1\]\.dimension_values: \['eu'\] is listed twice",
        ),
    ],
)
def test_invalid_configurations_name_the_field_and_value(
    validate: Any, config: Any, message: str
) -> None:
    with pytest.raises(PriceConfigError, match=message):
        validate(config)


def test_amounts_parse_exactly_from_strings_and_numbers() -> None:
    assert parse_amount("0.10", "x") == D("0.10")
    assert parse_amount(0.1, "x") == D("0.1")  # a JSON number enters by its shortest repr
    with pytest.raises(PriceConfigError, match=r"must be greater than 0"):
        parse_amount("0", "x", allow_zero=False)
