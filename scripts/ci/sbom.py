#!/usr/bin/env python3
"""CycloneDX 1.6 SBOM (JSON) of what the release binaries contain, from `cargo metadata` and
Cargo.lock; no tool to install, and the same bytes for the same commit.

    python3 scripts/ci/sbom.py --version VERSION [--target TRIPLE]... -o OUT.cdx.json

Components: every package the two binaries (confmgr-server, confmgr) link, i.e. the closure
of their normal dependencies for the given targets (default x86_64 and aarch64 musl);
build-script and dev dependencies are left out, as they are not in the binaries. Each has its
purl, its license expression and, for crates.io packages, the SHA-256 of the .crate file
that Cargo.lock records. `dependencies` gives the graph. The timestamp is SOURCE_DATE_EPOCH
(the commit's time) and the serial number derives from version and commit, so two runs on
one commit write the same file. --check validates OUT against CycloneDX's JSON schema
(cyclonedx-python-lib's copy, installed in a venv of its own) and exits 1 if it does not.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import subprocess
import sys
import tomllib
import urllib.parse
import uuid

ROOT = pathlib.Path(__file__).resolve().parents[2]
BINARIES = {"confmgr-server", "confmgr-cli"}
DEFAULT_TARGETS = ["x86_64-unknown-linux-musl", "aarch64-unknown-linux-musl"]
CRATES_IO = "registry+https://github.com/rust-lang/crates.io-index"


def metadata(target: str) -> dict:
    out = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--locked", "--filter-platform", target],
        cwd=ROOT, check=True, capture_output=True, text=True,
    )
    return json.loads(out.stdout)


def closure(meta: dict) -> tuple[set[str], dict[str, set[str]]]:
    """Package ids reachable from the binaries through normal dependencies, and the edges."""
    nodes = {node["id"]: node for node in meta["resolve"]["nodes"]}
    packages = {p["id"]: p for p in meta["packages"]}
    roots = [pid for pid, p in packages.items() if p["name"] in BINARIES]
    seen: set[str] = set()
    edges: dict[str, set[str]] = {}
    stack = list(roots)
    while stack:
        pid = stack.pop()
        if pid in seen:
            continue
        seen.add(pid)
        edges.setdefault(pid, set())
        for dep in nodes[pid]["deps"]:
            if any(kind["kind"] is None for kind in dep["dep_kinds"]):
                edges[pid].add(dep["pkg"])
                stack.append(dep["pkg"])
    return seen, edges


def purl(package: dict) -> str:
    return f"pkg:cargo/{urllib.parse.quote(package['name'])}@{package['version']}"


def build(version: str, targets: list[str]) -> dict:
    lock = tomllib.loads((ROOT / "Cargo.lock").read_text())
    checksums = {(p["name"], p["version"]): p.get("checksum") for p in lock["package"]}
    packages: dict[str, dict] = {}
    edges: dict[str, set[str]] = {}
    for target in targets:
        meta = metadata(target)
        ids, graph = closure(meta)
        for p in meta["packages"]:
            if p["id"] in ids:
                packages[p["id"]] = p
        for pid, deps in graph.items():
            edges.setdefault(pid, set()).update(deps)

    refs = {pid: purl(p) for pid, p in packages.items()}
    components = []
    for pid, p in sorted(packages.items(), key=lambda item: (item[1]["name"], item[1]["version"])):
        if p["name"] in BINARIES:
            continue
        component = {
            "type": "library",
            "bom-ref": refs[pid],
            "name": p["name"],
            "version": p["version"],
            "purl": refs[pid],
            "scope": "required",
        }
        if p.get("description"):
            component["description"] = " ".join(p["description"].split())
        if p.get("license"):
            component["licenses"] = [{"expression": p["license"]}]
        checksum = checksums.get((p["name"], p["version"]))
        if p.get("source") == CRATES_IO and checksum:
            component["hashes"] = [{"alg": "SHA-256", "content": checksum}]
        if p.get("source") is None:
            component["properties"] = [{"name": "confmgr:source", "value": "workspace"}]
        components.append(component)

    commit = os.environ.get("CONFMGR_GIT_COMMIT") or subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip() or "unknown"
    epoch = int(os.environ.get("SOURCE_DATE_EPOCH") or subprocess.run(
        ["git", "log", "-1", "--format=%ct"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip() or 0)
    timestamp = datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    app_ref = f"pkg:generic/confmgr@{version}"
    bins = [pid for pid, p in packages.items() if p["name"] in BINARIES]
    dependencies = [{"ref": app_ref, "dependsOn": sorted({refs[pid] for pid in bins})}]
    for pid in sorted(edges, key=lambda i: refs[i]):
        dependencies.append({"ref": refs[pid], "dependsOn": sorted(refs[d] for d in edges[pid] if d in refs)})
    for pid in bins:
        components.append({
            "type": "application",
            "bom-ref": refs[pid],
            "name": packages[pid]["name"],
            "version": packages[pid]["version"],
            "purl": refs[pid],
            "licenses": [{"expression": packages[pid].get("license") or "Apache-2.0"}],
        })
    return {
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": "urn:uuid:" + str(uuid.uuid5(uuid.NAMESPACE_URL, f"confmgr/{version}/{commit}")),
        "version": 1,
        "metadata": {
            "timestamp": timestamp,
            "tools": {"components": [{"type": "application", "name": "confmgr scripts/ci/sbom.py"}]},
            "component": {
                "type": "application",
                "bom-ref": app_ref,
                "name": "confmgr",
                "version": version,
                "licenses": [{"expression": "Apache-2.0"}],
                "properties": [
                    {"name": "confmgr:git-commit", "value": commit},
                    {"name": "confmgr:targets", "value": " ".join(targets)},
                ],
            },
        },
        "components": components,
        "dependencies": dependencies,
    }


def validate(path: pathlib.Path) -> int:
    venv = pathlib.Path(os.environ.get("CONFMGR_TOOLS_DIR", pathlib.Path.home() / ".cache" / "confmgr-tools")) / "cyclonedx-11.12.0"
    python = venv / "bin" / "python"
    if not python.exists():
        print(f"sbom: installing cyclonedx-python-lib 11.12.0 into {venv}", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                        "cyclonedx-python-lib[json-validation]==11.12.0"], check=True)
    code = (
        "import sys\n"
        "from cyclonedx.schema import SchemaVersion\n"
        "from cyclonedx.validation.json import JsonStrictValidator\n"
        "error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(open(sys.argv[1]).read())\n"
        "print(f'sbom: {sys.argv[1]}: ' + ('INVALID: ' + str(error) if error else 'valid CycloneDX 1.6 (strict schema)'))\n"
        "sys.exit(1 if error else 0)\n"
    )
    return subprocess.run([str(python), "-c", code, str(path)]).returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version", required=True)
    parser.add_argument("--target", action="append", dest="targets")
    parser.add_argument("-o", "--output", required=True, type=pathlib.Path)
    parser.add_argument("--check", action="store_true", help="validate against the CycloneDX schema")
    args = parser.parse_args()
    bom = build(args.version, args.targets or DEFAULT_TARGETS)
    args.output.write_text(json.dumps(bom, indent=2, sort_keys=False) + "\n")
    print(f"sbom: {args.output}: {len(bom['components'])} components")
    return validate(args.output) if args.check else 0


if __name__ == "__main__":
    sys.exit(main())
