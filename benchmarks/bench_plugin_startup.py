"""What the pytest plugin adds to the start of a pytest run that uses no orbsim fixture.

The ``pytest11`` entry point loads ``pytest_orbsim`` into every pytest run of an environment where
orbsim is installed, so its import must cost (almost) nothing. Two measurements, both on a
temporary empty project (no tests, no configuration):

* ``python -X importtime -c "import pytest; import pytest_orbsim"``: the cumulative import time
  of ``pytest_orbsim`` (pytest itself already imported), best of N;
* ``pytest --collect-only -q -p no:cacheprovider`` with the plugin and with
  ``-p no:pytest_orbsim``, runs interleaved so machine load hits both alike: median and best
  wall time, and the child's CPU time (user + sys, less sensitive to load); and the same with
  ``PYTEST_DISABLE_PLUGIN_AUTOLOAD=1``, ``-p pytest_orbsim`` against nothing, which leaves out
  every other installed plugin (hypothesis, pytest-asyncio, xdist, anyio...) and their noise.

Prints a markdown table; never asserts on timings. ``--plugin-path DIR`` measures the plugin
package found in DIR instead (put first on ``PYTHONPATH``), e.g. an older version of
``conftest_plugin/`` extracted with ``git archive``.

    python benchmarks/bench_plugin_startup.py [--runs 15] [--plugin-path DIR]
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _env(plugin_path: str | None) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTEST_ADDOPTS", None)
    env.pop("PYTEST_DISABLE_PLUGIN_AUTOLOAD", None)
    if plugin_path:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [plugin_path, env.get("PYTHONPATH")]))
    return env


def import_time_ms(env: dict[str, str], cwd: Path, runs: int) -> float:
    """Best cumulative ``-X importtime`` of ``pytest_orbsim`` over ``runs``, in ms."""
    best = float("inf")
    for _ in range(runs):
        result = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", "import pytest; import pytest_orbsim"],
            capture_output=True,
            text=True,
            env=env,
            cwd=cwd,
            check=False,  # pytest exits 5: no tests in an empty project
        )
        for line in result.stderr.splitlines():
            match = re.match(r"import time:\s+\d+ \|\s+(\d+) \| pytest_orbsim$", line)
            if match:
                best = min(best, int(match.group(1)) / 1000)
    return best


def collect(env: dict[str, str], cwd: Path, *extra: str) -> tuple[float, float]:
    """One ``pytest --collect-only`` run: (wall ms, child CPU ms)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *extra],
        capture_output=True,
        env=env,
        cwd=cwd,
        check=False,  # exit status 5: no tests collected, as expected in an empty project
    )
    wall = (time.perf_counter() - started) * 1000
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--plugin-path", default=None)
    args = parser.parse_args()
    env = _env(args.plugin_path)
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        imported = import_time_ms(env, project, args.runs)
        collect(env, project)  # warm the file-system cache and bytecode caches
        collect(env, project, "-p", "no:pytest_orbsim")
        alone = {**env, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
        samples: dict[str, list[tuple[float, float]]] = {
            "with": [],
            "without": [],
            "alone": [],
            "none": [],
        }
        for _ in range(args.runs):
            samples["with"].append(collect(env, project))
            samples["without"].append(collect(env, project, "-p", "no:pytest_orbsim"))
            samples["alone"].append(collect(alone, project, "-p", "pytest_orbsim"))
            samples["none"].append(collect(alone, project))

    def stats(key: str) -> tuple[float, float, float]:
        walls = [wall for wall, _ in samples[key]]
        cpus = [cpu for _, cpu in samples[key]]
        return statistics.median(walls), min(walls), statistics.median(cpus)

    with_median, with_best, with_cpu = stats("with")
    without_median, without_best, without_cpu = stats("without")
    print(f"pytest_orbsim from: {args.plugin_path or 'the installed package'}; runs: {args.runs}")
    print()
    print("| what | with the plugin | `-p no:pytest_orbsim` | added |")
    print("|---|---|---|---|")
    print(f"| `import pytest_orbsim` (-X importtime, cumulative, best) | {imported:.1f} ms | | |")
    print(
        f"| `pytest --collect-only`, empty project, median wall | {with_median:.0f} ms "
        f"| {without_median:.0f} ms | {with_median - without_median:+.0f} ms |"
    )
    print(
        f"| same, best wall | {with_best:.0f} ms | {without_best:.0f} ms "
        f"| {with_best - without_best:+.0f} ms |"
    )
    print(
        f"| same, median CPU (user + sys) | {with_cpu:.0f} ms | {without_cpu:.0f} ms "
        f"| {with_cpu - without_cpu:+.0f} ms |"
    )
    alone_median, alone_best, alone_cpu = stats("alone")
    none_median, none_best, none_cpu = stats("none")
    print(
        "| no plugin autoload: `-p pytest_orbsim` vs nothing, median wall "
        f"| {alone_median:.0f} ms | {none_median:.0f} ms | {alone_median - none_median:+.0f} ms |"
    )
    print(
        f"| same, best wall | {alone_best:.0f} ms | {none_best:.0f} ms "
        f"| {alone_best - none_best:+.0f} ms |"
    )
    print(
        f"| same, median CPU (user + sys) | {alone_cpu:.0f} ms | {none_cpu:.0f} ms "
        f"| {alone_cpu - none_cpu:+.0f} ms |"
    )


if __name__ == "__main__":
    main()
