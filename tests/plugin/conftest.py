"""Shared setup of the plugin tests: they run small test files through ``pytester``.

``pytester`` itself is enabled by ``pytest_plugins = ["pytester"]`` in each test module: pytest
refuses ``pytest_plugins`` in a conftest below the rootdir once the whole suite is collected.
"""

from __future__ import annotations

import contextlib
import importlib
import pkgutil
from collections.abc import Callable
from typing import Any

import anyio
import h11
import httpcore
import httpx
import pytest

import orbsim
from pytest_orbsim._time import _preload_sdk


def _import_everything() -> None:
    """Import, in the outer session, every module an inner run might import first.

    pytester's in-process runs snapshot ``sys.modules`` and afterwards remove every module first
    imported during the inner run; the next import makes a second copy of it. httpx imports
    httpcore lazily and caches httpcore's exception classes on first use, so if an inner run is
    first to open a connection, later tests get unmapped ``httpcore.ConnectError`` instead of
    ``httpx.ConnectError``. The same goes for orbsim's lazily imported wire layer (registries).
    """
    for package in (orbsim, httpcore, h11, anyio):
        prefix = package.__name__ + "."
        for info in pkgutil.walk_packages(package.__path__, prefix):
            with contextlib.suppress(ImportError):  # optional backends (trio, ...)
                importlib.import_module(info.name)
    httpx.Client().close()  # certifi, ssl, and httpx's cache of httpcore's exceptions
    _preload_sdk()


_import_everything()

INI = """
[pytest]
asyncio_default_fixture_loop_scope = function
"""


@pytest.fixture
def run_inner(pytester: pytest.Pytester) -> Callable[..., pytest.RunResult]:
    """Run pytest in-process on the files written to ``pytester``; check outcomes if given.

    On a mismatch the inner run's whole output is in the assertion message.
    """
    pytester.makeini(INI)

    def run(*args: str, subprocess: bool = False, **outcomes: int) -> pytest.RunResult:
        runner: Any = pytester.runpytest_subprocess if subprocess else pytester.runpytest
        result: pytest.RunResult = runner("-p", "no:cacheprovider", *args)
        if outcomes:
            got = result.parseoutcomes()
            wanted = {k: v for k, v in outcomes.items()}
            actual = {k: got.get(k, 0) for k in wanted}
            output = "\n".join(result.outlines + result.errlines)
            assert actual == wanted, f"outcomes {got}, wanted {wanted}\n{output}"
        return result

    return run
