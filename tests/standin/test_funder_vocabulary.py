"""The client's funder table (metadata/funding.py) against the stand-in's own copy of zenodo.org's
(standin/data/zenodo-funders.json, from zenodo-rdm legacy/zenodo_legacy/funders.py), both ways."""

from __future__ import annotations

from ossr_images.metadata.funding import ZENODO_FUNDERS, funder_doi
from ossr_images.standin import vocabularies


def test_every_funder_the_crosswalk_sends_is_mapped_by_zenodo_to_the_same_ror() -> None:
    wrong = {doi: (ror, vocabularies.funder_ror(doi)) for doi, ror in ZENODO_FUNDERS.items()
             if vocabularies.funder_ror(doi) != ror}  # fmt: skip
    assert wrong == {}


def test_every_funder_zenodo_maps_is_read_the_same_by_the_crosswalk() -> None:
    zenodo = vocabularies._load("zenodo-funders.json")["doi_to_ror"]
    assert {doi: ZENODO_FUNDERS.get(doi) for doi in zenodo} == zenodo
    for doi, ror in zenodo.items():
        # a CodeMeta funder named by its ROR becomes a funder DOI that zenodo.org maps back to that ROR
        assert vocabularies.funder_ror(funder_doi({"@id": f"https://ror.org/{ror}"}) or "") == ror, (doi, ror)
        assert funder_doi({"@id": f"https://doi.org/{doi}"}) == doi
