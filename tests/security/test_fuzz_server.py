"""Property-based fuzzing of the server's behaviour (hypothesis): at a random request of publish or fetch, the
server answers a random status (with a Zenodo error body, garbage, or nothing), before or after doing the work,
possibly a few times in a row. Property: the run completes or stops cleanly (exit 3/4, one Error and one Hint
line, no traceback), and a re-run completes with exactly one good record / every file verified."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.conftest import TEST_TOKEN
from tests.helpers.faults import FETCH_STEPS, PUBLISH_STEPS
from tests.reliability.conftest import REPOSITORY, Project, assert_clean_failure, run_cli
from tests.reliability.faultproxy import FaultProxy
from tests.reliability.test_publish_faults import check_one_good_record

EXAMPLES = int(os.environ.get("OSSR_FUZZ_SERVER_EXAMPLES", "8"))
STATUSES = st.sampled_from(
    [200, 201, 202, 204, 301, 400, 401, 403, 404, 409, 410, 413, 429, 500, 502, 503, 504]
)
BODIES = st.sampled_from(
    [
        None,  # a Zenodo-style error body
        b"",
        b"<html>nginx</html>",
        b"{}",
        b'{"status": 400, "message": "Validation error.", "errors": [{"field": "metadata.title", "messages": ["x"]}]}',
        b'{"message": null, "errors": "not a list"}',
        b"[1, 2]",
    ]
)
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


class _World:
    """A fresh stand-in, proxy, project and cache for one example."""

    def __enter__(self) -> _World:
        from ossr_images.standin.server import LocalZenodo

        self._tmp = tempfile.TemporaryDirectory(prefix="ossr-fuzz-server-")
        root = Path(self._tmp.name)
        self.standin = LocalZenodo(root / "zenodo", tokens=[TEST_TOKEN]).start()
        self.proxy = FaultProxy(self.standin.api_url).start()
        self.project = Project.create(root, REPOSITORY)
        self.project.release("1.0.0", payload_size=50_000)
        self.root = root
        self._saved = {
            k: os.environ.get(k) for k in ("OSSR_IMAGES_ZENODO_URL", "ZENODO_TOKEN", "OSSR_IMAGES_CACHE_DIR")
        }
        os.environ["OSSR_IMAGES_ZENODO_URL"] = self.proxy.api_url
        os.environ["ZENODO_TOKEN"] = TEST_TOKEN
        os.environ["OSSR_IMAGES_CACHE_DIR"] = str(root / "cache")
        return self

    def __exit__(self, *exc: object) -> None:
        for key, value in self._saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self.proxy.stop()
        self.standin.stop()
        self._tmp.cleanup()


def _inject(proxy: FaultProxy, method: str, path: str, skip: int, status: int, body, after: bool, count: int):  # type: ignore[no-untyped-def]
    # a server acts and then loses the answer only behind a gateway (5xx); a 4xx (429 included: rate limits
    # stop a request before it is handled) is only ever answered instead of the work
    after = after and status >= 500
    if body is None or 300 <= status < 500:
        proxy.status(status, method, path, skip=skip, count=count, after_forward=after, retry_after=1)
    else:
        proxy.rewrite(lambda _s, _b: (status, body), method, path, skip=skip, count=count)


@SETTINGS
@given(
    step=st.sampled_from(list(PUBLISH_STEPS)),
    status=STATUSES,
    body=BODIES,
    after=st.booleans(),
    count=st.integers(1, 3),
)
def test_publish_under_random_server_faults(step, status, body, after, count, _isolated) -> None:  # type: ignore[no-untyped-def]
    with _World() as w:
        method, path, skip = PUBLISH_STEPS[step]
        _inject(w.proxy, method, path, skip, status, body, after, count)
        first = run_cli(*w.project.publish_args(), json_out=True)
        if first.exit_code != 0:
            assert_clean_failure(first, (1, 3, 4))
            w.proxy.clear()
            again = run_cli(*w.project.publish_args(), json_out=True)
            assert again.exit_code == 0, f"{step} {status} {body!r} {after} {count}\n" + again.explain()
        check_one_good_record(w.standin, w.project)


@SETTINGS
@given(
    step=st.sampled_from(list(FETCH_STEPS)),
    status=STATUSES,
    body=BODIES,
    count=st.integers(1, 3),
)
def test_fetch_under_random_server_faults(step, status, body, count, _isolated) -> None:  # type: ignore[no-untyped-def]
    import hashlib

    with _World() as w:
        published = run_cli(*w.project.publish_args(), json_out=True)
        assert published.exit_code == 0, published.explain()
        method, path, _ = FETCH_STEPS[step]
        _inject(w.proxy, method, path, 0, status, body, False, count)
        out = w.root / "out"
        first = run_cli("fetch", published.json["doi"], "-d", str(out), json_out=True)
        expected = {f["key"]: f["md5"] for f in published.json["files"]}

        def no_bad_final_file() -> None:
            if out.exists():
                for p in out.iterdir():
                    if p.is_file() and not p.name.endswith(".part") and not p.name.startswith("."):
                        assert hashlib.md5(p.read_bytes()).hexdigest() == expected.get(p.name), p.name  # noqa: S324

        no_bad_final_file()
        if first.exit_code != 0:
            assert_clean_failure(first, (1, 3, 4))
            w.proxy.clear()
            again = run_cli("fetch", published.json["doi"], "-d", str(out), json_out=True)
            assert again.exit_code == 0, f"{step} {status} {body!r} {count}\n" + again.explain()
            no_bad_final_file()
