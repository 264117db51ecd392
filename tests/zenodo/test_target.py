"""Target resolution: server choice, token sources, and the plain-http guard."""

from __future__ import annotations

import pytest

from ossr_images.errors import InvalidInputError
from ossr_images.zenodo.target import (
    PRODUCTION_API,
    SANDBOX_API,
    Target,
    is_loopback_host,
    normalize_api_url,
    resolve_target,
)

SECRET = "s3cr3t-token-value-xyz"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ZENODO_TOKEN", "ZENODO_SANDBOX_TOKEN", "OSSR_IMAGES_TOKEN", "OSSR_IMAGES_ZENODO_URL"):
        monkeypatch.delenv(name, raising=False)


def test_production_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZENODO_TOKEN", SECRET)
    t = resolve_target()
    assert (t.name, t.api_url, t.token, t.doi_prefix) == ("zenodo", PRODUCTION_API, SECRET, "10.5281")


def test_sandbox_uses_its_own_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZENODO_TOKEN", "production-token")
    monkeypatch.setenv("ZENODO_SANDBOX_TOKEN", SECRET)
    t = resolve_target(sandbox=True)
    assert (t.name, t.api_url, t.token, t.doi_prefix) == ("sandbox", SANDBOX_API, SECRET, "10.5072")


def test_default_server_only_applies_without_target_options() -> None:
    assert resolve_target(default_server="sandbox").name == "sandbox"
    assert resolve_target(default_server="zenodo").name == "zenodo"
    custom = resolve_target(zenodo_url="http://127.0.0.1:8765/api", default_server="sandbox")
    assert (custom.name, custom.api_url, custom.doi_prefix) == ("custom", "http://127.0.0.1:8765/api", None)


def test_token_file_wins(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZENODO_TOKEN", "from-env")
    f = tmp_path / "token"
    f.write_text(f"  {SECRET}\n")
    assert resolve_target(token_file=f).token == SECRET


@pytest.mark.parametrize("content", ["", "  \n", "two words"])
def test_bad_token_file(tmp_path, content: str) -> None:
    f = tmp_path / "token"
    f.write_text(content)
    with pytest.raises(InvalidInputError) as info:
        resolve_target(token_file=f)
    assert str(f) in info.value.message


def test_missing_token_file(tmp_path) -> None:
    with pytest.raises(InvalidInputError, match="Cannot read the token file"):
        resolve_target(token_file=tmp_path / "nope")


def test_require_token_names_the_variable() -> None:
    with pytest.raises(InvalidInputError) as info:
        resolve_target(sandbox=True, require_token=True)
    assert "ZENODO_SANDBOX_TOKEN" in info.value.message
    assert "deposit:write" in info.value.hint


def test_sandbox_and_url_conflict() -> None:
    with pytest.raises(InvalidInputError, match="--sandbox and --zenodo-url"):
        resolve_target(sandbox=True, zenodo_url="http://127.0.0.1:1/api")


@pytest.mark.parametrize(
    "given,expected",
    [
        ("https://zenodo.org/api/", PRODUCTION_API),
        ("https://sandbox.zenodo.org", SANDBOX_API),
        ("http://127.0.0.1:8765/api", "http://127.0.0.1:8765/api"),
        ("http://localhost:8765", "http://localhost:8765/api"),
        ("https://example.org/zenodo/api", "https://example.org/zenodo/api"),
    ],
)
def test_normalize_api_url(given: str, expected: str) -> None:
    assert normalize_api_url(given) == expected


@pytest.mark.parametrize(
    "bad", ["zenodo.org", "ftp://zenodo.org/api", "https://zenodo.org/api?access_token=x"]
)
def test_normalize_api_url_refuses(bad: str) -> None:
    with pytest.raises(InvalidInputError):
        normalize_api_url(bad)


def test_known_urls_are_recognised() -> None:
    assert resolve_target(zenodo_url="https://sandbox.zenodo.org/api").name == "sandbox"
    assert resolve_target(zenodo_url="https://zenodo.org/api").name == "zenodo"


def test_refuses_token_over_plain_http_to_remote_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OSSR_IMAGES_TOKEN", SECRET)
    with pytest.raises(InvalidInputError) as info:
        resolve_target(zenodo_url="http://zenodo.example.org/api")
    assert "http://zenodo.example.org/api" in info.value.message
    assert "--allow-insecure-http" in info.value.hint
    assert SECRET not in str(info.value) + info.value.hint
    allowed = resolve_target(zenodo_url="http://zenodo.example.org/api", allow_insecure_http=True)
    assert allowed.token == SECRET


def test_plain_http_without_token_is_fine() -> None:
    assert resolve_target(zenodo_url="http://zenodo.example.org/api").token is None


@pytest.mark.parametrize("host", ["127.0.0.1", "127.1.2.3", "localhost", "::1", "[::1]", "app.localhost"])
def test_loopback_hosts(host: str) -> None:
    assert is_loopback_host(host)


@pytest.mark.parametrize("host", ["", None, "10.0.0.1", "example.org", "localhost.example.org", "0.0.0.0"])
def test_non_loopback_hosts(host) -> None:
    assert not is_loopback_host(host)


def test_repr_hides_token() -> None:
    t = Target("custom", "http://127.0.0.1:1/api", SECRET, None)
    assert SECRET not in repr(t) and SECRET not in str(t) and SECRET not in f"{t}"
    assert "token=<set>" in repr(t)
    assert t.html_url == "http://127.0.0.1:1"
    assert t.record_html_url(3) == "http://127.0.0.1:1/records/3"
