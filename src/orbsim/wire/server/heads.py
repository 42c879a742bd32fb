"""Reading a request head: the request line and header fields, strictly (RFC 9112).

A request with both ``Content-Length`` and ``Transfer-Encoding``, a folded header line
(obs-fold), control characters in a header, a repeated ``Content-Length`` / ``Host`` /
``Authorization`` / ``Idempotency-Key``, or an unsupported ``Transfer-Encoding`` or HTTP version
is refused (``BadRequest``, naming the line). Two readings of the fields give the same result:
``_fields_crlf``, one split of the head as clients send it (every line CRLF-terminated), and
``_fields``/``_fields_line_by_line``, the reference reading (bare LFs, refusals, repeated
names), which the fast one falls back to for anything unusual.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from orbsim.wire.server.refusals import bad_request as _bad

_SINGLETONS = frozenset(
    {"content-length", "host", "authorization", "idempotency-key", "transfer-encoding"}
)
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_BAD_TARGET = re.compile(r"[\x00-\x20\x7f]")

_FIELD_LINE = re.compile(
    r"([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*([^\x00-\x08\x0a-\x1f\x7f]*?)[ \t]*\n"
)
"""One well-formed header line (name, value without surrounding whitespace), LF-terminated."""
_FIELD_SPLIT = re.compile(r"([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*([^\x00-\x08\x0a-\x1f\x7f]*)\n")
"""The same lines, the value with its trailing whitespace (greedy: cheaper to match)."""


def _fields(block: str) -> dict[str, str]:
    """The header lines of ``block`` (each LF-terminated) by lower-case name.

    The common case is one ``split`` over the block: it tiles it exactly (every text between
    matches is empty) when every line is well-formed, and no name repeats. Anything else (a
    malformed line to refuse, a repeated name to refuse or combine) takes the line-by-line
    reading, which gives the same fields and the precise refusal."""
    parts = _FIELD_SPLIT.split(block)
    if not any(parts[::3]):
        names = parts[1::3]
        values = parts[2::3]
        fields = {
            name.lower(): value.rstrip(" \t") for name, value in zip(names, values, strict=True)
        }
        if len(fields) == len(names):
            return fields
    return _fields_line_by_line(block)


_FIELD_SPLIT_CRLF = re.compile(
    r"([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*([^\x00-\x08\x0a-\x1f\x7f]*)\r\n"
)
"""``_FIELD_SPLIT`` for lines as clients send them, CRLF-terminated."""


def _fields_crlf(rest: str) -> dict[str, str] | None:
    """The fields of ``rest`` (the head after its request line, every line CRLF-terminated
    but the last) when every line is well-formed, CRLF-terminated, and no name repeats: one
    split, no copy of the head with its CRLFs replaced. None otherwise: ``_fields`` then
    reads the head the reference way (bare LFs, refusals, repeated names)."""
    if not rest:
        return {}
    block = rest + "\r\n"
    parts = _FIELD_SPLIT_CRLF.split(block)
    if any(parts[::3]):
        return None
    names = parts[1::3]
    if " \r" in block or "\t\r" in block:  # trailing whitespace to drop from a value
        values = [value.rstrip(" \t") for value in parts[2::3]]
    else:
        values = parts[2::3]
    fields = dict(zip(map(str.lower, names), values, strict=True))
    return fields if len(fields) == len(names) else None


def _fields_line_by_line(block: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    position = 0
    for found in _FIELD_LINE.finditer(block):
        if found.start() != position:
            break
        position = found.end()
        name, value = found.groups()
        value = value.rstrip(" \t")
        key = name.lower()
        if key in fields:
            if key in _SINGLETONS:
                raise _bad(f"header {name!r} was sent more than once; send it once")
            fields[key] = f"{fields[key]}, {value}"
        else:
            fields[key] = value
    if position != len(block):
        _diagnose(block[position:].split("\n"))
    return fields


def _diagnose(lines: list[str]) -> None:
    """Raise the refusal for the first header line ``_FIELD_LINE`` did not accept."""
    for line in lines:
        if not line:
            continue
        if line[0] in " \t":
            raise _bad(
                f"folded header line {line[:40].strip()!r} (obs-fold, RFC 9112 5.2) is "
                "refused; send each header on one line"
            )
        name, colon, value = line.partition(":")
        if not colon or not _TOKEN.fullmatch(name):
            raise _bad(f"malformed header line {line[:80]!r}")
        if _CONTROL.search(value.strip(" \t")):
            raise _bad(f"header {name!r} contains a control character")
        raise _bad(f"malformed header line {line[:80]!r}")  # pragma: no cover - defensive


class Head:
    """A parsed request head."""

    __slots__ = (
        "chunked",
        "expect",
        "fields",
        "keep_alive",
        "length",
        "method",
        "path",
        "query",
        "target",
        "v10",
    )

    def __init__(self, data: bytes) -> None:
        text = data.decode("latin-1")
        first, _, rest = text.partition("\r\n")
        fields = _fields_crlf(rest) if "\n" not in first else None
        if fields is None:  # read as RFC 9112 allows (bare LFs) and refused precisely
            first, _, rest = text.replace("\r\n", "\n").partition("\n")
        parts = first.split(" ")
        if len(parts) != 3 or not _TOKEN.fullmatch(parts[0]):
            raise _bad(f"malformed request line {first[:80]!r}")
        method, target, version = parts
        if version not in ("HTTP/1.1", "HTTP/1.0"):
            raise _bad(f"HTTP version {version[:20]!r} is not supported; send HTTP/1.1")
        if not target or _BAD_TARGET.search(target):
            raise _bad(f"malformed request target {target[:80]!r}")
        if fields is None:
            fields = _fields(rest + "\n")
        self.method = method.upper()
        self.target = target
        if not target.startswith("/"):  # absolute-form request target
            split = urlsplit(target)
            target = split.path + (f"?{split.query}" if split.query else "")
        self.path, _, self.query = target.partition("?")
        self.v10 = version == "HTTP/1.0"
        self.fields = fields
        connection = fields.get("connection", "").lower()
        if self.v10:
            self.keep_alive = "keep-alive" in connection
        else:
            self.keep_alive = "close" not in connection
        self.expect = not self.v10 and "100-continue" in fields.get("expect", "").lower()
        encoding = fields.get("transfer-encoding")
        length_text = fields.get("content-length")
        if encoding is not None and length_text is not None:
            raise _bad(
                "a request with both Content-Length and Transfer-Encoding is refused "
                "(RFC 9112 6.3); send one of them"
            )
        self.chunked = False
        self.length = 0
        if encoding is not None:
            if encoding.strip().lower() != "chunked":
                raise _bad(f"malformed request body: unsupported Transfer-Encoding {encoding!r}")
            self.chunked = True
        elif length_text is not None:
            digits = length_text.strip()
            if not (digits.isascii() and digits.isdigit()) or len(digits) > 18:
                raise _bad(f"malformed request body: invalid Content-Length {length_text!r}")
            self.length = int(digits)
