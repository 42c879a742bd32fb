"""State files: the account state (``orbsim.engine.state.AccountState``) as versioned JSON.

``OrbSim.dump(path)`` writes one (atomically: temporary file in the same directory, fsync,
``os.replace``) and ``OrbSim.load(path)`` builds a new simulator from one. The document
(version 2)::

    {"format": "orbsim-state", "version": 2,
     "clock": {"now": iso, "manual": bool},
     "state": {<field of AccountState>: <its encoding>, ...},
     "extensions": {"idempotency": [...the Idempotency-Key store...]}}

``state`` holds every field of ``AccountState`` except the ``derived`` indexes (rebuilt on load),
in field order. How each field is encoded is ``orbsim.statefile.fields.CODECS[name]``, or, for a
field without an entry, its type annotation (``pydantic.TypeAdapter``). Times are ISO 8601 strings
with their UTC offset; the file is compact JSON unless ``dump(path, indent=2)`` asks for one meant
for people; never a pickle. Records are listed in the engine's own order (creation order); events
in an order consistent with every index of the event store (their ingestion order), so every list
the engine keeps comes back identical.

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
import json
import os
import tempfile
import typing
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from pydantic import TypeAdapter, ValidationError

from orbsim.engine.state import DERIVED, AccountState
from orbsim.statefile._reader import Reader
from orbsim.statefile.fields import CODECS, Decoded, FieldCodec
from orbsim.statefile.migrations import upgrade

__all__ = [
    "FORMAT",
    "VERSION",
    "StateDocument",
    "decode",
    "dumps",
    "encode",
    "read",
    "write_atomically",
]

FORMAT: Final = "orbsim-state"
VERSION: Final = 2


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


def encode_state(state: AccountState) -> dict[str, Any]:
    """Every persisted field of ``state`` as JSON data (references to live objects: turn it
    into text before the state changes)."""
    cls = type(state)
    return {
        f.name: _codec(cls, f.name).encode(getattr(state, f.name), state) for f in _persisted(cls)
    }


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
    return {
        "format": FORMAT,
        "version": VERSION,
        "clock": {"now": taken_at.isoformat(), "manual": manual_clock},
        "state": encode_state(state),
        "extensions": dict(extensions or {}),
    }


def dumps(
    state: AccountState,
    *,
    taken_at: datetime,
    manual_clock: bool,
    extensions: dict[str, Any] | None = None,
    indent: int | None = None,
) -> str:
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
    try:
        data = json.loads(Path(path).read_bytes())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{os.fspath(path)} is not an orbsim state file: {exc}") from None
    return decode(data, cls)


def write_atomically(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data``: a temporary file in the same directory, fsync, rename."""
    directory = path.parent
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    with contextlib.suppress(OSError):  # make the rename durable too (POSIX)
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
