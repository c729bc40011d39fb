#!/usr/bin/env python3
"""Assertions of the infra check (scripts/infra/check.sh) on Terraform's JSON.

    assert_infra.py plan ENV PLAN.json      a plan of environment ENV (terraform show -json PLAN)
    assert_infra.py state ENV STATE.json    the state after the apply against moto (terraform show -json)
    assert_infra.py values ENV VALUES.yaml STATE.json
                                            the Helm values written by scripts/helm-values-from-terraform.sh

Each failed assertion prints one line naming the resource and what differs; the exit status is
1 if any failed. Needs PyYAML for `values` only.
"""

import json
import re
import sys

# What differs by environment (terraform/environments/*/main.tf). The check fails if an
# environment's plan drifts from this table: change both together.
EXPECT = {
    "dev": dict(endpoint_zones=1, nats=1, multi_az=False, protected=False, backups=7, insights=False,
                monitoring=0, log_days=30, nodes=2, db_class="db.t4g.micro", kms_window=7),
    "staging": dict(endpoint_zones=3, nats=3, multi_az=True, protected=True, backups=14, insights=True,
                    monitoring=60, log_days=90, nodes=3, db_class="db.t4g.medium", kms_window=30),
    "prod": dict(endpoint_zones=3, nats=3, multi_az=True, protected=True, backups=35, insights=True,
                 monitoring=60, log_days=365, nodes=3, db_class="db.m7g.large", kms_window=30),
}
INTERFACE_ENDPOINTS = {"kms", "sts", "eks-auth", "ecr.api", "ecr.dkr"}
CONTROL_PLANE_LOGS = {"api", "audit", "authenticator", "controllerManager", "scheduler"}

failures = []


def check(ok, what):
    if not ok:
        failures.append(what)
    return ok


def eq(actual, expected, what):
    return check(actual == expected, f"{what}: expected {expected!r}, got {actual!r}")


def secrets_in(value, path=""):
    """Paths of string attributes that look like a password or a secret value."""
    found = []
    if isinstance(value, dict):
        for key, inner in value.items():
            sub = f"{path}.{key}" if path else key
            if re.search(r"password|secret_string", key) and isinstance(inner, str) and inner:
                found.append(sub)
            found += secrets_in(inner, sub)
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            found += secrets_in(inner, f"{path}[{i}]")
    return found


def one(resources, rtype, name=None):
    matches = [r for r in resources if r["type"] == rtype and (name is None or r["name"] == name)]
    check(len(matches) == 1, f"expected one {rtype}{'.' + name if name else ''}, found {len(matches)}")
    return matches[0]["values"] if matches else {}


def of_type(resources, rtype):
    return [r["values"] for r in resources if r["type"] == rtype]


def common(env, resources):
    """Assertions that hold for a plan (values known at plan time) and for the state."""
    exp = EXPECT[env]
    name = f"confmgr-{env}"

    eq(len(of_type(resources, "aws_nat_gateway")), exp["nats"], "NAT gateways")
    subnets = of_type(resources, "aws_subnet")
    eq(len(subnets), 6, "subnets (three private, three public)")
    eq(len({s["availability_zone"] for s in subnets}), 3, "availability zones of the subnets")
    endpoints = of_type(resources, "aws_vpc_endpoint")
    # com.amazonaws.REGION.SERVICE, where SERVICE may hold dots (ecr.api)
    interface = {e["service_name"].split(".", 3)[3] for e in endpoints if e["vpc_endpoint_type"] == "Interface"}
    eq(interface, INTERFACE_ENDPOINTS, "interface VPC endpoints")
    check(all(e["private_dns_enabled"] for e in endpoints if e["vpc_endpoint_type"] == "Interface"),
          "interface VPC endpoints must have private DNS (pods resolve the usual service names)")
    gateways = [e["service_name"] for e in endpoints if e["vpc_endpoint_type"] == "Gateway"]
    eq(gateways, ["com.amazonaws.us-east-1.s3"], "gateway VPC endpoints")
    flow = one(resources, "aws_flow_log")
    eq(flow.get("traffic_type"), "ALL", "flow log traffic type")

    for group in of_type(resources, "aws_cloudwatch_log_group"):
        eq(group["retention_in_days"], exp["log_days"], f"retention of log group {group['name']}")

    for key in of_type(resources, "aws_kms_key"):
        eq(key["enable_key_rotation"], True, f"rotation of KMS key '{key['description']}'")
    wrap = one(resources, "aws_kms_key", "root_key_wrap")
    eq(wrap.get("deletion_window_in_days"), exp["kms_window"], "deletion window of the root-key wrapping key")
    eq(wrap.get("customer_master_key_spec"), "SYMMETRIC_DEFAULT", "spec of the root-key wrapping key")

    cluster = one(resources, "aws_eks_cluster")
    eq(cluster.get("name"), name, "EKS cluster name")
    vpc = (cluster.get("vpc_config") or [{}])[0]
    eq(vpc.get("endpoint_private_access"), True, "EKS private endpoint")
    eq(vpc.get("endpoint_public_access"), False, "EKS public endpoint (off unless CIDRs are given)")
    eq([c["resources"] for c in cluster.get("encryption_config", [])], [["secrets"]], "EKS envelope encryption")
    eq(set(cluster.get("enabled_cluster_log_types") or []), CONTROL_PLANE_LOGS, "EKS control-plane logs")
    template = one(resources, "aws_launch_template")
    meta = (template.get("metadata_options") or [{}])[0]
    eq((meta.get("http_tokens"), meta.get("http_put_response_hop_limit")), ("required", 1),
       "node IMDS (IMDSv2 only, hop limit 1)")
    ebs = template["block_device_mappings"][0]["ebs"][0]
    eq(ebs.get("encrypted"), "true", "node root volume encryption")
    nodes = one(resources, "aws_eks_node_group")
    eq(nodes["scaling_config"][0]["desired_size"], exp["nodes"], "desired nodes")

    db = one(resources, "aws_db_instance")
    eq(db.get("engine"), "postgres", "RDS engine")
    eq(str(db.get("engine_version")).split(".")[0], "16", "RDS major version")
    eq(db.get("instance_class"), exp["db_class"], "RDS instance class")
    for attr, want in [("iam_database_authentication_enabled", True), ("manage_master_user_password", True),
                       ("storage_encrypted", True), ("publicly_accessible", False),
                       ("multi_az", exp["multi_az"]), ("deletion_protection", exp["protected"]),
                       ("backup_retention_period", exp["backups"]),
                       ("performance_insights_enabled", exp["insights"]),
                       ("skip_final_snapshot", not exp["protected"]),
                       ("monitoring_interval", exp["monitoring"]),
                       ("ca_cert_identifier", "rds-ca-rsa2048-g1"), ("db_name", "confmgr")]:
        eq(db.get(attr), want, f"RDS {attr}")
    check(not db.get("password"), "RDS has a static master password")
    if exp["protected"]:
        eq(db.get("final_snapshot_identifier"), f"{name}-final", "RDS final snapshot")
    params = one(resources, "aws_db_parameter_group")
    eq(params.get("family"), "postgres16", "parameter group family")
    forced = [p["value"] for p in params.get("parameter", []) if p["name"] == "rds.force_ssl"]
    eq(forced, ["1"], "rds.force_ssl")
    for rule in of_type(resources, "aws_vpc_security_group_ingress_rule"):
        if rule.get("from_port") == 5432:
            check(rule.get("cidr_ipv4") is None and rule.get("cidr_ipv6") is None,
                  "the database admits a CIDR: it must admit the cluster's security group only")

    for res in resources:
        tags = res["values"].get("tags_all")
        if isinstance(tags, dict):
            eq({k: tags.get(k) for k in ("Project", "Environment", "ManagedBy")},
               {"Project": "confmgr", "Environment": env, "ManagedBy": "terraform"},
               f"default tags of {res['address']}")
        for path in secrets_in(res["values"]):
            failures.append(f"{res['address']}: {path} holds a secret value")


def plan(env, path):
    data = json.load(open(path))
    resources = [
        {"address": c["address"], "type": c["type"], "name": c["name"], "values": c["change"]["after"]}
        for c in data["resource_changes"]
        if c["change"]["actions"] == ["create"] and c["mode"] == "managed"
    ]
    check(len(resources) == len([c for c in data["resource_changes"] if c["mode"] == "managed"]),
          "a plan of an empty state must only create")
    common(env, resources)
    # moto does not keep the upgrade policy, so it is asserted on the plan only.
    eq(one(resources, "aws_eks_cluster").get("upgrade_policy"), [{"support_type": "STANDARD"}], "EKS upgrade policy")
    addon = one(resources, "aws_eks_addon")
    eq(addon.get("addon_name"), "eks-pod-identity-agent", "EKS add-on")
    assoc = one(resources, "aws_eks_pod_identity_association")
    eq((assoc.get("namespace"), assoc.get("service_account")), ("confmgr", "confmgr"),
       "Pod Identity association")
    return f"plan of {env}: {len(resources)} resources to create, as expected"


def statements(doc):
    policy = json.loads(doc) if isinstance(doc, str) else doc
    found = policy["Statement"]
    return found if isinstance(found, list) else [found]


def as_set(value):
    return set(value) if isinstance(value, list) else {value}


def state(env, path):
    data = json.load(open(path))
    values = data["values"]
    resources = [r for m in values["root_module"].get("child_modules", []) for r in m["resources"]
                 if r["mode"] == "managed"]
    common(env, resources)
    name = f"confmgr-{env}"
    account = "123456789012"  # moto's account
    db = one(resources, "aws_db_instance")
    role = one(resources, "aws_iam_role", "confmgr")
    key = one(resources, "aws_kms_key", "root_key_wrap")
    outputs = {k: v["value"] for k, v in values.get("outputs", {}).items()}
    keys = {r["values"]["arn"] for r in resources if r["type"] == "aws_kms_key"}
    for group in of_type(resources, "aws_cloudwatch_log_group"):
        check(group.get("kms_key_id") in keys, f"log group {group['name']} is not encrypted with a key of this environment")
    for endpoint in of_type(resources, "aws_vpc_endpoint"):
        if endpoint["vpc_endpoint_type"] == "Interface":
            eq(len(endpoint["subnet_ids"]), EXPECT[env]["endpoint_zones"],
               f"zones of the interface endpoint {endpoint['service_name']}")

    expected_outputs = {
        "environment": env, "region": "us-east-1", "cluster_name": name,
        "database_host": db.get("address"), "database_port": 5432, "database_name": "confmgr",
        "database_user": "confmgr", "database_identifier": name,
        "database_master_username": "confmgr_admin", "kms_key_arn": key.get("arn"),
        "kms_context": name, "confmgr_role_arn": role.get("arn"), "namespace": "confmgr",
        "service_account": "confmgr", "vpc_cidr": one(resources, "aws_vpc").get("cidr_block"),
    }
    for out, want in expected_outputs.items():
        eq(outputs.get(out), want, f"output {out}")
    check(re.fullmatch(rf"{name}\.[a-z0-9]+\.us-east-1\.rds\.amazonaws\.com", str(outputs.get("database_host"))),
          f"output database_host {outputs.get('database_host')!r} is not an RDS endpoint name")
    check(re.fullmatch(rf"arn:aws:kms:us-east-1:{account}:key/[0-9a-f-]{{36}}", str(outputs.get("kms_key_arn"))),
          f"output kms_key_arn {outputs.get('kms_key_arn')!r} is not a key ARN")
    check(str(outputs.get("database_master_secret_arn", "")).startswith(f"arn:aws:secretsmanager:us-east-1:{account}:secret:"),
          "output database_master_secret_arn is not a Secrets Manager ARN (manage_master_user_password)")

    # The key policy: only ConfMgr's role may encrypt or decrypt, only with this context.
    crypto = {"kms:Encrypt", "kms:Decrypt", "kms:*", "kms:ReEncrypt*", "kms:GenerateDataKey*"}
    users = []
    for st in statements(key.get("policy", '{"Statement": []}')):
        actions = as_set(st["Action"])
        if actions & crypto or any(a.startswith("kms:Encrypt") or a.startswith("kms:Decrypt") for a in actions):
            users.append(st)
    check(len(users) == 1, f"the root-key wrapping key has {len(users)} statements granting cryptographic use, expected 1")
    for st in users:
        eq(as_set(st["Principal"]["AWS"]), {role.get("arn")}, "principal allowed to use the root-key wrapping key")
        eq(as_set(st["Action"]), {"kms:Encrypt", "kms:Decrypt"}, "actions allowed on the root-key wrapping key")
        cond = st.get("Condition", {})
        eq(cond.get("StringEquals", {}).get("kms:EncryptionContext:confmgr:deployment"), name,
           "encryption context required by the key policy")
        eq(as_set(cond.get("ForAllValues:StringEquals", {}).get("kms:EncryptionContextKeys")),
           {"confmgr:deployment"}, "encryption context keys allowed by the key policy")

    # The role: trusted by Pod Identity for confmgr/confmgr only; allowed three things.
    trust = statements(role.get("assume_role_policy", '{"Statement": []}'))
    eq(len(trust), 1, "statements in the role's trust policy")
    for st in trust:
        eq(st["Principal"], {"Service": "pods.eks.amazonaws.com"}, "role trusted principal")
        eq(as_set(st["Action"]), {"sts:AssumeRole", "sts:TagSession"}, "role trust actions")
        tags = st.get("Condition", {}).get("StringEquals", {})
        eq({k: tags.get(k) for k in ("aws:RequestTag/kubernetes-namespace",
                                     "aws:RequestTag/kubernetes-service-account",
                                     "aws:RequestTag/eks-cluster-name", "aws:SourceAccount")},
           {"aws:RequestTag/kubernetes-namespace": "confmgr",
            "aws:RequestTag/kubernetes-service-account": "confmgr",
            "aws:RequestTag/eks-cluster-name": name, "aws:SourceAccount": account},
           "role trust conditions")
    policy = one(resources, "aws_iam_role_policy", "confmgr")
    granted = {}
    for st in statements(policy.get("policy", '{"Statement": []}')):
        check(st.get("Effect") == "Allow", "role policy statement is not an Allow")
        for action in as_set(st["Action"]):
            granted[action] = st
    eq(set(granted), {"kms:Encrypt", "kms:Decrypt", "kms:DescribeKey", "rds-db:connect"}, "actions of ConfMgr's role")
    if "kms:Decrypt" in granted:
        st = granted["kms:Decrypt"]
        eq(as_set(st["Resource"]), {key.get("arn")}, "resource of kms:Decrypt")
        eq(st.get("Condition", {}).get("StringEquals", {}).get("kms:EncryptionContext:confmgr:deployment"),
           name, "encryption context condition of the role policy")
    if "rds-db:connect" in granted:
        eq(as_set(granted["rds-db:connect"]["Resource"]),
           {f"arn:aws:rds-db:us-east-1:{account}:dbuser:{db.get('resource_id')}/confmgr"},
           "resource of rds-db:connect")
    return f"state of {env}: {len(resources)} resources, outputs and policies as expected"


def values(env, path, state_path):
    import yaml  # scripts/tools/pip-tools.sh pyyaml

    written = yaml.safe_load(open(path))
    outputs = {k: v["value"] for k, v in json.load(open(state_path))["values"]["outputs"].items()}
    expected = {
        "serviceAccount": {"name": "confmgr"},
        "database": {
            "host": outputs["database_host"], "port": 5432, "name": "confmgr", "user": "confmgr",
            "sslMode": "verify-full", "iamAuth": {"enabled": True, "region": "us-east-1"},
        },
        "kms": {"enabled": True, "keyId": outputs["kms_key_arn"], "region": "us-east-1",
                "context": f"confmgr-{env}"},
    }
    eq(written, expected, f"Helm values written for {env}")
    return f"values of {env}: exactly the AWS-path keys, from the outputs"


def main(argv):
    commands = {"plan": (plan, 2), "state": (state, 2), "values": (values, 3)}
    if len(argv) < 2 or argv[1] not in commands or len(argv) != 2 + commands[argv[1]][1] \
            or argv[2] not in EXPECT:
        sys.exit(__doc__)
    func, _ = commands[argv[1]]
    summary = func(*argv[2:])
    for failure in failures:
        print(f"FAIL: {failure}", file=sys.stderr)
    if not failures:
        print(summary)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
