"""The shell examples of the docs run too: ``orbsim serve`` as documented, then the admin API's
``curl`` commands against it (any HTTP error fails them), with the answers the comments show.

The install and setup commands (README, Installing, Contributing) are what ``.ci/run`` and
``.ci/package-smoke`` do: a fresh venv with ``pip install -e '.[dev]'``, and the built wheel
installed with ``[testing]`` into another one.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from orbsim import OrbSim
from orbsim.wire.admin_openapi import admin_openapi

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "guides" / "other-languages.md"
BASH = re.findall(r"^```bash\n(.*?)^```", PAGE.read_text(), re.S | re.M)
SERVE = next(block for block in BASH if block.startswith("orbsim serve"))
CURLS = next(block for block in BASH if "curl" in block)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """``orbsim serve`` started with the documented command (on a free port, a temporary state)."""
    command = SERVE.splitlines()[0]
    assert "--port 8080" in command and "--state /tmp/orbsim.json" in command
    state = tmp_path / "orbsim.json"
    command = command.replace("--port 8080", "--port 0").replace("/tmp/orbsim.json", str(state))
    argv = [str(Path(sys.executable).with_name("orbsim")), *command.split()[1:]]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        documented = SERVE.splitlines()[1].removeprefix("# ")
        pattern = re.escape(documented).replace("8080", r"\d+")
        assert re.fullmatch(pattern, line), (line, process.stderr and process.stderr.read())
        yield line.removeprefix("orbsim listening on ").removesuffix("/v1"), state
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)
    assert process.returncode == 0
    assert OrbSim.load(state).customers.list().data  # saved at shutdown: the last curl's customer


@pytest.mark.skipif(
    shutil.which("curl") is None and not os.environ.get("CI"),
    reason="curl is not installed (.ci/run installs it)",
)
def test_the_curl_examples_run_against_the_documented_server(
    served: tuple[str, Path], tmp_path: Path
) -> None:
    root, _ = served
    assert "URL=http://127.0.0.1:8080" in CURLS
    script = (
        "set -euo pipefail\n"
        'curl() { command curl --fail-with-body --max-time 20 "$@"; echo; }\n'
        + CURLS.replace("URL=http://127.0.0.1:8080", f"URL={root}")
    )
    result = subprocess.run(
        ["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    # the answers the comments show
    for comment in re.findall(r"# (\{.*\})$", CURLS, re.M):
        assert comment in lines, (comment, lines)
    clock = [json.loads(line) for line in lines if line.startswith('{"now"')]
    assert clock[-1] == {"now": "2024-06-01T13:00:00Z", "manual": True}  # reset keeps it
    assert json.loads((tmp_path / "orbsim-admin.json").read_text()) == admin_openapi()
    snapshot = OrbSim.load(tmp_path / "snapshot.json")
    assert snapshot.customers.list().data == []  # taken before the customer was created
    customer = json.loads(lines[-1])
    assert customer["name"] == "Acme" and customer["email"] == "billing@acme.test"
    dashboard = httpx.get(f"{root}/_orbsim/", timeout=20)  # orbsim serve has the dashboard too
    assert dashboard.status_code == 200 and "Acme" in dashboard.text
