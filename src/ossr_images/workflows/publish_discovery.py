"""What a publish run finds on the server before it writes: earlier runs of the release (`look_up`), the
record it becomes a new version of (`find_previous`, `pending_version_draft`), and other machines' runs of the
same release (`recheck`, `withdraw`, `await_winner`). Each step returns what it found.

Two publish runs of one release on two machines (no shared lock): which one goes on.

The local file lock (`journal.release_lock`) only serialises runs on one machine. Two CI machines that both
list the owner's depositions before either creates one would both create a draft and both publish. So a run
checks again, right after creating its draft and right before publishing: it lists the depositions carrying
the same release marker keyword (``ossr-images:release:<hash>``) and reads each back (the list comes from a
search index that may lag). The winner is deterministic:

- a rival that is already published wins (a published record cannot be taken back);
- otherwise the draft with the lowest deposition id wins.

The loser deletes its own draft (when it still is one) and waits, bounded, for the winner to be published;
the caller then reports the winner's record as already published, or stops with a `RemoteError` (exit 4)
saying that another run is publishing this release.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ossr_images.errors import InvalidInputError, RemoteError
from ossr_images.metadata.image_record import IMAGE_KEYWORD, IMAGE_RECORD_KEY, ImageRecord
from ossr_images.workflows import journal as jr
from ossr_images.workflows.publish_plan import RELEASE_PREFIX, PublishPlan, same_repo
from ossr_images.zenodo.doi import parse_record_ref
from ossr_images.zenodo.errors import ZenodoError
from ossr_images.zenodo.lookup import record_by_doi
from ossr_images.zenodo.models import Deposition, Record

RIVAL_WAIT_SECONDS = 180.0  # how long a losing run waits for the winner's publish before giving up
RIVAL_POLL_SECONDS = (1.0, 2.0, 3.0, 5.0)  # poll intervals (the last one repeats)


DepId = int | str  # the server's deposition id: an int (deposit API) or a string (native API)


def id_order(dep_id: DepId) -> tuple[int, int, str]:
    """A sort key for deposition ids of either API: numbers by value (the native API's ids are strings,
    digits on Zenodo), other strings after them, as text."""
    text = str(dep_id)
    return (0, int(text), "") if text.isdigit() else (1, 0, text)


def age_order(dep: Deposition) -> tuple[int, int, str]:
    """A sort key by age: Zenodo's numeric ids grow with time; other InvenioRDM ids ("4d0ns-ntd89") are
    random, so their creation time (ISO 8601, from one server) orders them, then the id."""
    text = str(dep.id)
    return (0, int(text), "") if text.isdigit() else (1, 0, f"{dep.created or ''} {text}")


@dataclass
class Rivalry:
    """The outcome of a re-check: `winner` is the deposition that goes on (None: this run's own)."""

    winner: Deposition | None
    rivals: list[Deposition]


def list_release_depositions(
    client: Any, marker: str, *, extra_ids: Iterable[DepId] = ()
) -> list[Deposition]:
    """The owner's depositions (drafts and published, all versions) that carry `marker`, each read back one
    by one (the list may lag behind a publish or a delete); `extra_ids` are read even when the list does not
    show them yet. Deleted ones are left out."""
    ids: set[DepId] = set(extra_ids)
    # every deposition, filtered here: a `q` on the keyword depends on how the server maps the legacy field
    for dep in client.list_depositions(all_versions=True):
        if marker in dep.keywords:
            ids.add(dep.id)
    out = []
    for dep_id in sorted(ids, key=id_order):
        try:
            dep = client.get_deposition(dep_id)
        except RemoteError as exc:
            if getattr(exc, "status", None) in (404, 410):
                continue
            raise
        if marker in dep.keywords:
            out.append(dep)
    return out


def recheck(
    client: Any,
    marker: str,
    own_id: DepId,
    *,
    ignore_ids: Iterable[DepId] = (),
    extra_ids: Iterable[DepId] = (),
) -> Rivalry:
    """Look for other depositions of the same release than `own_id` (those in `ignore_ids`, records of this
    release known before this run created anything, do not count). The winner is a rival already published,
    else the lowest deposition id; `winner` is None when this run's own draft wins."""
    ignored = set(ignore_ids) | {own_id}
    rivals = [d for d in list_release_depositions(client, marker, extra_ids=extra_ids) if d.id not in ignored]
    published = sorted((d for d in rivals if d.is_published), key=lambda d: id_order(d.id))
    if published:
        return Rivalry(published[0], rivals)
    own = id_order(own_id)
    lower = sorted((d for d in rivals if id_order(d.id) < own), key=lambda d: id_order(d.id))
    return Rivalry(lower[0] if lower else None, rivals)


def withdraw(client: Any, dep_id: DepId) -> bool:
    """Delete this run's own draft after losing; False when it was gone already or is published (kept)."""
    try:
        dep = client.get_deposition(dep_id)
    except RemoteError as exc:
        if getattr(exc, "status", None) in (404, 410):
            return False
        raise
    if dep.is_published:
        return False
    try:
        client.delete_deposition(dep_id)
    except RemoteError as exc:
        if getattr(exc, "status", None) in (404, 410):
            return False
        raise
    return True


def await_winner(
    client: Any,
    winner_id: DepId,
    *,
    timeout: float | None = None,
    say: Callable[[str], None] = lambda _m: None,
    sleep: Callable[[float], None] = time.sleep,
) -> Deposition | None:
    """Wait until the winning deposition is published or submitted to a community (returns it) or deleted
    (returns None); raises
    `RemoteError` (exit 4) when it is still a draft after `timeout` seconds (default RIVAL_WAIT_SECONDS)."""
    timeout = RIVAL_WAIT_SECONDS if timeout is None else timeout
    deadline = time.monotonic() + timeout
    say(f"Another run is publishing this release (deposition {winner_id}); waiting for it.")
    attempt = 0
    while True:
        try:
            dep = client.get_deposition(winner_id)
        except RemoteError as exc:
            if getattr(exc, "status", None) in (404, 410):
                return None
            raise
        if dep.is_published or (dep.review is not None and dep.review.status == "submitted"):
            return dep  # published, or waiting for a community's curators (the next lookup reports it)
        if time.monotonic() >= deadline:
            html = dep.html_url or winner_id
            raise RemoteError(
                f"another run is publishing this release: its draft {winner_id} was not published within "
                f"{timeout:.0f} s, and this run stepped aside so that the release gets a single record",
                f"Re-run later: a re-run reports the published record, or continues that draft ({html}) "
                "when no other run is working on it.",
            )
        sleep(RIVAL_POLL_SECONDS[min(attempt, len(RIVAL_POLL_SECONDS) - 1)])
        attempt += 1


# ------------------------------------------------------------------------------- earlier runs of the release

_GONE = (404, 410)


@dataclass(frozen=True)
class Lookup:
    """The owner's depositions (`deps`), and among them this release's: published (newest first) and drafts
    (lowest id first), each read back one by one."""

    deps: list[Deposition]
    published: list[Deposition]
    drafts: list[Deposition]


def look_up(
    client: Any,
    plan: PublishPlan,
    journal: jr.Journal,
    *,
    winner_ids: Iterable[DepId] = (),
    say: Callable[[str], None] = lambda _m: None,
) -> Lookup:
    """List the owner's depositions (plus other runs' `winner_ids` and the journal's draft, which the search
    index may not show yet) and read this release's ones back. A journal naming a draft that is gone is
    cleared."""
    deps = list(client.list_depositions(all_versions=True))
    known = {d.id for d in deps}
    for wid in sorted(
        set(winner_ids) - known, key=id_order
    ):  # the list may not show another run's deposition yet
        try:
            deps.append(client.get_deposition(wid))
        except RemoteError as exc:
            if getattr(exc, "status", None) not in _GONE:
                raise
    known = {d.id for d in deps}
    jid = journal.deposition_id
    if jid is not None and jid not in known:
        # just created: Zenodo's search index may not show it yet
        try:
            dep = client.get_deposition(jid)
        except RemoteError as exc:
            if getattr(exc, "status", None) not in _GONE:
                raise
            say(f"The draft {jid} of an earlier run no longer exists; starting afresh.")
            journal.clear()
        else:
            if dep.marker(RELEASE_PREFIX) == plan.release_marker or not dep.is_published:
                deps.append(dep)
    mine = _fresh(client, [d for d in deps if d.marker(RELEASE_PREFIX) == plan.release_marker], journal)
    published = sorted((d for d in mine if d.is_published), key=age_order, reverse=True)
    drafts = sorted((d for d in mine if not d.is_published), key=lambda d: id_order(d.id))
    return Lookup(deps, published, drafts)


def _fresh(client: Any, deps: list[Deposition], journal: jr.Journal) -> list[Deposition]:
    """The depositions read again one by one: the list comes from a search index that may lag behind
    (a draft published or deleted a moment ago)."""
    out = []
    for dep in deps:
        try:
            out.append(client.get_deposition(dep.id))
        except RemoteError as exc:
            if getattr(exc, "status", None) not in _GONE:
                raise
            if dep.id == journal.deposition_id:
                journal.clear()
    return out


def published_image_record(client: Any, dep: Deposition) -> ImageRecord | None:
    """The image metadata file of a published record, downloaded to a temporary folder."""
    entry = client.get_record(dep.record_ref).file(IMAGE_RECORD_KEY)
    if entry is None or entry.url is None:
        return None
    with tempfile.TemporaryDirectory(prefix="ossr-images-") as tmp:
        dest = Path(tmp) / IMAGE_RECORD_KEY
        client.download_file(entry.url, dest, size=entry.size, md5=entry.md5)
        return ImageRecord.from_bytes(dest.read_bytes())


# ----------------------------------------------------------------------------------- the previous version


@dataclass(frozen=True)
class Previous:
    """The deposition this release becomes a new version of, and how it was found."""

    dep: Deposition
    matched_by: str


def find_previous(
    client: Any, plan: PublishPlan, deps: list[Deposition], new_version_of: str | None
) -> Previous | None:
    """The deposition of which this release becomes a new version, or None for a new record."""
    if new_version_of:
        rec = _named_record(client, new_version_of)
        if IMAGE_KEYWORD not in rec.keywords and rec.file(IMAGE_RECORD_KEY) is None:
            raise InvalidInputError(
                f"record {rec.id} ({new_version_of}) is not an ossr-images image record "
                f"(no {IMAGE_RECORD_KEY} and no keyword {IMAGE_KEYWORD})",
                "Give the DOI of an earlier image record; never the source code's own record.",
            )
        rec_id = str(rec.id)
        dep = next((d for d in deps if rec_id in (str(d.id), str(d.record_id))), None)
        return Previous(dep or client.get_deposition(rec.id), f"--new-version-of {new_version_of}")
    source_dois = _source_record_dois(plan.codemeta)
    candidates = [
        d
        for d in deps
        if d.is_published
        and IMAGE_KEYWORD in d.keywords
        and (plan.repo_marker in d.keywords or _related_repo_matches(d, plan.repository))
        and (d.doi or "").lower() not in source_dois
        and (d.conceptdoi or "").lower() not in source_dois
    ]
    if not candidates:
        return None
    newest = max(candidates, key=age_order)
    return Previous(
        newest,
        f"the newest of your published records with the keyword {IMAGE_KEYWORD} "
        f"and the repository {plan.repository}",
    )


def _named_record(client: Any, new_version_of: str) -> Record:
    """The record ``--new-version-of`` names: by its id (a Zenodo DOI holds it), else (another InvenioRDM's
    ``{prefix}/{id}`` or concept DOI) by a search for the DOI; a concept id or DOI gives the latest version."""
    ref = parse_record_ref(new_version_of, any_doi=True)
    if ref.record_id:
        return client.get_record(ref.record_id)  # follows a concept id to the latest version
    found = record_by_doi(client, ref.doi or new_version_of)
    if found is None:
        raise ZenodoError(
            f"--new-version-of {new_version_of}: no record on {client.target.api_url} has the DOI {ref.doi}",
            "Check the DOI (a version's or the concept DOI of a record you published there), or give the "
            "record id instead.",
            status=404,
            url=client.target.api_url,
        )
    return found


def pending_version_draft(
    previous: Deposition, deps: list[Deposition], release_marker: str
) -> Deposition | None:
    """A draft of the next version that already exists for this concept (an earlier run died right after
    creating it): adopted when it carries this release's marker or one copied from a published version;
    a draft for another release raises `RemoteError`."""
    concept = previous.conceptrecid
    published_markers = {d.marker(RELEASE_PREFIX) for d in deps if d.is_published}
    for d in deps:
        if d.is_published or not concept or d.conceptrecid != concept:
            continue
        marker = d.marker(RELEASE_PREFIX)
        if marker == release_marker or (marker is not None and marker in published_markers):
            return d
        raise RemoteError(
            f"record {previous.record_ref} already has a draft of a new version "
            f"(deposition {d.id}) for another release",
            f"Publish or discard that draft first: {d.html_url or d.id}.",
        )
    return None


def _related_repo_matches(dep: Deposition, repository: str) -> bool:
    for rel in dep.related:
        ident = rel.identifier
        for sep in ("/-/tree/", "/tree/", "/commit/"):
            if sep in ident:
                ident = ident.split(sep, 1)[0]
                break
        if ident.startswith("http") and same_repo(ident, repository):
            return True
    return False


def _source_record_dois(codemeta: Any) -> set[str]:
    """DOIs the CodeMeta file names for the source code itself (never to be taken as the image record)."""
    out: set[str] = set()
    for value in (getattr(codemeta, "identifier", None), getattr(codemeta, "url", None)):
        values = value if isinstance(value, (list, tuple)) else [value]
        for v in values:
            if not v:
                continue
            text = str(v).lower()
            for prefix in ("https://doi.org/", "http://doi.org/", "doi:", "https://dx.doi.org/"):
                text = text.removeprefix(prefix)
            out.add(text)
    return out


def read_back(client: Any, dep: Deposition, *, tries: int = 5) -> Record:
    """The record of a published deposition, read back; a 404 (the record is not indexed yet) is retried
    `tries` times with a growing pause."""
    record_id = dep.record_ref
    last: Exception | None = None
    for attempt in range(tries):
        try:
            return client.get_record(record_id)
        except RemoteError as exc:
            if getattr(exc, "status", None) != 404:
                raise
            last = exc
            time.sleep(0.5 * (attempt + 1))
    assert last is not None
    raise last
