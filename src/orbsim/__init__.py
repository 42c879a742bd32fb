"""orbsim: an in-memory, rule-faithful simulator of Orb's usage-billing API.

Public names only: the simulator, its settings, the clocks, the error taxonomy and the types
that public methods return (pinned by ``tests/test_exported_members.py``). The HTTP server and
transport types are imported on first use, so ``import orbsim`` does not load httpx.
"""

from __future__ import annotations

from importlib import metadata as _metadata
from typing import TYPE_CHECKING, Any

from orbsim.clock import Clock, ManualClock, SystemClock
from orbsim.engine.periods import Period
from orbsim.errors import (
    ConstraintViolation,
    DuplicateResourceCreation,
    OrbAuthenticationError,
    OrbError,
    OrbInternalServerError,
    RequestTooLarge,
    RequestValidationError,
    ResourceConflict,
    ResourceNotFound,
    TooManyRequests,
    URLNotFound,
)
from orbsim.models import (
    AmendResult,
    Backfill,
    BillableEvent,
    Customer,
    DeprecateResult,
    Event,
    EventSearchResponse,
    EventVersion,
    EventVolume,
    EventVolumes,
    IngestResponse,
    MutatedSubscription,
    Page,
    PaginationMetadata,
    Plan,
    Subscription,
    WebhookEndpoint,
    WebhookEndpointWithSecret,
)
from orbsim.models_billing import (
    BillableMetric,
    BulkPrice,
    Costs,
    GroupedUsage,
    Item,
    MatrixPrice,
    PackagePrice,
    TieredPrice,
    UngroupedUsage,
    UnitPrice,
)
from orbsim.models_invoices import Invoice, UpcomingInvoice
from orbsim.settings import Settings
from orbsim.sim import OrbSim, Snapshot
from orbsim.wire.delivery import Delivery, DeliveryLog, Mount, WebhookDispatcher, WebhookRequest
from orbsim.wire.faults import Fault, Faults
from orbsim.wire.recorder import RecordedRequest, RequestLog

if TYPE_CHECKING:
    from orbsim.wire.server import OrbSimServer
    from orbsim.wire.transport import AsyncOrbSimTransport, OrbSimTransport

__all__ = [
    "AmendResult",
    "AsyncOrbSimTransport",
    "Backfill",
    "BillableEvent",
    "BillableMetric",
    "BulkPrice",
    "Clock",
    "ConstraintViolation",
    "Costs",
    "Customer",
    "Delivery",
    "DeliveryLog",
    "DeprecateResult",
    "DuplicateResourceCreation",
    "Event",
    "EventSearchResponse",
    "EventVersion",
    "EventVolume",
    "EventVolumes",
    "Fault",
    "Faults",
    "GroupedUsage",
    "IngestResponse",
    "Invoice",
    "Item",
    "ManualClock",
    "MatrixPrice",
    "Mount",
    "MutatedSubscription",
    "OrbAuthenticationError",
    "OrbError",
    "OrbInternalServerError",
    "OrbSim",
    "OrbSimServer",
    "OrbSimTransport",
    "PackagePrice",
    "Page",
    "PaginationMetadata",
    "Period",
    "Plan",
    "RecordedRequest",
    "RequestLog",
    "RequestTooLarge",
    "RequestValidationError",
    "ResourceConflict",
    "ResourceNotFound",
    "Settings",
    "Snapshot",
    "Subscription",
    "SystemClock",
    "TieredPrice",
    "TooManyRequests",
    "URLNotFound",
    "UngroupedUsage",
    "UnitPrice",
    "UpcomingInvoice",
    "WebhookDispatcher",
    "WebhookEndpoint",
    "WebhookEndpointWithSecret",
    "WebhookRequest",
]

__version__ = _metadata.version("orbsim")
"""The installed distribution's version: ``pyproject.toml`` is its only source."""

_LAZY = {
    "OrbSimServer": "orbsim.wire.server",
    "OrbSimTransport": "orbsim.wire.transport",
    "AsyncOrbSimTransport": "orbsim.wire.transport",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'orbsim' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
