"""orbsim's deliberate uses of libraries' private APIs, in one place.

Each is a speed-up with a correct fallback, and each has a test in ``tests/test_internals.py``
that fails loudly when an upgrade of the library changes what it relies on (the model is
pytest_httpx's ``_httpx_internals.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel

if TYPE_CHECKING:
    import httpx

M = TypeVar("M", bound=BaseModel)
_set = object.__setattr__
_ALL_FIELDS: dict[type[BaseModel], frozenset[str]] = {}


def trusted_model(cls: type[M], fields: dict[str, Any]) -> M:
    """An instance of ``cls`` holding ``fields`` (every field of the model, already valid),
    without validation: pydantic's instance slots set directly.

    ``model_construct`` costs ~2.4 µs per instance; the billable view builds one per event and a
    customer-month can hold tens of thousands. Only for models without private attributes or
    extra fields.
    """
    names = _ALL_FIELDS.get(cls)
    if names is None:
        names = _ALL_FIELDS[cls] = frozenset(cls.model_fields)
    instance = cls.__new__(cls)
    _set(instance, "__dict__", fields)
    _set(instance, "__pydantic_fields_set__", set(names))  # model_copy(update=) adds to it
    _set(instance, "__pydantic_extra__", None)
    _set(instance, "__pydantic_private__", None)
    return instance


def set_read_content(response: httpx.Response, body: bytes) -> None:
    """Mark ``response`` as already read with ``body`` (httpx's private ``_content``).

    ``httpx.Response(content=...)`` reads a bytes body through its streaming machinery, which
    costs more than everything else on the in-process transport's path. Should httpx stop
    honouring ``_content``, the body is still read from the response's stream: correct, slower.
    """
    response._content = body
