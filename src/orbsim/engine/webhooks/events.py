"""A webhook event: something that happened, when, to which endpoints, and its payload.

The engine records a ``WebhookEvent`` at the simulated moment of its cause, with a snapshot of
the resource as it was then (a model, or ``ResourceFields`` validated only when the payload is
built) and the endpoints subscribed then (``Target``). ``WebhookEvent.payload`` returns plain
values and pydantic models in the shape of the SDK's webhook types, for either payload style.
"""

from __future__ import annotations

import hashlib
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from orbsim.engine.webhooks.kinds import EVENT_KINDS, PayloadStyle


@dataclass(frozen=True, slots=True)
class Target:
    """An endpoint as it was when the event happened: where to send it, signed with what."""

    endpoint_id: str
    url: str
    secret: str
    payload_style: PayloadStyle


@dataclass(frozen=True, slots=True)
class ResourceFields:
    """A resource's fields as they were when the event happened, made into ``model`` only when
    the payload is built (``build``).

    An event waiting for delivery then holds a dict of references instead of a tree of models:
    1,000 invoices issuing at one boundary, each announced, no longer leave 1,000 validated
    ``Invoice`` trees alive until the operation ends (which made the garbage collector walk the
    whole heap). ``fields`` must be values no later change reaches (fresh containers, or ones
    never mutated again, like an issued invoice's frozen lines).
    """

    model: type[BaseModel]
    fields: Mapping[str, Any]

    def build(self) -> BaseModel:
        return self.model.model_validate(self.fields)


@dataclass(frozen=True, slots=True, eq=False)
class WebhookEvent:
    """Something that happened, to announce to ``targets`` (the subscribed endpoints then).

    ``occurred_at`` is the simulated moment of the cause (a backfill reflected at its due time even
    when the clock is read later); ``created_at``, the payload's, is that moment to the second, as
    the SDK documents it. ``resource`` is a snapshot (a copy no later change reaches).
    """

    id: str
    type: str
    occurred_at: datetime
    resource: BaseModel | ResourceFields | None
    properties: Mapping[str, Any]
    targets: tuple[Target, ...]
    seq: int = 0

    @property
    def created_at(self) -> datetime:
        return self.occurred_at.replace(microsecond=0)

    def payload(self, style: PayloadStyle) -> dict[str, Any]:
        """The webhook body in ``style``, as values ``pydantic_core.to_json`` serialises."""
        kind = EVENT_KINDS[self.type]
        body: dict[str, Any] = {"id": self.id, "created_at": self.created_at, "type": self.type}
        if kind.resource is not None:
            resource: Any = self.resource
            if isinstance(resource, ResourceFields):
                resource = resource.build()
            if style == "standard" and kind.standard is not None:
                resource = kind.standard(resource)
            body[kind.resource] = resource
        body["properties"] = dict(self.properties)
        body["payload_style"] = style
        return body


_ALPHABET = string.ascii_letters + string.digits


def event_id(salt: str, number: int) -> str:
    """The id of the ``number``-th webhook event: 16 Orb-style characters, a pure function of the
    simulator's seed and the count, so emitting events never shifts other resources' ids."""
    digest = hashlib.blake2b(f"{salt}:webhook-event:{number}".encode(), digest_size=16).digest()
    return "".join(_ALPHABET[byte % len(_ALPHABET)] for byte in digest)


Resource = BaseModel | ResourceFields | Callable[[], BaseModel | ResourceFields]
"""A resource snapshot, or a function making one (called only if some endpoint wants it)."""
