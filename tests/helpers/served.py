"""A real ``orbsim serve`` subprocess for tests: started on a free loopback port, stopped by
signal or killed, its pipes always closed."""

from __future__ import annotations

import queue
import re
import signal
import subprocess
import sys
import threading

import pytest

__all__ = ["LISTENING", "TIMEOUT", "Served"]

LISTENING = re.compile(r"^orbsim listening on (http://127\.0\.0\.1:(\d+)/v1)$")
TIMEOUT = 20.0


class Served:
    """A running ``orbsim serve`` subprocess and the base URL it announced."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "orbsim.cli", "serve", "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.stderr: str | None = None
        assert self.process.stdout is not None
        stdout = self.process.stdout

        def pump() -> None:
            for line in stdout:
                self.lines.put(line)

        self.reader = threading.Thread(target=pump, daemon=True)
        self.reader.start()
        try:
            first = self.lines.get(timeout=TIMEOUT).rstrip("\n")
        except queue.Empty:
            self.close()
            pytest.fail("orbsim serve printed nothing")
        match = LISTENING.match(first)
        assert match, f"unexpected first line {first!r}"
        self.base_url = match.group(1)
        self.port = int(match.group(2))

    def stop(self, sig: signal.Signals) -> int:
        self.process.send_signal(sig)
        return self.process.wait(timeout=TIMEOUT)

    def close(self) -> str:
        """Kill the process if still running, close its pipes; returns what it wrote to stderr."""
        if self.stderr is not None:
            return self.stderr
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=TIMEOUT)
        self.reader.join(timeout=TIMEOUT)
        assert self.process.stdout is not None and self.process.stderr is not None
        self.stderr = self.process.stderr.read()
        self.process.stdout.close()
        self.process.stderr.close()
        return self.stderr
