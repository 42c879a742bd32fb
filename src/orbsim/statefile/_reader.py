"""Typed access to a decoded state document: every problem is a ValueError naming where it is."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final, cast

ABSENT: Final[Any] = object()


class Reader:
    """Typed access to a decoded document; every problem is a ValueError naming where it is."""

    def __init__(self, data: Any, where: str) -> None:
        if not isinstance(data, dict):
            raise ValueError(f"{where}: expected an object, got {type(data).__name__}")
        self.data: dict[str, Any] = data
        self.where = where

    def get(self, key: str) -> Any:
        if key not in self.data:
            raise ValueError(f"{self.where}: missing key {key!r}")
        return self.data[key]

    def _typed(self, key: str, kinds: tuple[type, ...], what: str, nullable: bool = False) -> Any:
        value = self.get(key)
        if value is None and nullable:
            return None
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            raise ValueError(f"{self.where}.{key}: expected {what}, got {value!r}")
        return value

    def text(self, key: str) -> str:
        return cast(str, self._typed(key, (str,), "a string"))

    def opt_text(self, key: str) -> str | None:
        return cast("str | None", self._typed(key, (str,), "a string or null", nullable=True))

    def integer(self, key: str) -> int:
        return cast(int, self._typed(key, (int,), "an integer"))

    def flag(self, key: str) -> bool:
        return cast(bool, self._typed(key, (bool,), "a boolean"))

    def mapping(self, key: str) -> dict[str, Any]:
        return cast("dict[str, Any]", self._typed(key, (dict,), "an object"))

    def items(self, key: str) -> list[Any]:
        return cast("list[Any]", self._typed(key, (list,), "a list"))

    def time(self, key: str) -> datetime:
        return parse_time(self.text(key), f"{self.where}.{key}")

    def opt_time(self, key: str) -> datetime | None:
        text = self.opt_text(key)
        return None if text is None else parse_time(text, f"{self.where}.{key}")

    def reader(self, key: str) -> Reader:
        return Reader(self.get(key), f"{self.where}.{key}")

    def readers(self, key: str) -> list[Reader]:
        return [Reader(item, f"{self.where}.{key}[{i}]") for i, item in enumerate(self.items(key))]


def parse_time(text: str, where: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{where}: {text!r} is not an ISO 8601 time") from None
    if value.utcoffset() is None:
        raise ValueError(f"{where}: {text!r} has no UTC offset")
    return value


def model_data(data: dict[str, Any], *paths: tuple[str, ...]) -> dict[str, Any]:
    """``data`` with the datetimes at ``paths`` parsed, so models keep ``datetime.UTC`` times."""
    out = dict(data)
    for path in paths:
        holder = out
        for key in path[:-1]:
            inner = holder.get(key)
            if not isinstance(inner, dict):
                break
            holder[key] = holder = dict(inner)
        else:
            value = holder.get(path[-1])
            if isinstance(value, str):
                holder[path[-1]] = parse_time(value, ".".join(path))
    return out


class Times:
    """Parses ISO times, one ``datetime`` per distinct text (the engine shares ``now`` too)."""

    def __init__(self) -> None:
        self._cache: dict[str, datetime] = {}

    def __call__(self, text: object, where: str) -> datetime:
        value = self._cache.get(text) if type(text) is str else None
        if value is None:
            if type(text) is not str:
                raise ValueError(f"{where}: expected an ISO 8601 time, got {text!r}")
            value = self._cache[text] = parse_time(text, where)
        return value


def field(raw: dict[str, Any], key: str, kind: type) -> Any:
    try:
        value = raw[key]
    except KeyError:
        raise ValueError(f"missing key {key!r}") from None
    if type(value) is not kind:
        raise ValueError(f"{key}: expected {kind.__name__}, got {value!r}")
    return value


def optional_text(raw: dict[str, Any], key: str) -> str | None:
    value = raw.get(key, ABSENT)
    if value is None or type(value) is str:
        return value
    if value is ABSENT:
        raise ValueError(f"missing key {key!r}")
    raise ValueError(f"{key}: expected a string or null, got {value!r}")
