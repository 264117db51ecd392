"""A deposition list whose entries are not depositions (a broken proxy, a changed API) is a clean
ZenodoError (exit 4), never a TypeError deep in publish: the stand-in over HTTP with its fault hook."""

from __future__ import annotations

import pytest

from conftest import TEST_TOKEN
from ossr_images.standin.faults import Faults
from ossr_images.zenodo.client import ZenodoClient
from ossr_images.zenodo.errors import ZenodoError
from ossr_images.zenodo.target import Target


class ListOf(Faults):
    def __init__(self, body) -> None:  # noqa: ANN001
        self.body = body

    def after(self, request, status, body):  # noqa: ANN001
        return (200, self.body) if request.route == "dep_list" else None


@pytest.mark.parametrize("body", [[1, 2], [{"no": "id"}], ["x"]])
def test_list_entries_that_are_not_depositions(standin, body) -> None:
    standin.faults = ListOf(body)
    with ZenodoClient(Target("custom", standin.api_url, TEST_TOKEN, "10.5072")) as client:
        with pytest.raises(ZenodoError) as err:
            list(client.list_depositions())
    assert err.value.exit_code == 4
    assert "wrong shape" in err.value.message
    assert TEST_TOKEN not in str(err.value)


def test_file_list_entries_that_are_not_files(standin) -> None:
    class FilesOf(Faults):
        def after(self, request, status, body):  # noqa: ANN001
            return (200, [1, 2]) if request.route.endswith("files") and request.method == "GET" else None

    with ZenodoClient(Target("custom", standin.api_url, TEST_TOKEN, "10.5072")) as client:
        dep = client.create_deposition({"title": "x"})
        standin.faults = FilesOf()
        with pytest.raises(ZenodoError) as err:
            client.list_files(dep.id)
    assert err.value.exit_code == 4 and "wrong shape" in err.value.message
