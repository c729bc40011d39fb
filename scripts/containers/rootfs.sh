#!/usr/bin/env bash
# The whole root filesystem of ConfMgr's image, in a directory: both binaries, CA
# certificates, and passwd/group entries for the non-root user 65532 (`nonroot`). The
# Dockerfile's Rust stage and the host-binaries path (scripts/containers/image.sh) both call
# this, so the final `FROM scratch` stage copies the same tree either way.
#
#   scripts/containers/rootfs.sh DEST BIN_DIR [CA_BUNDLE]
#
# BIN_DIR holds static confmgr-server and confmgr; CA_BUNDLE defaults to Debian's
# /etc/ssl/certs/ca-certificates.crt.
set -euo pipefail

if [ $# -lt 2 ]; then
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2
fi
dest="$1"
bin_dir="$2"
ca_bundle="${3:-/etc/ssl/certs/ca-certificates.crt}"

rm -rf "$dest"
mkdir -p "$dest/etc/ssl/certs" "$dest/usr/local/bin"
install -m 0755 "$bin_dir/confmgr-server" "$bin_dir/confmgr" "$dest/usr/local/bin/"
install -m 0644 "$ca_bundle" "$dest/etc/ssl/certs/ca-certificates.crt"
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$dest/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' >"$dest/etc/group"
chmod 0644 "$dest/etc/passwd" "$dest/etc/group"
