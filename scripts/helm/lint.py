#!/usr/bin/env python3
"""`helm lint --strict` of the ConfMgr chart with helm-python-sdk, for each Kubernetes version given.

    python3 scripts/helm/lint.py [-f VALUES]... [--kube-version 1.28.0]... [--chart DIR]

Warnings count as errors (strict); informational notes (such as "icon is recommended") are
printed only. Exits 1 on any warning or error.
"""

from __future__ import annotations

import argparse
import sys

import render as render_script

SEVERITY = {0: "UNKNOWN", 1: "INFO", 2: "WARNING", 3: "ERROR"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-f", "--values", action="append", default=[], metavar="VALUES")
    parser.add_argument("--kube-version", action="append", default=[], metavar="X.Y.Z")
    parser.add_argument("--namespace", default="confmgr")
    parser.add_argument("--chart", default=str(render_script.DEFAULT_CHART))
    args = parser.parse_args()
    import helm_python as helm

    values = render_script.load_values(helm, args.values)
    shown = " ".join(args.values) or "the chart's defaults"
    failed = False
    for version in args.kube_version or ["1.28.0"]:
        report = helm.lint(args.chart, values, strict=True, namespace=args.namespace,
                           kube_version=f"v{version}")
        problems = [m for m in report["messages"] if m["severity"] >= 2]
        for m in report["messages"]:
            if m["severity"] < 2:
                continue
            print(f"lint: {SEVERITY[m['severity']]} {m['path']}: {m['error'].strip()}", file=sys.stderr)
        if problems or report["errors"]:
            failed = True
            print(f"lint: FAILED {args.chart} with {shown} for Kubernetes {version}", file=sys.stderr)
        else:
            print(f"lint: {args.chart} with {shown} passes for Kubernetes {version} (strict)", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
