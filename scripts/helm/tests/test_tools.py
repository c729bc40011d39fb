"""The chart's helper scripts: values merging, the values-table generator, validate.sh."""

from __future__ import annotations

import shutil
import subprocess
import sys

from conftest import CHART, HELM_SCRIPTS, render

import render as render_script
import values_table


def test_values_files_merge_like_helm():
    merged = render_script.merge({"a": {"b": 1, "c": 2}, "d": [1]}, {"a": {"c": 3}, "d": [2]})
    assert merged == {"a": {"b": 1, "c": 3}, "d": [2]}
    # A null reaches Helm, which then drops the chart's default: here a required key.
    import helm_python as helm
    import pytest

    with pytest.raises(helm.HelmValuesError, match="missing property 'host'"):
        render(database={"host": None})


def test_values_table_flags_stale_tables_and_undocumented_keys(tmp_path):
    chart = tmp_path / "confmgr"
    shutil.copytree(CHART, chart)
    run = [sys.executable, str(HELM_SCRIPTS / "values_table.py"), "--check", "--chart", str(chart)]
    assert subprocess.run(run, capture_output=True).returncode == 0
    values = chart / "values.yaml"
    values.write_text(values.read_text().replace("replicaCount: 2", "replicaCount: 3"))
    stale = subprocess.run(run, capture_output=True, text=True)
    assert stale.returncode == 1 and "stale" in stale.stderr
    values.write_text(values.read_text() + "\nundocumentedKey: 1\n")
    rows, missing = values_table.documented_keys(values.read_text())
    assert missing == ["undocumentedKey"]


def test_validate_sh_rejects_unknown_fields_and_kinds(tmp_path):
    bad_field = tmp_path / "field.yaml"
    bad_field.write_text("apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {portz: []}\n")
    bad_kind = tmp_path / "kind.yaml"
    bad_kind.write_text("apiVersion: apps/v2\nkind: Deployment\nmetadata: {name: x}\n")
    good = tmp_path / "good.yaml"
    good.write_text("apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {ports: [{port: 80}]}\n"
                    "---\napiVersion: cert-manager.io/v1\nkind: Certificate\nmetadata: {name: c}\nspec: {}\n")
    script = str(HELM_SCRIPTS / "validate.sh")
    for path in (bad_field, bad_kind):
        result = subprocess.run([script, str(path)], capture_output=True, text=True)
        assert result.returncode == 1 and "FAILED" in result.stderr, result.stderr
    result = subprocess.run([script, str(good)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "skipped cert-manager.io/v1 Certificate" in result.stderr


def test_values_schema_is_valid_draft7_and_accepts_the_defaults():
    import json

    import jsonschema
    import yaml

    schema = json.loads((CHART / "values.schema.json").read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    jsonschema.Draft7Validator(schema).validate(yaml.safe_load((CHART / "values.yaml").read_text()))
    # Strict at every level the chart owns: no object without additionalProperties false,
    # except the pass-through Kubernetes objects (resources, securityContext, affinity, ...).
    loose = []

    def walk(node, path):
        if node.get("type") == "object" and "properties" in node and node.get("additionalProperties") is not False:
            loose.append(path)
        for key, child in node.get("properties", {}).items():
            walk(child, f"{path}.{key}")

    walk(schema, "")
    assert loose == [], loose
