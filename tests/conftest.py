"""Shared fixtures. In CI (OSSR_IMAGES_STRICT_SKIPS=1) a skipped test is reported as a failure unless it is
marked `best_effort` (Apptainer), so that a missing tool can never turn the suite silently green."""

from __future__ import annotations

import os

import pytest

STRICT_SKIPS = os.environ.get("OSSR_IMAGES_STRICT_SKIPS") == "1"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> None:  # type: ignore[type-arg]
    outcome = yield
    report = outcome.get_result()
    if not STRICT_SKIPS or not report.skipped:
        return
    if item.get_closest_marker("best_effort") or item.get_closest_marker("apptainer"):
        return
    if hasattr(report, "wasxfail"):
        return
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    report.outcome = "failed"
    report.longrepr = f"skipped in CI, which counts as a failure (mark it best_effort if allowed): {reason}"
