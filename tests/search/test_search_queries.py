"""The stand-in's query-string basics over HTTP (Zenodo / Elasticsearch `query_string`): phrases,
`field:value`, parentheses, AND / OR / NOT, case-insensitive; through the client's search_records and through
`ossr-images search "two words"`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import TEST_TOKEN
from fetch.records import image_files, make_client, publish_record
from ossr_images.cli import main
from ossr_images.metadata.image_record import IMAGE_KEYWORD
from ossr_images.standin.query import Bool, Or, Term, compile_query, evaluate
from ossr_images.workflows.search import image_query

TITLES = ("Hello World image", "World of gamma rays", "Hello there", "Neutrino hello world")


@pytest.fixture
def records(standin, tmp_path: Path) -> dict[str, dict]:
    out = {}
    with make_client(standin.api_url, TEST_TOKEN) as client:
        files = image_files(tmp_path / "src")
        for i, title in enumerate(TITLES):
            keywords = [IMAGE_KEYWORD, "analysis"] if i % 2 == 0 else [IMAGE_KEYWORD, "gamma-ray"]
            out[title] = publish_record(client, files, title=title, version=f"1.{i}.0", keywords=keywords)
        out["Hello world dataset"] = publish_record(
            client, {"notes.txt": b"not an image\n"}, title="Hello world dataset", keywords=["physics"]
        )
    return out


def titles(standin, q: str) -> list[str]:
    with make_client(standin.api_url, None) as client:
        return sorted(r.title for r in client.search_records(q=q))


def test_search_records_query_string(standin, records) -> None:
    kw = f'keywords:"{IMAGE_KEYWORD}"'
    # terms side by side are ORed, as on zenodo.org (query_string without default_operator: zenodo-rdm
    # invenio.cfg RDM_SEARCH); AND / + make a term required
    images = sorted(TITLES)
    assert titles(standin, f"{kw} (hello world)") == sorted([*TITLES, "Hello world dataset"])
    assert titles(standin, f"{kw} AND (hello world)") == images
    assert titles(standin, f"{kw} AND (hello AND world)") == ["Hello World image", "Neutrino hello world"]
    assert titles(standin, f"+{kw} +hello +world") == ["Hello World image", "Neutrino hello world"]
    assert titles(standin, "(HELLO AND WORLD)") == sorted(
        ["Hello World image", "Neutrino hello world", "Hello world dataset"]
    )
    # OR, NOT and grouping
    assert titles(standin, f"{kw} AND (neutrino OR gamma)") == ["Neutrino hello world", "World of gamma rays"]
    assert titles(standin, f"{kw} hello NOT world") == ["Hello there"]
    assert titles(standin, f"{kw} hello -world") == ["Hello there"]
    assert titles(standin, f"{kw} AND NOT (hello OR gamma)") == []
    assert titles(standin, "neutrino OR dataset") == ["Hello world dataset", "Neutrino hello world"]
    # phrases: the words together, in that order
    assert titles(standin, '"hello world"') == sorted(
        ["Hello World image", "Neutrino hello world", "Hello world dataset"]
    )
    assert titles(standin, '"world hello"') == []
    # field:value, field:"value", field:(a OR b), case-insensitive
    assert titles(standin, "keywords:gamma-ray") == ["Neutrino hello world", "World of gamma rays"]
    assert titles(standin, 'title:"hello THERE"') == ["Hello there"]
    assert titles(standin, f"{kw} AND title:(there OR neutrino)") == ["Hello there", "Neutrino hello world"]
    assert titles(standin, f"KEYWORDS:analysis AND {kw}") == ["Hello World image", "Hello there"]
    assert titles(standin, f'doi:"{records["Hello there"].doi}"') == ["Hello there"]
    # what luqum cannot parse (unbalanced parentheses, dangling operators) falls back, as on zenodo.org, to a
    # multi_match query of its words: any of them may match
    assert titles(standin, "((neutrino") == ["Neutrino hello world"]
    assert titles(standin, "neutrino) OR") == ["Neutrino hello world"]
    assert titles(standin, "gamma ((neutrino") == ["Neutrino hello world", "World of gamma rays"]


def test_deposition_list_uses_the_same_query_language(standin, records) -> None:
    with make_client(standin.api_url, TEST_TOKEN) as client:
        found = sorted(
            d.title
            for d in client.list_depositions(
                q="(gamma OR neutrino) AND keywords:gamma-ray", all_versions=True
            )
        )
    assert found == ["Neutrino hello world", "World of gamma rays"]


def test_cli_search_two_words(standin, records, monkeypatch) -> None:
    monkeypatch.delenv("ZENODO_TOKEN", raising=False)
    assert image_query("hello world") == f'keywords:"{IMAGE_KEYWORD}" AND (hello world)'
    result = CliRunner().invoke(main, ["search", "hello world", "--zenodo-url", standin.api_url, "--json"])
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    # zenodo.org ORs the two words (query_string without default_operator), and so does the stand-in
    assert sorted(r["title"] for r in doc["records"]) == sorted(TITLES)
    both = CliRunner().invoke(main, ["search", "hello AND world", "--zenodo-url", standin.api_url, "--json"])
    assert sorted(r["title"] for r in json.loads(both.stdout)["records"]) == [
        "Hello World image",
        "Neutrino hello world",
    ]

    phrase = CliRunner().invoke(main, ["search", '"world of"', "--zenodo-url", standin.api_url, "--json"])
    assert phrase.exit_code == 0, phrase.stderr
    assert [r["title"] for r in json.loads(phrase.stdout)["records"]] == ["World of gamma rays"]

    either = CliRunner().invoke(
        main, ["search", "neutrino OR gamma", "--zenodo-url", standin.api_url, "--json"]
    )
    assert either.exit_code == 0, either.stderr
    assert sorted(r["title"] for r in json.loads(either.stdout)["records"]) == [
        "Neutrino hello world",
        "World of gamma rays",
    ]


@pytest.mark.parametrize("q", ["", "*", "()", ")(", '"', "-", "+", "\\"])
def test_queries_with_no_term_match_everything(q: str) -> None:
    """A query that names no term (empty, only operators, unbalanced brackets or quotes) is not refused: it
    matches every record, as Zenodo's lenient search does."""
    assert compile_query(q) is None
    assert evaluate(compile_query(q), lambda field, value: False) is True


@pytest.mark.parametrize(
    "q,expected",
    [
        # luqum cannot parse these: the stand-in searches for their words instead of refusing (standin/query.py)
        ("AND", Term(None, "AND")),
        ('title:"', Term(None, "title")),
        ("a:(", Term(None, "a")),
        ("((((a", Term(None, "a")),
        ("!!x", Term(None, "!!x")),
        ('x:"a\\"b"', Term("x", 'a"b')),  # an escaped quote inside a phrase stays in the value
        ("-a b", Bool(must=(), should=(Term(None, "b"),), must_not=(Term(None, "a"),))),
        ("Title:(a OR b)", Or((Term("title", "a"), Term("title", "b")))),
        ("hello world", Or((Term(None, "hello"), Term(None, "world")))),  # side by side: OR, as on zenodo.org
        ("+hello world", Bool(must=(Term(None, "hello"),), should=(Term(None, "world"),), must_not=())),
    ],
)
def test_odd_queries_keep_their_terms(q: str, expected: object) -> None:
    assert compile_query(q) == expected
