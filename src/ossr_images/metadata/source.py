"""The source link: which repository and which full commit an image was built from.

The commit comes from `--commit`, else from the git checkout (given, or the one holding the CodeMeta file),
else from CI variables (GitHub Actions, GitLab CI). `codeRepository` must match one of the checkout's
remotes after normalising. git is run as a subprocess; nothing here touches the network.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from ossr_images.errors import HasProblems, InvalidInputError, Problem

# GitLab instances without "gitlab" in their name (tree URLs are /-/tree/<commit> there).
KNOWN_GITLAB_HOSTS = frozenset(
    {"git.km3net.de", "git.ligo.org", "framagit.org", "salsa.debian.org", "invent.kde.org", "code.ihep.ac.cn"}
)
GITLAB_HOSTS_ENV = "OSSR_IMAGES_GITLAB_HOSTS"  # comma-separated extra GitLab hosts

_FULL_ID = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")
_HEX = re.compile(r"^[0-9a-fA-F]{4,64}$")
_REVISION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/^{}~@+-]*$")
_SCP_LIKE = re.compile(r"^(?:[^@/\s]+@)?([A-Za-z0-9.-]+):(?!//)(?!\d+/)(.+)$")


@dataclass(frozen=True)
class SourceLink:
    """The repository (normalised URL) and full commit an image comes from.

    dirty: True/False when a checkout was examined at that commit, None when unknown.
    ref: a tag or branch naming the commit, when known. origin: "git", "option", "github-actions", "gitlab-ci".
    """

    repository: str
    commit: str
    dirty: bool | None = None
    ref: str | None = None
    origin: str = "git"

    @property
    def tree_url(self) -> str:
        """The browsable source tree at the commit (see source_tree_url)."""
        return source_tree_url(self.repository, self.commit)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass
class SourceReport(HasProblems):
    """What resolving the source found: the link (None when it could not be made), problems, the checkout."""

    source: SourceLink | None
    problems: list[Problem] = field(default_factory=list)
    checkout: Path | None = None


# --------------------------------------------------------------------------------------------- URLs
def normalize_repo_url(url: str) -> str:
    """A repository URL in one comparable form: https://host/path without credentials, port, '.git' or '/'.

    `git@github.com:org/repo.git`, `ssh://git@github.com/org/repo`, `git+https://github.com/org/repo.git` all
    give `https://github.com/org/repo`. Local paths and file:// URLs are returned stripped, unchanged otherwise.
    """
    text = url.strip()
    if text.startswith("git+"):
        text = text[4:]
    scp = _SCP_LIKE.match(text)
    if scp and "://" not in text and not re.match(r"^[A-Za-z]:[\\/]", text):
        host, path = scp.group(1), scp.group(2)
        return _join("https", host.lower(), path)
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https", "ssh", "git", "git+ssh", "ssh+git") or not parts.hostname:
        return text.rstrip("/")
    host = parts.hostname.lower()
    if scheme in ("http", "https") and parts.port and parts.port not in (80, 443):
        host = f"{host}:{parts.port}"
    return _join("http" if scheme == "http" else "https", host, parts.path)


def _join(scheme: str, host: str, path: str) -> str:
    path = path.strip("/")
    path = path[:-4] if path.endswith(".git") else path
    return f"{scheme}://{host}/{path}" if path else f"{scheme}://{host}"


def is_web_url(url: str) -> bool:
    """True when the URL normalises to http(s) (a local path or file:// URL cannot be compared)."""
    return normalize_repo_url(url).startswith(("https://", "http://"))


def _comparable(url: str) -> str:
    norm = normalize_repo_url(url)
    return re.sub(r"^https?://", "", norm).lower()


def same_repository(a: str | None, b: str | None) -> bool:
    """True when two repository URLs name the same repository (scheme, case, '.git', credentials ignored)."""
    if not a or not b:
        return False
    return _comparable(a) == _comparable(b)


def _gitlab_hosts() -> set[str]:
    extra = {h.strip().lower() for h in os.environ.get(GITLAB_HOSTS_ENV, "").split(",") if h.strip()}
    return set(KNOWN_GITLAB_HOSTS) | extra


def source_tree_url(repository: str, commit: str) -> str:
    """The source tree at a commit: GitHub `/tree/<c>`, GitLab hosts `/-/tree/<c>`, otherwise `/tree/<c>`.

    A host counts as GitLab when its name contains 'gitlab', is a known instance, or is listed in
    OSSR_IMAGES_GITLAB_HOSTS.
    """
    norm = normalize_repo_url(repository)
    host = (urlsplit(norm).hostname or "").lower()
    if "gitlab" in host or host in _gitlab_hosts():
        return f"{norm}/-/tree/{commit}"
    if host == "bitbucket.org":
        return f"{norm}/src/{commit}"
    return f"{norm}/tree/{commit}"


# --------------------------------------------------------------------------------------------- git
class GitError(Exception):
    """git could not be run or failed (message holds git's stderr, never credentials)."""


def _git(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, GIT_TERMINAL_PROMPT="0", LC_ALL="C", GIT_OPTIONAL_LOCKS="0")
    try:
        result = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, env=env, check=False, timeout=60
        )
    except FileNotFoundError:
        raise GitError("git is not installed (not found on PATH)") from None
    except subprocess.TimeoutExpired:
        raise GitError(f"git {args[0]} took more than 60 s in {cwd}") from None
    if check and result.returncode != 0:
        raise GitError(result.stderr.strip() or f"git {args[0]} failed with status {result.returncode}")
    return result


def find_checkout(path: Path) -> Path | None:
    """The top directory of the git work tree holding `path` (a file or directory), or None."""
    start = path if path.is_dir() else path.parent
    if not start.exists():
        return None
    try:
        result = _git(start, "rev-parse", "--show-toplevel", check=False)
    except GitError:
        return None
    if "dubious ownership" in result.stderr:
        raise GitError(
            f"git refuses to read the checkout holding {start}: it is owned by another user "
            f"(fix: git config --global --add safe.directory <its top directory>)"
        )
    if result.returncode != 0 or not result.stdout.strip():
        return None
    return Path(result.stdout.strip())


def object_format(checkout: Path) -> str:
    """'sha1' or 'sha256' (the repository's object format)."""
    result = _git(checkout, "rev-parse", "--show-object-format", check=False)
    return result.stdout.strip() or "sha1" if result.returncode == 0 else "sha1"


def expand_commit(checkout: Path, revision: str) -> str | None:
    """The full id of a commit (short ids and tags expanded), or None when it is not a commit there."""
    if not _REVISION.match(revision):
        return None
    result = _git(checkout, "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}", check=False)
    value = result.stdout.strip()
    return value if result.returncode == 0 and _FULL_ID.match(value) else None


def head_commit(checkout: Path) -> str | None:
    """The full id of HEAD, or None in a repository without commits."""
    return expand_commit(checkout, "HEAD")


def is_dirty(checkout: Path) -> bool:
    """True when tracked files differ from HEAD (staged or not); untracked files are not counted."""
    result = _git(checkout, "status", "--porcelain", "--untracked-files=no")
    return bool(result.stdout.strip())


def remotes(checkout: Path) -> dict[str, list[str]]:
    """Remote name -> its fetch and push URLs, as configured."""
    result = _git(checkout, "remote", "-v", check=False)
    out: dict[str, list[str]] = {}
    for line in result.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[1] not in out.setdefault(parts[0], []):
            out[parts[0]].append(parts[1])
    return out


def ref_for(checkout: Path, commit: str) -> str | None:
    """A tag pointing at the commit, else the current branch when HEAD is the commit, else None."""
    tag = _git(checkout, "describe", "--tags", "--exact-match", commit, check=False)
    if tag.returncode == 0 and tag.stdout.strip():
        return tag.stdout.strip()
    if head_commit(checkout) == commit:
        branch = _git(checkout, "symbolic-ref", "--short", "-q", "HEAD", check=False)
        if branch.returncode == 0 and branch.stdout.strip():
            return branch.stdout.strip()
    return None


# --------------------------------------------------------------------------------------------- CI
def ci_source(env: Mapping[str, str]) -> tuple[str, str, str | None, str] | None:
    """(repository, commit, ref, origin) from GitHub Actions or GitLab CI variables, or None."""
    if env.get("GITHUB_SHA") and env.get("GITHUB_REPOSITORY"):
        server = env.get("GITHUB_SERVER_URL") or "https://github.com"
        repo = f"{server.rstrip('/')}/{env['GITHUB_REPOSITORY']}"
        return repo, env["GITHUB_SHA"].strip().lower(), env.get("GITHUB_REF_NAME") or None, "github-actions"
    if env.get("CI_COMMIT_SHA") and env.get("CI_PROJECT_URL"):
        ref = env.get("CI_COMMIT_TAG") or env.get("CI_COMMIT_REF_NAME") or None
        return env["CI_PROJECT_URL"], env["CI_COMMIT_SHA"].strip().lower(), ref, "gitlab-ci"
    return None


# --------------------------------------------------------------------------------------------- resolve
_HINT_COMMIT = "pass the full commit id with --commit, or run where the git checkout is (--repo DIR)"


def inspect_source(
    code_repository: str | None,
    *,
    codemeta_path: Path | str | None = None,
    repo_dir: Path | str | None = None,
    commit: str | None = None,
    allow_dirty: bool = False,
    env: Mapping[str, str] | None = None,
) -> SourceReport:
    """Work out the source link and every problem with it; never raises for bad input.

    Problems point into the `source` object of `validate --json` (`/source/commit`, `/source/dirty`,
    `/source/repository`), or at `/codeRepository` when the CodeMeta value disagrees with the checkout or CI.
    """
    env = os.environ if env is None else env
    problems: list[Problem] = []

    def add(path: str, severity: str, message: str, hint: str) -> None:
        problems.append(Problem(path, severity, message, hint, source="source"))

    checkout: Path | None = None
    try:
        if repo_dir is not None:
            checkout = find_checkout(Path(repo_dir)) if Path(repo_dir).is_dir() else None
        elif codemeta_path is not None:
            checkout = find_checkout(Path(codemeta_path).resolve())
    except GitError as exc:
        add("/source/repository", "error", str(exc).split(" (fix: ")[0], _git_fix_hint(str(exc)))
        return SourceReport(None, problems, None)
    if repo_dir is not None:
        repo_path = Path(repo_dir)
        if checkout is None:
            add(
                "/source/repository",
                "error",
                f"--repo {repo_path} is not a git work tree",
                "give the directory of the git checkout the image was built from",
            )
            return SourceReport(None, problems, None)

    ci = ci_source(env)
    repository = normalize_repo_url(code_repository) if code_repository else None
    full: str | None = None
    dirty: bool | None = None
    ref: str | None = None
    origin = "git"

    try:
        if commit is not None:
            origin = "option"
            wanted = commit.strip()
            if checkout is not None:
                full = expand_commit(checkout, wanted)
                if full is None:
                    add(
                        "/source/commit",
                        "error",
                        f"commit {wanted!r} does not exist in the checkout {checkout}",
                        "fetch it (git fetch --tags) or give a commit of this repository",
                    )
                else:
                    ref = ref_for(checkout, full)
                    if full == head_commit(checkout):
                        dirty = is_dirty(checkout)
            elif _FULL_ID.match(wanted.lower()):
                full = wanted.lower()
            elif _HEX.match(wanted):
                add(
                    "/source/commit",
                    "error",
                    f"commit {wanted!r} is abbreviated and there is no git checkout to expand it",
                    "give the full 40- (sha1) or 64-character (sha256) commit id, or --repo DIR",
                )
            else:
                add("/source/commit", "error", f"{wanted!r} is not a commit id", _HINT_COMMIT)
        elif checkout is not None:
            full = head_commit(checkout)
            if full is None:
                add(
                    "/source/commit",
                    "error",
                    f"the checkout {checkout} has no commit yet",
                    "commit the sources first",
                )
            else:
                dirty = is_dirty(checkout)
                ref = ref_for(checkout, full)
                if ci and ci[1] != full:
                    add(
                        "/source/commit",
                        "warning",
                        f"the checkout is at {full} but the CI variables name {ci[1]}",
                        "build and publish from the commit the CI job runs for",
                    )
        elif ci is not None:
            ci_repo, ci_commit, ref, origin = ci
            if _FULL_ID.match(ci_commit):
                full = ci_commit
            else:
                add(
                    "/source/commit",
                    "error",
                    f"the CI commit {ci_commit!r} is not a full commit id",
                    _HINT_COMMIT,
                )
            if repository is None:
                repository = normalize_repo_url(ci_repo)
            elif not same_repository(repository, ci_repo):
                add(
                    "/codeRepository",
                    "error",
                    f"codeRepository {repository} differs from the CI project {normalize_repo_url(ci_repo)}",
                    "fix codeRepository, or publish from the project's own CI",
                )
        else:
            add(
                "/source/commit",
                "error",
                "no source commit: no --commit, no git checkout around the CodeMeta file, no CI variables",
                _HINT_COMMIT,
            )

        if checkout is not None:
            repository = _check_remotes(checkout, repository, add)
    except GitError as exc:
        add("/source/commit", "error", f"git failed: {exc}", "check that git works in the checkout")

    if dirty and not allow_dirty:
        add(
            "/source/dirty",
            "error",
            f"the work tree {checkout} has uncommitted changes, so the image may not match commit {full}",
            "commit or stash the changes (git status shows them), or pass --allow-dirty",
        )
    elif dirty:
        add(
            "/source/dirty",
            "warning",
            f"the work tree {checkout} has uncommitted changes (allowed)",
            "commit them before a release",
        )

    if repository is None:
        if code_repository is None:
            add(
                "/source/repository",
                "error",
                "no repository URL: codeRepository is missing and the checkout has no web remote",
                'add "codeRepository": "https://github.com/ORG/REPO" to the CodeMeta file',
            )
    source = SourceLink(repository, full, dirty, ref, origin) if repository and full else None
    return SourceReport(source, problems, checkout)


def _git_fix_hint(message: str) -> str:
    if " (fix: " in message:
        return message.split(" (fix: ", 1)[1].rstrip(")")
    return "check that git works in the checkout"


def _check_remotes(checkout: Path, repository: str | None, add: object) -> str | None:
    """Compare codeRepository with the checkout's remotes; returns the repository URL to use."""
    assert callable(add)
    configured = remotes(checkout)
    web = [url for urls in configured.values() for url in urls if is_web_url(url)]
    if repository is None:
        origin = [u for u in configured.get("origin", []) if is_web_url(u)]
        return normalize_repo_url((origin or web)[0]) if (origin or web) else None
    if not web:
        add(
            "/codeRepository",
            "warning",
            f"the checkout {checkout} has no web remote to compare with codeRepository {repository}",
            "add the remote (git remote add origin URL) so that the link can be checked",
        )
        return repository
    if not any(same_repository(repository, url) for url in web):
        shown = ", ".join(sorted({normalize_repo_url(u) for u in web}))
        add(
            "/codeRepository",
            "error",
            f"codeRepository {repository} matches none of the checkout's remotes: {shown}",
            "fix codeRepository in the CodeMeta file, or run from a clone of that repository",
        )
    return repository


def resolve_source(
    code_repository: str | None,
    *,
    codemeta_path: Path | str | None = None,
    repo_dir: Path | str | None = None,
    commit: str | None = None,
    allow_dirty: bool = False,
    env: Mapping[str, str] | None = None,
) -> SourceLink:
    """Like inspect_source, but returns the link or raises InvalidInputError (details: the problems)."""
    report = inspect_source(
        code_repository,
        codemeta_path=codemeta_path,
        repo_dir=repo_dir,
        commit=commit,
        allow_dirty=allow_dirty,
        env=env,
    )
    if report.errors or report.source is None:
        first = report.errors[0] if report.errors else None
        more = len(report.errors) - 1
        message = (first.message if first else "the source link could not be made") + (
            f" (and {more} more problem{'s' if more > 1 else ''})" if more > 0 else ""
        )
        raise InvalidInputError(
            message,
            first.hint if first else _HINT_COMMIT,
            details=[p.to_dict() for p in report.problems],
        )
    return report.source
