# Sourced by .ci/run (and usable by developers): start and stop the services the tests need.
#   . .ci/services.sh && services_start && ... && services_stop
# Exports DOCKER_HOST (a private Docker engine), OSSR_TEST_REGISTRY (host:port of a loopback registry)
# and puts Apptainer on PATH (installed by .ci/install-apptainer.sh when missing and running as root).
#
# A service that cannot be had here is reported with ci_missing: with OSSR_CI_STRICT=1 (CI) that is a failure;
# otherwise (a newcomer's machine) it is recorded in CI_SKIPPED and the pytest markers of its tests are added
# to CI_DESELECT, so that those tests are deselected instead of failing. One exception in CI: when the
# Apptainer install itself fails, OSSR_IMAGES_APPTAINER_INSTALL_FAILED holds why (also written to
# $CI_WORK/apptainer-install-failed); tests/conftest.py then allows Apptainer tests to skip and .ci/run
# ends with a loud warning.
CI_WORK=${CI_WORK:-$(pwd)/.ci/work}
CI_SKIPPED=${CI_SKIPPED:-}
CI_DESELECT=${CI_DESELECT:-}

# ci_missing PART WHY [MARKER...]: fail in CI, else record PART as skipped and deselect MARKERs.
ci_missing() {
  local part=$1 why=$2
  shift 2
  if [ "${OSSR_CI_STRICT:-0}" = 1 ]; then
    echo "FAILED (CI=true: nothing may be left out): $part: $why" >&2
    return 1
  fi
  echo "-- skipped: $part: $why"
  CI_SKIPPED="${CI_SKIPPED}${part}: ${why}"$'\n'
  local m
  for m in "$@"; do CI_DESELECT="$CI_DESELECT $m"; done
  return 0
}

_services_docker() {
  local D="$CI_WORK/docker"
  if [ -n "${DOCKER_HOST:-}" ]; then
    docker version --format 'docker engine {{.Server.Version}} at '"$DOCKER_HOST" 2>/dev/null && return 0
    ci_missing "Docker tests" "DOCKER_HOST=$DOCKER_HOST does not answer (or no docker CLI)" docker || return 1
    unset DOCKER_HOST
    return 0
  fi
  if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
    ci_missing "Docker tests" "no dockerd/docker here (apt-get install docker.io, or set DOCKER_HOST)" docker
    return
  fi
  if [ "$(id -u)" != 0 ]; then
    ci_missing "Docker tests" "starting a Docker engine needs root (or set DOCKER_HOST to an engine you can use)" docker
    return
  fi
  mkdir -p "$D"
  dockerd --host="unix://$D/docker.sock" --data-root="$D/data" --exec-root="$D/exec" \
    --pidfile="$D/dockerd.pid" --storage-driver=vfs --iptables=false --ip6tables=false --bridge=none \
    >"$D/dockerd.log" 2>&1 &
  export DOCKER_HOST="unix://$D/docker.sock"
  for _ in $(seq 1 60); do docker version >/dev/null 2>&1 && break; sleep 0.5; done
  docker version --format 'docker engine {{.Server.Version}} at '"$DOCKER_HOST" && return 0
  echo "the Docker engine did not start; its log:" >&2
  tail -n 30 "$D/dockerd.log" >&2
  unset DOCKER_HOST
  ci_missing "Docker tests" "the Docker engine did not start (log: $D/dockerd.log)" docker
}

_services_registry() {
  if [ "$(id -u)" != 0 ] && [ -z "${XDG_RUNTIME_DIR:-}" ] && [ -z "${REGISTRY_AUTH_FILE:-}" ]; then
    # without a login session (su, sudo -u) skopeo looks for /run/containers/UID/auth.json, which it cannot read
    export REGISTRY_AUTH_FILE="$CI_WORK/registry-auth.json"
  fi
  [ -n "${OSSR_TEST_REGISTRY:-}" ] && return 0
  if ! command -v skopeo >/dev/null 2>&1 || ! command -v docker-registry >/dev/null 2>&1; then
    ci_missing "skopeo/registry tests" "skopeo or docker-registry is missing (apt-get install skopeo docker-registry)" skopeo
    return
  fi
  local R="$CI_WORK/registry" port
  mkdir -p "$R/store"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  cat >"$R/config.yml" <<CFG
version: 0.1
storage:
  filesystem:
    rootdirectory: $R/store
http:
  addr: 127.0.0.1:$port
CFG
  # (REGISTRY_* variables override the registry's configuration: REGISTRY_AUTH_FILE is skopeo's, not its)
  env -u REGISTRY_AUTH_FILE docker-registry serve "$R/config.yml" >"$R/registry.log" 2>&1 &
  echo $! >"$R/pid"
  for _ in $(seq 1 40); do curl -fsS "http://127.0.0.1:$port/v2/" >/dev/null 2>&1 && break; sleep 0.25; done
  if curl -fsS "http://127.0.0.1:$port/v2/" >/dev/null 2>&1; then
    export OSSR_TEST_REGISTRY="127.0.0.1:$port"
    echo "registry at $OSSR_TEST_REGISTRY"
    return 0
  fi
  echo "the registry did not start; its log:" >&2
  tail -n 30 "$R/registry.log" >&2
  ci_missing "skopeo/registry tests" "the registry did not start (log: $R/registry.log)" skopeo
}

_services_buildah() {
  # Buildah runs rootless only with subuids set up; tests give it a private vfs storage (tests/build/conftest.py)
  if ! command -v buildah >/dev/null 2>&1; then
    ci_missing "Buildah tests" "buildah is not installed (apt-get install buildah)" buildah
    return
  fi
  if ! buildah --storage-driver vfs info >/dev/null 2>&1; then
    ci_missing "Buildah tests" "buildah is installed but cannot run here (try it as root)" buildah
    return
  fi
  buildah --version
}

_services_apptainer() {
  unset OSSR_IMAGES_APPTAINER_INSTALL_FAILED
  rm -f "$CI_WORK/apptainer-install-failed"
  if command -v apptainer >/dev/null 2>&1; then apptainer --version; return 0; fi
  local A="$CI_WORK/apptainer" log="$CI_WORK/apptainer-install.log"
  if [ -x "$A/bin/apptainer" ] && "$A/bin/apptainer" --version >/dev/null 2>&1; then
    export PATH="$A/bin:$PATH"
    apptainer --version
    return 0
  fi
  if [ "$(id -u)" != 0 ] && [ "${OSSR_CI_STRICT:-0}" != 1 ]; then
    ci_missing "Apptainer tests" "apptainer is not installed (installing it here needs root: see .ci/install-apptainer.sh)" apptainer
    return
  fi
  echo "installing Apptainer (.ci/install-apptainer.sh, log: $log)"
  if sh .ci/install-apptainer.sh "$A" >"$log" 2>&1; then
    export PATH="$A/bin:$PATH"
    tail -n 1 "$log"
    return 0
  fi
  local why
  why="$(tail -n 1 "$log") (log: $log)"
  if [ "${OSSR_CI_STRICT:-0}" = 1 ]; then
    # the one allowed gap in CI: its tests may skip, and .ci/run ends with a loud warning
    export OSSR_IMAGES_APPTAINER_INSTALL_FAILED="$why"
    printf '%s\n' "$why" >"$CI_WORK/apptainer-install-failed"
    echo "!! Apptainer could not be installed: $why" >&2
    return 0
  fi
  ci_missing "Apptainer tests" "the Apptainer install failed: $why" apptainer
}

services_start() {
  mkdir -p "$CI_WORK"
  _services_docker || return 1
  _services_registry || return 1
  _services_buildah || return 1
  _services_apptainer || return 1
  return 0
}

services_stop() {
  local D="$CI_WORK/docker" R="$CI_WORK/registry"
  [ -f "$R/pid" ] && kill "$(cat "$R/pid")" 2>/dev/null && rm -f "$R/pid"
  if [ -f "$D/dockerd.pid" ]; then
    kill "$(cat "$D/dockerd.pid")" 2>/dev/null
    for _ in $(seq 1 40); do [ -f "$D/dockerd.pid" ] || break; sleep 0.25; done
  fi
  return 0
}
