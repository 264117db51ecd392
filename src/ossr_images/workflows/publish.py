"""`ossr-images publish`: one image + its source's CodeMeta -> one verified Zenodo record. Safe to run again.

Order of steps (nothing remote happens before the local checks pass):
  1. local: validate CodeMeta, the source link and the image labels against both (`run_validate`);
     pre-check Zenodo's limits (50 GB per record, 100 files); build the Zenodo metadata (crosswalk) with
     the marker keywords below; with --dry-run also hash the image and stop here;
  2. find the release among the token owner's depositions (marker keyword, plus the local journal for a
     draft created a moment ago): already published -> report it and stop; a draft -> continue it;
  3. otherwise create the deposition, or a new version of the earlier image record (--new-version-of DOI,
     or the newest published record carrying IMAGE_KEYWORD and this repository's marker keyword);
  4. remove files that do not belong (carried over from the previous version, stale);
  5. upload the image (streamed; md5 + sha256 in that one pass), then codemeta.json, then the image metadata
     file (which carries the sha256); files already there with the right md5 are not sent again;
  6. verify every md5 in the draft's file list; PUT the metadata; publish unless --draft (a publish whose
     response was lost is recognised by reading the deposition back);
  7. read the record back and check its files and metadata.
Right after creating its draft and again right before publishing, a run checks that no other run (on another
machine, where the local lock does not reach) made a deposition of the same release; when one did, the lowest
deposition id (or the one already published) wins and this run steps aside (`publish_discovery`).

How a run finds its draft again: every deposition it makes carries the keywords
``ossr-images:container-image`` (IMAGE_KEYWORD), ``ossr-images:repo:<h(repository)>`` and
``ossr-images:release:<h(repository@commit)>`` (keywords are kept by Zenodo; unknown metadata keys are
silently dropped). A release is repository + commit + image sha256: the sha256 (or the image ID) is compared
with the image metadata file of a record carrying the release keyword.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ossr_images.errors import IntegrityError, InvalidInputError, OssrError, RemoteError
from ossr_images.metadata.image_record import (
    ImageRecord,
)
from ossr_images.workflows import journal as jr
from ossr_images.workflows import publish_discovery as pd
from ossr_images.workflows import publish_inclusion
from ossr_images.workflows.publish_checks import published_files, readback_problems
from ossr_images.workflows.publish_files import FileSync, SyncedFiles
from ossr_images.workflows.publish_image import materialize
from ossr_images.workflows.publish_options import PublishOptions
from ossr_images.workflows.publish_plan import (
    PublishedFile,
    PublishPlan,
    PublishResult,
    ask_once,
    build_zenodo_metadata,
    check_limits,
    dry_run,
    prepare,
)
from ossr_images.zenodo.models import Deposition

__all__ = [  # what callers import from here; the local half lives in publish_plan
    "PublishOptions",
    "PublishPlan",
    "PublishResult",
    "PublishedFile",
    "build_zenodo_metadata",
    "check_limits",
    "prepare",
    "publish",
    "readback_problems",
]

log = logging.getLogger("ossr_images.publish")

READBACK_TRIES = 5
MAX_ROUNDS = 3  # lookups after stepping aside for another machine's run of the same release

ProgressFactory = Callable[[int | None, str], Callable[[int], None]]
Notify = Callable[[str], None]
Confirm = Callable[[str], bool]


# ------------------------------------------------------------------------------------------- entry point


def publish(
    image: str | Path,
    options: PublishOptions | None = None,
    *,
    target: Any = None,
    client: Any = None,
    confirm: Confirm | None = None,
    progress: ProgressFactory | None = None,
    notify: Notify | None = None,
) -> PublishResult:
    """Publish `image` (a file, or `docker-daemon:NAME:TAG` / `docker://...`, exported on the fly) with the
    CodeMeta file of its source on the `target` Zenodo server (a `zenodo.target.Target` with a token), as
    `options` say (`PublishOptions`).

    `confirm(summary)` is called once, after the local checks and before the first write on the server; a
    False answer stops with `InvalidInputError`. `progress(total, description)` returns a byte sink;
    `notify(line)` receives human progress lines. Raises the `OssrError` family; never prints.
    """
    opts = options or PublishOptions()
    cache_root = opts.cache_root
    say = notify or (lambda _m: None)
    with materialize(image, progress, say) as materialized:
        plan = prepare(
            materialized.path,
            codemeta=opts.codemeta,
            repo_dir=opts.repo_dir,
            commit=opts.commit,
            allow_dirty=opts.allow_dirty,
            communities=opts.communities,
            env=opts.env,
            image_info=materialized.info,
        )
        plan.engine, plan.engine_version = materialized.engine, materialized.engine_version
        plan.build = opts.build
        if opts.dry_run:
            return dry_run(plan, progress, say, cache_root)
        if target is None or not getattr(target, "token", None):
            raise InvalidInputError(
                "no Zenodo server and token to publish to",
                "Set ZENODO_TOKEN (or ZENODO_SANDBOX_TOKEN with --sandbox) or give --token-file.",
            )
        from ossr_images.zenodo.backends import open_client

        # a client made here is closed here; a caller's client stays the caller's to close
        opened = open_client(target) if client is None else contextlib.nullcontext(client)
        what = f"{plan.repository}@{plan.commit[:12]}"
        with (
            opened as client,
            jr.release_lock(plan.release_marker, target.api_url, what=what, root=cache_root),
        ):
            run = _RemoteRun(
                plan, client=client, target=target, options=opts, confirm=confirm, progress=progress, say=say
            )
            return run.run()


# ------------------------------------------------------------------------------------------ remote run


@dataclass(frozen=True)
class _SteppedAside:
    """This run lost the re-check to another run's deposition of the same release (`winner`): returned by
    the steps that re-check, up to the round loop."""

    winner: Deposition


@dataclass(frozen=True)
class _Round:
    """What one round knows about other depositions: this release's records published before this run
    created anything (`known_published`, never rivals) and the depositions it stepped aside for."""

    known_published: frozenset[pd.DepId] = frozenset()
    winner_ids: frozenset[pd.DepId] = frozenset()


@dataclass(frozen=True)
class _Draft:
    """The deposition a round works on, and how it was come by."""

    dep: Deposition
    resumed: bool = False
    previous: pd.Previous | None = None


@dataclass(frozen=True)
class _Ids:
    doi: str | None
    conceptdoi: str | None
    record_id: str | None
    record_url: str | None


class _RemoteRun:
    """The remote half of one publish run: rounds of look-up, draft, files, metadata, publish, read-back."""

    def __init__(
        self,
        plan: PublishPlan,
        *,
        client: Any,
        target: Any,
        options: PublishOptions,
        confirm: Confirm | None,
        progress: ProgressFactory | None,
        say: Notify,
    ) -> None:
        self.plan = plan
        self.client = client
        self.target = target
        self.options = options
        self.say = say
        self.journal = jr.Journal(plan.release_marker, target.api_url, options.cache_root)
        self.files = FileSync(client, plan, progress, say, options.cache_root)
        self.ask = ask_once(confirm, lambda: plan.summary(getattr(target, "api_url", None)))

    def run(self) -> PublishResult:
        log.info("API: %s (%s)", getattr(self.client, "api", "legacy"), getattr(self.target, "api_url", "?"))
        winners: frozenset[pd.DepId] = frozenset()
        for _round in range(MAX_ROUNDS):
            outcome = self._run_once(winners)
            if isinstance(outcome, PublishResult):
                return outcome
            winner_id = outcome.winner.id
            winners = winners | {winner_id}
            if not outcome.winner.is_published:
                pd.await_winner(self.client, winner_id, say=self.say)
            # the next lookup finds the winner's record (already published) or, if it is gone, starts again
        raise RemoteError(
            "other runs kept creating depositions of this release; this run stepped aside each time",
            "Re-run later, when the other runs are done: a re-run reports the published record.",
        )

    def _run_once(self, winners: frozenset[pd.DepId]) -> PublishResult | _SteppedAside:
        plan = self.plan
        found = pd.look_up(self.client, plan, self.journal, winner_ids=winners, say=self.say)
        round_ = _Round(frozenset(d.id for d in found.published), winners)

        for dep in found.published:
            record = pd.published_image_record(self.client, dep)
            if self._same_image(record):
                self.say(f"This release ({plan.repository} @ {plan.commit[:12]}) is already published.")
                return self._result_from_record(_Draft(dep), already=True, image=record)
            if not self.options.new_version_of:
                _md5, sha = self.files.image_hashes()
                raise InvalidInputError(
                    f"{plan.repository} @ {plan.commit} is already published as record {dep.record_id} "
                    f"(DOI {dep.doi}) with a different image (sha256 {record.sha256 if record else '?'}, "
                    f"this one {sha})",
                    "Publish the image that is archived (ossr-images fetch), or pass --new-version-of "
                    f"{dep.doi or dep.record_id} to archive this rebuilt image as a new version.",
                )

        if found.drafts:
            waiting = self._in_review(_Draft(found.drafts[0], resumed=True))
            if waiting is not None:
                return waiting
            draft: _Draft | _SteppedAside = _Draft(found.drafts[0], resumed=True)
            self.say(f"Continuing the draft {found.drafts[0].id} of an earlier run.")
            if len(found.drafts) > 1:
                self.say(f"Note: other drafts carry this release too: {[d.id for d in found.drafts[1:]]}.")
        else:
            draft = self._new_deposition(found.deps, round_)
        if isinstance(draft, _SteppedAside):
            return draft
        return self._complete(draft, round_)

    def _same_image(self, record: ImageRecord | None) -> bool:
        if record is None:
            return False
        info = self.plan.image_info
        if info.image_id and record.image_id and info.image_id == record.image_id:
            return True
        _md5, sha = self.files.image_hashes()
        return record.sha256 == sha

    def _settle(self, dep: Deposition, round_: _Round) -> _SteppedAside | None:
        """The re-check against another machine's run of this release (after creating the draft, and right
        before publishing): `_SteppedAside`, after deleting this run's draft, when the other run wins."""
        own_id = dep.id
        rivalry = pd.recheck(
            self.client,
            self.plan.release_marker,
            own_id,
            ignore_ids=round_.known_published,
            extra_ids=round_.winner_ids,
        )
        if rivalry.winner is None:
            return None
        winner = rivalry.winner
        state = "published" if winner.is_published else "a draft"
        self.say(
            f"Another run made deposition {winner.id} ({state}) for this same release; "
            f"this run's deposition {own_id} steps aside so that the release gets a single record."
        )
        if pd.withdraw(self.client, own_id):
            self.say(f"Deleted this run's draft {own_id}.")
        self.journal.clear()
        return _SteppedAside(winner)

    def _new_deposition(self, deps: list[Deposition], round_: _Round) -> _Draft | _SteppedAside:
        previous = pd.find_previous(self.client, self.plan, deps, self.options.new_version_of)
        meta = self.plan.zenodo_metadata
        if previous is None:
            self.ask()
            self.say("Creating a new deposition.")
            dep = self.client.create_deposition(metadata=meta)
            self.journal.save(deposition_id=dep.id)
            return self._settle(dep, round_) or _Draft(dep)
        prev = previous.dep
        self.say(f"Making a new version of record {prev.record_ref}: {previous.matched_by}.")
        pending = pd.pending_version_draft(prev, deps, self.plan.release_marker)
        if pending is not None:
            self.say(f"Continuing the new-version draft {pending.id} of an earlier run.")
        self.ask()
        dep = pending if pending is not None else self.client.new_version(prev.id)
        self.journal.save(deposition_id=dep.id)
        # put our marker in at once, so that a crash from here on finds this draft again
        dep = self.client.update_deposition(dep.id, meta)
        return self._settle(dep, round_) or _Draft(dep, resumed=pending is not None, previous=previous)

    def _complete(self, draft: _Draft, round_: _Round) -> PublishResult | _SteppedAside:
        plan = self.plan
        dep = draft.dep
        dep_id = dep.id
        self.journal.save(deposition_id=dep_id)
        self.ask()
        bucket = dep.bucket_url
        if not bucket:
            dep = self.client.get_deposition(dep_id)
            bucket = dep.bucket_url
        if not bucket:
            raise RemoteError(
                f"the deposition {dep_id} has no file bucket link",
                "Run the command again; report it if it stays.",
            )
        synced = self.files.sync(dep_id, bucket)

        self.say("Setting the metadata.")
        self.client.update_deposition(dep_id, plan.zenodo_metadata)
        aside = self._settle(dep, round_)  # the last look for another run of this release before publishing
        if aside is not None:
            return aside
        if self.options.draft:
            dep = self.client.get_deposition(dep_id)
            self.say(
                "Left as a draft (--draft): review it on Zenodo, then publish it there or run without --draft."
            )
            ids = _Ids(dep.prereserved_doi, dep.conceptdoi, str(dep.record_ref), dep.html_url)
            return self._result("draft", replace(draft, dep=dep), ids, synced.files, synced.image_record)
        self.say("Publishing.")
        published = self._publish(dep_id)
        if not published.is_published:
            waiting = self._in_review(replace(draft, dep=published), synced)
            if waiting is not None:
                return waiting
            raise RemoteError(
                f"the deposition {dep_id} is still a draft after publishing it",
                "Run the command again; report it if it stays.",
            )
        result = self._result_from_record(replace(draft, dep=published), synced=synced)
        self.journal.clear()
        return result

    def _in_review(self, draft: _Draft, synced: SyncedFiles | None = None) -> PublishResult | None:
        """A draft submitted to a community (native API): the result "submitted", with the request's URL,
        while the curators have not decided; a declined (or expired) request is an error saying what to do.
        None when the draft has no request to wait for (go on with it)."""
        dep = draft.dep
        review = dep.review
        if review is None or review.status in ("created", "cancelled", "accepted"):
            return None
        wanted = [c.get("identifier") for c in self.plan.zenodo_metadata.get("communities") or []]
        if review.status == "submitted":
            self.say(
                f"Submitted to the community {', '.join(map(str, wanted)) or review.community} for review: "
                f"it is published when the community's curators accept it ({review.url})."
            )
            ids = _Ids(dep.prereserved_doi or dep.doi, dep.conceptdoi, str(dep.record_ref), dep.html_url)
            if synced is not None:
                files, record = synced.files, synced.image_record
            else:
                files = [PublishedFile(f.key, f.size or 0, f.md5, None) for f in dep.files]
                record = {}
            return self._result("submitted", draft, ids, files, record)
        if not wanted:
            return None  # no community wanted any more: the request is removed and the draft published
        raise RemoteError(
            f"the community's curators {review.status} the review request of draft {dep.id} "
            f"({review.url}); the record is not published",
            "Read the curators' comment on the request. To publish the record without the community, run "
            "the same command again with --no-community; to submit it to another community, run it with "
            "--community SLUG.",
        )

    def _publish(self, dep_id: pd.DepId) -> Deposition:
        try:
            return self.client.publish(dep_id)
        except (RemoteError, OSError) as exc:
            # the publish may have gone through although its response was lost (504, reset): look
            try:
                dep = self.client.get_deposition(dep_id)
            except OssrError:
                raise exc from None
            if dep.is_published:
                self.say("The publish went through although its response was lost.")
                return dep
            raise

    # -- read back ----------------------------------------------------------------------------------------

    def _result_from_record(
        self,
        draft: _Draft,
        *,
        already: bool = False,
        synced: SyncedFiles | None = None,
        image: ImageRecord | None = None,
    ) -> PublishResult:
        dep = draft.dep
        rec = pd.read_back(self.client, dep, tries=READBACK_TRIES)
        files = synced.files if synced is not None else None
        problems = readback_problems(rec, self.plan, files, image=image)
        if problems:
            raise IntegrityError(
                f"the published record {rec.id} does not match what was uploaded: {'; '.join(problems)}",
                "Do not cite this record yet; check it on Zenodo and report the problem (a published record "
                "cannot be deleted by ossr-images).",
            )
        inclusion = publish_inclusion.include(
            self.client, rec, publish_inclusion.wanted_communities(self.plan.zenodo_metadata), self.say
        )
        if inclusion is not None:
            draft = replace(draft, dep=replace(dep, review=inclusion))
        image_key = image.file_name if image is not None else self.plan.image_key
        image_sha = image.sha256 if image is not None else (synced.image_sha256 if synced else None)
        checked = published_files(rec, files, image_key=image_key, image_sha256=image_sha)
        ids = _Ids(
            rec.doi or dep.doi,
            rec.conceptdoi or dep.conceptdoi,
            rec.id or str(dep.record_id),
            rec.html_url or self.target.record_html_url(rec.id or dep.record_id),
        )
        record = synced.image_record if synced is not None else {}
        return self._result("published", draft, ids, checked, record, already=already)

    def _result(
        self,
        state: str,
        draft: _Draft,
        ids: _Ids,
        files: list[PublishedFile],
        record: dict[str, Any],
        *,
        already: bool = False,
    ) -> PublishResult:
        return PublishResult(
            state=state,
            api=getattr(self.client, "api", "legacy"),
            review=draft.dep.review,
            repository=self.plan.repository,
            commit=self.plan.commit,
            doi=ids.doi,
            conceptdoi=ids.conceptdoi,
            record_id=ids.record_id,
            record_url=ids.record_url,
            deposition_id=draft.dep.id,
            files=files,
            already_published=already,
            resumed=draft.resumed,
            new_version_of=str(draft.previous.dep.record_ref) if draft.previous else None,
            matched_by=draft.previous.matched_by if draft.previous else None,
            zenodo_metadata=self.plan.zenodo_metadata,
            image_record=record,
            warnings=self.plan.warnings,
        )
