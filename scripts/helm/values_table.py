#!/usr/bin/env python3
"""The values table of helm/confmgr/README.md, generated from the `# --` comments of values.yaml
(helm-docs' convention, without helm-docs).

    python3 scripts/helm/values_table.py --check    exit 1 if the README's table is stale or a key is undocumented
    python3 scripts/helm/values_table.py --write    rewrite the table in the README

A `# -- text` line documents the key below it; the keys inside a documented map are part of
its default. Every key needs a comment of its own or a documented ancestor.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import re
import sys

import yaml

CHART = pathlib.Path(__file__).resolve().parents[2] / "helm" / "confmgr"
START, END = "<!-- values-table:start -->", "<!-- values-table:end -->"
KEY = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z0-9_]+):(?P<rest>.*)$")


def documented_keys(text: str) -> tuple[list[tuple[str, str]], list[str]]:
    """(path, description) in file order, and the paths of undocumented keys."""
    rows, missing = [], []
    stack: list[tuple[int, str, bool]] = []  # (indent, key, documented)
    pending = None
    skip_below = None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("# --"):
            pending = stripped[4:].strip()
            continue
        if not stripped or stripped.startswith("#"):
            continue
        m = KEY.match(line)
        indent = len(line) - len(line.lstrip(" "))
        if skip_below is not None and indent > skip_below:
            continue
        skip_below = None
        if not m:
            pending = None
            continue
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = ".".join([k for _, k, _ in stack] + [m["key"]])
        covered = any(doc for _, _, doc in stack)
        if pending is not None:
            rows.append((path, pending))
            skip_below = indent
            stack.append((indent, m["key"], True))
        else:
            is_leaf = m["rest"].strip() not in ("",)
            if is_leaf and not covered:
                missing.append(path)
            stack.append((indent, m["key"], covered))
        pending = None
    return rows, missing


def lookup(values: dict, path: str):
    node = values
    for part in path.split("."):
        node = node[part]
    return node


def type_name(value) -> str:
    return {bool: "bool", int: "int", float: "float", str: "string", list: "list", dict: "object",
            type(None): "null"}[type(value)]


def table(text: str) -> str:
    rows, missing = documented_keys(text)
    if missing:
        raise SystemExit("values_table: keys without a `# --` comment (nor a documented parent): " + ", ".join(missing))
    values = yaml.safe_load(text)
    out = ["| Key | Type | Default | Description |", "|-----|------|---------|-------------|"]
    for path, desc in rows:
        value = lookup(values, path)
        default = json.dumps(value, ensure_ascii=False).replace("|", "\\|")
        out.append(f"| `{path}` | {type_name(value)} | `{default}` | {desc.replace('|', chr(92) + '|')} |")
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description="values table of helm/confmgr/README.md")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true")
    mode.add_argument("--write", action="store_true")
    parser.add_argument("--chart", default=str(CHART))
    args = parser.parse_args()
    chart = pathlib.Path(args.chart)
    generated = table((chart / "values.yaml").read_text(encoding="utf-8"))
    readme_path = chart / "README.md"
    readme = readme_path.read_text(encoding="utf-8")
    if START not in readme or END not in readme:
        print(f"values_table: {readme_path} lacks the {START} / {END} markers", file=sys.stderr)
        return 1
    head, rest = readme.split(START, 1)
    _, tail = rest.split(END, 1)
    updated = f"{head}{START}\n{generated}\n{END}{tail}"
    if args.write:
        readme_path.write_text(updated, encoding="utf-8")
        print(f"values_table: wrote {generated.count(chr(10)) - 1} rows to {readme_path}", file=sys.stderr)
        return 0
    if updated != readme:
        print(f"values_table: the table in {readme_path} is stale: run python3 scripts/helm/values_table.py --write",
              file=sys.stderr)
        return 1
    print(f"values_table: {readme_path} is up to date ({generated.count(chr(10)) - 1} keys)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
