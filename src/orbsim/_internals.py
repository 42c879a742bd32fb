"""orbsim's deliberate uses of libraries' private APIs, in one place.

Each is a speed-up with a correct fallback, and each has a test in ``tests/test_internals.py``
that fails loudly when an upgrade of the library changes what it relies on (the model is
pytest_httpx's ``_httpx_internals.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel

if TYPE_CHECKING:
    import httpx

M = TypeVar("M", bound=BaseModel)
_set = object.__setattr__


def trusted_factory(cls: type[M]) -> Callable[[dict[str, Any]], M]:
    """A builder of ``cls`` instances from fields already valid (every field of the model),
    without validation: pydantic's instance slots are set directly.

    ``model_construct`` costs ~2.4 µs per instance; the billable view builds one per event and a
    customer-month can hold tens of thousands. Only for frozen models without private attributes
    or extra fields: every instance shares one fields-set (pydantic copies it in ``model_copy``
    and never changes it on a frozen model).
    """
    if not cls.model_config.get("frozen"):
        raise TypeError(f"trusted_factory needs a frozen model, {cls.__name__} is not")
    names = set(cls.model_fields)
    new = cls.__new__

    def build(fields: dict[str, Any]) -> M:
        instance = new(cls)
        _set(instance, "__dict__", fields)
        _set(instance, "__pydantic_fields_set__", names)
        _set(instance, "__pydantic_extra__", None)
        _set(instance, "__pydantic_private__", None)
        return instance

    return build


def set_read_content(response: httpx.Response, body: bytes) -> None:
    """Mark ``response`` as already read with ``body`` (httpx's private ``_content``).

    ``httpx.Response(content=...)`` reads a bytes body through its streaming machinery, which
    costs more than everything else on the in-process transport's path. Should httpx stop
    honouring ``_content``, the body is still read from the response's stream: correct, slower.
    """
    response._content = body
