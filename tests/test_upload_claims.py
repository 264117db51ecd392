"""Issue 12, claim 3: nothing says the upload is verified by sha256. Zenodo returns only an md5: an upload is
verified by md5 and size; the sha256 goes into the image metadata file and is checked by fetch. Checked in the
--help of every command (through the installed console script), README.md and docs/."""

from __future__ import annotations

import re
from pathlib import Path

from tests.helpers.console import run_console

from ossr_images.cli import COMMANDS

ROOT = Path(__file__).resolve().parents[1]
# a sentence (or a line of it) that puts "sha256" and "verified/checked/compared" next to "upload"/"publish"
_CLAIM = re.compile(
    r"(upload|publish)[^.\n]*sha-?256[^.\n]*(verif|check|compar)"
    r"|sha-?256[^.\n]*(verif|check|compar)[^.\n]*(upload|publish)",
    re.IGNORECASE,
)
# what the text may say: sha256 "goes into"/"is written into" the metadata file and is checked by fetch
_ALLOWED = re.compile(r"sha-?256 (goes|is written) into the image metadata file", re.IGNORECASE)


def _claims(text: str) -> list[str]:
    sentences = re.split(r"(?<=[.;])\s+", " ".join(text.split()))
    return [s for s in sentences if _CLAIM.search(s) and not _ALLOWED.search(s)]


def _helps() -> dict[str, str]:
    texts = {"ossr-images": run_console("--help").stdout}
    for name in COMMANDS:
        r = run_console(name, "--help")
        assert r.returncode == 0, r.explain()
        texts[name] = r.stdout
    return texts


def test_no_help_text_claims_a_sha256_check_on_upload() -> None:
    helps = _helps()
    found = {name: _claims(text) for name, text in helps.items() if _claims(text)}
    assert found == {}
    assert "verified by the md5 and size Zenodo returns" in " ".join(helps["publish"].split())


def test_no_document_claims_a_sha256_check_on_upload() -> None:
    docs = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    found = {str(p.relative_to(ROOT)): _claims(p.read_text(encoding="utf-8")) for p in docs}
    assert {k: v for k, v in found.items() if v} == {}
