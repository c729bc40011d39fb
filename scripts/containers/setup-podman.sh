#!/usr/bin/env bash
# Installs and configures podman as doc/containers.md ("Podman") describes, then starts its
# Docker-compatible API socket. Idempotent: run it as often as you like.
#
#   scripts/containers/setup-podman.sh          install (apt, as root), configure, start the socket
#
# Prints `export DOCKER_HOST=unix:///run/podman/podman.sock` for docker-compose, the docker
# CLI and the testcontainers crate. The socket service runs in the background with no time
# limit; its pid is in /run/podman/confmgr-service.pid.
set -euo pipefail

socket_path="${CONFMGR_PODMAN_SOCKET:-/run/podman/podman.sock}"
packages=(podman buildah runc containernetworking-plugins golang-github-containers-common
    golang-github-containernetworking-plugin-dnsname dnsmasq-base docker-compose debootstrap
    curl file)

need_install=0
for tool in podman buildah docker-compose debootstrap curl file; do
    command -v "$tool" >/dev/null 2>&1 || need_install=1
done
# Compose service names resolve only with the dnsname CNI plugin.
[ -x /usr/lib/cni/dnsname ] || need_install=1
if [ "$need_install" = 1 ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "setup-podman.sh: podman is missing; run as root (apt-get) or install: ${packages[*]}" >&2
        exit 1
    fi
    echo "installing ${packages[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >/dev/null
fi

# Out of the box `podman run` fails on these VMs: rlimits cannot be raised (no
# CAP_SYS_RESOURCE) and crun refuses hybrid cgroups. Leave a configuration that is not ours alone.
conf=/etc/containers/containers.conf
marker="# written by confmgr scripts/containers/setup-podman.sh"
if [ "$(id -u)" = 0 ] && { [ ! -e "$conf" ] || grep -qF "$marker" "$conf"; }; then
    desired="$marker
[containers]
default_ulimits = [\"nofile=20000:20000\", \"nproc=1000:1000\"]
[engine]
runtime = \"runc\"
cgroup_manager = \"cgroupfs\"
events_logger = \"file\""
    if [ "$(cat "$conf" 2>/dev/null)" != "$desired" ]; then
        mkdir -p /etc/containers
        printf '%s\n' "$desired" >"$conf"
        echo "wrote $conf"
    fi
elif [ -e "$conf" ] && ! grep -qF "$marker" "$conf"; then
    echo "kept $conf (not written by this script)"
fi

ping_socket() {
    curl -fsS --max-time 5 --unix-socket "$socket_path" http://d/_ping >/dev/null 2>&1
}

if ! ping_socket; then
    mkdir -p "$(dirname "$socket_path")"
    rm -f "$socket_path"
    nohup podman system service --time=0 "unix://$socket_path" \
        >"$(dirname "$socket_path")/confmgr-service.log" 2>&1 &
    echo $! >"$(dirname "$socket_path")/confmgr-service.pid"
    for _ in $(seq 1 50); do
        ping_socket && break
        sleep 0.2
    done
    if ! ping_socket; then
        echo "setup-podman.sh: podman's API socket $socket_path does not answer; see $(dirname "$socket_path")/confmgr-service.log" >&2
        exit 1
    fi
    echo "podman API on $socket_path (pid $(cat "$(dirname "$socket_path")/confmgr-service.pid"))"
fi
echo "export DOCKER_HOST=unix://$socket_path"
