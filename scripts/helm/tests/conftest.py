"""Shared helpers: render the chart (scripts/helm/render.py) and pick objects out of it."""

from __future__ import annotations

import functools
import json
import pathlib
import sys

import pytest
import yaml

HELM_SCRIPTS = pathlib.Path(__file__).resolve().parents[1]
ROOT = HELM_SCRIPTS.parents[1]
CHART = ROOT / "helm" / "confmgr"
FIXTURES = HELM_SCRIPTS / "fixtures"
sys.path.insert(0, str(HELM_SCRIPTS))

import render as render_script  # noqa: E402

# Every values combination the checks render: defaults, each environment as deployed (its
# ci/ file plus the Terraform-written values), and the fixtures.
VARIANTS = {
    "defaults": [],
    **{
        env: [CHART / "ci" / f"{env}-values.yaml", FIXTURES / f"terraform-{env}-values.yaml"]
        for env in ("dev", "staging", "prod")
    },
    "cnpg": [FIXTURES / "cnpg-values.yaml"],
    "everything": [FIXTURES / "everything-values.yaml"],
    "http": [FIXTURES / "http-values.yaml"],
}


@functools.lru_cache(maxsize=None)
def _render(files: tuple[str, ...], overrides: str, release: str, namespace: str) -> tuple:
    import helm_python as helm

    values = render_script.load_values(helm, list(files))
    values = render_script.merge(values, json.loads(overrides))
    text = render_script.render(CHART, values, release, namespace)
    return tuple(doc for doc in yaml.safe_load_all(text) if doc)


def render(files=(), release="confmgr", namespace="confmgr", **overrides) -> list[dict]:
    """The rendered objects for values files plus overrides (nested dicts)."""
    return list(_render(tuple(str(f) for f in files), json.dumps(overrides, sort_keys=True),
                        release, namespace))


def render_text(files=(), release="confmgr", namespace="confmgr", **overrides) -> str:
    import helm_python as helm

    values = render_script.merge(render_script.load_values(helm, [str(f) for f in files]), overrides)
    return render_script.render(CHART, values, release, namespace)


def find(objs, kind, name=None):
    found = [o for o in objs if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    return found


def one(objs, kind, name=None):
    found = find(objs, kind, name)
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def pod_spec(obj):
    if obj["kind"] == "Pod":
        return obj["spec"]
    return obj["spec"]["template"]["spec"]


def workloads(objs):
    return [o for o in objs if o["kind"] in ("Deployment", "Job", "Pod")]


def env_of(container) -> dict:
    return {e["name"]: e for e in container.get("env", [])}


@pytest.fixture(params=sorted(VARIANTS))
def variant(request):
    return request.param, render(VARIANTS[request.param])
