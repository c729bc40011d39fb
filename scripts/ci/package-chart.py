#!/usr/bin/env python3
"""Packages helm/confmgr as OUT_DIR/confmgr-VERSION.tgz with version and appVersion set to the
release (helm-python-sdk's `helm package`), then loads the archive back and checks both.

    python3 scripts/ci/package-chart.py VERSION OUT_DIR
"""

import pathlib
import sys

import helm_python

ROOT = pathlib.Path(__file__).resolve().parents[2]


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    version, out = sys.argv[1], pathlib.Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    archive = pathlib.Path(helm_python.package(ROOT / "helm" / "confmgr", destination=out,
                                               version=version, app_version=version))
    chart = helm_python.Chart.load(archive)
    metadata = chart.metadata
    metadata = metadata() if callable(metadata) else metadata
    problems = []
    if chart.name != "confmgr":
        problems.append(f"name {chart.name!r}")
    if chart.version != version:
        problems.append(f"version {chart.version!r}")
    app_version = metadata.get("appVersion") if isinstance(metadata, dict) else getattr(metadata, "app_version", None)
    if app_version != version:
        problems.append(f"appVersion {app_version!r}")
    expected = out / f"confmgr-{version}.tgz"
    if archive.resolve() != expected.resolve():
        problems.append(f"file {archive} (expected {expected})")
    if problems:
        print(f"package-chart: the packaged chart has {', '.join(problems)}; wanted confmgr {version}", file=sys.stderr)
        return 1
    print(f"package-chart: {archive} ({archive.stat().st_size} bytes): confmgr {version}, appVersion {app_version}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
