"""`diff` of two archives of 100k small files each keeps its memory flat: peak RSS of the real command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from .archives import write_many_files

NFILES = 100_000
LIMIT_MIB = 150

MEASURE = """
import resource, subprocess, sys
proc = subprocess.run(sys.argv[1:], capture_output=True, text=True)
sys.stderr.write(proc.stderr)
print(proc.returncode)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.stdout.write(proc.stdout)
"""


@pytest.mark.slow
def test_100k_small_files_diff_stays_under_150_mb(tmp_path: Path) -> None:
    modified = frozenset({7, 54_321, 99_999})
    a = write_many_files(tmp_path / "a.tar", NFILES)
    b = write_many_files(tmp_path / "b.tar", NFILES, mtime=1_800_000_000, modified=modified)
    # the peak RSS of the diff process alone: measured by a small parent started for it
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            MEASURE,
            sys.executable,
            "-m",
            "ossr_images",
            "diff",
            str(a),
            str(b),
            "--json",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    code, peak_kib, document = proc.stdout.split("\n", 2)
    doc = json.loads(document)
    assert int(code) == 3, proc.stderr
    assert doc["verdict"] == "differs"
    assert sorted(d["path"] for d in doc["differences"]) == [
        f"/data/d{i // 1000:04d}/f{i:07d}" for i in sorted(modified)
    ]
    assert {d["change"] for d in doc["differences"]} == {"modified"}
    assert doc["a"]["paths"] == doc["b"]["paths"] == 1 + 1 + NFILES // 1000 + NFILES
    assert doc["ignored"]["mtime"] == doc["a"]["paths"] - 2 - len(
        modified
    )  # not /, /data (implicit) nor the modified
    assert int(peak_kib) / 1024 < LIMIT_MIB, f"peak RSS {int(peak_kib) / 1024:.0f} MiB"
