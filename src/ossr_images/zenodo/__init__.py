"""The Zenodo API client: targets, DOI parsing, errors, the client and streaming transfers."""

from ossr_images.zenodo.client import DownloadResult, RetryPolicy, UploadResult, ZenodoClient
from ossr_images.zenodo.doi import RecordRef, parse_record_ref
from ossr_images.zenodo.errors import ZenodoError, ZenodoIntegrityError
from ossr_images.zenodo.models import Deposition, Record, RemoteFile
from ossr_images.zenodo.target import Target, resolve_target

__all__ = [
    "Deposition",
    "DownloadResult",
    "Record",
    "RecordRef",
    "RemoteFile",
    "RetryPolicy",
    "Target",
    "UploadResult",
    "ZenodoClient",
    "ZenodoError",
    "ZenodoIntegrityError",
    "parse_record_ref",
    "resolve_target",
]
