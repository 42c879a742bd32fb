"""Checks shared by the engine tests: lists walk every item once, models are what the SDK reads."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

__all__ = ["sdk_parses", "walk"]


def walk(list_page: Callable[..., Any], limit: int) -> tuple[list[str], int]:
    """Follow cursors to the end; return every id seen and the number of pages.

    Every page holds at most ``limit`` items, and ``has_more`` agrees with ``next_cursor``.
    """
    ids: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        page = list_page(limit=limit, cursor=cursor)
        pages += 1
        assert len(page.data) <= limit
        ids += [item.id for item in page.data]
        meta = page.pagination_metadata
        assert meta.has_more == (meta.next_cursor is not None)
        if meta.next_cursor is None:
            return ids, pages
        cursor = meta.next_cursor


def sdk_parses(model: BaseModel, sdk_type: type[Any]) -> dict[str, Any]:
    """The JSON dump parses strictly with the SDK type and carries every key the SDK knows."""
    data = model.model_dump(mode="json")
    sdk_type.model_validate_json(json.dumps(data), strict=True)
    assert set(sdk_type.model_fields) <= set(data)
    return data
