"""One owner per state file: ``FILE.lock`` holds the pid of the server that owns the files,
locked with ``flock``: a second server on the same ``FILE`` refuses to start, naming the file and
that pid (the lock dies with its process, so a killed server never leaves a stale one).
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class StateFileInUse(OSError):
    """Another process holds the state file's lock."""


class StateLock:
    """An exclusive lock on ``FILE`` for the life of one server: ``flock`` on ``FILE.lock``,
    which holds the owner's pid. The kernel drops the lock when its process dies, however."""

    def __init__(self, state: str | os.PathLike[str]) -> None:
        self.state = Path(state)
        self.path = self.state.with_name(self.state.name + ".lock")
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise StateFileInUse(
                f"{self.state} is in use by another orbsim server (pid {holder}, lock file "
                f"{self.path}); stop that server first, or give this one another --state file"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    @property
    def held(self) -> bool:
        return self._fd >= 0

    def release(self) -> None:
        """Unlock (the file stays: removing it could let two servers lock different files)."""
        if self._fd >= 0:
            os.ftruncate(self._fd, 0)
            os.close(self._fd)
            self._fd = -1
