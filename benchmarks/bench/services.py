"""The local Zenodo stand-in as a separate process, and the few raw API calls the curl baselines need.

The stand-in runs as `python -m ossr_images local-zenodo` (its first stdout lines are `API <url>` and
`TOKEN <token>`), so its memory is its own and it competes for the CPU like a real server would.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import requests

from .harness import Skip

TOKEN = "ossr-bench-token-0123456789"


def _proc_status(pid: int) -> dict[str, int]:
    """VmRSS / VmHWM (peak RSS) of a live process, in KiB."""
    out: dict[str, int] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
    except OSError:
        pass
    return out


class StandIn:
    """`ossr-images local-zenodo` in a child process; use as a context manager."""

    def __init__(
        self, data_dir: Path, *, token: str = TOKEN, log: Path | None = None, api_surface: str = "zenodo"
    ) -> None:
        self.data_dir = data_dir
        self.api_surface = api_surface
        self.token = token
        self.log = log or data_dir.with_suffix(".log")
        self.proc: subprocess.Popen | None = None
        self.api_url = ""
        self._log_fh: Any = None

    def start(self, timeout: float = 30.0) -> StandIn:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._log_fh = open(self.log, "wb")
        argv = [sys.executable, "-m", "ossr_images", "local-zenodo", "--port", "0"]
        argv += ["--data", str(self.data_dir), "--token", self.token]
        argv += ["--api-surface", self.api_surface]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self._log_fh, text=True)
        lines: queue.Queue[str | None] = queue.Queue()

        def reader() -> None:
            assert self.proc and self.proc.stdout
            for line in self.proc.stdout:
                lines.put(line)
            lines.put(None)

        threading.Thread(target=reader, daemon=True).start()
        deadline = time.monotonic() + timeout
        while not self.api_url:
            try:
                line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                line = None
            if line is None:
                self.stop()
                why = self.log.read_text(errors="replace").strip().splitlines()[-3:]
                raise Skip(f"the stand-in did not start (`ossr-images local-zenodo`): {' / '.join(why)}")
            if line.startswith("API "):
                self.api_url = line.split(None, 1)[1].strip()
            elif line.startswith("TOKEN "):
                self.token = line.split(None, 1)[1].strip()
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def rss(self) -> dict[str, int]:
        """{"VmRSS": KiB, "VmHWM": KiB} of the server process now."""
        return _proc_status(self.pid) if self.proc else {}

    def cpu_seconds(self) -> float:
        """User + system CPU time the server has used so far."""
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            return 0.0

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._log_fh:
            self._log_fh.close()
            self._log_fh = None

    def __enter__(self) -> StandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- raw API calls for the baselines (token in the header, as ossr-images does) --
    def _session(self) -> requests.Session:
        s = requests.Session()
        s.headers["Authorization"] = f"Bearer {self.token}"
        return s

    def create_deposition(self) -> dict:
        r = self._session().post(f"{self.api_url}/deposit/depositions", json={})
        r.raise_for_status()
        return r.json()

    def delete_deposition(self, dep_id: int | str) -> None:
        self._session().delete(f"{self.api_url}/deposit/depositions/{dep_id}")

    def record(self, record_id: int | str) -> dict:
        r = self._session().get(f"{self.api_url}/records/{record_id}")
        r.raise_for_status()
        return r.json()

    def file_url(self, record_id: int | str, key: str | None = None) -> tuple[str, dict]:
        """The download URL of a record's file (the largest one when `key` is None) and its entry."""
        rec = self.record(record_id)
        files = rec.get("files") or []
        if isinstance(files, dict):  # new-style records API: {"entries": ...}
            files = list((files.get("entries") or {}).values())
        if key is not None:
            files = [f for f in files if (f.get("key") or f.get("filename")) == key]
        if not files:
            raise RuntimeError(f"record {record_id} has no file {key or ''}")
        entry = max(files, key=lambda f: f.get("size") or f.get("filesize") or 0)
        links = entry.get("links") or {}
        url = links.get("content") or links.get("self") or links.get("download")
        return url, entry


def env_with_token(token: str, api_url: str) -> dict[str, str]:
    """The environment for ossr-images commands against the stand-in."""
    env = dict(os.environ)
    env["ZENODO_TOKEN"] = token
    env["OSSR_IMAGES_ZENODO_URL"] = api_url
    env.pop("ZENODO_SANDBOX_TOKEN", None)
    return env
