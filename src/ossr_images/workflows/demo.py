"""The embedded default: the main job end to end on a fresh machine, with no account and no engine.

1. start the local Zenodo stand-in on a free loopback port with a temporary data folder;
2. make a temporary git repository from the bundled example (a package copy of `examples/hello/`);
3. write a small docker archive for it without an engine (`images.synth`), labelled with that repository
   and commit;
4. publish it (the real `workflows.publish` over real HTTP);
5. fetch it back and verify it (`_fetch_back`, when the fetch workflow is available).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from ossr_images.errors import EngineUnavailableError, InvalidInputError

EXAMPLE_RESOURCE = "example-hello"  # src/ossr_images/data/example-hello (a copy of examples/hello)
DEFAULT_REPOSITORY = "https://github.com/escape2020/ossr-images-hello"
DEMO_TOKEN_BYTES = 24

Notify = Callable[[str], None]


@dataclass
class DemoResult:
    """What the demo did: where, which source, the publish result and (when available) the fetch result."""

    api_url: str
    work_dir: Path
    kept: bool
    repository: str
    commit: str
    image: Path
    publish: Any  # workflows.publish.PublishResult
    fetch: Any = None  # workflows.fetch.FetchResult, when the fetch step ran

    def to_json(self) -> dict[str, Any]:
        fetched = None
        if self.fetch is not None:
            to_json = getattr(self.fetch, "to_json", None) or getattr(self.fetch, "to_dict", None)
            fetched = to_json() if callable(to_json) else str(self.fetch)
        return {
            "api_url": self.api_url,
            "work_dir": str(self.work_dir) if self.kept else None,
            "source": {"repository": self.repository, "commit": self.commit},
            "publish": self.publish.to_json(),
            "fetch": fetched,
        }


def example_files() -> dict[str, bytes]:
    """The bundled example project: relative path -> bytes (from the package copy of examples/hello)."""
    root = resources.files("ossr_images") / "data" / EXAMPLE_RESOURCE
    out: dict[str, bytes] = {}

    def walk(node: Any, prefix: str) -> None:
        for child in node.iterdir():
            name = f"{prefix}{child.name}"
            if child.name in ("__pycache__",) or child.name.endswith(".pyc"):
                continue
            if child.is_dir():
                walk(child, name + "/")
            else:
                out[name] = child.read_bytes()

    if not root.is_dir():
        raise InvalidInputError(
            f"the bundled example ({EXAMPLE_RESOURCE}) is missing from the installed package",
            "Reinstall ossr-images (pip install --force-reinstall ossr-images).",
        )
    walk(root, "")
    return out


def _git(cwd: Path, *args: str) -> str:
    git = shutil.which("git")
    if git is None:
        raise EngineUnavailableError(
            "git is not installed: the demo makes a small git repository",
            "Install git (e.g. apt-get install git) and run the demo again.",
        )
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0"}
    for var in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
        env.pop(var, None)
    proc = subprocess.run(  # noqa: S603 - fixed git arguments
        [
            git,
            "-c",
            "user.name=ossr-images demo",
            "-c",
            "user.email=demo@ossr-images.invalid",
            "-c",
            "commit.gpgsign=false",
            "-c",
            "init.defaultBranch=main",
            *args,
        ],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise InvalidInputError(
            f"git {' '.join(args)} failed in {cwd}: {proc.stderr.strip() or proc.stdout.strip()}",
            "Check that git works on this machine (git --version).",
        )
    return proc.stdout.strip()


def make_example_repo(dest: Path) -> tuple[Path, str, str]:
    """Write the bundled example into `dest` as a git repository with one commit and an `origin` remote
    equal to the example's codeRepository. Returns (checkout, repository URL, full commit)."""
    dest.mkdir(parents=True, exist_ok=True)
    files = example_files()
    for rel, data in files.items():
        path = dest / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    repository = DEFAULT_REPOSITORY
    if "codemeta.json" in files:
        try:
            raw = json.loads(files["codemeta.json"].decode("utf-8"))
            repository = str(raw.get("codeRepository") or repository)
        except (ValueError, AttributeError):
            pass
    _git(dest, "init", "-q")
    _git(dest, "remote", "add", "origin", repository)
    _git(dest, "add", "-A")
    _git(dest, "commit", "-q", "-m", "hello: the ossr-images demo project")
    commit = _git(dest, "rev-parse", "HEAD")
    return dest, repository, commit


def write_example_image(repo: Path, repository: str, commit: str, out_dir: Path) -> Path:
    """A small docker archive (no engine) whose labels name `repository` and `commit`."""
    from ossr_images.images.synth import write_docker_archive
    from ossr_images.metadata.codemeta import load_codemeta
    from ossr_images.metadata.labels import oci_labels
    from ossr_images.metadata.source import SourceLink

    report = load_codemeta(repo / "codemeta.json")
    codemeta = report.codemeta
    version = (codemeta.version if codemeta is not None else None) or "0.0.0"
    name = (codemeta.name if codemeta is not None else None) or "hello"
    slug = "".join(c if c.isalnum() or c in "._-" else "-" for c in name.lower()).strip("-.") or "hello"
    labels = oci_labels(codemeta, SourceLink(repository, commit, dirty=False, origin="git"))
    files = {}
    for rel in ("hello.sh", "hello.py", "README.md"):
        if (repo / rel).is_file():
            files[f"app/{rel}"] = (repo / rel).read_bytes()
    out = out_dir / f"{slug}-{version.lstrip('v')}.tar.zst"
    write_docker_archive(
        out, labels=labels, tag=f"{slug}:{version.lstrip('v')}", files=files or None, compression="zstd"
    )
    return out


@dataclass
class _Workspace:
    path: Path
    kept: bool


@contextlib.contextmanager
def _workspace(keep: Path | None) -> Iterator[_Workspace]:
    if keep is not None:
        keep = Path(keep)
        if keep.exists() and any(keep.iterdir()):
            raise InvalidInputError(
                f"--keep {keep} exists and is not empty",
                "Give a new or empty folder for the demo's files.",
            )
        keep.mkdir(parents=True, exist_ok=True)
        yield _Workspace(keep.resolve(), True)
        return
    with tempfile.TemporaryDirectory(prefix="ossr-images-demo-") as tmp:
        yield _Workspace(Path(tmp), False)


def run_demo(
    *,
    keep: Path | None = None,
    notify: Notify | None = None,
    progress: Any = None,
    fetch_back: bool = True,
) -> DemoResult:
    """Run the main job end to end on the local stand-in; returns what happened. `keep` keeps every file
    (stand-in data, repository, image, fetched copy) in that folder; otherwise all is removed at the end."""
    import secrets

    from ossr_images.standin.server import LocalZenodo
    from ossr_images.workflows.publish import publish
    from ossr_images.workflows.publish_options import PublishOptions
    from ossr_images.zenodo.target import Target

    say = notify or (lambda _m: None)
    with _workspace(keep) as ws:
        root = ws.path
        token = secrets.token_hex(DEMO_TOKEN_BYTES)
        say("Starting a local Zenodo stand-in (no account, no network).")
        with LocalZenodo(root / "zenodo-data", tokens=[token]) as server:
            say(f"  API {server.api_url}")
            repo, repository, commit = make_example_repo(root / "hello")
            say(f"Example repository {repo} ({repository} @ {commit[:12]}).")
            image = write_example_image(repo, repository, commit, root)
            say(f"Image archive {image.name} written without an engine.")
            target = Target("custom", server.api_url, token, "10.5072")
            options = PublishOptions(
                codemeta=repo / "codemeta.json",
                repo_dir=repo,
                communities=("escape2020",),
                cache_root=root / "cache",
                env=_without_ci_variables(os.environ),
            )
            result = publish(image, options, target=target, progress=progress, notify=say)
            fetched = _fetch_back(result, target, root, say, progress) if fetch_back else None
            return DemoResult(
                api_url=server.api_url,
                work_dir=root,
                kept=ws.kept,
                repository=repository,
                commit=commit,
                image=image,
                publish=result,
                fetch=fetched,
            )


def _without_ci_variables(environ: Any) -> dict[str, str]:
    """The environment without the CI variables that name a source (the demo's source is its own repo)."""
    return {k: v for k, v in environ.items() if not k.startswith(("GITHUB_", "CI_"))}


def _fetch_back(result: Any, target: Any, root: Path, say: Notify, progress: Any) -> Any:
    """Fetch the published record back by its DOI into `root/fetched` (the fetch workflow, issue 6): every
    file verified (md5 from Zenodo, sha256 from the image metadata file) and the provenance proven (image
    labels == image metadata file == Zenodo record); says what was proven. Returns the FetchResult."""
    from ossr_images.workflows.fetch import FetchOptions, fetch

    if not getattr(result, "doi", None):
        return None
    say(f"Fetching {result.doi} back and verifying it.")
    options = FetchOptions(dest=root / "fetched")
    fetched = fetch(result.doi, target, options, progress_factory=progress, notify=say)
    files = [f for f in fetched.files if f.path is not None and f.verified]
    say(
        f"Fetched {len(files)} file(s) into {fetched.directory}, each verified by md5 (the image by sha256 too)."
    )
    say(
        f"Provenance verified: built from {fetched.repository} at {fetched.commit} "
        "(image labels, image metadata file and Zenodo record agree)."
    )
    return fetched
