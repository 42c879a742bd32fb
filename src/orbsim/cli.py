"""Command line: ``orbsim serve`` runs the simulator as an HTTP server; ``orbsim demo`` runs a
short scripted scenario and prints what happened."""

from __future__ import annotations

import argparse
import contextlib
import gc
import hashlib
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orbsim
from orbsim.clock import ManualClock
from orbsim.engine.timeparse import parse_timestamp
from orbsim.settings import Settings, apply_assignments
from orbsim.sim import OrbSim
from orbsim.wire.routes import dispatch
from orbsim.wire.statefile import (
    PinnableClock,
    PinnableManualClock,
    PinnableSystemClock,
    StateFile,
    StateLock,
)


def demo() -> int:
    """``orbsim demo``: the scripted scenario of ``orbsim.demo``, printed step by step."""
    from orbsim import demo as scenario

    return scenario.main()


def serve(
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    api_keys: Sequence[str] = (),
    seed: int = 0,
    grace_period_hours: float | None = None,
    log_requests: bool = False,
    state: str | None = None,
    clock: str | None = None,
    now: datetime | None = None,
    settings: Sequence[str] = (),
    allowed_hosts: Sequence[str] = (),
) -> int:
    """Serve a simulator over HTTP until SIGINT or SIGTERM; then stop cleanly, return 0.

    ``settings`` are ``NAME=VALUE`` assignments of ``Settings`` fields (``apply_assignments``),
    applied after ``api_keys`` and ``grace_period_hours``, over the state file's settings if
    one is loaded. ``allowed_hosts``: ``Host`` names accepted besides IP addresses and
    ``localhost`` (``*``: any). Binding beyond loopback prints a warning.

    With ``state``, the state file is loaded (if it exists), every acknowledged write is
    persisted before it is answered, and the state is saved at shutdown (see
    ``orbsim.wire.statefile``). Returns 1 if the port or the state file cannot be used.
    """
    overrides: dict[str, object] = {}
    if api_keys:
        overrides["api_keys"] = frozenset(api_keys)
    if grace_period_hours is not None:
        overrides["grace_period"] = timedelta(hours=grace_period_hours)
    stop = threading.Event()
    failed = threading.Event()

    def persistence_failed(exc: BaseException) -> None:
        failed.set()
        stop.set()

    try:
        sim, state_file = _prepare(overrides, settings, seed, state, clock, now, persistence_failed)
    except (OSError, ValueError) as exc:
        print(f"orbsim: cannot use the state file {state}: {exc}", file=sys.stderr)
        return 1

    def request_stop(signum: int, frame: object) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            dispatch = None if state_file is None else state_file.dispatch
            server = sim.serve(
                host=host,
                port=port,
                log_requests=log_requests,
                dispatch=dispatch,
                allowed_hosts=allowed_hosts,
            )
        except OSError as exc:
            print(f"orbsim: cannot listen on {host}:{port}: {exc}", file=sys.stderr)
            return 1
        try:
            print(f"orbsim listening on {server.base_url}", flush=True)
            threading.Thread(
                target=_index_events, args=(sim, stop), name="orbsim-index", daemon=True
            ).start()
            while not stop.wait(0.5):
                pass
        finally:
            server.stop()
            if state_file is not None:
                try:
                    state_file.close()
                except OSError as exc:
                    print(f"orbsim: cannot save the state file {state}: {exc}", file=sys.stderr)
                    failed.set()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 1 if failed.is_set() else 0


class _Digest(threading.Thread):
    """The sha256 of a file, taken in a thread (what ``StateFile.replay`` matches the journal
    against): the state file is locked, so it is the file ``OrbSim.load`` reads meanwhile."""

    def __init__(self, path: Path) -> None:
        super().__init__(name="orbsim-digest", daemon=True)
        self.path = path
        self.digest: str | None = None
        self.start()

    def run(self) -> None:
        with contextlib.suppress(OSError):  # replay then reads and hashes the file itself
            self.digest = hashlib.sha256(self.path.read_bytes()).hexdigest()

    def result(self) -> str | None:
        self.join()
        return self.digest


_INDEX_SLICE = 20_000
"""Events indexed per hold of the lock after a start: about 20 ms, the longest a request waits."""


def _index_events(sim: OrbSim, stop: threading.Event) -> None:
    """Build a loaded state's hour indexes in slices, between requests (``Engine.index_events``),
    then move them out of the cyclic collector's sight like the rest of the loaded state."""
    while not stop.is_set():
        if sim.engine.index_events(_INDEX_SLICE):
            gc.freeze()
            return
        stop.wait(0.001)


def _prepare(
    overrides: dict[str, object],
    assignments: Sequence[str],
    seed: int,
    state: str | None,
    clock: str | None,
    now: datetime | None,
    on_failure: Callable[[BaseException], None],
) -> tuple[OrbSim, StateFile | None]:
    """The simulator to serve: loaded from ``state`` (plus its journal) or fresh, on the clock
    asked for; and the ``StateFile`` keeping ``state`` up to date (None without ``state``).

    ``state`` is locked before anything is read: a second server on it stops here."""
    lock = None if state is None else StateLock(state)
    try:
        return _prepare_locked(overrides, assignments, seed, state, clock, now, on_failure, lock)
    except BaseException:
        if lock is not None:
            lock.release()
        raise


def _prepare_locked(
    overrides: dict[str, object],
    assignments: Sequence[str],
    seed: int,
    state: str | None,
    clock: str | None,
    now: datetime | None,
    on_failure: Callable[[BaseException], None],
    lock: StateLock | None,
) -> tuple[OrbSim, StateFile | None]:
    loaded = state is not None and Path(state).exists()

    def persisted(sim: OrbSim, path: str) -> StateFile:
        """The keeper of ``path``: frozen out of the collector's walks after each compaction."""
        return StateFile(
            sim, path, dispatch, on_failure=on_failure, lock=lock, on_compacted=gc.freeze
        )

    if not loaded:
        chosen = clock or "system"
        sim = OrbSim(
            settings=apply_assignments(Settings.model_validate(overrides), assignments),
            clock=_new_clock(chosen, now),
            seed=seed,
        )
        state_file = None if state is None else persisted(sim, state)
    else:
        assert state is not None
        digest = _Digest(Path(state))  # on the other core: hashlib lets go of the GIL
        sim = OrbSim.load(state)
        saved = sim.clock
        manual = isinstance(saved, ManualClock)
        sim.clock = PinnableManualClock(saved.now()) if manual else PinnableSystemClock()
        state_file = persisted(sim, state)
        state_file.replay(digest.result())
        if overrides or assignments:
            merged = Settings.model_validate({**sim.settings.model_dump(), **overrides})
            sim.settings = apply_assignments(merged, assignments)
        chosen = clock or ("manual" if manual else "system")
        if chosen == "manual" and now is None and manual:
            now = sim.clock.now()
        if chosen == "manual" and manual and now is not None and now < sim.clock.now():
            raise ValueError(
                f"--now {now.isoformat()} is before the state's time "
                f"{sim.clock.now().isoformat()}; a simulator's clock never goes back"
            )
        sim.clock = _new_clock(chosen, now)
    if state_file is not None:
        state_file.begin()
    if loaded:
        # The loaded state lives as long as the server: moved out of the cyclic collector's
        # sight, a full collection no longer walks it (walking a million loaded events paused
        # a request for about a second: benchmarks/bench_gc_pauses.py).
        gc.freeze()
    return sim, state_file


def _new_clock(kind: str, now: datetime | None) -> PinnableClock:
    if kind == "manual":
        return PinnableManualClock(now or datetime.now(UTC).replace(microsecond=0))
    return PinnableSystemClock()


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"a port is 0-65535, got {text!r}")
    return int(text)


def _hours(text: str) -> float:
    try:
        hours = float(text)
    except ValueError:
        hours = -1.0
    if not 0 <= hours < 1e6:  # also refuses nan and inf
        raise argparse.ArgumentTypeError(f"hours are a number >= 0, got {text!r}")
    return hours


def _instant(text: str) -> datetime:
    try:
        return parse_timestamp(text, "--now")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _assignment(text: str) -> str:
    """A ``NAME=VALUE`` with a known NAME (the value is checked once all are read)."""
    name, sep, _ = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"a setting is written NAME=VALUE, got {text!r}")
    if name.strip() not in Settings.model_fields:
        raise argparse.ArgumentTypeError(
            f"unknown setting {name.strip()!r}; valid settings: {', '.join(Settings.model_fields)}"
        )
    return text


def _settings_help() -> str:
    names = ", ".join(Settings.model_fields)
    return (
        "set a Settings field (repeatable; the last one for a name wins). Durations are ISO "
        "8601 (PT12H, P1D) or a number with a unit (500ms, 30s, 10m, 12h, 1d); none unsets an "
        f"optional field; sets are comma-separated. Fields: {names}"
    )


def _api_key(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("an API key cannot be empty")
    return text


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="orbsim", description=__doc__)
    parser.add_argument("--version", action="version", version=f"orbsim {orbsim.__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("demo", help="run a short scripted scenario and print what happened")
    serve_parser = commands.add_parser(
        "serve", help="serve a simulator over HTTP until SIGINT/SIGTERM"
    )
    serve_parser.add_argument("--host", default="127.0.0.1", help="bind address (loopback)")
    serve_parser.add_argument(
        "--port", type=_port, default=8080, help="TCP port; 0 picks a free one (default 8080)"
    )
    serve_parser.add_argument(
        "--api-key",
        dest="api_keys",
        type=_api_key,
        action="append",
        default=[],
        metavar="KEY",
        help="accept only this API key (repeatable; default: any non-empty key)",
    )
    serve_parser.add_argument("--seed", type=int, default=0, help="id seed (default 0)")
    serve_parser.add_argument(
        "--grace-period-hours",
        type=_hours,
        default=None,
        metavar="H",
        help="late-event grace period in hours (default 12)",
    )
    serve_parser.add_argument(
        "--setting",
        dest="settings",
        type=_assignment,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help=_settings_help(),
    )
    serve_parser.add_argument(
        "--log-requests", action="store_true", help="log one line per request to stderr"
    )
    serve_parser.add_argument(
        "--allow-host",
        dest="allowed_hosts",
        action="append",
        default=[],
        metavar="NAME",
        help="accept requests whose Host header is NAME (repeatable; '*' accepts any). By "
        "default only IP addresses and localhost are, which stops DNS rebinding",
    )
    serve_parser.add_argument(
        "--state",
        metavar="FILE",
        default=None,
        help="load the state from FILE if it exists, persist every acknowledged write to it "
        "(FILE and FILE.journal) and save it at shutdown",
    )
    serve_parser.add_argument(
        "--clock",
        choices=("system", "manual"),
        default=None,
        help="'manual': time stands still until POST /_orbsim/clock/advance moves it "
        "(default: system, or the kind the state file was saved with)",
    )
    serve_parser.add_argument(
        "--now",
        type=_instant,
        default=None,
        metavar="ISO",
        help="with --clock manual: the starting time (default: the state file's time, else "
        "the current time)",
    )
    args = parser.parse_args(argv)
    if args.command == "demo":
        return demo()
    if args.command == "serve":
        if args.now is not None and args.clock != "manual":
            serve_parser.error("--now needs --clock manual")
        named = {text.partition("=")[0].strip() for text in args.settings}
        if args.grace_period_hours is not None and "grace_period" in named:
            serve_parser.error(
                "--grace-period-hours and --setting grace_period=... both set the grace period; "
                "give one"
            )
        if args.api_keys and "api_keys" in named:
            serve_parser.error(
                "--api-key and --setting api_keys=... both set the API keys; give one"
            )
        try:
            apply_assignments(Settings(), args.settings)
        except ValueError as exc:
            serve_parser.error(f"--setting: {exc}")
        return serve(
            host=args.host,
            port=args.port,
            api_keys=args.api_keys,
            seed=args.seed,
            grace_period_hours=args.grace_period_hours,
            log_requests=args.log_requests,
            state=args.state,
            clock=args.clock,
            now=args.now,
            settings=args.settings,
            allowed_hosts=args.allowed_hosts,
        )
    parser.error(f"unknown command {args.command!r}")  # pragma: no cover
    return 2  # pragma: no cover


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
