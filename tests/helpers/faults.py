"""The faults the reliability tests inject through the fault proxy, and the requests (steps) they target:
the requests `publish` (a first version or a new one) and `fetch` make, in order."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.reliability.faultproxy import FaultProxy

# (method, path regex, how many matching requests pass before the fault acts)
Step = tuple[str, str, int]

DEPOSITION = r"^/api/deposit/depositions/\d+"

PUBLISH_STEPS: dict[str, Step] = {
    "find": ("GET", r"^/api/deposit/depositions(\?|$)", 0),
    "create": ("POST", r"^/api/deposit/depositions$", 0),
    "list-files": ("GET", DEPOSITION + "/files", 0),
    "upload-image": ("PUT", r"^/api/files/[^/]+/hello-[^/]+\.tar$", 0),
    "upload-codemeta": ("PUT", r"^/api/files/[^/]+/codemeta\.json$", 0),
    "upload-metadata-file": ("PUT", r"^/api/files/[^/]+/ossr-image-metadata\.json$", 0),
    "verify-files": ("GET", DEPOSITION + "/files", 1),
    "set-metadata": ("PUT", DEPOSITION + "$", 0),
    "publish": ("POST", DEPOSITION + "/actions/publish$", 0),
    "read-back": ("GET", r"^/api/records/\d+$", 0),
}

# publish of version 1.1.0 when 1.0.0 is published
NEW_VERSION_STEPS: dict[str, Step] = {
    "find": PUBLISH_STEPS["find"],
    "read-previous": ("GET", DEPOSITION + "$", 0),
    "newversion": ("POST", DEPOSITION + "/actions/newversion$", 0),
    "draft-metadata": PUBLISH_STEPS["set-metadata"],
    "list-files": PUBLISH_STEPS["list-files"],
    "delete-old-image": ("DELETE", DEPOSITION + "/files/", 0),
    "upload-image": ("PUT", r"^/api/files/[^/]+/hello-1\.1\.0\.tar$", 0),
    "publish": PUBLISH_STEPS["publish"],
}

FETCH_STEPS: dict[str, Step] = {
    "resolve": ("GET", r"^/api/records/\d+$", 0),
    "get-metadata-file": ("GET", r"^/api/records/\d+/files/ossr-image-metadata\.json/content$", 0),
    "get-image": ("GET", r"^/api/records/\d+/files/hello-[^/]+\.tar/content$", 0),
    "get-codemeta": ("GET", r"^/api/records/\d+/files/codemeta\.json/content$", 0),
}


def inject(proxy: FaultProxy, fault: str, step: Step) -> None:
    """Arm `fault` (a name such as "503-once" or "cut-mid-file") on the proxy for the requests of `step`."""
    method, path, skip = step
    image = "hello-" in path  # the image is large; codemeta.json and the metadata file are small
    if fault.endswith("-once"):
        proxy.status(int(fault.split("-")[0]), method, path, skip=skip)
    elif fault == "502-exhausting":
        proxy.status(502, method, path, skip=skip, count=50)
    elif fault == "504-after-done":
        proxy.status(504, method, path, skip=skip, after_forward=True)
    elif fault == "429-retry-after":
        proxy.status(429, method, path, skip=skip, retry_after=1)
    elif fault == "reset-after-done":
        proxy.reset(method, path, skip=skip, after_forward=True)
    elif fault == "reset-before":
        proxy.reset(method, path, skip=skip)
    elif fault == "slow-answer":
        proxy.delay(2.6, method, path, skip=skip)
    elif fault == "wrong-md5":
        proxy.wrong_md5(method, path, skip=skip)
    elif fault == "upload-reset-midway":
        proxy.reset_upload(100_000 if image else 200, method, path, skip=skip)
    elif fault == "bytes-damaged-on-the-way":
        proxy.corrupt_upload(5_000 if image else 10, method, path)
    elif fault == "cut-mid-file":
        proxy.cut_download(50_000 if image else 300, method, path, skip=skip)
    elif fault == "cut-every-time":
        proxy.cut_download(20_000 if image else 100, method, path, skip=skip, count=50)
    elif fault == "corrupt-bytes":
        proxy.corrupt_download(1_000 if image else 10, method, path, skip=skip)
    else:  # pragma: no cover
        raise AssertionError(fault)


@dataclass(frozen=True)
class Fault:
    """A fault name and the steps it is tried at."""

    name: str
    steps: tuple[str, ...]


def fault_cases(faults: Iterable[Fault]) -> list[Any]:
    """One pytest parameter (fault, step) per step of each fault, with the id "fault@step"."""
    return [pytest.param(f, s, id=f"{f.name}@{s}") for f in faults for s in f.steps]
