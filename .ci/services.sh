# Sourced by .ci/run (and usable by developers): start and stop the services the tests need.
#   . .ci/services.sh && services_start && ... && services_stop
# Exports DOCKER_HOST (a private Docker engine), OSSR_TEST_REGISTRY (host:port of a loopback registry)
# and puts Apptainer on PATH when it could be installed (best effort).
CI_WORK=${CI_WORK:-$(pwd)/.ci/work}

services_start() {
  mkdir -p "$CI_WORK"
  local D="$CI_WORK/docker"
  mkdir -p "$D"
  if [ -z "${DOCKER_HOST:-}" ]; then
    dockerd --host="unix://$D/docker.sock" --data-root="$D/data" --exec-root="$D/exec" \
      --pidfile="$D/dockerd.pid" --storage-driver=vfs --iptables=false --ip6tables=false --bridge=none \
      >"$D/dockerd.log" 2>&1 &
    export DOCKER_HOST="unix://$D/docker.sock"
    for _ in $(seq 1 60); do docker version >/dev/null 2>&1 && break; sleep 0.5; done
    docker version --format 'docker engine {{.Server.Version}} at '"$DOCKER_HOST" || {
      echo "the Docker engine did not start; its log:" >&2; tail -n 30 "$D/dockerd.log" >&2; return 1; }
  fi
  if [ -z "${OSSR_TEST_REGISTRY:-}" ]; then
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
    docker-registry serve "$R/config.yml" >"$R/registry.log" 2>&1 &
    echo $! >"$R/pid"
    export OSSR_TEST_REGISTRY="127.0.0.1:$port"
    for _ in $(seq 1 40); do curl -fsS "http://$OSSR_TEST_REGISTRY/v2/" >/dev/null 2>&1 && break; sleep 0.25; done
    curl -fsS "http://$OSSR_TEST_REGISTRY/v2/" >/dev/null && echo "registry at $OSSR_TEST_REGISTRY" || {
      echo "the registry did not start; its log:" >&2; tail -n 30 "$R/registry.log" >&2; return 1; }
  fi
  if ! command -v apptainer >/dev/null 2>&1; then
    local A="$CI_WORK/apptainer"
    if [ ! -x "$A/bin/apptainer" ]; then
      sh .ci/install-apptainer.sh "$A" >"$CI_WORK/apptainer-install.log" 2>&1 ||
        echo "Apptainer could not be installed (best effort; its tests will skip): $(tail -n 3 "$CI_WORK/apptainer-install.log")"
    fi
    [ -x "$A/bin/apptainer" ] && export PATH="$A/bin:$PATH" && apptainer --version
  fi
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
