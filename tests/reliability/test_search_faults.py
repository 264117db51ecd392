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
    missing = {published.json["doi"]} - {r["doi"] for r in (final.json or {}).get("records", [])}
    report(
        command="search",
        fault=fault,
        step="records search",
        first_exit=first.exit_code,
        completed_first=first.exit_code == 0,
        reruns=0 if first.exit_code == 0 else 1,
        data_lost=len(missing),  # a published record the search did not list
    )
    assert final.exit_code == 0, final.explain()
    assert [r["doi"] for r in final.json["records"]] == [published.json["doi"]]


@pytest.mark.parametrize("command", ["publish", "fetch", "search"])
def test_server_down(command: str, project: Project, monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Nothing listens on the port: a clean remote failure (exit 4) within seconds, nothing written."""
    import socket
    import time

    from tests.conftest import TEST_TOKEN

    with socket.socket() as s:  # a port that was free a moment ago, and nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("OSSR_IMAGES_ZENODO_URL", f"http://127.0.0.1:{port}/api")
    monkeypatch.setenv("ZENODO_TOKEN", TEST_TOKEN)
    args = {
        "publish": project.publish_args(),
        "fetch": ["fetch", "10.5072/zenodo.2", "-d", str(tmp_path / "out")],
        "search": ["search"],
    }[command]
    start = time.monotonic()
    run = run_cli(*args)
    assert_clean_failure(run, (4,))
    assert time.monotonic() - start < 15
    assert not (tmp_path / "out").exists()
