#!/usr/bin/env python3
"""Exercise ConfMgr's token API with the unchanged `hvac` client, the way hvac's own
integration tests exercise Vault's (tests/integration_tests/api/auth_methods/test_token.py
and api/system_backend/test_capabilities.py): create, lookup, renew and revoke by token,
accessor and self; orphans; periodic and use-limited tokens; token roles; the default
policy; capabilities.

Usage:
    pip install hvac
    VAULT_ADDR=http://127.0.0.1:18500 VAULT_TOKEN=root python3 hvac_tokens.py

VAULT_TOKEN must be a root token. Everything made lives under a per-run policy and role
name, and is removed (or revoked) at the end.

On success the last line is exactly `hvac-tokens: N passed, 0 failed`; on any failure the
failing step is named and the exit status is 1 (2 when the environment is not set up).
"""

import importlib.metadata
import os
import sys
import traceback
import uuid

import hvac
import hvac.exceptions as hexc


class CheckFailed(Exception):
    pass


class Runner:
    def __init__(self, addr, root, run_id):
        self.addr = addr
        self.root = root
        self.token = root.auth.token
        self.policy = f"hvac-tokens-{run_id}"
        self.role = f"hvac-tokens-{run_id}"
        self.passed = 0
        self.failed_steps = []
        self.made = []  # accessors to revoke at the end

    # ---- helpers ---------------------------------------------------------

    def check(self, cond, what):
        if not cond:
            raise CheckFailed(what)
        self.passed += 1

    def eq(self, got, want, what):
        self.check(got == want, f"{what}: got {got!r}, want {want!r}")

    def between(self, got, low, high, what):
        self.check(low <= got <= high, f"{what}: {got!r} not in [{low}, {high}]")

    def raises(self, exc_type, fn, what):
        try:
            got = fn()
        except exc_type as e:
            self.passed += 1
            return e
        except Exception as e:  # noqa: BLE001 - report what was raised instead
            raise CheckFailed(
                f"{what}: expected {exc_type.__name__}, got {type(e).__name__}: {e}"
            )
        raise CheckFailed(f"{what}: expected {exc_type.__name__}, call returned {got!r}")

    def no_content(self, resp, what):
        status = getattr(resp, "status_code", None)
        self.check(status == 204, f"{what}: expected HTTP 204, got {status!r}")

    def client(self, token):
        return hvac.Client(url=self.addr, token=token)

    def create(self, **kwargs):
        auth = self.token.create(**kwargs)["auth"]
        self.made.append(auth["accessor"])
        return auth

    def run(self, name, fn):
        try:
            fn()
            print(f"ok    {name}")
            return True
        except CheckFailed as e:
            print(f"FAIL  {name}: {e}", file=sys.stderr)
        except Exception as e:  # noqa: BLE001 - any exception fails the step
            print(f"FAIL  {name}: {type(e).__name__}: {e}", file=sys.stderr)
            traceback.print_exc(file=sys.stderr)
        self.failed_steps.append(name)
        return False

    # ---- steps -----------------------------------------------------------

    def step_policy(self):
        text = 'path "secret/data/hvac-tokens/*" {\n  capabilities = ["read", "list"]\n}\n'
        self.root.sys.create_or_update_acl_policy(name=self.policy, policy=text)
        names = self.root.sys.list_acl_policies()["data"]["keys"]
        self.check("default" in names and "root" in names, f"built-in policies listed: {names}")
        self.raises(hexc.InvalidRequest,
                    lambda: self.root.sys.delete_acl_policy(name="default"),
                    "the default policy cannot be deleted")

    def step_create_lookup(self):
        auth = self.create(policies=[self.policy], ttl="1h", meta={"team": "ops"},
                           display_name="hvac test")
        self.eq(sorted(auth["policies"]), sorted(["default", self.policy]), "create policies")
        self.eq(auth["metadata"], {"team": "ops"}, "create metadata")
        self.between(auth["lease_duration"], 3590, 3600, "create lease_duration")
        self.eq(auth["renewable"], True, "create renewable")
        data = self.token.lookup(token=auth["client_token"])["data"]
        self.eq(data["id"], auth["client_token"], "lookup id")
        self.eq(data["display_name"], "token-hvac-test", "lookup display_name")
        self.eq(data["path"], "auth/token/create", "lookup path")
        self.eq(data["orphan"], False, "lookup orphan")
        self.eq(data["meta"], {"team": "ops"}, "lookup meta")
        by_accessor = self.token.lookup_accessor(accessor=auth["accessor"])["data"]
        self.eq(by_accessor["id"], "", "lookup_accessor hides the token")
        self.eq(by_accessor["accessor"], auth["accessor"], "lookup_accessor accessor")
        me = self.client(auth["client_token"]).auth.token.lookup_self()["data"]
        self.eq(me["accessor"], auth["accessor"], "lookup_self with the default policy")
        self.raises(hexc.Forbidden, lambda: self.token.lookup(token="cmt.not-a-token"),
                    "lookup of an unknown token is 403")
        keys = self.token.list_accessors()["data"]["keys"]
        self.check(auth["accessor"] in keys, "list_accessors lists the new token")

    def step_renew(self):
        auth = self.create(policies=[self.policy], ttl="1h", explicit_max_ttl="2h")
        renewed = self.token.renew(token=auth["client_token"], increment="10m")["auth"]
        self.between(renewed["lease_duration"], 590, 600, "renew increment 10m")
        renewed = self.token.renew_accessor(accessor=auth["accessor"], increment="3h")["auth"]
        self.between(renewed["lease_duration"], 7190, 7200, "renew_accessor capped at 2h")
        own = self.client(auth["client_token"]).auth.token.renew_self(increment=60)["auth"]
        self.between(own["lease_duration"], 59, 60, "renew_self increment 60")
        self.raises(hexc.InvalidRequest, lambda: self.token.renew(token="cmt.nope"),
                    "renew of an unknown token is 400")
        fixed = self.create(policies=[self.policy], renewable=False)
        self.raises(hexc.InvalidRequest,
                    lambda: self.client(fixed["client_token"]).auth.token.renew_self(),
                    "a non-renewable token cannot renew")

    def step_periodic(self):
        auth = self.create(policies=[self.policy], period="30m")
        self.between(auth["lease_duration"], 1799, 1800, "periodic token: TTL = period")
        client = self.client(auth["client_token"])
        self.eq(client.auth.token.lookup_self()["data"]["period"], 1800, "lookup period")
        renewed = client.auth.token.renew_self(increment="5h")["auth"]
        self.between(renewed["lease_duration"], 1799, 1800, "renewal gives the period again")

    def step_num_uses(self):
        auth = self.create(policies=[self.policy], num_uses=2)
        self.eq(auth["num_uses"], 2, "create num_uses")
        client = self.client(auth["client_token"])
        self.eq(client.auth.token.lookup_self()["data"]["num_uses"], 1, "first use")
        self.eq(client.auth.token.lookup_self()["data"]["num_uses"], 0, "second use")
        self.raises(hexc.Forbidden, client.auth.token.lookup_self, "no third use")

    def step_orphans(self):
        parent = self.create(policies=[self.policy, "default"])
        parent_client = self.client(parent["client_token"])
        # A non-root parent: children only, and a subset of its policies.
        self.raises(hexc.Forbidden, lambda: parent_client.auth.token.create(),
                    "default grants no token creation")
        child = self.root.auth.token.create(policies=[self.policy])["auth"]
        orphan = self.token.create_orphan(policies=[self.policy])["auth"]
        self.made += [child["accessor"], orphan["accessor"]]
        self.eq(orphan["orphan"], True, "create_orphan orphan")
        self.eq(self.token.lookup(token=orphan["client_token"])["data"]["path"],
                "auth/token/create-orphan", "orphan path")
        # revoke-orphan on a parent with a child: the child stays, now an orphan.
        mid = self.create(policies=["root"])
        kid = self.client(mid["client_token"]).auth.token.create(policies=[self.policy])["auth"]
        self.made.append(kid["accessor"])
        self.no_content(self.token.revoke_and_orphan_children(token=mid["client_token"]),
                        "revoke_and_orphan_children")
        self.raises(hexc.Forbidden, lambda: self.token.lookup(token=mid["client_token"]),
                    "the revoked parent is gone")
        kept = self.token.lookup(token=kid["client_token"])["data"]
        self.eq(kept["orphan"], True, "its child is an orphan now")
        # revoke (tree): children go too, orphans stay.
        top = self.create(policies=["root"])
        below = self.client(top["client_token"]).auth.token.create(policies=[self.policy])["auth"]
        self.no_content(self.token.revoke(token=top["client_token"]), "revoke")
        self.raises(hexc.Forbidden, lambda: self.token.lookup(token=below["client_token"]),
                    "a child is revoked with its parent")
        self.eq(self.token.lookup(token=orphan["client_token"])["data"]["orphan"], True,
                "the orphan lives on")

    def step_roles(self):
        resp = self.token.create_or_update_role(
            role_name=self.role, allowed_policies=[self.policy], orphan=True,
            renewable=True, token_period="20m", token_explicit_max_ttl="5h",
        )
        self.no_content(resp, "create_or_update_role")
        role = self.token.read_role(role_name=self.role)["data"]
        self.eq(role["allowed_policies"], [self.policy], "read_role allowed_policies")
        self.eq(role["orphan"], True, "read_role orphan")
        self.eq(role["token_period"], 1200, "read_role token_period")
        self.eq(role["token_explicit_max_ttl"], 18000, "read_role token_explicit_max_ttl")
        keys = self.token.list_roles()["data"]["keys"]
        self.check(self.role in keys, f"list_roles: {keys}")
        auth = self.create(role_name=self.role)
        self.eq(sorted(auth["policies"]), sorted(["default", self.policy]), "role policies")
        self.eq(auth["orphan"], True, "role orphan")
        self.between(auth["lease_duration"], 1199, 1200, "role period")
        looked = self.token.lookup(token=auth["client_token"])["data"]
        self.eq(looked["role"], self.role, "lookup role")
        self.eq(looked["path"], f"auth/token/create/{self.role}", "lookup path")
        self.raises(hexc.InvalidRequest,
                    lambda: self.create(role_name=self.role, policies=["root"]),
                    "a role's tokens stay within allowed_policies")
        self.raises(hexc.InvalidRequest, lambda: self.create(role_name=f"{self.role}-none"),
                    "unknown role")
        self.no_content(self.token.delete_role(role_name=self.role), "delete_role")
        self.raises(hexc.InvalidPath, lambda: self.token.read_role(role_name=self.role),
                    "read_role after delete")

    def step_capabilities(self):
        auth = self.create(policies=[self.policy])
        client = self.client(auth["client_token"])
        mine = client.sys.get_capabilities(paths=["secret/data/hvac-tokens/x", "sys/mounts"])
        self.eq(mine["data"]["secret/data/hvac-tokens/x"], ["list", "read"],
                "capabilities-self allowed path")
        self.eq(mine["data"]["sys/mounts"], ["deny"], "capabilities-self other path")
        theirs = self.root.sys.get_capabilities(paths=["secret/data/hvac-tokens/y"],
                                                token=auth["client_token"])
        self.eq(theirs["data"]["capabilities"], ["list", "read"], "capabilities by token")
        by_accessor = self.root.sys.get_capabilities(paths=["x"], accessor=auth["accessor"])
        self.eq(by_accessor["data"]["capabilities"], ["deny"], "capabilities by accessor")
        root = self.root.sys.get_capabilities(paths=["anything"])
        self.eq(root["data"]["capabilities"], ["root"], "a root token's capabilities")

    def step_unknown_fields(self):
        e = self.raises(hexc.InvalidRequest,
                        lambda: self.root.adapter.post("/v1/auth/token/create",
                                                       json={"polcies": ["x"]}),
                        "an unknown create field is refused")
        self.check("polcies" in str(e), f"the error names the field: {e}")

    def step_revoke_self(self):
        auth = self.create(policies=[self.policy])
        client = self.client(auth["client_token"])
        self.no_content(client.auth.token.revoke_self(), "revoke_self")
        self.eq(client.is_authenticated(), False, "is_authenticated after revoke_self")

    def step_tidy(self):
        resp = self.token.tidy()
        self.eq(getattr(resp, "status_code", None), 202, "token tidy answers 202")

    def step_cleanup(self):
        for accessor in self.made:
            try:
                self.token.revoke_accessor(accessor)
            except hexc.InvalidRequest:
                pass  # already revoked by a step
        self.no_content(self.root.sys.delete_acl_policy(name=self.policy), "delete policy")


def main():
    addr = os.environ.get("VAULT_ADDR")
    token = os.environ.pop("VAULT_TOKEN", None)
    if not addr or not token:
        print("set VAULT_ADDR and VAULT_TOKEN (a root token)", file=sys.stderr)
        return 2
    root = hvac.Client(url=addr, token=token)
    r = Runner(addr, root, uuid.uuid4().hex[:12])
    print(f"hvac {importlib.metadata.version('hvac')} against {addr}, policy {r.policy}")
    ready = r.run("write the policy", r.step_policy)
    if ready:
        for name, fn in [
            ("create, lookup, lookup_accessor, lookup_self", r.step_create_lookup),
            ("renew, renew_accessor, renew_self", r.step_renew),
            ("periodic tokens", r.step_periodic),
            ("num_uses", r.step_num_uses),
            ("orphans, revoke, revoke-orphan", r.step_orphans),
            ("token roles", r.step_roles),
            ("capabilities", r.step_capabilities),
            ("unknown create fields", r.step_unknown_fields),
            ("revoke_self", r.step_revoke_self),
            ("tidy", r.step_tidy),
        ]:
            r.run(name, fn)
    r.run("cleanup", r.step_cleanup)
    failed = len(r.failed_steps)
    if failed:
        print(f"failed steps: {', '.join(r.failed_steps)}", file=sys.stderr)
    print(f"hvac-tokens: {r.passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
