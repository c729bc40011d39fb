"""Template tests: what the rendered objects must say, whatever the values."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from conftest import (CHART, ROOT, VARIANTS, env_of, find, one, pod_spec, render, render_text,
                      workloads)

SERVER = "confmgr"


def containers(spec):
    return spec.get("initContainers", []) + spec["containers"]


def test_security_context_is_restricted(variant):
    name, objs = variant
    assert workloads(objs), name
    for obj in workloads(objs):
        spec = pod_spec(obj)
        where = f"{name}: {obj['kind']} {obj['metadata']['name']}"
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True, where
        assert pod["runAsUser"] == 65532, where
        assert pod["seccompProfile"]["type"] == "RuntimeDefault", where
        assert spec["automountServiceAccountToken"] is False, where
        for key in ("hostNetwork", "hostPID", "hostIPC"):
            assert not spec.get(key), where
        # The volume types the restricted Pod Security profile allows.
        allowed = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"}
        for vol in spec.get("volumes", []):
            assert set(vol) - {"name"} <= allowed, f"{where}: volume {vol['name']}"
        for c in containers(spec):
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False, where
            assert sc["readOnlyRootFilesystem"] is True, where
            assert sc["capabilities"]["drop"] == ["ALL"], where
            assert "add" not in sc["capabilities"], where
            assert sc["runAsNonRoot"] is True, where
            assert "resources" in c and c["resources"]["limits"]["memory"], where
            # The read-only root filesystem: /tmp is always a writable emptyDir.
            assert any(m["mountPath"] == "/tmp" for m in c["volumeMounts"]), where


def test_service_account_token_and_irsa():
    objs = render()
    sa = one(objs, "ServiceAccount")
    assert sa["automountServiceAccountToken"] is False
    assert "annotations" not in sa["metadata"]
    arn = "arn:aws:iam::111122223333:role/confmgr"
    sa = one(render(serviceAccount={"annotations": {"eks.amazonaws.com/role-arn": arn}}), "ServiceAccount")
    assert sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"] == arn
    assert not find(render(serviceAccount={"create": False, "name": "existing"}), "ServiceAccount")


def test_server_probes():
    dep = one(render(), "Deployment")
    c = pod_spec(dep)["containers"][0]
    assert c["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "api", "scheme": "HTTPS"}
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "api", "scheme": "HTTPS"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "api", "scheme": "HTTPS"}
    assert c["startupProbe"]["periodSeconds"] * c["startupProbe"]["failureThreshold"] >= 120
    c = pod_spec(one(render(tls={"enabled": False}), "Deployment"))["containers"][0]
    assert c["readinessProbe"]["httpGet"]["scheme"] == "HTTP"


def test_https_by_default_and_plain_http_only_on_request():
    cm = one(render(), "ConfigMap", SERVER)["data"]
    assert cm["CONFMGR_TLS_CERT"] == "/etc/confmgr/tls/tls.crt"
    assert cm["CONFMGR_TLS_KEY"] == "/etc/confmgr/tls/tls.key"
    assert "CONFMGR_INSECURE_HTTP" not in cm
    dep = one(render(), "Deployment")
    tls = [v for v in pod_spec(dep)["volumes"] if v["name"] == "tls"][0]
    assert tls["secret"]["secretName"] == "confmgr-tls"
    cm = one(render(tls={"enabled": False}), "ConfigMap", SERVER)["data"]
    assert cm["CONFMGR_INSECURE_HTTP"] == "true" and "CONFMGR_TLS_CERT" not in cm


def test_drain_and_grace_period():
    objs = render()
    cm = one(objs, "ConfigMap", SERVER)["data"]
    assert cm["CONFMGR_SHUTDOWN_DRAIN_SECS"] == "10"
    assert cm["CONFMGR_SHUTDOWN_GRACE_SECS"] == "30"
    spec = pod_spec(one(objs, "Deployment"))
    assert spec["terminationGracePeriodSeconds"] > 10 + 30
    assert "lifecycle" not in spec["containers"][0], "no preStop sleep unless asked (Kubernetes 1.30+)"
    spec = pod_spec(one(render(shutdown={"drainSecs": 20, "graceSecs": 60}), "Deployment"))
    assert spec["terminationGracePeriodSeconds"] > 20 + 60


def test_prestop_sleep_is_opt_in_and_needs_1_30(tmp_path):
    import subprocess

    text = render_text(shutdown={"preStopSleepSecs": 5})
    dep = one([d for d in yaml.safe_load_all(text) if d], "Deployment")
    spec = pod_spec(dep)
    assert spec["containers"][0]["lifecycle"] == {"preStop": {"sleep": {"seconds": 5}}}
    assert spec["terminationGracePeriodSeconds"] > 5 + 10 + 30
    out = tmp_path / "sleep.yaml"
    out.write_text(yaml.safe_dump(dep))

    def valid(version):
        return subprocess.run(["kubernetes-validate", "--strict", "--quiet", "-k", version, str(out)],
                              capture_output=True, text=True).returncode == 0

    # The sleep action is not in the 1.28/1.29 API at all; beta (on) from 1.30.
    assert not valid("1.28.0")
    assert valid("1.30.0")


def test_checksum_annotations_roll_pods_on_config_changes():
    def checksums(**values):
        ann = pod_spec_meta(one(render(**values), "Deployment"))
        return ann["checksum/config"], ann["checksum/env"]

    def pod_spec_meta(dep):
        return dep["spec"]["template"]["metadata"]["annotations"]

    base = checksums()
    assert checksums(server={"logFormat": "pretty"})[0] != base[0]
    assert checksums(shutdown={"drainSecs": 15})[0] != base[0]
    assert checksums(database={"host": "db.internal"})[1] != base[1]
    assert checksums(rootKey={"secretName": "other-root-key"})[1] != base[1]
    # Not configuration: no rollout.
    assert checksums(replicaCount=4) == base


def test_migration_hook():
    job = one(render(), "Job", "confmgr-migrate")
    ann = job["metadata"]["annotations"]
    assert ann["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert int(ann["helm.sh/hook-weight"]) < 0
    assert ann["helm.sh/hook-delete-policy"] == "before-hook-creation,hook-succeeded"
    spec = pod_spec(job)
    c = spec["containers"][0]
    assert c["args"] == ["migrate"]
    assert spec["restartPolicy"] == "Never"
    env = env_of(c)
    # Migrations touch no key: the Job gets neither the root key nor KMS settings.
    assert not {"CONFMGR_ROOT_KEY", "CONFMGR_KMS_KEY_ID"} & env.keys()
    assert env["CONFMGR_LISTEN"]["value"].startswith("127.0.0.1:")
    # Before install it would wait for objects the chart itself creates: upgrades only then.
    for variant in ("prod", "cnpg"):
        job = one(render(VARIANTS[variant]), "Job", "confmgr-migrate")
        assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-upgrade", variant
    # AWS credentials come through the release's ServiceAccount (Pod Identity, IRSA).
    assert pod_spec(one(render(VARIANTS["prod"]), "Job", "confmgr-migrate"))["serviceAccountName"] == "confmgr"
    assert not find(render(migrations={"enabled": False}), "Job", "confmgr-migrate")


def test_init_hook_prints_the_token_and_stores_it_nowhere():
    objs = render()
    job = one(objs, "Job", "confmgr-init")
    ann = job["metadata"]["annotations"]
    assert ann["helm.sh/hook"] == "post-install"
    migrate_weight = int(one(objs, "Job", "confmgr-migrate")["metadata"]["annotations"]["helm.sh/hook-weight"])
    assert int(ann["helm.sh/hook-weight"]) > migrate_weight
    # Kept after success (the token is in its log), removed by the TTL controller later.
    assert "hook-succeeded" not in ann["helm.sh/hook-delete-policy"]
    assert job["spec"]["ttlSecondsAfterFinished"] > 0
    c = pod_spec(job)["containers"][0]
    assert c["args"] == ["init"]
    assert env_of(c)["CONFMGR_INIT_IF_NEEDED"]["value"] == "true"
    assert not find(objs, "Secret"), "the chart never writes a Secret (no root token in etcd)"


def test_notes_say_how_to_get_the_root_token():
    import helm_python as helm

    with helm.Chart.load(str(CHART)) as chart:
        notes = chart.render(values={}, name="confmgr", namespace="confmgr", is_install=True)
    text = next(v for k, v in notes.items() if k.endswith("NOTES.txt"))
    assert "kubectl -n confmgr logs job/confmgr-init" in text
    assert "revoke" in text
    assert "helm test confmgr -n confmgr" in text


def test_helm_test_pod_writes_reads_and_deletes():
    objs = render()
    pod = one(objs, "Pod", "confmgr-test")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    spec = pod["spec"]
    assert spec["restartPolicy"] == "Never"
    # Init containers run one after the other, each must succeed: login, write, read, delete.
    steps = [c["args"][:2] for c in spec["initContainers"]] + [c["args"][:2] for c in spec["containers"]]
    assert steps == [["login", "--role-id"], ["kv", "put"], ["kv", "get"], ["kv", "delete"], ["token", "revoke"]]
    login, put, get, delete = spec["initContainers"]
    assert login["args"][2] == "$(CONFMGR_TEST_ROLE_ID)"
    assert env_of(login)["CONFMGR_TEST_ROLE_ID"]["valueFrom"]["secretKeyRef"] == {"name": "confmgr-helm-test", "key": "role-id"}
    creds = [v for v in spec["volumes"] if v["name"] == "credentials"][0]["secret"]
    assert creds["secretName"] == "confmgr-helm-test" and creds["items"] == [{"key": "secret-id", "path": "secret-id"}]
    assert put["args"][2] == get["args"][2] == delete["args"][2] == "helm-test/confmgr-1"
    assert delete["args"][-1] == "--all-versions"
    for c in containers(spec):
        assert c["image"].startswith("localhost/confmgr-cli:")
        env = env_of(c)
        assert env["CONFMGR_ADDR"]["value"] == "https://confmgr.confmgr.svc:8200"
        assert env["CONFMGR_CONFIG_DIR"]["value"] == "/tmp/confmgr", "the login's token file, shared"
        assert env["CONFMGR_CACERT"]["value"] == "/etc/confmgr/ca/ca.crt"
    # The Service the test goes through exists under that name and port.
    svc = one(objs, "Service")
    assert svc["metadata"]["name"] == "confmgr" and svc["spec"]["ports"][0]["port"] == 8200
    assert not find(render(test={"enabled": False}), "Pod")


FAKE = "FAKE-SECRET-d41d8cd98f00"
SECRET_ENV = re.compile(r"(ROOT_KEY|TOKEN|PASSWORD|SECRET)$")


@pytest.mark.parametrize("values", [
    {"rootKey": {"value": FAKE}},
    {"database": {"password": FAKE}},
    {"database": {"url": f"postgres://confmgr:{FAKE}@db/confmgr"}},
    {"test": {"token": FAKE}},
    {"test": {"credentialsSecret": {"secretId": FAKE}}},
    {"kms": {"secretAccessKey": FAKE}},
    {"tls": {"key": FAKE}},
])
def test_secret_values_are_refused(values):
    """The chart has no key that takes a secret itself: only references to Secrets."""
    import helm_python as helm

    with pytest.raises(helm.HelmValuesError, match="additional properties"):
        render(**values)


def test_no_secret_value_in_any_rendered_object(variant):
    name, objs = variant
    # Recognisable values in every field that names a secret: they may appear only as names.
    fake = FAKE.lower()
    refs = {"rootKey": {"secretName": f"{fake}-root", "key": "k"},
            "test": {"credentialsSecret": {"name": f"{fake}-test"}}}
    if name not in ("dev", "staging", "prod"):  # IAM database auth takes no password
        refs["database"] = {"passwordSecret": {"name": f"{fake}-pw", "key": "p"}}
    text = json.dumps(render(VARIANTS[name], **refs))
    assert f"{fake}-test" in text
    for ref in (f"{fake}-root", f"{fake}-pw", f"{fake}-test"):
        assert text.count(ref) == text.count('"name": "%s"' % ref) + text.count('"secretName": "%s"' % ref), ref
    for obj in objs:
        assert obj["kind"] != "Secret", f"{name}: the chart renders no Secret"
        blob = json.dumps(obj)
        # No 32-byte base64 key (what a root key looks like) anywhere.
        assert not re.search(r'"[A-Za-z0-9+/]{43}="', blob), f"{name}: {obj['kind']}"
        if obj["kind"] in ("Deployment", "Job", "Pod"):
            for c in containers(pod_spec(obj)):
                for e in c.get("env", []):
                    if SECRET_ENV.search(e["name"]):
                        assert "value" not in e and "secretKeyRef" in e["valueFrom"], f"{name}: {e}"
                    if e["name"] == "CONFMGR_DATABASE_URL" and "value" in e:
                        userinfo = e["value"].split("://", 1)[1].split("@", 1)[0]
                        assert ":" not in userinfo, f"{name}: password in the database URL"
        if obj["kind"] == "ConfigMap":
            assert not any(SECRET_ENV.search(k) for k in obj["data"]), name


def test_database_url_and_trust_pinning():
    env = env_of(pod_spec(one(render(), "Deployment"))["containers"][0])
    url = env["CONFMGR_DATABASE_URL"]["value"]
    assert url.startswith("postgres://confmgr@postgres:5432/confmgr?sslmode=verify-full&")
    assert "sslrootcert=/etc/confmgr/postgres-ca/ca.crt" in url
    assert "sslcert=/etc/confmgr/postgres-client/tls.crt&sslkey=/etc/confmgr/postgres-client/tls.key" in url
    assert env["SSL_CERT_FILE"]["value"] == "/etc/confmgr/postgres-ca/ca.crt"
    assert env["CONFMGR_ROOT_KEY"]["valueFrom"]["secretKeyRef"] == {"name": "confmgr-root-key", "key": "root-key"}


def test_terraform_values_reach_the_server():
    """The AWS path: the keys scripts/helm-values-from-terraform.sh writes."""
    objs = render(VARIANTS["prod"])
    dep = one(objs, "Deployment")
    spec = pod_spec(dep)
    assert spec["serviceAccountName"] == "confmgr"
    env = env_of(spec["containers"][0])
    url = env["CONFMGR_DATABASE_URL"]["value"]
    assert url.startswith("postgres://confmgr@confmgr-prod.abcdefghijkl.eu-west-1.rds.amazonaws.com:5432/confmgr?sslmode=verify-full&")
    assert "sslcert" not in url
    assert env["CONFMGR_DATABASE_IAM_AUTH"]["value"] == "true"
    assert env["CONFMGR_DATABASE_IAM_REGION"]["value"] == "eu-west-1"
    assert env["CONFMGR_KMS_KEY_ID"]["value"].startswith("arn:aws:kms:eu-west-1:")
    assert env["CONFMGR_KMS_CONTEXT"]["value"] == "confmgr-prod"
    assert env["AWS_REGION"]["value"] == "eu-west-1"
    # PostgreSQL trust pinned to the RDS bundle; KMS keeps the public CAs through its own file.
    assert env["SSL_CERT_FILE"]["value"] == "/etc/confmgr/postgres-ca/ca.crt"
    assert env["CONFMGR_KMS_CA_FILE"]["value"] == "/etc/ssl/certs/ca-certificates.crt"
    assert "CONFMGR_ROOT_KEY" not in env
    ca = [v for v in spec["volumes"] if v["name"] == "postgres-ca"][0]
    assert ca["configMap"]["name"] == "rds-ca-bundle"
    assert one(objs, "ServiceAccount")["metadata"]["name"] == "confmgr"


def test_network_policy_shapes():
    np = one(render(), "NetworkPolicy")
    spec = np["spec"]
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    assert spec["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "confmgr", "app.kubernetes.io/instance": "confmgr"}
    assert spec["ingress"] == [{"from": [{"podSelector": {}}], "ports": [{"port": "api", "protocol": "TCP"}]}]
    ports = [[(p["port"], p["protocol"]) for p in rule["ports"]] for rule in spec["egress"]]
    assert ports == [[(53, "UDP"), (53, "TCP")], [(5432, "TCP")]], "DNS and the database only"
    assert spec["egress"][0]["to"][0]["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "kube-system"}
    # AWS: KMS/STS on 443 and the Pod Identity agent, nothing else.
    egress = one(render(VARIANTS["prod"]), "NetworkPolicy")["spec"]["egress"]
    assert [[p["port"] for p in r["ports"]] for r in egress] == [[53, 53], [5432], [443], [80]]
    assert egress[3]["to"][0] == {"ipBlock": {"cidr": "169.254.170.23/32"}}
    egress = one(render(VARIANTS["everything"]), "NetworkPolicy")["spec"]["egress"]
    assert egress[2]["to"] == [{"ipBlock": {"cidr": "10.0.0.0/16"}}]
    assert egress[1]["to"] == [{"ipBlock": {"cidr": "10.0.0.0/16"}}]
    # CloudNativePG: only the cluster's Pods.
    egress = one(render(VARIANTS["cnpg"]), "NetworkPolicy")["spec"]["egress"]
    assert egress[1]["to"] == [{"podSelector": {"matchLabels": {"cnpg.io/cluster": "confmgr-postgres"}}}]
    assert not find(render(networkPolicy={"enabled": False}), "NetworkPolicy")


def test_pod_disruption_budget():
    objs = render()
    pdb = one(objs, "PodDisruptionBudget")
    assert pdb["apiVersion"] == "policy/v1"
    assert pdb["spec"]["maxUnavailable"] == 1
    pod_labels = one(objs, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert not find(render(replicaCount=1), "PodDisruptionBudget"), "one replica: a PDB would block drains"
    assert find(render(replicaCount=1, autoscaling={"enabled": True}), "PodDisruptionBudget")


def test_autoscaler():
    objs = render(VARIANTS["prod"])
    hpa = one(objs, "HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert {m["resource"]["name"] for m in hpa["spec"]["metrics"]} == {"cpu", "memory"}
    assert hpa["spec"]["minReplicas"] == 3
    assert "replicas" not in one(objs, "Deployment")["spec"], "the HPA owns the replica count"


def test_topology_spread_selects_the_server_pods():
    dep = one(render(), "Deployment")
    tsc = pod_spec(dep)["topologySpreadConstraints"]
    assert [t["topologyKey"] for t in tsc] == ["topology.kubernetes.io/zone", "kubernetes.io/hostname"]
    for t in tsc:
        assert t["labelSelector"]["matchLabels"] == dep["spec"]["selector"]["matchLabels"]


def test_observability_copies_match_doc():
    for name in ("grafana-dashboard.json", "prometheus-alerts.yml"):
        assert (CHART / "files" / name).read_bytes() == (ROOT / "doc" / name).read_bytes(), name
    objs = render(VARIANTS["cnpg"])
    rule = one(objs, "PrometheusRule")
    doc_groups = yaml.safe_load((ROOT / "doc" / "prometheus-alerts.yml").read_text())["groups"]
    # The rules exactly as doc/ has them ({{ $labels }} untouched by Helm), the runbook links
    # prefixed with metrics.prometheusRule.runbookBaseUrl.
    for group in doc_groups:
        for r in group["rules"]:
            r["annotations"]["runbook_url"] = "https://docs.example.com/confmgr/" + r["annotations"]["runbook_url"]
    assert rule["spec"]["groups"] == doc_groups
    assert "{{ $labels.instance }}" in json.dumps(rule)
    dash = one(objs, "ConfigMap", "confmgr-dashboard")
    assert dash["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(dash["data"]["confmgr.json"]) == json.loads((ROOT / "doc" / "grafana-dashboard.json").read_text())
    sm = one(objs, "ServiceMonitor")
    assert sm["spec"]["jobLabel"] == "app.kubernetes.io/name"
    assert one(objs, "Service")["metadata"]["labels"]["app.kubernetes.io/name"] == "confmgr"


def test_every_template_renders_in_some_variant():
    sources = set()
    for files in VARIANTS.values():
        text = render_text(files)
        sources |= set(re.findall(r"^# Source: confmgr/(templates/\S+)$", text, re.M))
    templates = {str(p.relative_to(CHART)) for p in (CHART / "templates").rglob("*.yaml")}
    assert templates <= sources, f"never rendered: {sorted(templates - sources)}"
