#!/usr/bin/env bash
# Refreshes the Swagger UI files that /docs serves from the binary
# (crates/confmgr-server/assets/swagger-ui). Run by a developer when upgrading Swagger UI,
# never by the build: the build and the tests use the committed files and need no network.
#
#   scripts/vendor_swagger_ui.sh [VERSION]     # default: the version vendored now
set -euo pipefail
version="${1:-5.35.0}"
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="$root/crates/confmgr-server/assets/swagger-ui"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
command -v npm >/dev/null || { echo "error: npm is needed to fetch swagger-ui-dist" >&2; exit 1; }
(cd "$work" && npm pack --silent "swagger-ui-dist@$version" >/dev/null && tar xzf swagger-ui-dist-*.tgz)
for file in swagger-ui-bundle.js swagger-ui-bundle.js.LICENSE.txt swagger-ui.css favicon-32x32.png LICENSE NOTICE; do
    cp "$work/package/$file" "$dest/$file"
done
# The source maps are not shipped; drop the comment that points browsers at them.
sed -i 's#/\*\# sourceMappingURL=swagger-ui.css.map\*/##' "$dest/swagger-ui.css"
sed -i '/^\/\/# sourceMappingURL=/d' "$dest/swagger-ui-bundle.js"
echo "swagger-ui-dist $version vendored into $dest"
echo "update the version in this script's default and run: cargo nextest run -p confmgr-server openapi"
