"""`ossr-images search` through injected faults on the records search: it completes or stops cleanly, and a
re-run lists the published image."""

from __future__ import annotations

import pytest
from tests.reliability.conftest import Project, assert_clean_failure, report, run_cli
from tests.reliability.faultproxy import FaultProxy

SEARCH = r"^/api/records(\?|$)"
FAULTS = ["503-once", "reset-before", "429-retry-after", "slow-answer", "502-exhausting", "500-once"]


@pytest.mark.parametrize("fault", FAULTS)
def test_search_survives(fault: str, env: FaultProxy, project: Project) -> None:
    published = run_cli(*project.publish_args(), json_out=True)
    assert published.exit_code == 0, published.explain()
    if fault == "503-once":
        env.status(503, "GET", SEARCH)
    elif fault == "500-once":
        env.status(500, "GET", SEARCH)
    elif fault == "reset-before":
        env.reset("GET", SEARCH)
    elif fault == "429-retry-after":
        env.status(429, "GET", SEARCH, retry_after=1)
    elif fault == "slow-answer":
        env.delay(2.6, "GET", SEARCH)
    else:
        env.status(502, "GET", SEARCH, count=50)
    first = run_cli("search", json_out=True)
    assert env.faults_fired() >= 1
    final = first
    if first.exit_code != 0:
        assert_clean_failure(first, (4,))
        env.clear()
        final = run_cli("search", json_out=True)
    assert final.exit_code == 0, final.explain()
    assert [r["doi"] for r in final.json["records"]] == [published.json["doi"]]
    report(
        command="search",
        fault=fault,
        step="records search",
        first_exit=first.exit_code,
        completed_first=first.exit_code == 0,
        reruns=0 if first.exit_code == 0 else 1,
        data_lost=0,
    )
