"""Run donodo 0.5's own `push` CLI against the local stand-in (run with the donodo venv's python).

Two adjustments, neither touching what donodo measures (docker save -> gzip to a temp file -> upload):
- its API base is a class attribute, `donodo.zenodo.ZenodoSession.base_url`; its `cli()` resets it with
  `use_sandbox()`, so that function is replaced by a no-op after setting the base to DONODO_BASE_URL;
- at import it requires membership of the `docker` group (else `sudo`); a root benchmark run is not in
  that group, so the group list is extended with it (root can use the engine anyway).
Usage: python donodo_shim.py push IMAGE:TAG --auto-publish   (env: ZENODO_TOKEN, DONODO_BASE_URL)
"""

from __future__ import annotations

import grp
import os
import sys

try:
    _docker_gid = grp.getgrnam("docker").gr_gid
except KeyError:  # no docker group on this machine: donodo would re-raise; fake one for root
    _docker_gid = os.getgid()
    _real_getgrnam = grp.getgrnam
    grp.getgrnam = lambda name: (  # type: ignore[assignment]
        grp.struct_group(("docker", "x", _docker_gid, [])) if name == "docker" else _real_getgrnam(name)
    )
_groups = os.getgroups
os.getgroups = lambda: [*_groups(), _docker_gid]  # type: ignore[assignment]

import donodo  # noqa: E402
import donodo.zenodo  # noqa: E402

donodo.zenodo.ZenodoSession.base_url = os.environ["DONODO_BASE_URL"]
donodo.use_sandbox = lambda sandbox: None  # keep the base URL set above

if __name__ == "__main__":
    sys.argv = ["donodo", *sys.argv[1:]]
    sys.exit(donodo.cli())
