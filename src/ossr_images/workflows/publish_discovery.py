"""Two publish runs of one release on two machines (no shared lock): which one goes on.

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

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ossr_images.errors import RemoteError
from ossr_images.zenodo.models import Deposition

RIVAL_WAIT_SECONDS = 180.0  # how long a losing run waits for the winner's publish before giving up
RIVAL_POLL_SECONDS = (1.0, 2.0, 3.0, 5.0)  # poll intervals (the last one repeats)


@dataclass
class Rivalry:
    """The outcome of a re-check: `winner` is the deposition that goes on (None: this run's own)."""

    winner: Deposition | None
    rivals: list[Deposition]


def list_release_depositions(client: Any, marker: str, *, extra_ids: Iterable[int] = ()) -> list[Deposition]:
    """The owner's depositions (drafts and published, all versions) that carry `marker`, each read back one
    by one (the list may lag behind a publish or a delete); `extra_ids` are read even when the list does not
    show them yet. Deleted ones are left out."""
    ids: set[int] = set(extra_ids)
    # every deposition, filtered here: a `q` on the keyword depends on how the server maps the legacy field
    for dep in client.list_depositions(all_versions=True):
        if marker in dep.keywords:
            ids.add(dep.id)
    out = []
    for dep_id in sorted(ids):
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
    own_id: int,
    *,
    ignore_ids: Iterable[int] = (),
    extra_ids: Iterable[int] = (),
) -> Rivalry:
    """Look for other depositions of the same release than `own_id` (those in `ignore_ids`, records of this
    release known before this run created anything, do not count). The winner is a rival already published,
    else the lowest deposition id; `winner` is None when this run's own draft wins."""
    ignored = set(ignore_ids) | {own_id}
    rivals = [d for d in list_release_depositions(client, marker, extra_ids=extra_ids) if d.id not in ignored]
    published = sorted((d for d in rivals if d.is_published), key=lambda d: d.id)
    if published:
        return Rivalry(published[0], rivals)
    lower = sorted((d for d in rivals if d.id < own_id), key=lambda d: d.id)
    return Rivalry(lower[0] if lower else None, rivals)


def withdraw(client: Any, dep_id: int) -> bool:
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
    winner_id: int,
    *,
    timeout: float | None = None,
    say: Callable[[str], None] = lambda _m: None,
    sleep: Callable[[float], None] = time.sleep,
) -> Deposition | None:
    """Wait until the winning deposition is published (returns it) or deleted (returns None); raises
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
        if dep.is_published:
            return dep
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
