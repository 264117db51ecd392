"""Property tests: the stand-in's query parser and metadata checks never fail with anything but their own
error, whatever they are given."""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from ossr_images.standin.handler import parse_range
from ossr_images.standin.metadata import MetadataError, clean_metadata, publish_errors
from ossr_images.standin.views import parse_query

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)
KEYS = st.sampled_from(["title", "creators", "license", "communities", "keywords", "related_identifiers",
                        "publication_date", "upload_type", "access_right", "version", "description", "x"])  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
@example("0~.")  # luqum reads the fuzziness as a decimal: decimal.InvalidOperation, once a crash
def test_parse_query_total(q: str) -> None:
    for field, value in parse_query(q):
        assert value and (field is None or field == field.lower())


@settings(max_examples=300, deadline=None)
@given(st.one_of(JSON, st.dictionaries(KEYS, JSON, max_size=6)))
def test_clean_metadata_only_raises_its_error(md) -> None:
    try:
        out = clean_metadata(md)
    except MetadataError as exc:
        assert exc.errors and all("field" in e and e["messages"] for e in exc.errors)
        return
    assert isinstance(out, dict)
    publish_errors(out, 0)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40), st.integers(min_value=0, max_value=10**12))
def test_parse_range_total(header: str, size: int) -> None:
    parsed = parse_range(header, size)
    if parsed is not None:
        start, end = parsed
        assert 0 <= start <= end < size


def test_create_and_update_never_answer_500(tmp_path) -> None:
    """Random metadata through the HTTP API: 201/200 or a 400 with Zenodo's body, never a server error."""
    import requests

    from ossr_images.standin.server import LocalZenodo

    token = "fuzz-token-0123456789"
    headers = {"Authorization": f"Bearer {token}"}
    with LocalZenodo(tmp_path, tokens=[token]) as z:
        dep = requests.post(f"{z.api_url}/deposit/depositions", json={}, headers=headers, timeout=10).json()

        @settings(max_examples=150, deadline=None)
        @given(st.one_of(JSON, st.dictionaries(KEYS, JSON, max_size=6)))
        def check(md) -> None:
            for method, url in (("POST", f"{z.api_url}/deposit/depositions"),
                                ("PUT", f"{z.api_url}/deposit/depositions/{dep['id']}")):  # fmt: skip
                r = requests.request(method, url, json={"metadata": md}, headers=headers, timeout=10)
                assert r.status_code in (200, 201, 400), r.text
                if r.status_code == 400:
                    assert r.json()["status"] == 400
            r = requests.post(
                f"{z.api_url}/deposit/depositions/{dep['id']}/actions/publish", headers=headers, timeout=10
            )
            assert r.status_code in (202, 400), r.text

        check()
