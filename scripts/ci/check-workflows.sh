#!/usr/bin/env bash
# The GitHub Actions check (issue 27 item 7), one command for .ci/run:
#   scripts/ci/check-workflows.sh        (or `just workflows-check`)
#
#  1. actionlint on .github/workflows (scripts/ci/actionlint.sh), and shellcheck on every run: block
#  2. zizmor --offline: no finding at medium severity or above; lower ones are printed
#  3. check-jsonschema against the GitHub workflow schema (and dependabot's, when present)
#  4. pins: every `uses:` of a remote action is a 40-hex commit SHA followed by `# vX.Y.Z`
#  5. every step's run: calls a script or a pinned tool, never an `${{ github.event.* }}` value
#  6. shellcheck on every tracked *.sh of the repository (all parts, not only CI's)
# Every tool is a pinned pip package (scripts/tools/pip-tools.sh), installed when missing; nothing
# else is downloaded. Each step runs even when an earlier one failed; the summary names the
# failures, and the exit status is non-zero when any failed.
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root" || exit 2
"$root/scripts/tools/pip-tools.sh" zizmor check-jsonschema shellcheck pyyaml || exit 2

failed=()
step() { echo "=== workflows-check: $*"; }
record() { # NAME STATUS
    if [ "$2" -eq 0 ]; then echo "ok: $1"; else echo "FAILED: $1" >&2; failed+=("$1"); fi
}

mapfile -t workflows < <(git ls-files --cached --others --exclude-standard '.github/workflows/*.yml' '.github/workflows/*.yaml')
if [ "${#workflows[@]}" -eq 0 ]; then
    echo "workflows-check: no workflow under .github/workflows" >&2
    exit 1
fi

step "actionlint (${#workflows[@]} workflows)"
scripts/ci/actionlint.sh "${workflows[@]}"
record actionlint $?

step "shellcheck on every run: block (as bash, the runners' default shell)"
runs="$(mktemp -d)"
python3 - "$runs" "${workflows[@]}" <<'PY'
import os, re, sys
import yaml

out = sys.argv[1]
for path in sys.argv[2:]:
    with open(path, encoding="utf-8") as handle:
        doc = yaml.safe_load(handle)
    for job_name, job in (doc.get("jobs") or {}).items():
        for index, step in enumerate(job.get("steps") or []):
            run = step.get("run")
            if not run:
                continue
            # An expression becomes a quoted placeholder word, as the runner substitutes text.
            body = re.sub(r"\$\{\{.*?\}\}", "GHA_EXPRESSION", run)
            name = f"{os.path.basename(path)}--{job_name}--step{index + 1}.sh"
            with open(os.path.join(out, name), "w", encoding="utf-8") as handle:
                handle.write("#!/usr/bin/env bash\nset -eo pipefail\n" + body + "\n")
PY
run_status=0
for block in "$runs"/*.sh; do
    [ -e "$block" ] || continue
    shellcheck -s bash "$block" || { echo "  in ${block##*/}" >&2; run_status=1; }
done
echo "shellcheck: $(find "$runs" -name '*.sh' | wc -l) run: blocks"
rm -rf "$runs"
record "shellcheck (run: blocks)" "$run_status"

step "zizmor --offline (fails at medium or above; .github/zizmor.yml holds explained exceptions)"
zizmor --offline --no-progress --min-severity low .github/workflows
zizmor --offline --no-progress --quiet --min-severity medium .github/workflows >/dev/null
record "zizmor (no finding at medium or above)" $?

step "check-jsonschema (vendor.github-workflows)"
check-jsonschema --builtin-schema vendor.github-workflows "${workflows[@]}"
record "workflow schema" $?
if [ -f .github/dependabot.yml ]; then
    check-jsonschema --builtin-schema vendor.dependabot .github/dependabot.yml
    record "dependabot schema" $?
fi

step "action pins: full commit SHA and a version comment"
bad_pins="$(grep -nE '^\s*-?\s*uses:\s' "${workflows[@]}" \
    | grep -vE 'uses:\s+\./' \
    | grep -vE 'uses:\s+[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@[0-9a-f]{40}\s+#\s+v[0-9]+\.[0-9]+\.[0-9]+\s*$' || true)"
if [ -n "$bad_pins" ]; then
    echo "$bad_pins" >&2
    echo "workflows-check: the uses: lines above are not pinned as OWNER/REPO@<40-hex sha> # vX.Y.Z" >&2
fi
[ -z "$bad_pins" ]
record "pinned actions" $?

step "no untrusted event data expanded in run: blocks, no pull_request_target"
python3 - "${workflows[@]}" <<'PY'
import re, sys
import yaml

bad = 0
for path in sys.argv[1:]:
    with open(path, encoding="utf-8") as handle:
        doc = yaml.safe_load(handle)
    triggers = doc.get(True, doc.get("on")) or {}
    if isinstance(triggers, (dict, list)) and "pull_request_target" in triggers:
        print(f"{path}: uses pull_request_target", file=sys.stderr)
        bad = 1
    for job_name, job in (doc.get("jobs") or {}).items():
        for index, step in enumerate(job.get("steps") or []):
            run = step.get("run")
            if run and re.search(r"\$\{\{[^}]*github\.(event|head_ref)", run):
                print(f"{path}: job {job_name} step {index + 1} expands github.event/head_ref in run:", file=sys.stderr)
                bad = 1
            if run and re.search(r"\$\{\{\s*(inputs|matrix|needs|steps)\.", run):
                print(f"{path}: job {job_name} step {index + 1} expands an input, matrix, needs or steps value in run: (pass it through env:)", file=sys.stderr)
                bad = 1
sys.exit(bad)
PY
record "no expression injection" $?

step "shellcheck -x -P SCRIPTDIR on every tracked *.sh"
mapfile -t scripts < <(git ls-files --cached --others --exclude-standard '*.sh')
sc_failed=()
for script in "${scripts[@]}"; do
    [ -f "$script" ] || continue
    shellcheck -x -P SCRIPTDIR "$script" >/dev/null 2>&1 || sc_failed+=("$script")
done
if [ "${#sc_failed[@]}" -gt 0 ]; then
    for script in "${sc_failed[@]}"; do
        echo "--- shellcheck $script" >&2
        shellcheck -x -P SCRIPTDIR "$script" >&2 || true
    done
    echo "workflows-check: shellcheck failed for: ${sc_failed[*]}" >&2
fi
echo "shellcheck: ${#scripts[@]} scripts, $(( ${#scripts[@]} - ${#sc_failed[@]} )) clean"
[ "${#sc_failed[@]}" -eq 0 ]
record "shellcheck (all scripts)" $?

if [ "${#failed[@]}" -gt 0 ]; then
    echo "workflows-check: FAILED: ${failed[*]}" >&2
    exit 1
fi
echo "workflows-check: all passed"
