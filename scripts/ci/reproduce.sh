#!/usr/bin/env bash
# Reproducible-build check: two clean builds of the static release binaries from one commit,
# each in its own clone under a different directory (different path lengths) with its own
# target directory, must give byte-identical `confmgr-server` and `confmgr`.
#
#   scripts/ci/reproduce.sh [REV [ARCH]]     (default: HEAD, this machine's architecture)
#   just release-reproducible [REV]
#
# Both builds run scripts/containers/static.sh exactly as a release does (remapped paths,
# SOURCE_DATE_EPOCH from the commit, CONFMGR_GIT_COMMIT set), nice'd. Beyond equal SHA-256s it
# asserts that neither binary holds a build path (the clone directories, the source tree this
# was started from, cargo's home) and that both print the commit in `--version`.
# On success the two builds' SHA-256s go to target/release-reproducible/COMMIT.sha256.
# Heavy: two full fat-LTO builds (about 20-40 min each on 2 shared cores). The clones are
# removed at the end, failed or not (CONFMGR_REPRO_KEEP=1 keeps them for diffoscope).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
rev="${1:-HEAD}"
arch="${2:-$(uname -m)}"
commit="$(git -C "$root" rev-parse --verify "$rev^{commit}")"
short="${commit:0:12}"
cargo_home="${CARGO_HOME:-$HOME/.cargo}"
work="$(mktemp -d "${TMPDIR:-/tmp}/confmgr-repro.XXXXXX")"
cleanup() {
    if [ "${CONFMGR_REPRO_KEEP:-0}" = 1 ]; then
        echo "reproduce: kept $work"
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT
fail() { echo "reproduce: FAIL: $*" >&2; exit 1; }

echo "reproduce: commit $commit ($arch), two clean builds under $work"
sides=(a build-two/confmgr-source)
for side in "${sides[@]}"; do
    src="$work/$side"
    mkdir -p "$(dirname "$src")"
    git clone --quiet --no-checkout "$root" "$src"
    git -C "$src" checkout --quiet --detach "$commit"
    begin=$SECONDS
    echo "reproduce: building in $src"
    (
        cd "$src"
        unset CONFMGR_GIT_COMMIT SOURCE_DATE_EPOCH
        CARGO_TARGET_DIR="$src/target/static" CONFMGR_DIST_DIR="$src/dist" \
            nice -n 10 scripts/containers/static.sh "$arch"
    ) >"$work/$(basename "$side").log" 2>&1 || {
        tail -30 "$work/$(basename "$side").log" >&2
        fail "the build in $src failed (log above)"
    }
    echo "reproduce: built in $((SECONDS - begin)) s: $(grep -E '^(target|how)=' "$src/dist/$arch/BUILD" | tr '\n' ' ')"
done

one="$work/${sides[0]}/dist/$arch"
two="$work/${sides[1]}/dist/$arch"
status=0
for bin in confmgr-server confmgr; do
    sum_one="$(sha256sum "$one/$bin" | cut -d' ' -f1)"
    sum_two="$(sha256sum "$two/$bin" | cut -d' ' -f1)"
    echo "reproduce: $bin  $sum_one  $sum_two"
    if [ "$sum_one" != "$sum_two" ]; then
        status=1
        echo "reproduce: FAIL: $bin differs: $(cmp -l "$one/$bin" "$two/$bin" 2>/dev/null | wc -l) bytes, sizes $(stat -c %s "$one/$bin") and $(stat -c %s "$two/$bin")" >&2
        diff <(strings -n 8 "$one/$bin") <(strings -n 8 "$two/$bin") | head -20 >&2 || true
    fi
    for file in "$one/$bin" "$two/$bin"; do
        for path in "$work" "$root" "$cargo_home"; do
            if grep -qaF "$path" "$file"; then
                status=1
                echo "reproduce: FAIL: $file holds the build path $path: $(grep -aoF "$path" "$file" | head -1)" >&2
            fi
        done
        version="$("$file" --version)"
        case "$version" in
            *"(commit $short)"*) ;;
            *) status=1; echo "reproduce: FAIL: $file --version says '$version', not commit $short" >&2 ;;
        esac
    done
    echo "reproduce: $bin --version: $("$one/$bin" --version)"
done
[ "$status" = 0 ] || fail "the two builds of $commit are not identical or leak build paths (see above)"
record="$root/target/release-reproducible/$commit.sha256"
mkdir -p "$(dirname "$record")"
(cd "$one" && sha256sum confmgr-server confmgr) >"$record"
echo "reproduce: OK: both builds of $short are byte-identical, hold no build path and print the commit"
echo "reproduce: recorded in $record (release-dry-run compares its binaries with it)"
