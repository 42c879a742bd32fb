"""State files: the account state (``orbsim.engine.state.AccountState``) as versioned JSON.

``OrbSim.dump(path)`` writes one (atomically: temporary file in the same directory, fsync,
``os.replace``) and ``OrbSim.load(path)`` builds a new simulator from one. The document
(version 4)::

    {"format": "orbsim-state", "version": 4,
     "clock": {"now": iso, "manual": bool},
     "extensions": {"idempotency": [...the Idempotency-Key store...]},
     "state": {<field of AccountState>: <its encoding>, ..., "events": [{block}, ...]}}

``state`` holds every field of ``AccountState`` except the ``derived`` indexes (rebuilt on load),
in field order, except ``events``, the bulk, which comes last: blocks of columns
(``orbsim.statefile.events``), in ingestion order, so every list the engine keeps comes back
identical. How each field is encoded is ``orbsim.statefile.fields.CODECS[name]``, or, for a
field without an entry, its type annotation (``pydantic.TypeAdapter``). Times are written as the
API writes them (UTC, ``Z``, a fraction only as far as needed; a time kept in a customer's zone
keeps its offset); any ISO 8601 time with an offset is read. The file is compact JSON unless
``dump(path, indent=2)`` asks for one meant for people; never a pickle. Records are listed in the
engine's own order (creation order).

``snapshot(state, ...)``, called under the engine's lock, costs O(everything but the events): it
encodes the small fields at once and freezes the events (``EventStore.freeze``: no copy); its
``chunks()`` then yield the file's bytes from any thread while the engine goes on, so a large
state is written (``orbsim serve --state``'s compactions, ``sim.dump``) or streamed
(``GET /_orbsim/state``) without holding the lock and in bounded memory.

Evolving the format: a field added to ``AccountState`` with a default is simply absent from older
files and takes its default on load (no version change needed). A change of meaning or shape bumps
``VERSION`` and adds a step to ``orbsim.statefile.migrations``; files of every earlier version stay
loadable (version 1, written by orbsim 0.1, is migrated).

``extensions`` carries state kept above the engine: the facade puts the HTTP layer's
``Idempotency-Key`` store there.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import hashlib
import json
import os
import tempfile
import typing
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from pydantic import TypeAdapter, ValidationError

from orbsim.engine.state import DERIVED, AccountState
from orbsim.engine.store import FrozenEvents
from orbsim.statefile._reader import Reader
from orbsim.statefile.events import BLOCK, event_block
from orbsim.statefile.fields import CODECS, Decoded, FieldCodec
from orbsim.statefile.migrations import upgrade
from orbsim.statefile.times import state_time

__all__ = [
    "FORMAT",
    "VERSION",
    "Snapshot",
    "StateDocument",
    "decode",
    "dumps",
    "encode",
    "read",
    "snapshot",
    "write_atomically",
    "write_chunks_atomically",
]

FORMAT: Final = "orbsim-state"
VERSION: Final = 4
_BULK = "events"
"""The field written last, block by block (``Snapshot.chunks``)."""
_COMPACT = (",", ":")


@dataclass(frozen=True, slots=True)
class StateDocument:
    """A decoded state file."""

    state: AccountState
    taken_at: datetime
    """The simulator's time when the file was written."""
    manual_clock: bool
    """Whether it was written from a ManualClock."""
    extensions: dict[str, Any]


def _persisted(cls: type[AccountState]) -> list[dataclasses.Field[Any]]:
    return [f for f in dataclasses.fields(cls) if not f.metadata.get(DERIVED)]


_GENERIC: dict[tuple[type[AccountState], str], FieldCodec] = {}


def generic_codec(cls: type[AccountState], name: str) -> FieldCodec:
    """The codec of a field without an entry in ``CODECS``: its type annotation, through
    ``pydantic.TypeAdapter`` (dataclasses, dicts, lists, datetimes, Decimals, ... of it)."""
    found = _GENERIC.get((cls, name))
    if found is None:
        found = _GENERIC[cls, name] = _generic_codec(cls, name)
    return found


def _generic_codec(cls: type[AccountState], name: str) -> FieldCodec:
    adapter: TypeAdapter[Any] = TypeAdapter(typing.get_type_hints(cls)[name])

    def encode(value: Any, state: AccountState) -> Any:
        return adapter.dump_python(value, mode="json")

    def decode(doc: Reader, key: str, decoded: Decoded) -> Any:
        try:
            return adapter.validate_python(doc.get(key))
        except ValidationError as exc:
            raise ValueError(f"{doc.where}.{key}: {exc}") from None

    return FieldCodec(encode, decode)


def _codec(cls: type[AccountState], name: str) -> FieldCodec:
    found = CODECS.get(name)
    return found if found is not None else generic_codec(cls, name)


def encode_state(state: AccountState, *, bulk: bool = True) -> dict[str, Any]:
    """Every persisted field of ``state`` as JSON data, ``events`` last (left out if not
    ``bulk``); references to live objects: turn it into text before the state changes."""
    cls = type(state)
    fields = [f for f in _persisted(cls) if f.name != _BULK]
    if bulk:
        fields += [f for f in _persisted(cls) if f.name == _BULK]
    return {f.name: _codec(cls, f.name).encode(getattr(state, f.name), state) for f in fields}


def decode_state(doc: Reader, cls: type[AccountState] = AccountState) -> AccountState:
    """The state of an ``encode_state`` document, with its indexes rebuilt."""
    decoded: dict[str, Any] = {}
    for f in _persisted(cls):
        has_default = f.default is not dataclasses.MISSING or (
            f.default_factory is not dataclasses.MISSING
        )
        if f.name not in doc.data and has_default and f.name not in CODECS:
            continue  # a field newer than the file: it takes its default
        decoded[f.name] = _codec(cls, f.name).decode(doc, f.name, decoded)
    state = cls(**decoded)
    state.reindex()
    return state


def encode(
    state: AccountState,
    *,
    taken_at: datetime,
    manual_clock: bool,
    extensions: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The JSON document (plain data) of ``state`` at ``taken_at``."""
    return _document(state, taken_at, manual_clock, extensions, bulk=True)


def _document(
    state: AccountState,
    taken_at: datetime,
    manual_clock: bool,
    extensions: dict[str, Any] | None,
    *,
    bulk: bool,
) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "version": VERSION,
        "clock": {"now": state_time(taken_at), "manual": manual_clock},
        "extensions": dict(extensions or {}),
        "state": encode_state(state, bulk=bulk),
    }


class Snapshot:
    """A state as it was when ``snapshot`` was called, as the bytes of its state file.

    ``chunks()`` may run on any thread, while the engine goes on; it yields the document's
    opening (encoded at once), then one block of events at a time (``BLOCK`` events), then its
    closing. The frozen events are released when the chunks are done (or closed), or by
    ``release``."""

    def __init__(self, head: bytes, events: FrozenEvents, tail: bytes) -> None:
        self.head = head
        self.events = events
        self.tail = tail

    def chunks(self, size: int = BLOCK) -> Iterator[bytes]:
        try:
            yield self.head
            separator = b""
            for frozen in self.events.slices(size):
                encoded = event_block(frozen)
                yield (
                    separator
                    + json.dumps(
                        encoded, ensure_ascii=False, allow_nan=False, separators=_COMPACT
                    ).encode()
                )
                separator = b","
            yield self.tail
        finally:
            self.release()

    def release(self) -> None:
        self.events.release()


def snapshot(
    state: AccountState,
    *,
    taken_at: datetime,
    manual_clock: bool,
    extensions: dict[str, Any] | None = None,
    hide_api_keys: bool = False,
) -> Snapshot:
    """``state`` frozen now, for ``Snapshot.chunks``: call it under the engine's lock (it
    encodes every field but the events, and freezes those). ``hide_api_keys`` writes
    ``settings.api_keys`` as null."""
    document = _document(state, taken_at, manual_clock, extensions, bulk=False)
    settings = document["state"].get("settings")
    if hide_api_keys and isinstance(settings, dict) and settings.get("api_keys") is not None:
        settings["api_keys"] = None
    text = json.dumps(document, ensure_ascii=False, allow_nan=False, separators=_COMPACT)
    opening = text[:-2]  # the document ends with the state's and its own closing braces
    head = opening + ("," if document["state"] else "") + f'"{_BULK}":['
    return Snapshot(head.encode(), state.events.freeze(), b"]}}")


def dumps(
    state: AccountState,
    *,
    taken_at: datetime,
    manual_clock: bool,
    extensions: dict[str, Any] | None = None,
    indent: int | None = None,
) -> str:
    if indent is None:
        frozen = snapshot(
            state, taken_at=taken_at, manual_clock=manual_clock, extensions=extensions
        )
        return b"".join(frozen.chunks()).decode()
    document = encode(state, taken_at=taken_at, manual_clock=manual_clock, extensions=extensions)
    return json.dumps(document, indent=indent, ensure_ascii=False, allow_nan=False)


def decode(data: Any, cls: type[AccountState] = AccountState) -> StateDocument:
    """A state from a JSON document of any version this orbsim reads; ValueError otherwise."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        found = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise ValueError(f"not an orbsim state file: format is {found!r}, expected {FORMAT!r}")
    version = data.get("version")
    if type(version) is not int or not 1 <= version <= VERSION:
        raise ValueError(
            f"unsupported orbsim state file version {version!r}: this orbsim reads versions "
            f"1 to {VERSION}"
        )
    try:
        doc = Reader(upgrade(data, version, VERSION), "state")
        clock = doc.reader("clock")
        taken_at = clock.time("now")
        manual = clock.flag("manual")
        state = decode_state(doc.reader("state"), cls)
        extensions = doc.mapping("extensions")
    except ValidationError as exc:
        raise ValueError(f"invalid orbsim state file: {exc}") from None
    except (TypeError, KeyError, AttributeError) as exc:
        raise ValueError(f"invalid orbsim state file: {exc!r}") from None
    return StateDocument(state, taken_at, manual, extensions)


def read(path: str | os.PathLike[str], cls: type[AccountState] = AccountState) -> StateDocument:
    """Load ``path``. The cyclic garbage collector is paused meanwhile: a million events are
    millions of new objects, which would otherwise trigger a dozen full collections (a load of a
    million events took 5.6 s of CPU with it running, 3.5 s without:
    ``benchmarks/bench_state_formats.py``)."""
    paused = gc.isenabled()
    gc.disable()
    try:
        try:
            data = json.loads(Path(path).read_bytes())
        except json.JSONDecodeError as exc:
            raise ValueError(f"{os.fspath(path)} is not an orbsim state file: {exc}") from None
        return decode(data, cls)
    finally:
        if paused:
            gc.enable()


def write_atomically(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data``: a temporary file in the same directory, fsync, rename."""
    write_chunks_atomically(path, (data,))


def write_chunks_atomically(path: Path, chunks: Iterable[bytes]) -> str:
    """Replace ``path`` with the concatenated ``chunks`` (temporary file in the same directory,
    fsync, rename, fsync of the directory); returns the sha256 of what was written."""
    directory = path.parent
    digest = hashlib.sha256()
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            for chunk in chunks:
                handle.write(chunk)
                digest.update(chunk)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    sync_directory(directory)
    return digest.hexdigest()


def sync_directory(directory: Path) -> None:
    """Make a rename in ``directory`` durable (POSIX); best effort."""
    with contextlib.suppress(OSError):
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
