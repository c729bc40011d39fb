#!/usr/bin/env bash
# Makes a PostgreSQL base image locally, for machines that cannot pull `postgres:16-bookworm`:
# a minimal Debian bookworm root filesystem with the `postgresql` package (PostgreSQL 15's
# server binaries under /usr/lib/postgresql/15/bin), imported into podman's storage.
# compose/postgres/start.sh and the test harness need only those binaries, so this image
# stands in for the official one. Skipped when the image exists already.
#
#   scripts/containers/base-image.sh [IMAGE]     (default localhost/confmgr-postgres-base:15-bookworm)
#
# Needs root, debootstrap and podman (scripts/containers/setup-podman.sh). The Debian mirror
# is the one apt uses on this machine (DEBIAN_MIRROR overrides it). About 3 minutes.
set -euo pipefail

image="${1:-localhost/confmgr-postgres-base:15-bookworm}"
if podman image exists "$image"; then
    echo "kept $image (exists in podman's storage)"
    exit 0
fi

mirror="${DEBIAN_MIRROR:-}"
if [ -z "$mirror" ]; then
    # The first plain Debian archive apt is configured with (deb822 or one-line format).
    mirror="$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null \
        | awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i !~ /security/) { print $i; exit } }')"
fi
if [ -z "$mirror" ]; then
    mirror="$(awk '$1 == "deb" && $2 !~ /security/ { print $2; exit }' /etc/apt/sources.list 2>/dev/null || true)"
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo "debootstrap bookworm with postgresql into $work/root ${mirror:+(mirror $mirror)}"
# shellcheck disable=SC2086 # an empty mirror means debootstrap's default
debootstrap --variant=minbase --include=postgresql bookworm "$work/root" $mirror \
    >"$work/debootstrap.log" 2>&1 || {
    tail -20 "$work/debootstrap.log" >&2
    echo "base-image.sh: debootstrap failed (log above)" >&2
    exit 1
}
# Debian's package made and started a cluster we do not want; the start script makes its own.
rm -rf "$work/root/var/lib/postgresql/15" "$work/root/var/cache/apt/archives/"*.deb
tar -C "$work/root" -c . | podman import \
    --change 'ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'USER root' \
    - "$image" >/dev/null
echo "made $image"
