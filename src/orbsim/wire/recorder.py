"""The request log (``sim.requests``): every HTTP request the simulator answered, for assertions.

Recording must cost next to nothing on the in-process fast path, so ``dispatch`` only appends a
tuple of references (request, response, clock reading, fault) to a bounded deque; the parsing
into ``RecordedRequest`` fields (query dict, JSON bodies, headers) happens when a test reads the
log. The log keeps the last ``limit`` requests (10,000 by default; ``limit = 0`` stops recording)
and at most ``byte_limit`` bytes of bodies (64 MiB by default), dropping the oldest first. A body
longer than ``body_limit`` (1 MiB) is kept truncated, and of a refused request (401, 413) only
the first ``REFUSED_PREFIX`` bytes are kept, so requests nobody may make cost no memory
(``RecordedRequest.body_size`` still tells the full length). Admin requests (``/_orbsim/...``)
are not recorded.

A request stopped by an injected ``connect_error``/``read_timeout`` is recorded with
``status=None`` (the simulator never answered); a ``lost_response`` is recorded with the status the
simulator answered, which the client never saw. The assertion helpers raise ``AssertionError``
with the recorded requests listed and, for body mismatches, a unified diff of pretty JSON.
"""

from __future__ import annotations

import difflib
import itertools
import json
import threading
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qsl

from orbsim.engine.timeparse import iso
from orbsim.times import to_utc
from orbsim.wire.faults import BEFORE_DISPATCH
from orbsim.wire.messages import HeaderView, WireRequest, WireResponse, api_path

if TYPE_CHECKING:
    pass

DEFAULT_LIMIT = 10_000
DEFAULT_BYTE_LIMIT = 64 * 1024 * 1024
"""Bodies (request and response) kept in the log at most, in bytes."""
DEFAULT_BODY_LIMIT = 1024 * 1024
"""A body longer than this is kept truncated to this many bytes."""
REFUSED_PREFIX = 1024
"""Bytes kept of the body of a refused request (401 unauthenticated, 413 too large)."""
_REFUSED = frozenset({401, 413})

REQUEST_HEADERS = ("idempotency-key", "content-type", "x-stainless-retry-count")
"""Request headers kept in ``RecordedRequest.headers``. Only these: the SDK sends a dozen more
that are the same on every request (or secret, like ``authorization``), and keeping them would
triple the memory of a full log."""
_NAMES = tuple(name.encode("latin-1") for name in REQUEST_HEADERS)


Entry = tuple[
    int,  # 0 number (1 = first request of the simulator)
    datetime,  # 1 arrival, by the simulator's clock
    str,  # 2 method
    str,  # 3 raw path
    str,  # 4 raw query
    tuple[str | bytes | None, ...],  # 5 values of REQUEST_HEADERS (bytes from a HeaderView)
    bytes,  # 6 request body
    int,  # 7 status
    tuple[tuple[str, str], ...],  # 8 response headers
    bytes,  # 9 response body
    str | None,  # 10 transport fault of the answer
    int | str | None,  # 11 injected fault kind
    bool,  # 12 rate limited
    int,  # 13 full length of the request body (6 may be a prefix of it)
    int,  # 14 full length of the response body (9 may be a prefix of it)
]
"""What ``dispatch`` appends: one flat tuple of references (a plain tuple of immutable values is
untracked by the garbage collector, so a full log does not slow collections down)."""


def _picked(headers: Mapping[str, str]) -> tuple[str | bytes | None, ...]:
    """The values of ``REQUEST_HEADERS``; raw bytes from a ``HeaderView`` (decoded on read)."""
    get: Any = headers.raw.get if type(headers) is HeaderView else headers.get
    key, content_type, retry_count = _NAMES if type(headers) is HeaderView else REQUEST_HEADERS
    return (get(key), get(content_type), get(retry_count))


def _text_headers(values: tuple[str | bytes | None, ...]) -> dict[str, str]:
    found: dict[str, str] = {}
    for name, value in zip(REQUEST_HEADERS, values, strict=True):
        if value is not None:
            found[name] = value.decode("latin-1") if isinstance(value, bytes) else value
    return found


def _decode(body: bytes) -> Any:
    """JSON if it parses, else the text (or None when empty)."""
    if not body:
        return None
    text = body.decode("utf-8", "replace")
    try:
        return json.loads(text)
    except ValueError:
        return text


class RecordedRequest:
    """One recorded request and the simulator's answer; bodies are parsed on access."""

    def __init__(self, entry: Entry) -> None:
        self._entry = entry
        self.index: int = entry[0]
        """Position in the simulator's lifetime (1 = first request), kept across ``clear()``."""
        at = entry[1]
        self.at: datetime = to_utc(at)
        """When it arrived, by the simulator's clock."""
        self.method: str = entry[2].upper()
        self.path: str = api_path(entry[3])
        """The path without ``/v1``, still percent-encoded."""
        self.fault: int | str | None = entry[11]
        """The injected fault's kind (an HTTP status or a transport kind), if one applied."""
        self.rate_limited: bool = entry[12]
        """Refused by ``Settings.requests_per_second`` / ``events_per_minute``."""
        self.delivered: bool = entry[10] is None
        """The client received this answer (no transport fault swallowed it)."""
        self.status: int | None = None if entry[10] in BEFORE_DISPATCH else entry[7]
        """The status the simulator answered; None if the request never reached it."""
        self.body_size: int = entry[13]
        """The length of the request body as sent, in bytes (``body`` may be truncated)."""
        self.body_truncated: bool = entry[13] > len(entry[6])
        """Only a prefix of the body was kept (see the module notes); ``body`` is then text."""

    @property
    def query(self) -> dict[str, str | list[str]]:
        """The query string parsed; a repeated name gives a list."""
        parsed: dict[str, str | list[str]] = {}
        for name, value in parse_qsl(self._entry[4], keep_blank_values=True):
            if name in parsed:
                previous = parsed[name]
                parsed[name] = (
                    [*previous, value] if isinstance(previous, list) else [previous, value]
                )
            else:
                parsed[name] = value
        return parsed

    @property
    def body(self) -> Any:
        """The request body as JSON, or its text if it is not JSON, or None when empty."""
        return _decode(self._entry[6])

    @property
    def response(self) -> Any:
        """The response body as JSON (or text, or None); None if the request never arrived."""
        if self.status is None:
            return None
        return _decode(self._entry[9])

    @property
    def headers(self) -> dict[str, str]:
        """The request headers of interest (``REQUEST_HEADERS``), lower-case names."""
        return _text_headers(self._entry[5])

    @property
    def response_headers(self) -> dict[str, str]:
        """Every response header, lower-case names (empty if the request never arrived)."""
        if self.status is None:
            return {}
        return {name.lower(): value for name, value in self._entry[8]}

    @property
    def idempotency_key(self) -> str | None:
        return _text_headers(self._entry[5]).get("idempotency-key")

    @property
    def replayed(self) -> bool:
        """Answered from the Idempotency-Key store (``Idempotent-Replayed: true``)."""
        if self.status is None:
            return False
        return any(
            name.lower() == "idempotent-replayed" and value == "true"
            for name, value in self._entry[8]
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view (timestamps as ISO 8601)."""
        return {
            "index": self.index,
            "at": iso(self.at),
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "body": self.body,
            "headers": self.headers,
            "status": self.status,
            "response": self.response,
            "response_headers": self.response_headers,
            "replayed": self.replayed,
            "fault": self.fault,
            "rate_limited": self.rate_limited,
            "delivered": self.delivered,
            "body_size": self.body_size,
            "body_truncated": self.body_truncated,
        }

    def summary(self) -> str:
        """One line: ``#3 POST /ingest -> 200 (replayed)``."""
        status = "no answer" if self.status is None else str(self.status)
        notes = []
        if self.replayed:
            notes.append("replayed")
        if self.fault is not None:
            notes.append(f"fault {self.fault}")
        if self.rate_limited:
            notes.append("rate limited")
        query = f"?{self._entry[4]}" if self._entry[4] else ""
        extra = f" ({', '.join(notes)})" if notes else ""
        return f"#{self.index} {self.method} {self.path}{query} -> {status}{extra}"

    def __repr__(self) -> str:
        return f"<RecordedRequest {self.summary()}>"


def _status_matches(actual: int | None, wanted: int | str | None) -> bool:
    if wanted is None:
        return True
    if actual is None:
        return False
    if isinstance(wanted, str):  # "2xx", "5xx"
        return len(wanted) == 3 and wanted[1:].lower() == "xx" and str(actual)[0] == wanted[0]
    return actual == wanted


def is_subset(expected: Any, actual: Any) -> bool:
    """``expected`` is contained in ``actual``: objects by their keys (recursively), arrays
    element by element with the same length, anything else by equality."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            key in actual and is_subset(value, actual[key]) for key, value in expected.items()
        )
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(expected)
            and all(is_subset(e, a) for e, a in zip(expected, actual, strict=True))
        )
    if isinstance(expected, bool) or isinstance(actual, bool):  # JSON true is not 1
        return type(expected) is type(actual) and expected == actual
    return bool(expected == actual)


def _projection(expected: Any, actual: Any) -> Any:
    """``actual`` cut down to the shape of ``expected`` (so a diff shows only what matters)."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        return {
            key: _projection(expected[key], actual[key]) if key in expected else actual[key]
            for key in actual
            if key in expected
        }
    if isinstance(expected, list) and isinstance(actual, list):
        return [
            _projection(expected[i], item) if i < len(expected) else item
            for i, item in enumerate(actual)
        ]
    return actual


def _pretty(value: Any) -> list[str]:
    return json.dumps(value, indent=2, sort_keys=True, default=str).splitlines()


def body_diff(expected: Any, actual: Any) -> str:
    """A unified diff, expected vs actual (actual restricted to the keys ``expected`` names)."""
    lines = difflib.unified_diff(
        _pretty(expected),
        _pretty(_projection(expected, actual)),
        fromfile="expected body (subset)",
        tofile="recorded body",
        lineterm="",
    )
    return "\n".join(lines)


class RequestLog:
    """The recorded requests of one simulator, oldest first (``sim.requests``). Thread-safe."""

    def __init__(
        self,
        limit: int = DEFAULT_LIMIT,
        *,
        byte_limit: int = DEFAULT_BYTE_LIMIT,
        body_limit: int = DEFAULT_BODY_LIMIT,
    ) -> None:
        self._lock = threading.Lock()
        self._entries: deque[Entry] = deque()
        self._limit = _count(limit, "limit")
        self._byte_limit = _count(byte_limit, "byte_limit")
        self._body_limit = _count(body_limit, "body_limit")
        self._bytes = 0
        self._counter = itertools.count(1)

    # -- recording (called by dispatch) -----------------------------------------------------------

    def record(
        self,
        at: datetime,
        request: WireRequest,
        response: WireResponse,
        fault: int | str | None = None,
        rate_limited: bool = False,
    ) -> None:
        """Append one request (called by ``dispatch``; kept to a tuple of references).

        Bodies over ``body_limit`` are cut (a slice: the rest is not retained), refused requests
        keep ``REFUSED_PREFIX`` bytes; then the oldest entries go until both limits hold.
        """
        body = request.body
        answer = response.body
        cap = REFUSED_PREFIX if response.status in _REFUSED else self._body_limit
        kept = body if len(body) <= cap else body[:cap]
        kept_answer = answer if len(answer) <= self._body_limit else answer[: self._body_limit]
        entry: Entry = (
            next(self._counter),
            at,
            request.method,
            request.path,
            request.query,
            _picked(request.headers),
            kept,
            response.status,
            tuple(response.headers),
            kept_answer,
            response.transport_fault,
            fault,
            rate_limited,
            len(body),
            len(answer),
        )
        with self._lock:
            entries = self._entries
            entries.append(entry)
            self._bytes += len(kept) + len(kept_answer)
            self._trim()

    def _trim(self) -> None:
        """Drop the oldest entries until the count and byte limits hold (lock held)."""
        entries = self._entries
        while entries and (len(entries) > self._limit or self._bytes > self._byte_limit):
            old = entries.popleft()
            self._bytes -= len(old[6]) + len(old[9])

    # -- configuration ----------------------------------------------------------------------------

    @property
    def limit(self) -> int:
        """How many requests are kept (the oldest are dropped first); 0 records nothing."""
        return self._limit

    @limit.setter
    def limit(self, value: int) -> None:
        with self._lock:
            self._limit = _count(value, "limit")
            self._trim()

    @property
    def byte_limit(self) -> int:
        """How many bytes of bodies are kept at most (the oldest requests are dropped first)."""
        return self._byte_limit

    @byte_limit.setter
    def byte_limit(self, value: int) -> None:
        with self._lock:
            self._byte_limit = _count(value, "byte_limit")
            self._trim()

    @property
    def body_limit(self) -> int:
        """Bodies longer than this many bytes are kept truncated (applies to new requests)."""
        return self._body_limit

    @body_limit.setter
    def body_limit(self, value: int) -> None:
        self._body_limit = _count(value, "body_limit")

    @property
    def bytes_kept(self) -> int:
        """Bytes of bodies held now (request and response bodies, as kept)."""
        return self._bytes

    # -- reading ----------------------------------------------------------------------------------

    def _snapshot(self) -> list[Entry]:
        with self._lock:
            return list(self._entries)

    def all(self) -> list[RecordedRequest]:
        """Every recorded request, oldest first."""
        return [RecordedRequest(entry) for entry in self._snapshot()]

    def __iter__(self) -> Iterator[RecordedRequest]:
        return iter(self.all())

    def __len__(self) -> int:
        return len(self._entries)

    def __getitem__(self, index: int) -> RecordedRequest:
        return RecordedRequest(self._snapshot()[index])

    def clear(self) -> None:
        """Forget every recorded request (indexes keep counting)."""
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    def filter(
        self,
        method: str | None = None,
        path: str | None = None,
        status: int | str | None = None,
    ) -> list[RecordedRequest]:
        """Recorded requests matching all given criteria, oldest first.

        ``method``: case-insensitive, ``None`` or ``"*"`` for any; ``path``: fnmatch pattern on
        the path without ``/v1`` (``"/events/backfills*"``); ``status``: an int or ``"4xx"``.
        """
        wanted_method = None if method is None or method == "*" else method.upper()
        pattern = None if path is None else api_path(path)
        found = []
        for entry in self._snapshot():
            record = RecordedRequest(entry)
            if wanted_method is not None and record.method != wanted_method:
                continue
            if pattern is not None and not fnmatchcase(record.path, pattern):
                continue
            if not _status_matches(record.status, status):
                continue
            found.append(record)
        return found

    def last(
        self,
        method: str | None = None,
        path: str | None = None,
        status: int | str | None = None,
    ) -> RecordedRequest:
        """The most recent matching request; ``LookupError`` (listing the log) if none."""
        found = self.filter(method, path, status)
        if not found:
            raise LookupError(
                f"no recorded request matches {_describe(method, path, status)}\n{self._listing()}"
            )
        return found[-1]

    # -- assertions -------------------------------------------------------------------------------

    def assert_called(
        self,
        method: str,
        path: str,
        *,
        times: int | None = None,
        body: Any = None,
        status: int | str | None = None,
    ) -> list[RecordedRequest]:
        """Assert that matching requests were recorded (``times``: exactly that many; else at
        least one); ``body`` matches as a subset of the recorded JSON body. Returns them."""
        candidates = self.filter(method, path, status)
        matched = candidates if body is None else [r for r in candidates if is_subset(body, r.body)]
        if (times is None and matched) or (times is not None and len(matched) == times):
            return matched
        want = "at least once" if times is None else _times(times)
        what = _describe(method, path, status)
        lines = [f"expected {what} to be called {want}"]
        if body is not None:
            lines[0] += f" with a body containing {json.dumps(body, default=str)}"
        lines.append(f"it was called {_times(len(matched))}.")
        if body is not None and candidates:
            lines[-1] = (
                f"{len(candidates)} request(s) matched {what} but {len(matched)} had that body."
            )
            shown: dict[str, int] = {}
            for record in candidates[-3:]:
                if not is_subset(body, record.body):
                    diff = body_diff(body, record.body)
                    if diff in shown:  # a retry or replay of the same body
                        lines.append(f"\n{record.summary()}: same body as #{shown[diff]}")
                    else:
                        shown[diff] = record.index
                        lines.append(f"\n{record.summary()}:\n{diff}")
        lines.append(self._listing())
        raise AssertionError("\n".join(lines))

    def assert_not_called(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        status: int | str | None = None,
    ) -> None:
        """Assert that no recorded request matches (``body`` as a subset, as above)."""
        candidates = self.filter(method, path, status)
        matched = candidates if body is None else [r for r in candidates if is_subset(body, r.body)]
        if not matched:
            return
        what = _describe(method, path, status)
        if body is not None:
            what += f" with a body containing {json.dumps(body, default=str)}"
        lines = [f"expected {what} not to be called; it was called {_times(len(matched))}:"]
        lines.extend(f"  {record.summary()}" for record in matched[-20:])
        lines.append(self._listing())
        raise AssertionError("\n".join(lines))

    def _listing(self) -> str:
        return listing("Recorded requests", self.all())

    def __repr__(self) -> str:
        return (
            f"RequestLog({len(self)} recorded, {self._bytes} bytes, limit={self.limit}, "
            f"byte_limit={self.byte_limit})"
        )


def _count(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
    return value


def _times(n: int) -> str:
    return "once" if n == 1 else f"{n} times"


def _describe(method: str | None, path: str | None, status: int | str | None) -> str:
    text = f"{(method or '*').upper()} {path or '*'}"
    if status is not None:
        text += f" (status {status})"
    return text


class _Summarised(Protocol):
    def summary(self) -> str: ...


def listing(title: str, entries: Sequence[_Summarised], limit: int = 20) -> str:
    """The last ``limit`` entries of a log, one summary a line, for assertion messages."""
    if not entries:
        return f"{title}: none."
    shown = entries[-limit:]
    head = f"{title} ({len(entries)}"
    head += f", last {len(shown)} shown):" if len(shown) < len(entries) else "):"
    return "\n".join([head, *(f"  {entry.summary()}" for entry in shown)])
