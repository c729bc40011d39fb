"""Custom resources have no schema in kubernetes-validate: check the chart's against the fields
their projects document (every field the chart uses; unknown fields fail, as a CRD's
structural schema would prune or reject them):
- ServiceMonitor, PrometheusRule: prometheus-operator API reference (monitoring.coreos.com/v1)
- Certificate, Issuer: cert-manager API reference (cert-manager.io/v1)
- HTTPRoute: Gateway API reference (gateway.networking.k8s.io/v1)
- Cluster: CloudNativePG API reference (postgresql.cnpg.io/v1) and its certificates page.
These are subsets written for this chart, not the CRDs themselves: a field the chart starts
using must be added here from the project's documentation."""

from __future__ import annotations

import jsonschema
import pytest

from conftest import VARIANTS, render

STR = {"type": "string", "minLength": 1}
STRS = {"type": "array", "items": STR, "minItems": 1}
DUR = {"type": "string", "pattern": r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$"}
LABELS = {"type": "object", "additionalProperties": {"type": "string"}}


def closed(props, required=()):
    return {"type": "object", "additionalProperties": False, "properties": props, "required": list(required)}


META = closed({"name": STR, "namespace": STR, "labels": LABELS, "annotations": LABELS}, ["name", "namespace"])
SELECTOR = closed({"matchLabels": LABELS})
ISSUER_REF = closed({"name": STR, "kind": {"enum": ["Issuer", "ClusterIssuer"]}, "group": {"const": "cert-manager.io"}}, ["name"])

SPECS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): closed({
        "jobLabel": STR,
        "selector": SELECTOR,
        "namespaceSelector": closed({"matchNames": STRS, "any": {"type": "boolean"}}),
        "endpoints": {"type": "array", "minItems": 1, "items": closed({
            "port": STR, "path": STR, "scheme": {"enum": ["http", "https"]},
            "interval": DUR, "scrapeTimeout": DUR,
            "tlsConfig": closed({"serverName": STR, "insecureSkipVerify": {"type": "boolean"},
                                 "ca": closed({"secret": closed({"name": STR, "key": STR}, ["name", "key"])})}),
        }, ["port"])},
    }, ["selector", "endpoints"]),
    ("monitoring.coreos.com/v1", "PrometheusRule"): closed({
        "groups": {"type": "array", "minItems": 1, "items": closed({
            "name": STR, "interval": DUR,
            "rules": {"type": "array", "minItems": 1, "items": closed({
                "alert": STR, "record": STR, "expr": STR, "for": DUR, "labels": LABELS, "annotations": LABELS,
            }, ["expr"])},
        }, ["name", "rules"])},
    }, ["groups"]),
    ("cert-manager.io/v1", "Certificate"): closed({
        "secretName": STR, "commonName": STR, "dnsNames": STRS, "duration": DUR, "renewBefore": DUR,
        "isCA": {"type": "boolean"},
        "secretTemplate": closed({"labels": LABELS, "annotations": LABELS}),
        "usages": {"type": "array", "items": {"enum": ["server auth", "client auth", "digital signature", "key encipherment", "cert sign"]}},
        "privateKey": closed({"algorithm": {"enum": ["RSA", "ECDSA", "Ed25519"]}, "size": {"type": "integer"},
                              "encoding": {"enum": ["PKCS1", "PKCS8"]}, "rotationPolicy": {"enum": ["Never", "Always"]}}),
        "issuerRef": ISSUER_REF,
    }, ["secretName", "issuerRef"]),
    ("cert-manager.io/v1", "Issuer"): {
        "oneOf": [closed({"selfSigned": closed({})}, ["selfSigned"]),
                  closed({"ca": closed({"secretName": STR}, ["secretName"])}, ["ca"])]},
    ("gateway.networking.k8s.io/v1", "HTTPRoute"): closed({
        "parentRefs": {"type": "array", "minItems": 1, "items": closed({"name": STR, "namespace": STR, "sectionName": STR,
                                                                        "port": {"type": "integer"}, "group": {"type": "string"}, "kind": STR}, ["name"])},
        "hostnames": STRS,
        "rules": {"type": "array", "items": closed({
            "matches": {"type": "array", "items": closed({"path": closed({"type": {"enum": ["Exact", "PathPrefix", "RegularExpression"]}, "value": STR})})},
            "backendRefs": {"type": "array", "items": closed({"name": STR, "port": {"type": "integer", "minimum": 1, "maximum": 65535}}, ["name", "port"])},
        })},
    }, ["parentRefs"]),
    ("postgresql.cnpg.io/v1", "Cluster"): closed({
        "instances": {"type": "integer", "minimum": 1},
        "imageName": STR,
        "storage": closed({"size": STR, "storageClass": STR}, ["size"]),
        "bootstrap": closed({"initdb": closed({"database": STR, "owner": STR})}),
        "certificates": closed({k: STR for k in ("serverTLSSecret", "serverCASecret", "clientCASecret", "replicationTLSSecret")}),
        "postgresql": closed({"pg_hba": STRS, "parameters": LABELS}),
        "resources": {"type": "object"},
    }, ["instances", "storage"]),
}


def is_custom(obj):
    group = obj["apiVersion"].rpartition("/")[0]
    builtin = group == "" or "." not in group or (group.endswith(".k8s.io") and group != "gateway.networking.k8s.io")
    return not builtin


def custom_objects():
    """Every custom resource of every rendered variant (the HTTPRoute switched on with the defaults)."""
    seen = []
    for name, files in VARIANTS.items():
        extra = {"httpRoute": {"enabled": True, "parentRefs": [{"name": "gw"}]}} if name == "defaults" else {}
        seen += [(name, obj) for obj in render(files, **extra) if is_custom(obj)]
    return seen


OBJECTS = custom_objects()


def test_every_custom_kind_is_covered():
    kinds = {(o["apiVersion"], o["kind"]) for _, o in OBJECTS}
    assert kinds == set(SPECS), f"custom kinds rendered without a field list here: {kinds - set(SPECS)}"


@pytest.mark.parametrize("variant,obj", OBJECTS, ids=[f"{v}-{o['kind']}-{o['metadata']['name']}" for v, o in OBJECTS])
def test_custom_resource_fields(variant, obj):
    assert set(obj) == {"apiVersion", "kind", "metadata", "spec"}
    jsonschema.validate(obj["metadata"], META)
    jsonschema.validate(obj["spec"], SPECS[(obj["apiVersion"], obj["kind"])])


def test_cnpg_accepts_only_certificates_for_confmgr():
    objs = render(VARIANTS["cnpg"])
    cluster = next(o for o in objs if o["kind"] == "Cluster")
    assert cluster["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep", "uninstall keeps the data"
    assert cluster["spec"]["postgresql"]["pg_hba"] == [
        "hostssl confmgr confmgr all cert",
        "host all confmgr all reject",
    ]
    certs = {o["metadata"]["name"]: o["spec"] for o in objs if o["kind"] == "Certificate"}
    # ConfMgr's client certificate: CN = the database role, from the cluster's CA.
    client = certs["confmgr-postgres-client"]
    assert client["commonName"] == "confmgr" and client["usages"] == ["client auth"]
    assert client["issuerRef"]["name"] == "confmgr-postgres-ca"
    assert certs["confmgr-postgres-replication"]["commonName"] == "streaming_replica"
    server = certs["confmgr-postgres-server"]
    assert "confmgr-postgres-rw" in server["dnsNames"]
    assert certs["confmgr-postgres-ca"]["isCA"] is True
    # The server connects to the -rw Service, which the server certificate names.
    dep = next(o for o in objs if o["kind"] == "Deployment")
    url = next(e["value"] for e in dep["spec"]["template"]["spec"]["containers"][0]["env"] if e["name"] == "CONFMGR_DATABASE_URL")
    assert url.startswith("postgres://confmgr@confmgr-postgres-rw:5432/confmgr?sslmode=verify-full&")
