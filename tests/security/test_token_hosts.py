"""Issue 12: the token goes only where the user meant it to go.

ZENODO_TOKEN is for zenodo.org, ZENODO_SANDBOX_TOKEN for sandbox.zenodo.org, both also for a loopback server;
any other host takes OSSR_IMAGES_TOKEN or --token-file only. A URL with user:password is refused, and no URL
is shown with its userinfo. The console tests reach a real stand-in as host 0.0.0.0, which Linux routes to
this machine but which is not a loopback name: the client treats it as "another host", as it must."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.conftest import TEST_TOKEN
from tests.fetch.records import image_files, make_client, publish_record
from tests.helpers.console import run_console

from ossr_images.redact import redact_text, redact_url
from ossr_images.standin.faults import Faults, RequestInfo
from ossr_images.zenodo.target import resolve_target

TOKENS = {"ZENODO_TOKEN": "prod-0123456789", "ZENODO_SANDBOX_TOKEN": "sandbox-0123456789",
          "OSSR_IMAGES_TOKEN": "other-0123456789"}  # fmt: skip
PASSWORD = "pa55-w0rd-never-shown"


@pytest.mark.parametrize(
    "url,expected",
    [
        ("https://zenodo.org/api", {"ZENODO_TOKEN"}),
        ("https://sandbox.zenodo.org/api", {"ZENODO_SANDBOX_TOKEN"}),
        ("https://zenodo.example.org/api", {"OSSR_IMAGES_TOKEN"}),
        ("https://zenodo.org.example.net/api", {"OSSR_IMAGES_TOKEN"}),
        ("http://127.0.0.1:8765/api", {"OSSR_IMAGES_TOKEN", "ZENODO_TOKEN", "ZENODO_SANDBOX_TOKEN"}),
        ("http://[::1]:8765/api", {"OSSR_IMAGES_TOKEN", "ZENODO_TOKEN", "ZENODO_SANDBOX_TOKEN"}),
        ("http://localhost:8765/api", {"OSSR_IMAGES_TOKEN", "ZENODO_TOKEN", "ZENODO_SANDBOX_TOKEN"}),
    ],
)
def test_each_variable_only_for_its_hosts(
    url: str, expected: set[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in TOKENS:
        monkeypatch.delenv(name, raising=False)
    for name, value in TOKENS.items():
        monkeypatch.setenv(name, value)
        token = resolve_target(zenodo_url=url).token
        assert (token == value) == (name in expected), (name, url, token)
        monkeypatch.delenv(name)


def test_the_missing_token_error_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in TOKENS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ZENODO_TOKEN", TOKENS["ZENODO_TOKEN"])
    r = run_console("search", "--zenodo-url", "https://zenodo.example.invalid/api", "--json")
    # search needs no token; publish does, and says which variable to set without using ZENODO_TOKEN
    assert TOKENS["ZENODO_TOKEN"] not in r.stdout + r.stderr
    pub = run_console("publish", "x.tar", "--zenodo-url", "https://zenodo.example.invalid/api",
                      env={"ZENODO_TOKEN": TOKENS["ZENODO_TOKEN"]})  # fmt: skip
    assert pub.returncode == 1 and "OSSR_IMAGES_TOKEN" in pub.stderr, pub.explain()
    sandbox = run_console("publish", "x.tar", "--sandbox", "--json", env={"ZENODO_TOKEN": "x"})
    assert sandbox.returncode == 1 and "ZENODO_SANDBOX_TOKEN" in sandbox.json()["error"]["message"]


class _SeenAuth(Faults):
    """Records the Authorization header of every request for a record."""

    def __init__(self) -> None:
        self.seen: list[str | None] = []

    def before(self, request: RequestInfo) -> bool:
        if request.route == "rec_get":
            self.seen.append(request.handler.headers.get("Authorization"))
        return False


@pytest.fixture
def record(standin, tmp_path: Path) -> dict:
    with make_client(standin.api_url, TEST_TOKEN) as client:
        return publish_record(client, image_files(tmp_path / "src"))


def test_zenodo_tokens_are_not_sent_to_another_host(standin, record: dict, tmp_path: Path) -> None:
    seen = _SeenAuth()
    standin.faults = seen
    other = f"http://0.0.0.0:{standin.port}/api"
    env = {"ZENODO_TOKEN": TEST_TOKEN, "ZENODO_SANDBOX_TOKEN": TEST_TOKEN}
    r = run_console("fetch", str(record.id), "--zenodo-url", other, "-d", str(tmp_path / "a"), env=env)
    assert r.returncode == 0, r.explain()  # a public record: read anonymously
    assert seen.seen and all(h is None for h in seen.seen), seen.seen

    seen.seen.clear()
    env = {"OSSR_IMAGES_TOKEN": TEST_TOKEN}
    args = (
        "fetch",
        str(record.id),
        "--zenodo-url",
        other,
        "--allow-insecure-http",
        "-d",
        str(tmp_path / "b"),
    )
    r = run_console(*args, env=env)
    assert r.returncode == 0, r.explain()
    assert seen.seen and all(h == f"Bearer {TEST_TOKEN}" for h in seen.seen), "OSSR_IMAGES_TOKEN not sent"
    assert TEST_TOKEN not in r.stdout + r.stderr


@pytest.mark.parametrize("where", ["option", "environment", "record-url"])
def test_a_url_with_user_and_password_is_refused_without_showing_it(
    where: str, standin, tmp_path: Path
) -> None:
    url = standin.api_url.replace("http://", f"http://jane:{PASSWORD}@")
    env = {"ZENODO_TOKEN": TEST_TOKEN}
    if where == "option":
        args = ["fetch", "1", "--zenodo-url", url]
    elif where == "environment":
        args, env["OSSR_IMAGES_ZENODO_URL"] = ["fetch", "1"], url
    else:
        args = ["fetch", url.removesuffix("/api") + "/records/1"]
    r = run_console("-vv", *args, "--json", env=env)
    assert r.returncode == 1, r.explain()
    doc = r.json()
    assert "user name or password" in doc["error"]["message"] and "***@" in doc["error"]["message"]
    assert PASSWORD not in r.stdout + r.stderr and "jane" not in r.stdout + r.stderr


class _UserinfoLinks(Faults):
    """A server whose records give file links with user:password in them (a hostile or broken server)."""

    def after(self, request: RequestInfo, status: int, body):  # type: ignore[no-untyped-def]
        if request.route == "rec_get" and isinstance(body, dict):
            for entry in body.get("files") or []:
                for name, link in list((entry.get("links") or {}).items()):
                    entry["links"][name] = link.replace("http://", f"http://jane:{PASSWORD}@")
            return status, body
        return None


def test_no_url_is_shown_with_its_userinfo(standin, record: dict, tmp_path: Path) -> None:
    standin.faults = _UserinfoLinks()
    env = {"OSSR_IMAGES_ZENODO_URL": standin.api_url, "ZENODO_TOKEN": TEST_TOKEN}
    r = run_console("-vv", "fetch", str(record.id), "-d", str(tmp_path / "o"), "--json", env=env)
    assert "GET http://***@127.0.0.1" in r.stderr, r.explain()  # the download was logged, masked
    assert PASSWORD not in r.stdout + r.stderr


def test_redaction_helpers() -> None:
    assert redact_url(f"https://jane:{PASSWORD}@h.org/api?access_token=t&q=1") == (
        "https://***@h.org/api?access_token=***&q=1"
    )
    assert redact_url("https://h.org/records/1") == "https://h.org/records/1"
    text = f"cannot reach https://jane:{PASSWORD}@h.org/api (x); mail jane@h.org"
    assert redact_text(text) == "cannot reach https://***@h.org/api (x); mail jane@h.org"
