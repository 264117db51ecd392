"""The stand-in's route table: (method, path pattern, function of a `Request`). The first route whose
pattern and method match serves the request; a path that matches only other methods is a 405."""

from __future__ import annotations

import re

from ossr_images.standin import community_routes as com
from ossr_images.standin import deposit_routes as dep
from ossr_images.standin import rdm_pids as pids
from ossr_images.standin import rdm_routes as rdm
from ossr_images.standin import record_routes as rec
from ossr_images.standin.routing import Route

_ID = r"(?P<id>[^/]+)"
_DEP = rf"^/api/deposit/depositions/{_ID}"
_BUCKET = r"^/api/files/(?P<bucket>[^/]+)"
_REC = rf"^/api/records/{_ID}"
_DRAFT = rf"{_REC}/draft"
_HTML_ID = r"(?P<id>\d+|[0-9a-zA-Z]{5}-[0-9a-zA-Z]{5})"  # Zenodo's digits, a plain instance's ids
_REQ = r"^/api/requests/(?P<rid>[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12})"  # RQ: <uuid:id>

ROUTES: list[Route] = [
    Route(method, re.compile(pattern), function)
    for method, pattern, function in [
        ("GET", r"^/api/deposit/depositions/?$", dep.dep_list),
        ("POST", r"^/api/deposit/depositions/?$", dep.dep_create),
        ("GET", rf"{_DEP}/?$", dep.dep_get),
        ("PUT", rf"{_DEP}/?$", dep.dep_update),
        ("DELETE", rf"{_DEP}/?$", dep.dep_delete),
        ("POST", rf"{_DEP}/actions/(?P<action>[a-z]+)/?$", dep.dep_action),
        ("GET", rf"{_DEP}/files/?$", dep.dep_files),
        ("POST", rf"{_DEP}/files/?$", dep.dep_files_post),
        ("GET", rf"{_DEP}/files/(?P<file_id>[^/]+)/?$", dep.dep_file_get),
        ("DELETE", rf"{_DEP}/files/(?P<file_id>[^/]+)/?$", dep.dep_file_delete),
        ("GET", rf"{_BUCKET}/?$", dep.bucket_get),
        ("PUT", rf"{_BUCKET}/(?P<key>.+)$", dep.bucket_put),
        ("GET", rf"{_BUCKET}/(?P<key>.+)$", dep.bucket_file_get),
        ("HEAD", rf"{_BUCKET}/(?P<key>.+)$", dep.bucket_file_get),
        ("DELETE", rf"{_BUCKET}/(?P<key>.+)$", dep.bucket_file_delete),
        ("GET", r"^/api/records/?$", rec.rec_search),
        ("POST", r"^/api/records/?$", rdm.rdm_create),
        ("GET", r"^/api/user/records/?$", rdm.rdm_user_records),
        ("GET", rf"{_REC}/?$", rec.rec_get),
        ("GET", rf"{_REC}/versions/latest/?$", rec.rec_latest),
        ("GET", rf"{_REC}/versions/?$", rec.rec_versions),
        ("POST", rf"{_REC}/versions/?$", rdm.rdm_new_version),
        ("GET", rf"{_REC}/files/?$", rec.rec_files),
        ("GET", rf"{_REC}/files/(?P<key>.+)/content$", rec.rec_file_content),
        ("HEAD", rf"{_REC}/files/(?P<key>.+)/content$", rec.rec_file_content),
        ("GET", rf"{_REC}/files/(?P<key>.+?)/?$", rec.rec_file),
        ("GET", rf"{_DRAFT}/?$", rdm.rdm_draft_get),
        ("PUT", rf"{_DRAFT}/?$", rdm.rdm_draft_put),
        ("DELETE", rf"{_DRAFT}/?$", rdm.rdm_draft_delete),
        ("POST", rf"{_DRAFT}/?$", rdm.rdm_edit),
        ("POST", rf"{_DRAFT}/pids/doi/?$", rdm.rdm_reserve_doi),
        ("DELETE", rf"{_DRAFT}/pids/doi/?$", pids.rdm_discard_doi),
        ("POST", rf"{_DRAFT}/actions/publish/?$", rdm.rdm_publish),
        ("POST", rf"{_DRAFT}/actions/files-import/?$", rdm.rdm_files_import),
        ("POST", rf"{_DRAFT}/actions/submit-review/?$", rdm.rdm_submit_review),
        ("PUT", rf"{_DRAFT}/review/?$", rdm.rdm_review_put),
        ("GET", rf"{_DRAFT}/review/?$", rdm.rdm_review_get),
        ("DELETE", rf"{_DRAFT}/review/?$", rdm.rdm_review_delete),
        ("GET", rf"{_DRAFT}/files/?$", rdm.rdm_draft_files),
        ("POST", rf"{_DRAFT}/files/?$", rdm.rdm_draft_files_post),
        ("GET", rf"{_DRAFT}/files/(?P<key>.+)/content$", rdm.rdm_draft_file_content),
        ("HEAD", rf"{_DRAFT}/files/(?P<key>.+)/content$", rdm.rdm_draft_file_content),
        ("PUT", rf"{_DRAFT}/files/(?P<key>.+)/content$", rdm.rdm_draft_file_put),
        ("POST", rf"{_DRAFT}/files/(?P<key>.+)/commit$", rdm.rdm_draft_file_commit),
        ("GET", rf"{_DRAFT}/files/(?P<key>.+?)/?$", rdm.rdm_draft_file),
        ("DELETE", rf"{_DRAFT}/files/(?P<key>.+?)/?$", rdm.rdm_draft_file_delete),
        ("POST", rf"{_REC}/communities/?$", rdm.rdm_record_communities),
        ("GET", rf"{_REC}/requests/?$", rdm.rdm_record_requests),
        ("GET", rf"{_REQ}/?$", com.rdm_request_get),
        ("POST", rf"{_REQ}/actions/(?P<action>[^/]+)/?$", com.rdm_request_action),
        ("GET", rf"{_REQ}/timeline/?$", com.rdm_request_timeline),
        ("POST", rf"{_REQ}/comments/?$", com.rdm_request_comment),
        ("GET", r"^/api/communities/?$", com.rdm_communities_search),
        ("GET", r"^/api/communities/(?P<ref>[^/]+)/?$", rdm.rdm_community),
        ("GET", r"^/api/communities/(?P<ref>[^/]+)/records/?$", com.rdm_community_records),
        ("GET", r"^/api/communities/(?P<ref>[^/]+)/requests/?$", com.rdm_community_requests),
        ("GET", rf"^/records/{_HTML_ID}(?:/latest)?/?$", rec.html_record),
        ("GET", rf"^/records/{_HTML_ID}/files/(?P<key>.+?)/?$", rec.html_file),
        ("GET", rf"^/record/{_HTML_ID}/?$", rec.html_legacy_record),
        ("GET", r"^/doi/(?P<doi>.+)$", rec.html_doi),
        ("GET", r"^/api/licenses/?$", rec.legacy_licenses),
        ("GET", r"^/api/vocabularies/licenses/?$", rec.vocab_licenses),
        ("GET", r"^/api/funders/?$", rec.vocab_funders),
        ("GET", r"^/api/vocabularies/licenses/(?P<id>[^/]+)/?$", rec.vocab_license),
        ("GET", r"^/api/funders/(?P<id>[^/]+)/?$", rec.vocab_funder),
        ("GET", r"^/api/?$", rec.api_root),
    ]
]
