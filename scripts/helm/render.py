#!/usr/bin/env python3
"""Render the ConfMgr chart offline, like `helm template`, with helm-python-sdk (Helm's Go SDK).

    python3 scripts/helm/render.py [-f VALUES]... [--release NAME] [--namespace NS]
                                   [--chart DIR] -o OUT.yaml

Values files merge left to right as `helm -f a -f b` does (maps merge key by key, a null
removes a default, anything else replaces). The chart's values.schema.json is enforced, and
the output holds every object the release would create, hooks and `helm test` Pods included,
each after a `# Source:` line; NOTES.txt is left out. On a schema or template error the
script prints Helm's message and exits 1 without writing OUT.
"""

from __future__ import annotations

import argparse
import copy
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
DEFAULT_CHART = ROOT / "helm" / "confmgr"


def merge(base: dict, override: dict) -> dict:
    """Helm's merging of user values files: later files win and maps merge key by key.

    A null is kept, so that Helm's coalescing with the chart's defaults deletes that key."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def load_values(helm, files: list[str]) -> dict:
    values: dict = {}
    for name in files:
        text = pathlib.Path(name).read_text(encoding="utf-8")
        try:
            parsed = helm.values_from_yaml(text) or {}
        except helm.HelmError as err:
            raise SystemExit(f"render: {name}: not a valid values file: {err}") from err
        values = merge(values, parsed)
    return values


def render(chart_dir, values: dict, release: str, namespace: str) -> str:
    """The release's objects as one multi-document YAML string; raises helm.HelmError."""
    import helm_python as helm

    with helm.Chart.load(str(chart_dir)) as chart:
        manifests = chart.render(
            values=values, name=release, namespace=namespace, is_install=True
        )
    docs = []
    for source in sorted(manifests):
        if source.endswith("NOTES.txt"):
            continue
        for part in manifests[source].split("\n---"):
            body = part.strip("\n")
            if body.strip() and any(
                line.strip() and not line.lstrip().startswith("#") for line in body.splitlines()
            ):
                docs.append(f"---\n# Source: {source}\n{body}\n")
    return "".join(docs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-f", "--values", action="append", default=[], metavar="VALUES",
                        help="values file (repeatable; later files win)")
    parser.add_argument("--release", default="confmgr", help="release name (default: confmgr)")
    parser.add_argument("--namespace", default="confmgr", help="namespace (default: confmgr)")
    parser.add_argument("--chart", default=str(DEFAULT_CHART), help="chart directory")
    parser.add_argument("-o", "--output", required=True, metavar="OUT.yaml",
                        help="where to write the rendered objects ('-' for stdout)")
    args = parser.parse_args(argv)

    try:
        import helm_python as helm
    except ImportError:
        print("render: helm-python-sdk is missing: scripts/tools/pip-tools.sh helm", file=sys.stderr)
        return 2
    values = load_values(helm, args.values)
    try:
        text = render(args.chart, values, args.release, args.namespace)
    except helm.HelmError as err:
        shown = " ".join(args.values) or "the chart's defaults"
        print(f"render: {args.chart} with {shown} failed:\n{err}", file=sys.stderr)
        return 1
    if args.output == "-":
        sys.stdout.write(text)
    else:
        pathlib.Path(args.output).write_text(text, encoding="utf-8")
        count = text.count("\n# Source: ")
        print(f"render: {count} objects from {args.chart} -> {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
