# Shared by scripts/containers/{up,down,smoke}.sh: the container engine, the compose command
# and the project. Sourced, not run.
# shellcheck shell=bash

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
engine="${CONTAINER_ENGINE:-$(command -v podman >/dev/null 2>&1 && echo podman || echo docker)}"
project="${COMPOSE_PROJECT_NAME:-confmgr}"
compose_file="$root/compose/compose.yaml"
export CONFMGR_IMAGE="${CONFMGR_IMAGE:-localhost/confmgr-server:dev}"
export CONFMGR_CLI_IMAGE="${CONFMGR_CLI_IMAGE:-localhost/confmgr-cli:dev}"

if [ "$(basename "$engine")" = podman ] && [ -z "${DOCKER_HOST:-}" ]; then
    # docker-compose talks to podman through its Docker API socket (setup-podman.sh).
    export DOCKER_HOST=unix:///run/podman/podman.sock
fi

compose() {
    if [ "$(basename "$engine")" = docker ] && docker compose version >/dev/null 2>&1; then
        docker compose -p "$project" -f "$compose_file" "$@"
    else
        docker-compose -p "$project" -f "$compose_file" "$@"
    fi
}

# Container id of a service's (first) container.
service_id() {
    "$engine" ps -a -q --filter "label=com.docker.compose.project=$project" \
        --filter "label=com.docker.compose.service=$1" | head -1
}

# Succeeds when the service's container is healthy. podman without systemd never runs
# healthchecks on its own, so run the check now; Docker runs them itself.
healthy() {
    local id
    id="$(service_id "$1")"
    [ -n "$id" ] || return 1
    if [ "$(basename "$engine")" = podman ]; then
        "$engine" healthcheck run "$id" >/dev/null 2>&1
    else
        [ "$("$engine" inspect --format '{{.State.Health.Status}}' "$id")" = healthy ]
    fi
}

# wait_healthy SECONDS SERVICE...
wait_healthy() {
    local deadline=$((SECONDS + $1)) service
    shift
    for service in "$@"; do
        until healthy "$service"; do
            if [ "$SECONDS" -ge "$deadline" ]; then
                echo "$service is not healthy; its last log lines:" >&2
                compose logs --tail 30 "$service" >&2 || true
                return 1
            fi
            sleep 1
        done
    done
}

# Runs podman's healthchecks every 2 s while PID lives, so `depends_on: service_healthy`
# can see them turn healthy (Docker needs no help).
drive_healthchecks() {
    local pid="$1" id
    [ "$(basename "$engine")" = podman ] || return 0
    while kill -0 "$pid" 2>/dev/null; do
        for id in $("$engine" ps -q --filter "label=com.docker.compose.project=$project"); do
            "$engine" healthcheck run "$id" >/dev/null 2>&1 || true
        done
        sleep 2
    done
}
