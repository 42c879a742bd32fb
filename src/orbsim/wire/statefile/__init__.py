"""``orbsim serve --state FILE``: a state file plus a write-ahead journal of committed writes.

Why a journal and not ``sim.dump`` after every write: a dump re-serialises the whole state (and
fsyncs it): 16 ms with a few hundred events stored, 64 ms at 3,000, 185 ms at 10,000 on the
project's 2-core machine (``benchmarks/bench_state_file.py``), so writing it on every request makes
each write cost O(state) and a suite O(writes x state). Appending one line per write costs about
17 µs whatever the state holds. The state file is rewritten (compacted)
whenever the journal grows larger than the state file or than ``_JOURNAL_LIMIT``, so the amortised
cost per write stays constant and a restart replays a bounded journal; and at start and shutdown
too while it is at most ``_REWRITE_LIMIT`` (16 MiB), so that a small state file alone holds
everything after a clean stop, while a large one costs no O(state) rewrite to stop or start (the
fsynced journal stays beside it and the next start continues it). A compaction holds the lock
only to take a snapshot (``StateFile`` says how it runs, and why a stop at any step is safe).

Files (all 0600): ``FILE`` is an ordinary ``sim.dump`` state file, ``FILE.journal`` its journal,
``FILE.lock`` its lock. The package's modules, one job each (every public name is re-exported
here):

* ``clocks``: the pinnable clocks, and why a replay is deterministic;
* ``journal``: the journal's record format, its checksums and its reading (``JournalError``);
* ``lock``: ``StateLock``, one owner per state file (``StateFileInUse``);
* here: ``StateFile``, its compactions and their limits.

What is journalled, and when: mutating requests (every method but GET/HEAD/OPTIONS) run under the
simulator's lock together with the journal append, so the journal's order is the order in which
the engine applied them, and no other request can see a write before it is on disk. The response
is written to the socket only after the append returned: the server never acknowledges a write it
has not persisted. A line is appended for every 2xx answer (a ``lost_response`` fault keeps the
status of the answer it swallowed, so such writes are journalled too) and for every answer the
``Idempotency-Key`` store kept (a stored 4xx must replay after a restart too); other 4xx answers
changed nothing (a refused request never changes state) and are not written. An injected fault
that stopped the request before it ran (a dropped connection, or a status fault, marked
``Transient-Error``) changed nothing either. Any other answer of 500 or above may hide a change
committed before something failed, so it triggers a compaction instead, finished (off the lock)
before that answer is sent: the state file then holds whatever the request did.

Durability: an append is a ``write(2)`` of one whole line to a file opened with ``O_APPEND``. Once
it returns the data is in the kernel, so it survives the process being killed (SIGKILL included)
but not a crash of the machine; compactions write and fsync the new state file before renaming
it, and fsync the mark that names it before that.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from orbsim import statefile
from orbsim.errors import OrbInternalServerError
from orbsim.wire.codec import problem_response
from orbsim.wire.faults import BEFORE_DISPATCH
from orbsim.wire.idempotency import REPLAYED
from orbsim.wire.messages import (
    WireRequest,
    WireResponse,
    api_path,
    is_admin,
)
from orbsim.wire.statefile.clocks import PinnableClock, PinnableManualClock, PinnableSystemClock
from orbsim.wire.statefile.journal import (
    JOURNAL_FORMAT,
    JOURNAL_VERSION,
    JournalEntry,
    JournalError,
    JournalReading,
    encode_header,
    encode_record,
    encode_request,
    read_journal,
    reading,
)
from orbsim.wire.statefile.lock import StateFileInUse, StateLock

if TYPE_CHECKING:
    from orbsim.sim import OrbSim

__all__ = [
    "JOURNAL_FORMAT",
    "JOURNAL_VERSION",
    "SAFE_METHODS",
    "Dispatch",
    "JournalEntry",
    "JournalError",
    "JournalReading",
    "PinnableClock",
    "PinnableManualClock",
    "PinnableSystemClock",
    "StateFile",
    "StateFileInUse",
    "StateLock",
    "read_journal",
    "reading",
]

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_COMPACT_AT_LEAST = 1 << 20
"""The journal is compacted once it is larger than the state file and than this many bytes."""
_JOURNAL_LIMIT = 2 << 20
"""... and at the latest once it is larger than this, so a restart replays at most this much
(about 5,500 single-event ingests, about 0.6 s of CPU; 8 MiB cost 2.4 s at a million events):
compactions run off the lock, so they cost CPU (about 3 s at a million events), not waiting
requests."""
_JOURNALLED_ADMIN = frozenset({"/_orbsim/clock/advance", "/_orbsim/reset"})
"""Admin writes that change the state: journalled without a time, replayed as they ran."""
_REWRITE_LIMIT = 16 << 20
"""A state file larger than this is not rewritten at start and shutdown (a dump is O(state):
about a second at this size, 15 s at a million events, past a typical 10 s kill grace): the
server continues the journal it replayed, and leaves it, fsynced, for the next start."""

Dispatch = Callable[["OrbSim", WireRequest], WireResponse]


def _never_ran(response: WireResponse) -> bool:
    """An injected fault that stopped the request before the simulator ran it: a dropped
    connection (``connect_error``/``read_timeout``) or a status fault (``Transient-Error``)."""
    return response.transport_fault in BEFORE_DISPATCH or response.header("Transient-Error") == (
        "true"
    )


# -- the state file --------------------------------------------------------------------------------


def _checkpoint(step: str) -> None:
    """Called between the steps of a compaction (``_Compaction.run``); tests make it raise to
    stop a compaction there, as a crash would."""


class _Compaction:
    """One compaction: the snapshot taken under the lock at journal offset ``through``, written
    out by ``StateFile._run`` (off the lock, on its own thread unless run inline)."""

    def __init__(self, snapshot: statefile.Snapshot, through: int) -> None:
        self.snapshot = snapshot
        self.through = through
        self.done = threading.Event()
        self.cancelled = False
        self.error: BaseException | None = None

    def write_state(self, temp: Path) -> tuple[str | None, int]:
        """The snapshot into ``temp``, fsynced: its sha256 and size (None: cancelled)."""
        digest = hashlib.sha256()
        size = 0
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            for chunk in self.snapshot.chunks():
                if self.cancelled:
                    break
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view) :]
                digest.update(chunk)
                size += len(chunk)
            else:
                os.fsync(fd)
                return digest.hexdigest(), size
        finally:
            os.close(fd)
        temp.unlink()
        return None, size


def _read_range(path: Path, start: int, stop: int) -> bytes:
    if stop <= start:
        return b""
    with path.open("rb") as handle:
        handle.seek(start)
        return handle.read(stop - start)


class StateFile:
    """Keeps ``path`` (and ``path.journal``) in step with one simulator served over HTTP.

    Use ``dispatch`` as the server's dispatch function; call ``replay`` and ``begin`` at start
    and ``close`` after the server stopped. ``on_failure`` is called (once) if the files cannot
    be written: the write that failed is answered 500 and every later write too, so nothing
    unpersisted is ever acknowledged; the caller should then stop serving. ``on_compacted`` is
    called after each compaction that replaced the files (from its thread; ``orbsim serve``
    passes ``gc.freeze``, see the Behaviour notes).

    Compactions run off the lock: under it, a snapshot is taken (``OrbSim.state_snapshot``: the
    small fields encoded, the events frozen, a few milliseconds at a million events) at the
    journal's current offset; a background thread writes and fsyncs the new state file, marks
    the journal ``{"compacted": <its sha256>, "through": <offset>}``, replaces the state file,
    then replaces the journal with one holding only the records written since the snapshot.
    Writes go on being journalled meanwhile. A stop at any step loses nothing: before the
    state file is replaced, the old one and the whole journal are what a start replays; after,
    the mark says which records the new state file already holds.
    """

    def __init__(
        self,
        sim: OrbSim,
        path: str | os.PathLike[str],
        inner: Dispatch,
        *,
        on_failure: Callable[[BaseException], None] | None = None,
        lock: StateLock | None = None,
        on_compacted: Callable[[], None] | None = None,
    ) -> None:
        self.sim = sim
        self.on_compacted = on_compacted
        self.clock  # noqa: B018 - fail now, not at the first write, on an unpinnable clock
        self.path = Path(path)
        self.journal_path = self.path.with_name(self.path.name + ".journal")
        self.inner = inner
        self.on_failure = on_failure
        self.failed: BaseException | None = None
        self.closed = False
        self.journalled = 0
        """Entries in the journal (written since the state file's snapshot)."""
        self.compactions = 0
        self._fd = -1
        self._journal_bytes = 0
        self._state_bytes = 0
        self._reading: JournalReading | None = None
        """What ``replay`` found, for ``begin``."""
        self._replayed_base: str | None = None
        """The sha256 of the state file ``replay`` read, for ``begin`` (nothing writes the file
        between them, and hashing a large one twice costs a restart about 0.1 s per 100 MB)."""
        self._compaction: _Compaction | None = None
        """The compaction in progress, if any (one at a time)."""
        self.lock = lock
        """Taken (if not given) by the first ``compact``: only the owner writes the files."""

    @property
    def clock(self) -> PinnableClock:
        """The simulator's clock, which must be pinnable (it may be replaced before serving)."""
        clock = self.sim.clock
        if not isinstance(clock, PinnableSystemClock | PinnableManualClock):
            raise TypeError(
                "StateFile needs a simulator on a PinnableSystemClock or PinnableManualClock, "
                f"got {clock!r}"
            )
        return clock

    # -- start and stop --------------------------------------------------------------------------

    def replay(self, digest: str | None = None) -> int:
        """Replay the journal left by the previous run (if it continues ``path``); returns the
        number of entries replayed. Call after loading ``path`` and before serving; ``digest``:
        the sha256 of ``path``, if the caller took it already (``orbsim serve`` takes it while
        the state loads)."""
        dispatch = self.inner
        if not self.path.exists():
            return 0
        base = digest or hashlib.sha256(self.path.read_bytes()).hexdigest()
        found = reading(self.journal_path, base)
        self._reading = found
        self._replayed_base = base
        sim = self.sim
        for number, entry in enumerate(found.entries, start=1):
            request = _with_auth(entry.request, _replay_auth(sim))
            with sim.lock, sim.webhooks.muted():  # its webhooks went out the first time
                if entry.at is None:
                    response = dispatch(sim, request)
                else:
                    with self.clock.pinned(entry.at):
                        response = dispatch(sim, request)
            if response.status != entry.status:  # pragma: no cover - a determinism bug
                print(
                    f"orbsim: journal entry {number} ({entry.request.method} "
                    f"{entry.request.path}) replayed with status {response.status}, "
                    f"originally {entry.status}",
                    file=sys.stderr,
                )
        # The replay is not traffic: the request log and rate-limit buckets start empty.
        sim.wire.requests.clear()
        sim.wire.limiter.reset()
        return len(found.entries)

    def begin(self) -> None:
        """Start persisting, after ``replay``: first a journal that continues the state file
        with exactly what was replayed: the replayed one, continued in place (a torn last
        record cut off first, so appends never join it), or, if it cannot be (a compaction had
        replaced the state file but not yet the journal, or an older journal version), a new
        one holding the replayed records. Then, if the state file is at most
        ``_REWRITE_LIMIT``, ``compact``; a larger one costs no rewrite at a restart."""
        with self.sim.lock:
            if self.lock is None:
                self.lock = StateLock(self.path)
            found = self._reading
            base, self._replayed_base = self._replayed_base, None  # None: nothing was replayed
            size = self.path.stat().st_size if self.path.exists() else 0
            if found is not None and self.journal_path.exists():
                if found.end is not None:
                    os.truncate(self.journal_path, found.end)
                    self._switch_journal(found.end, size)
                else:
                    assert base is not None  # replay read the state file to find this journal
                    data = encode_header(base) + b"".join(line + b"\n" for line in found.lines)
                    temp = self.journal_path.with_name(f".{self.journal_path.name}.tmp")
                    statefile.write_atomically(temp, data)
                    os.replace(temp, self.journal_path)
                    self._switch_journal(len(data), size)
                self.journalled = len(found.entries)
            if size > _REWRITE_LIMIT and self._fd < 0:
                # a large state file without a journal (a dump): no rewrite
                self._new_journal(base)
            if size <= _REWRITE_LIMIT:
                self.compact()

    def compact_later(self) -> bool:
        """Start a compaction off the lock, unless one is in progress (True if started)."""
        with self.sim.lock:
            if self._compaction is not None or self.closed or self.failed is not None:
                return False
            self._start_compaction(background=True)
            return True

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the compaction in progress, if any; False if it is still running."""
        running = self._compaction
        return running is None or running.done.wait(timeout)

    def compact(self) -> None:
        """Write the whole state to ``path`` and start a journal continuing it, now (waiting for
        a compaction in progress first)."""
        while True:
            with self.sim.lock:
                running = self._compaction
                if running is None:
                    compaction = self._start_compaction(background=False)
                    break
            running.done.wait()
        self._run(compaction)
        if compaction.error is not None:
            raise compaction.error

    def _start_compaction(self, *, background: bool) -> _Compaction:
        """Under the lock: a snapshot at the journal's end; a first journal if there is none."""
        if self.lock is None:
            self.lock = StateLock(self.path)
        if self._fd < 0:
            self._new_journal()
        compaction = _Compaction(self.sim.state_snapshot(), self._journal_bytes)
        self._compaction = compaction
        if background:
            name = "orbsim-compaction"
            threading.Thread(target=self._run, args=(compaction,), name=name, daemon=True).start()
        return compaction

    def _run(self, compaction: _Compaction) -> None:
        """The steps of a compaction after its snapshot (see the class docstring), with a
        ``_checkpoint`` between each; any failure is reported through ``_fail``."""
        temp = self.path.with_name(f".{self.path.name}.compacting")
        journal_temp = self.journal_path.with_name(f".{self.journal_path.name}.tmp")
        try:
            _checkpoint("snapshot")
            digest, size = compaction.write_state(temp)
            if digest is None:
                return
            _checkpoint("written")
            with self.sim.lock:
                if compaction.cancelled:
                    temp.unlink()
                    return
                mark_at = self._journal_bytes
                mark = encode_record({"compacted": digest, "through": compaction.through})
                self._write(mark)
                copied_to = self._journal_bytes
                fd = self._fd
            os.fsync(fd)  # the mark is durable before the state file it names replaces the old
            _checkpoint("marked")
            os.replace(temp, self.path)
            statefile.sync_directory(self.path.parent)
            _checkpoint("replaced")
            header = encode_header(digest)
            tail = _read_range(self.journal_path, compaction.through, mark_at)
            tail += _read_range(self.journal_path, mark_at + len(mark), copied_to)
            out = os.open(journal_temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.write(out, header + tail)
                os.fsync(out)
                _checkpoint("journal copied")
                with self.sim.lock:
                    rest = _read_range(self.journal_path, copied_to, self._journal_bytes)
                    os.write(out, rest)
                    os.replace(journal_temp, self.journal_path)
                    self._switch_journal(len(header) + len(tail) + len(rest), size)
                    self.journalled = (tail + rest).count(b"\n")
                    self.compactions += 1
            finally:
                os.close(out)
            if self.on_compacted is not None:
                self.on_compacted()
        except BaseException as exc:
            compaction.error = exc
            for leftover in (temp, journal_temp):
                with contextlib.suppress(OSError):
                    leftover.unlink()
            with self.sim.lock:
                if not compaction.cancelled:
                    self._fail(exc)
        finally:
            compaction.snapshot.release()
            with self.sim.lock:
                if self._compaction is compaction:
                    self._compaction = None
            compaction.done.set()

    def _state_digest(self) -> str:
        """The sha256 of the state file as it is now ("": there is none)."""
        return hashlib.sha256(self.path.read_bytes()).hexdigest() if self.path.exists() else ""

    def _new_journal(self, base: str | None = None) -> None:
        """An empty journal continuing whatever ``path`` is now (none: an empty state);
        ``base`` is its sha256 when the caller already has it."""
        header = encode_header(self._state_digest() if base is None else base)
        temp = self.journal_path.with_name(f".{self.journal_path.name}.tmp")
        statefile.write_atomically(temp, header)
        os.replace(temp, self.journal_path)
        self._switch_journal(len(header), self.path.stat().st_size if self.path.exists() else 0)
        self.journalled = 0

    def _switch_journal(self, length: int, state_bytes: int) -> None:
        """Append to the file now at ``journal_path`` (``length`` bytes long)."""
        self._close_journal()
        os.chmod(self.journal_path, 0o600)
        self._fd = os.open(self.journal_path, os.O_WRONLY | os.O_APPEND)
        self._journal_bytes = length
        self._state_bytes = state_bytes

    def close(self) -> None:
        """After the server stopped: a compaction in progress is abandoned (the files it leaves
        are a consistent pair, as at any step); when the state file is larger than
        ``_REWRITE_LIMIT``, the journal is fsynced and left beside it (a stop costs no
        rewrite), else a final compaction leaves the state file alone; then the lock is
        released."""
        with self.sim.lock:
            self.closed = True
            running = self._compaction
            if running is not None:
                running.cancelled = True
        if running is not None:
            running.done.wait()
        with self.sim.lock:
            try:
                if self.failed is not None:
                    self._close_journal()
                elif self._state_bytes > _REWRITE_LIMIT and self._fd >= 0:
                    os.fsync(self._fd)  # the journal continues the state file: fast to stop
                    self._close_journal()
                else:
                    self.compact()
                    self._close_journal()
                    with contextlib.suppress(FileNotFoundError):
                        self.journal_path.unlink()
            finally:
                if self.lock is not None:
                    self.lock.release()

    def _close_journal(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    # -- serving ---------------------------------------------------------------------------------

    def dispatch(self, sim: OrbSim, request: WireRequest) -> WireResponse:
        """The server's dispatch: reads pass through; writes are persisted before answering."""
        method = request.method.upper()
        if method in SAFE_METHODS:
            return self.inner(sim, request)
        with sim.lock:
            if self.failed is not None:
                return _refused(self.failed)
            if self.closed:  # a straggler after the final save: it must not run unrecorded
                return problem_response(
                    OrbInternalServerError("orbsim is shutting down; the request did not run")
                )
            admin = is_admin(request.path)
            store = sim.wire.idempotency
            kept = store.stored
            at: datetime | None = None
            if admin:
                response = self.inner(sim, request)
            else:
                at = self.clock.now()
                with self.clock.pinned(at):
                    response = self.inner(sim, request)
            try:
                unknown = self._persist(
                    request,
                    response,
                    at,
                    admin,
                    sim.wire.idempotency is store and store.stored != kept,
                )
            except Exception as exc:
                return self._fail(exc)
        if unknown:
            try:  # off the lock: other requests go on while the state is written
                self.compact()
            except Exception as exc:
                with sim.lock:
                    return self._fail(exc)
        return response

    def _persist(
        self,
        request: WireRequest,
        response: WireResponse,
        at: datetime | None,
        admin: bool,
        stored: bool,
    ) -> bool:
        """Append ``request`` to the journal if it may have changed the state (see the module
        docstring); True when its effect cannot be known from the answer (then the caller
        compacts before answering)."""
        status = response.status
        if admin:
            path = api_path(request.path)
            if status < 300 and path in _JOURNALLED_ADMIN:
                self._append(encode_request(request, None, status))
            return False
        if stored or (200 <= status < 300 and response.header(REPLAYED) is None):
            self._append(encode_request(request, at, status))
        elif status >= 500 and not _never_ran(response):
            return True  # a bug or an unknown failure: persist whatever happened
        return False

    def _append(self, line: bytes) -> None:
        self._write(line)
        self.journalled += 1
        if (
            self._journal_bytes > min(max(self._state_bytes, _COMPACT_AT_LEAST), _JOURNAL_LIMIT)
            and self._compaction is None
        ):
            self.compact_later()

    def _write(self, line: bytes) -> None:
        view = memoryview(line)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        self._journal_bytes += len(line)

    def _fail(self, exc: BaseException) -> WireResponse:
        if self.failed is None:
            self.failed = exc
            print(f"orbsim: cannot write the state file {self.path}: {exc}", file=sys.stderr)
            if self.on_failure is not None:
                self.on_failure(exc)
        return _refused(exc)


def _replay_auth(sim: OrbSim) -> str:
    """An ``Authorization`` value the simulator accepts (the journal keeps none)."""
    keys = sim.settings.api_keys
    return f"Bearer {min(keys) if keys else 'orbsim-journal-replay'}"


def _with_auth(request: WireRequest, authorization: str) -> WireRequest:
    headers = {**request.headers, "authorization": authorization}
    return WireRequest(request.method, request.path, request.query, headers, request.body)


def _refused(exc: BaseException) -> WireResponse:
    return problem_response(
        OrbInternalServerError(
            f"orbsim could not persist this request to its state file ({exc}); the write is "
            "not acknowledged and the server is stopping"
        )
    )
