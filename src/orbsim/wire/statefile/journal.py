"""The journal's records: their encoding, checksums, and the reading of a journal at start.

``FILE.journal`` holds one record per line, each ``<crc32 of the JSON, 8 hex digits> <JSON>``
(version 3; version-2 journals, and version-1 ones, plain JSON lines without checksums, are still
read). The first record names the state file it continues (``{"format": "orbsim-journal",
"version": 3, "base": <sha256 of FILE's bytes>}``); every other one is a request that may have
changed the state, with the simulator time it ran at, except the marks of compactions,
``{"compacted": <sha256>, "through": <byte offset>}``, appended before the state file with that
digest replaces ``FILE``: "the records before this offset are in it". (Version 2 had a final
``{"sealed": <sha256>}`` instead.)

At start the state file is loaded and the journal replayed when its ``base`` is the state file's
digest (marks skipped), or from the offset of a mark naming the state file's digest (the
compaction that wrote it stopped before replacing the journal; ``begin`` replaces it). A version-2
journal sealed for the state file's digest is skipped. Any other journal does not belong to the
state file (the file was edited, re-indented or replaced): the start stops with a message saying
what was found and how to recover, and nothing is lost. So does a record whose checksum does not
match. Only a last record without its newline is dropped, with a notice: the server stopped in
the middle of writing it, before answering, so that write was never acknowledged. Neither the
``Authorization`` header nor any API key is journalled; a replay authenticates as the server.
"""

from __future__ import annotations

import json
import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from orbsim.wire.messages import WireRequest, decode_body, encode_body

JOURNAL_FORMAT = "orbsim-journal"
JOURNAL_VERSION = 3
_READABLE_VERSIONS = frozenset({1, 2, 3})
_NOISE = frozenset(
    {
        "host",
        "connection",
        "content-length",
        "accept",
        "accept-encoding",
        "user-agent",
        "authorization",
    }
)
"""Request headers left out of the journal: transport details no handler reads, and the
credentials (a replay authenticates as the server itself, ``_replay_auth``)."""


def encode_request(request: WireRequest, at: datetime | None, status: int) -> bytes:
    entry: dict[str, Any] = {
        "at": None if at is None else at.isoformat(),
        "method": request.method,
        "path": request.path,
        "query": request.query,
        "headers": {name: value for name, value in request.headers.items() if name not in _NOISE},
        "status": status,
        **encode_body(request.body),
    }
    return encode_record(entry)


def encode_record(data: dict[str, Any]) -> bytes:
    """One journal line: the CRC-32 of the JSON (8 hex digits), a space, the JSON, LF."""
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    return b"%08x " % zlib.crc32(payload) + payload + b"\n"


class JournalError(ValueError):
    """The journal cannot be replayed safely; the message says what was found and what to do."""


def _parse_record(line: bytes, version: int) -> Any:
    """The JSON of one line, its checksum verified (versions 2 and 3); ValueError says what is
    wrong."""
    if version == 1:
        return json.loads(line)
    crc, space, payload = line.partition(b" ")
    if not space or len(crc) != 8:
        raise ValueError("no checksum")
    try:
        expected = int(crc, 16)
    except ValueError:
        raise ValueError(f"checksum {crc[:8]!r} is not hexadecimal") from None
    if zlib.crc32(payload) != expected:
        raise ValueError("checksum mismatch: the record's bytes changed after it was written")
    return json.loads(payload)


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """One journalled write: the request, the time it ran at (None: admin) and its status."""

    at: datetime | None
    request: WireRequest
    status: int


def _decode_request(data: Any) -> JournalEntry:
    body = decode_body(data)
    at = None if data["at"] is None else datetime.fromisoformat(data["at"])
    headers = {str(k): str(v) for k, v in data["headers"].items()}
    request = WireRequest(data["method"], data["path"], data["query"], headers, body)
    return JournalEntry(at, request, int(data["status"]))


def _notice(message: str) -> None:
    print(f"orbsim: {message}", file=sys.stderr)


@dataclass(frozen=True, slots=True)
class JournalReading:
    """What ``reading`` found: the entries to replay, their lines as written, and whether new
    records may be appended to the file as it is (``end``: the length of its complete records;
    None: ``StateFile.begin`` must replace it)."""

    entries: list[JournalEntry]
    lines: list[bytes]
    end: int | None


_NOTHING = JournalReading([], [], None)


def read_journal(
    path: Path, base: str, notice: Callable[[str], None] = _notice
) -> list[JournalEntry]:
    """The entries of ``path`` to replay onto the state file whose digest is ``base``.

    ``[]`` when there is no journal, or when it was sealed for ``base`` (already folded into the
    state file by a version-2 compaction). A journal started for another state file continues
    ``base`` from a ``compacted`` record naming ``base``: the records before that record's
    ``through`` offset are in the state file. A last line without its newline is a write the
    process died in the middle of: that request was never answered, so it is dropped and
    ``notice`` says so. Anything else that does not fit (another state file's journal, a damaged
    record) raises ``JournalError``, whose message says what was found and how to recover.
    """
    return reading(path, base, notice).entries


def reading(path: Path, base: str, notice: Callable[[str], None] = _notice) -> JournalReading:
    """``read_journal``, with the lines and whether the file can be continued."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return _NOTHING
    lines = raw.split(b"\n")
    complete, torn = lines[:-1], lines[-1]
    if torn:
        notice(
            f"{path} ends with an incomplete record ({len(torn)} bytes): the server stopped "
            "while persisting that write, before acknowledging it; it is dropped"
        )
    if not complete:
        return _NOTHING
    version, header = _read_header(path, complete[0])
    records: list[tuple[int, bytes, Any]] = []
    offset = len(complete[0]) + 1
    for number, line in enumerate(complete[1:], start=2):
        try:
            records.append((offset, line, _parse_record(line, version)))
        except ValueError as exc:
            raise JournalError(
                f"{path}: record {number} of {len(complete)} (at byte {offset}) is damaged: "
                f"{exc}. The {number - 2} writes before it are intact; those after it cannot be "
                "trusted. To recover: restore the journal from a copy, or keep the intact writes "
                f"and lose the rest with `truncate -s {offset} {path}`, then start again"
            ) from None
        offset += len(line) + 1
    end: int | None = offset if version == JOURNAL_VERSION else None
    sealed = None
    if records and isinstance(records[-1][2], dict) and "sealed" in records[-1][2]:
        sealed = records.pop()[2]["sealed"]
        end = None  # a version-2 compaction's seal: never appended to
    if header.get("base") != base:
        through = None
        for _, _, data in records:
            if isinstance(data, dict) and data.get("compacted") == base:
                through = data.get("through")
        if sealed == base:
            return _NOTHING  # folded into the state file by a compaction that stopped halfway
        if not isinstance(through, int):
            raise JournalError(
                f"{path} does not belong to the state file {path.with_suffix('')}: it continues "
                f"a state file whose sha256 is {str(header.get('base'))[:16]}..., the state "
                f"file's is {base[:16]}... ({len(_requests(records))} journalled writes would be "
                "lost). The state file was changed or replaced after the journal was started. "
                "To recover: put back the state file the journal continues; or, to start from "
                f"the state file as it is and lose those writes, move {path} aside"
            )
        records = [record for record in records if record[0] >= through]
        end = None  # a compaction replaced the state file: the journal is replaced too
    kept = _requests(records)
    entries = []
    for number, (_, _, data) in enumerate(kept, start=2):
        try:
            entries.append(_decode_request(data))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise JournalError(
                f"{path}:{number}: unreadable journal entry ({exc!r}); restore the journal "
                f"from a copy or move {path} aside to start without it"
            ) from None
    return JournalReading(entries, [line for _, line, _ in kept], end)


def _requests(records: list[tuple[int, bytes, Any]]) -> list[tuple[int, bytes, Any]]:
    """The records that are requests (not a compaction's marks)."""
    return [r for r in records if not (isinstance(r[2], dict) and "compacted" in r[2])]


def _read_header(path: Path, line: bytes) -> tuple[int, dict[str, Any]]:
    version = 1 if line.startswith(b"{") else 2
    try:
        header = _parse_record(line, version)
        if version == 2 and isinstance(header, dict) and header.get("version") == 3:
            version = 3  # the same line format, with compaction marks
    except ValueError:
        raise JournalError(
            f"{path}: not an orbsim journal (unreadable first line); move it aside to start "
            "without it"
        ) from None
    if not isinstance(header, dict) or header.get("format") != JOURNAL_FORMAT:
        raise JournalError(f"{path}: not an orbsim journal; move it aside to start without it")
    if header.get("version") not in _READABLE_VERSIONS or header.get("version") != version:
        raise JournalError(f"{path}: unsupported journal version {header.get('version')!r}")
    return version, header


def encode_header(base: str) -> bytes:
    return encode_record({"format": JOURNAL_FORMAT, "version": JOURNAL_VERSION, "base": base})
