"""Suite-wide test policy: under ``CI=true`` nothing is allowed to skip quietly.

A test that needs something outside the package (the ``thrift`` compiler, a PyPI peer, the C
extension) asks for it through the ``require`` fixture::

    def test_x(require):
        thrift = require.module("thrift")       # the imported module
        compiler = require.binary("thrift")     # absolute path of the executable

On a developer machine a missing dependency skips the test with ``missing dependency: ...``.
In CI (``CI=true``, set by ``.ci/run``) it fails instead, because a green CI run must mean
every test ran. As a backstop, any other skip under ``CI=true`` (``pytest.skip``,
``importorskip``, a ``skipif`` that fired, a module skipped at import) is turned into a
failure too, unless the test is marked ``@pytest.mark.ci_may_skip("why")`` to say that
skipping there is legitimate. Expected failures (``xfail``) are left alone.
"""

from __future__ import annotations

import importlib
import os
import shutil
from collections.abc import Generator
from types import ModuleType
from typing import Any, NoReturn

import pytest

IN_CI = os.environ.get("CI") == "true"


class Require:
    """Hand a test its external dependency, or skip it (fail it under ``CI=true``)."""

    @staticmethod
    def _missing(what: str) -> NoReturn:
        message = f"missing dependency: {what}"
        if IN_CI:
            pytest.fail(
                f"{message} (CI=true: a missing dependency is a failure; `make test` "
                "installs everything the suite needs)",
                pytrace=False,
            )
        pytest.skip(message)

    def module(self, name: str) -> ModuleType:
        try:
            return importlib.import_module(name)
        except ImportError as exc:
            error = exc  # report outside the handler: no "during handling" chain in the output
        self._missing(f"Python module {name!r} ({error})")

    def binary(self, name: str) -> str:
        path = shutil.which(name)
        if path is None:
            self._missing(f"program {name!r} on PATH")
        return path


@pytest.fixture(scope="session")
def require() -> Require:
    return Require()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "ci_may_skip(reason): this test may skip under CI=true (say why); other skips fail there",
    )


def _ci_failure_text(reason: str) -> str:
    return (
        f"skipped under CI=true: {reason}\n"
        "CI must run every test. Install what is missing (see `make test`), or mark the test "
        "@pytest.mark.ci_may_skip('why') if skipping it is legitimate."
    )


def _skip_reason(longrepr: Any) -> str:
    # A skip's longrepr is (path, lineno, "Skipped: reason").
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])
    return str(longrepr)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if (
        IN_CI
        and report.skipped
        and not hasattr(report, "wasxfail")
        and item.get_closest_marker("ci_may_skip") is None
    ):
        report.outcome = "failed"
        report.longrepr = _ci_failure_text(_skip_reason(report.longrepr))
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    report = yield
    if IN_CI and report.skipped:
        report.outcome = "failed"
        report.longrepr = _ci_failure_text(_skip_reason(report.longrepr))
    return report
