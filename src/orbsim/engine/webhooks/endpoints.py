"""``sim.webhook_endpoints``: the SDK's ``client.webhook_endpoints`` on the engine.

Create, retrieve, update, list, delete, enable and disable endpoints (the signing secret is
returned on create only), and ``send_test``, orbsim's way to emit ``resource_event.test``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from orbsim.engine.pagination import paginate
from orbsim.engine.reporting import reports_errors
from orbsim.engine.webhooks.endpoint_rules import (
    WebhookEndpointRecord,
    check_endpoint_count,
    check_event_types,
    check_payload_style,
    check_webhook_url,
)
from orbsim.engine.webhooks.kinds import PayloadStyle
from orbsim.engine.webhooks.state import WebhookState
from orbsim.errors import ConstraintViolation, RequestValidationError, ResourceNotFound
from orbsim.models import Page, PaginationMetadata, WebhookEndpoint, WebhookEndpointWithSecret

if TYPE_CHECKING:
    from orbsim.engine.core import Engine


_MISSING: Any = object()


def _no_extra(what: str, extra: Mapping[str, Any]) -> None:
    if extra:
        names = sorted(extra)
        raise RequestValidationError(
            f"{what}: unknown field(s) {', '.join(map(repr, names))}",
            validation_errors=[f"unknown field {name!r}" for name in names],
        )


@reports_errors
class WebhookEndpoints:
    """``sim.webhook_endpoints``: the SDK's ``client.webhook_endpoints`` on the engine."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def _state(self) -> WebhookState:
        return self._engine.state.webhooks

    def _require(self, endpoint_id: str) -> WebhookEndpointRecord:
        record = self._state().endpoints.get(endpoint_id)
        if record is None:
            raise ResourceNotFound.of("WebhookEndpoint", endpoint_id)
        return record

    def create(
        self,
        *,
        url: str = _MISSING,
        enabled_event_types: list[str] | None = None,
        payload_style: PayloadStyle | None = None,
        **extra: Any,
    ) -> WebhookEndpointWithSecret:
        """A new, enabled endpoint; the response carries the signing secret (only this one)."""
        _no_extra("webhook endpoint", extra)
        if url is _MISSING:
            raise RequestValidationError(
                "webhook endpoint: url is required", validation_errors=["url: field required"]
            )
        engine = self._engine
        settings = engine.settings
        checked_url = check_webhook_url(url, settings.webhook_allowed_hosts)
        types = check_event_types(enabled_event_types)
        style = check_payload_style(payload_style, settings.webhook_payload_style)
        with engine.transaction() as now:
            account = engine.state
            state = account.webhooks
            check_endpoint_count(len(state.endpoints), settings.max_webhook_endpoints)
            record = WebhookEndpointRecord(
                id=account.new_id(),
                url=checked_url,
                secret="whsec_" + account.new_id() + account.new_id(),
                created_at=now,
                seq=account.take_seq(),
                enabled=True,
                enabled_event_types=types,
                payload_style=style,
            )
            state.endpoints[record.id] = record
            return WebhookEndpointWithSecret(**record.fields(), secret=record.secret)

    def retrieve(self, webhook_endpoint_id: str) -> WebhookEndpoint:
        with self._engine.transaction():
            return WebhookEndpoint(**self._require(webhook_endpoint_id).fields())

    def update(
        self,
        webhook_endpoint_id: str,
        /,
        *,
        url: str | None = _MISSING,
        enabled_event_types: list[str] | None = _MISSING,
        payload_style: PayloadStyle | None = _MISSING,
        **extra: Any,
    ) -> WebhookEndpoint:
        """Change the URL, the event types (null: every type) or the payload style (null: the
        account's); omitted fields stay as they are."""
        _no_extra("webhook endpoint update", extra)
        settings = self._engine.settings
        new_url = None
        if url is not _MISSING:
            if url is None:
                raise RequestValidationError("url: cannot be null; omit it to keep the URL")
            new_url = check_webhook_url(url, settings.webhook_allowed_hosts)
        types = _MISSING
        if enabled_event_types is not _MISSING:
            types = check_event_types(enabled_event_types)
        style = None
        if payload_style is not _MISSING:
            style = check_payload_style(payload_style, settings.webhook_payload_style)
        with self._engine.transaction():
            record = self._require(webhook_endpoint_id)
            if new_url is not None:
                record.url = new_url
            if types is not _MISSING:
                record.enabled_event_types = types
            if style is not None:
                record.payload_style = style
            return WebhookEndpoint(**record.fields())

    def list(self, *, limit: int = 20, cursor: str | None = None) -> Page[WebhookEndpoint]:
        """The account's endpoints, newest first."""
        with self._engine.transaction():
            page, next_cursor = paginate(
                self._state().endpoints.values(), WebhookEndpointRecord.sort_key, limit, cursor
            )
            return Page[WebhookEndpoint](
                data=[WebhookEndpoint(**record.fields()) for record in page],
                pagination_metadata=PaginationMetadata(
                    has_more=next_cursor is not None, next_cursor=next_cursor
                ),
            )

    def delete(self, webhook_endpoint_id: str) -> None:
        """Remove the endpoint; events that happen from now on are not sent to it."""
        with self._engine.transaction():
            self._require(webhook_endpoint_id)
            del self._state().endpoints[webhook_endpoint_id]

    def enable(self, webhook_endpoint_id: str) -> WebhookEndpoint:
        with self._engine.transaction():
            record = self._require(webhook_endpoint_id)
            record.enabled = True
            return WebhookEndpoint(**record.fields())

    def disable(self, webhook_endpoint_id: str) -> WebhookEndpoint:
        """Stop sending to the endpoint until it is enabled again (events meanwhile are lost)."""
        with self._engine.transaction():
            record = self._require(webhook_endpoint_id)
            record.enabled = False
            return WebhookEndpoint(**record.fields())

    def send_test(
        self, webhook_endpoint_id: str | None = None, *, message: str | None = None
    ) -> str | None:
        """Emit ``resource_event.test`` (orbsim's, not an SDK method): to one endpoint, whatever
        event types it takes (it must be enabled), or to every endpoint that takes the type.
        Returns the event id, or None when no endpoint takes it."""
        if message is not None and not isinstance(message, str):
            raise RequestValidationError(f"message: expected a string, got {message!r}")
        with self._engine.transaction() as now:
            state = self._state()
            targets = None
            if webhook_endpoint_id is not None:
                record = self._require(webhook_endpoint_id)
                if not record.enabled:
                    raise ConstraintViolation(
                        f"webhook endpoint {record.id} is disabled; enable it to send it events"
                    )
                targets = (record.target(),)
            properties = {} if message is None else {"message": message}
            event = state.emit(
                "resource_event.test", at=now, properties=properties, targets=targets
            )
            return None if event is None else event.id
