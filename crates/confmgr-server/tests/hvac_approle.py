#!/usr/bin/env python3
"""Exercise ConfMgr's AppRole, token and ACL policy API with the unchanged `hvac` client.

Usage:
    pip install hvac
    VAULT_ADDR=http://127.0.0.1:18500 VAULT_TOKEN=root python3 hvac_approle.py

VAULT_TOKEN must be a root token. As root the script writes an ACL policy, secrets and an
AppRole role (a ConfMgr client); then a new client without a token logs in with the role's
role_id and a secret_id, the way an application does, and checks what the policy lets it do.
Everything lives under a per-run prefix and role/policy name, and is removed at the end.

On success the last line is exactly `hvac-approle: N passed, 0 failed`; on any failure the
failing step is named and the exit status is 1 (2 when the environment is not set up).
"""

import importlib.metadata
import os
import re
import sys
import traceback
import uuid

import hvac
import hvac.exceptions as hexc

MOUNT = "secret"
SECRET_ID_RE = re.compile(r"^[A-Za-z0-9_-]{12}\.[A-Za-z0-9_-]{43}$")
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


class CheckFailed(Exception):
    pass


class Runner:
    def __init__(self, addr, root, run_id):
        self.addr = addr
        self.root = root
        self.kv = root.secrets.kv.v2
        self.prefix = f"hvac-approle-{run_id}"
        self.policy = f"hvac-approle-{run_id}"
        self.role = f"hvac-approle-{run_id}"
        self.passed = 0
        self.failed_steps = []
        self.created_paths = []
        # Filled in by the steps.
        self.role_id = None
        self.secret_id = None
        self.secret_accessor = None
        self.app = None

    # ---- helpers ---------------------------------------------------------

    def p(self, sub):
        return f"{self.prefix}/{sub}"

    def check(self, cond, what):
        if not cond:
            raise CheckFailed(what)
        self.passed += 1

    def eq(self, got, want, what):
        self.check(got == want, f"{what}: got {got!r}, want {want!r}")

    def raises(self, exc_type, fn, what):
        """Check fn() raises exc_type; return the exception."""
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
        """Vault answers 204 with an empty body; hvac hands back the Response."""
        status = getattr(resp, "status_code", None)
        self.check(
            status == 204,
            f"{what}: expected HTTP 204, got {status!r} ({getattr(resp, 'text', resp)!r})",
        )

    def new_client(self):
        """A client as an application creates it: an address and no token."""
        return hvac.Client(url=self.addr)

    def login(self, secret_id):
        """A fresh client logged in with this role's role_id and `secret_id`."""
        client = self.new_client()
        resp = client.auth.approle.login(role_id=self.role_id, secret_id=secret_id)
        return client, resp

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

    # ---- steps (as root) -------------------------------------------------

    def step_policy(self):
        text = (
            f'path "secret/data/{self.prefix}/app/*" {{\n'
            f'  capabilities = ["read"]\n'
            f"}}\n"
            f'path "secret/metadata/{self.prefix}/app/*" {{\n'
            f'  capabilities = ["list"]\n'
            f"}}\n"
        )
        resp = self.root.sys.create_or_update_acl_policy(name=self.policy, policy=text)
        self.no_content(resp, "create_or_update_acl_policy")
        got = self.root.sys.read_acl_policy(name=self.policy)["data"]
        self.eq(got["name"], self.policy, "read_acl_policy name")
        self.eq(got["policy"], text, "read_acl_policy text")
        names = self.root.sys.list_acl_policies()["data"]["keys"]
        self.check(self.policy in names, f"list_acl_policies has {self.policy}: {names}")

    def step_secrets(self):
        writes = {
            "app/db": {"username": "app", "password": "app-db-pass"},
            "app/api": {"token": "app-api-token"},
            "other/db": {"password": "other-db-pass"},
        }
        for sub, data in writes.items():
            path = self.p(sub)
            self.created_paths.append(path)
            resp = self.kv.create_or_update_secret(path=path, secret=data, mount_point=MOUNT)
            self.eq(resp["data"]["version"], 1, f"write {path} version")

    def step_role(self):
        resp = self.root.auth.approle.create_or_update_approle(
            role_name=self.role, token_policies=[self.policy], token_ttl="1h"
        )
        self.no_content(resp, "create_or_update_approle")
        role = self.root.auth.approle.read_role(role_name=self.role)["data"]
        self.eq(role["token_policies"], [self.policy], "read_role token_policies")
        self.eq(role["token_ttl"], 3600, "read_role token_ttl")
        roles = self.root.auth.approle.list_roles()["data"]["keys"]
        self.check(self.role in roles, f"list_roles has {self.role}: {roles}")

        self.role_id = self.root.auth.approle.read_role_id(role_name=self.role)["data"]["role_id"]
        self.check(UUID_RE.match(self.role_id or ""), f"role_id is a UUID: {self.role_id!r}")
        self.eq(role["role_id"], self.role_id, "read_role role_id equals read_role_id")

        gen = self.root.auth.approle.generate_secret_id(role_name=self.role)["data"]
        self.secret_id = gen["secret_id"]
        self.secret_accessor = gen["secret_id_accessor"]
        self.check(SECRET_ID_RE.match(self.secret_id or ""),
                   f"secret_id has the <lookup id>.<secret> shape: {self.secret_id!r}")
        self.check(self.secret_accessor, f"secret_id_accessor present: {gen}")
        self.check(self.secret_accessor != self.secret_id, "accessor differs from secret_id")
        self.eq(gen["secret_id_ttl"], 0, "secret_id_ttl (no limit)")
        self.eq(gen["secret_id_num_uses"], 0, "secret_id_num_uses (no limit)")

    # ---- steps (as the application) --------------------------------------

    def step_login(self):
        app = self.new_client()
        if app.token is None:
            self.eq(app.is_authenticated(), False, "is_authenticated before login")
        resp = app.auth.approle.login(role_id=self.role_id, secret_id=self.secret_id)
        auth = resp["auth"]
        self.check(auth["client_token"], f"login answered a client_token: {resp}")
        self.eq(app.token, auth["client_token"], "hvac keeps the login token")
        self.check(auth["client_token"] != self.root.token, "login token is not the root token")
        self.check(self.policy in auth["policies"], f"auth.policies: {auth['policies']}")
        self.check(self.policy in auth["token_policies"],
                   f"auth.token_policies: {auth['token_policies']}")
        self.check(3590 <= auth["lease_duration"] <= 3600,
                   f"auth.lease_duration about 1h: {auth['lease_duration']}")
        self.eq(auth["renewable"], True, "auth.renewable")
        self.check(auth["accessor"], "auth.accessor present")
        self.eq(app.is_authenticated(), True, "is_authenticated after login")
        self.app = app

    def step_read_allowed(self):
        kv = self.app.secrets.kv.v2
        r = kv.read_secret_version(path=self.p("app/db"), mount_point=MOUNT,
                                   raise_on_deleted_version=True)
        self.eq(r["data"]["data"], {"username": "app", "password": "app-db-pass"},
                "read app/db data")
        self.eq(r["data"]["metadata"]["version"], 1, "read app/db version")
        r = kv.read_secret_version(path=self.p("app/api"), mount_point=MOUNT,
                                   raise_on_deleted_version=True)
        self.eq(r["data"]["data"], {"token": "app-api-token"}, "read app/api data")

    def step_list_allowed(self):
        keys = self.app.secrets.kv.v2.list_secrets(path=self.p("app"),
                                                   mount_point=MOUNT)["data"]["keys"]
        self.eq(sorted(keys), ["api", "db"], "list app/")

    def step_forbidden(self):
        kv = self.app.secrets.kv.v2
        read = lambda sub: kv.read_secret_version(path=self.p(sub), mount_point=MOUNT,
                                                  raise_on_deleted_version=True)
        e = self.raises(hexc.Forbidden, lambda: read("other/db"), "read other/db")
        self.eq(getattr(e, "errors", None), ["permission denied"], "other/db error body")
        # A path that does not exist gets the same answer as one that does.
        e = self.raises(hexc.Forbidden, lambda: read("other/missing"), "read other/missing")
        self.eq(getattr(e, "errors", None), ["permission denied"], "other/missing error body")
        self.raises(hexc.Forbidden,
                    lambda: kv.create_or_update_secret(path=self.p("app/x"),
                                                       secret={"a": "b"}, mount_point=MOUNT),
                    "write app/x (no create)")
        self.raises(hexc.Forbidden,
                    lambda: kv.create_or_update_secret(path=self.p("app/db"),
                                                       secret={"a": "b"}, mount_point=MOUNT),
                    "write app/db (no update)")
        self.raises(hexc.Forbidden,
                    lambda: kv.list_secrets(path=self.p("other"), mount_point=MOUNT),
                    "list other/")
        self.raises(hexc.Forbidden,
                    lambda: kv.read_secret_metadata(path=self.p("app/db"), mount_point=MOUNT),
                    "read metadata of app/db (list only)")
        self.raises(hexc.Forbidden,
                    lambda: self.app.sys.read_acl_policy(name=self.policy),
                    "read own policy text")
        self.raises(hexc.Forbidden,
                    lambda: self.app.auth.approle.generate_secret_id(role_name=self.role),
                    "generate a secret_id for itself")
        # What was refused left nothing behind.
        self.raises(hexc.InvalidPath,
                    lambda: self.kv.read_secret_version(path=self.p("app/x"), mount_point=MOUNT,
                                                        raise_on_deleted_version=True),
                    "app/x does not exist (as root)")
        r = self.kv.read_secret_version(path=self.p("app/db"), mount_point=MOUNT,
                                        raise_on_deleted_version=True)
        self.eq(r["data"]["metadata"]["version"], 1, "app/db still at version 1 (as root)")

    def step_wrong_secret(self):
        wrong = [
            # Right shape, not issued.
            "AAAAAAAAAAAA." + "A" * 43,
            # The issued secret with its secret part changed.
            self.secret_id.split(".")[0] + "." + "B" * 43,
            # Not a ConfMgr secret at all.
            str(uuid.uuid4()),
        ]
        messages = set()
        for secret in wrong:
            client = self.new_client()
            e = self.raises(
                hexc.InvalidRequest,
                lambda: client.auth.approle.login(role_id=self.role_id, secret_id=secret),
                f"login with wrong secret_id {secret[:16]}...",
            )
            errors = getattr(e, "errors", None) or []
            self.check(len(errors) == 1 and "secret ID" in errors[0],
                       f"wrong secret_id error body names the secret ID: {errors}")
            messages.add(errors[0])
            self.check(not client.token, "no token kept after a failed login")
        client = self.new_client()
        e = self.raises(
            hexc.InvalidRequest,
            lambda: client.auth.approle.login(role_id=str(uuid.uuid4()),
                                              secret_id=self.secret_id),
            "login with an unknown role_id",
        )
        messages.add(" | ".join(getattr(e, "errors", None) or []))
        # One answer for every failure, so a caller cannot tell which part was wrong.
        self.eq(len(messages), 1, f"one error message for every failed login: {messages}")

    def step_lookup_self(self):
        data = self.app.auth.token.lookup_self()["data"]
        self.check(self.policy in data["policies"], f"lookup_self policies: {data['policies']}")
        self.check(0 < data["ttl"] <= 3600, f"lookup_self ttl: {data['ttl']}")
        self.eq(data["creation_ttl"], 3600, "lookup_self creation_ttl")
        self.eq(data["renewable"], True, "lookup_self renewable")
        self.eq(data["id"], self.app.token, "lookup_self id is the caller's token")
        self.eq(data["display_name"], f"approle-{self.role}", "lookup_self display_name")
        self.eq((data.get("meta") or {}).get("role_name"), self.role, "lookup_self meta.role_name")

    def step_renew_self(self):
        before = self.app.auth.token.lookup_self()["data"]
        resp = self.app.auth.token.renew_self()
        auth = resp["auth"]
        self.eq(auth["client_token"], self.app.token, "renew_self keeps the token")
        self.eq(auth["accessor"], before["accessor"], "renew_self keeps the accessor")
        self.check(3590 <= auth["lease_duration"] <= 3600,
                   f"renew_self lease_duration about 1h: {auth['lease_duration']}")
        self.check(self.policy in auth["policies"], f"renew_self policies: {auth['policies']}")
        resp = self.app.auth.token.renew_self(increment="30m")
        self.check(1790 <= resp["auth"]["lease_duration"] <= 1800,
                   f"renew_self increment=30m lease_duration: {resp['auth']['lease_duration']}")
        ttl = self.app.auth.token.lookup_self()["data"]["ttl"]
        self.check(1790 <= ttl <= 1800, f"lookup_self ttl after renew 30m: {ttl}")
        self.eq(self.app.is_authenticated(), True, "still authenticated after renewals")

    def step_secret_id_accessors(self):
        approle = self.root.auth.approle
        second = approle.generate_secret_id(role_name=self.role)["data"]
        keys = approle.list_secret_id_accessors(role_name=self.role)["data"]["keys"]
        self.eq(sorted(keys), sorted([self.secret_accessor, second["secret_id_accessor"]]),
                "list_secret_id_accessors")
        info = approle.read_secret_id_accessor(role_name=self.role,
                                               secret_id_accessor=self.secret_accessor)["data"]
        self.eq(info["secret_id_accessor"], self.secret_accessor, "read_secret_id_accessor")
        self.check("secret_id" not in info, f"accessor lookup does not reveal the secret: {info}")

        # A token from the old secret, taken before it is destroyed.
        old_client, _ = self.login(self.secret_id)
        self.eq(old_client.is_authenticated(), True, "login with the first secret_id")

        resp = approle.destroy_secret_id_accessor(role_name=self.role,
                                                  secret_id_accessor=self.secret_accessor)
        self.no_content(resp, "destroy_secret_id_accessor")
        keys = approle.list_secret_id_accessors(role_name=self.role)["data"]["keys"]
        self.eq(keys, [second["secret_id_accessor"]], "accessors after destroy")
        self.raises(hexc.InvalidRequest, lambda: self.login(self.secret_id),
                    "login with the destroyed secret_id")
        self.raises(hexc.InvalidPath,
                    lambda: approle.read_secret_id_accessor(
                        role_name=self.role, secret_id_accessor=self.secret_accessor),
                    "read_secret_id_accessor after destroy")
        # Destroying a secret_id stops new logins; tokens already issued stay valid.
        self.eq(old_client.is_authenticated(), True,
                "token issued before destroy still authenticated")
        new_client, _ = self.login(second["secret_id"])
        self.eq(new_client.is_authenticated(), True, "login with the second secret_id")
        r = new_client.secrets.kv.v2.read_secret_version(path=self.p("app/db"),
                                                         mount_point=MOUNT,
                                                         raise_on_deleted_version=True)
        self.eq(r["data"]["data"]["password"], "app-db-pass", "read with the second secret_id")
        for client in (old_client, new_client):
            client.auth.token.revoke_self()

    def step_custom_role_id(self):
        approle = self.root.auth.approle
        custom = f"{self.role}-custom-role-id"
        self.no_content(approle.update_role_id(role_name=self.role, role_id=custom),
                        "update_role_id")
        self.eq(approle.read_role_id(role_name=self.role)["data"]["role_id"], custom,
                "read_role_id after update")
        old, self.role_id = self.role_id, custom
        secret = approle.generate_secret_id(role_name=self.role)["data"]["secret_id"]
        client, _ = self.login(secret)
        self.eq(client.is_authenticated(), True, "login with the custom role_id")
        self.role_id = old
        self.raises(hexc.InvalidRequest, lambda: self.login(secret),
                    "the old role_id no longer logs in")
        self.role_id = custom
        client.auth.token.revoke_self()

    def step_custom_secret_id_and_metadata(self):
        approle = self.root.auth.approle
        custom = f"{self.role}-custom-secret-id"
        created = approle.create_custom_secret_id(
            role_name=self.role, secret_id=custom, metadata={"pipeline": "deploy"})["data"]
        self.eq(created["secret_id"], custom, "create_custom_secret_id secret_id")
        client, resp = self.login(custom)
        self.eq(resp["auth"]["metadata"], {"pipeline": "deploy", "role_name": self.role},
                "login metadata: the secret_id's, and role_name")
        meta = client.auth.token.lookup_self()["data"]["meta"]
        self.eq(meta.get("pipeline"), "deploy", "lookup_self shows the metadata")
        info = approle.read_secret_id(role_name=self.role, secret_id=custom)["data"]
        self.eq(info["secret_id_accessor"], created["secret_id_accessor"], "read_secret_id")
        self.eq(info["metadata"], {"pipeline": "deploy"}, "read_secret_id metadata")
        unknown = approle.read_secret_id(role_name=self.role, secret_id="never-issued")
        self.eq(getattr(unknown, "status_code", None), 204,
                "read_secret_id of an unknown secret_id is 204, as in Vault")
        self.raises(hexc.InvalidRequest,
                    lambda: approle.create_custom_secret_id(role_name=self.role,
                                                            secret_id=custom),
                    "the same custom secret_id twice")
        # A secret_id's token_bound_cidrs: its tokens work from here only.
        narrow = approle.generate_secret_id(role_name=self.role,
                                            token_bound_cidrs=["127.0.0.0/8"])["data"]
        info = approle.read_secret_id_accessor(
            role_name=self.role, secret_id_accessor=narrow["secret_id_accessor"])["data"]
        self.eq(info["token_bound_cidrs"], ["127.0.0.0/8"], "secret_id token_bound_cidrs")
        narrow_client, _ = self.login(narrow["secret_id"])
        self.eq(narrow_client.is_authenticated(), True, "token usable from a bound address")
        narrow_client.auth.token.revoke_self()
        self.no_content(approle.destroy_secret_id(role_name=self.role, secret_id=custom),
                        "destroy the custom secret_id")
        self.raises(hexc.InvalidRequest, lambda: self.login(custom),
                    "the destroyed custom secret_id no longer logs in")
        client.auth.token.revoke_self()

    def step_role_token_settings(self):
        approle = self.root.auth.approle
        name = f"{self.role}-periodic"
        approle.create_or_update_approle(
            role_name=name, token_policies=[self.policy], token_period="20m",
            token_num_uses=10, token_explicit_max_ttl="5h", token_no_default_policy=True)
        role = approle.read_role(role_name=name)["data"]
        self.eq(role["token_period"], 1200, "read_role token_period")
        self.eq(role["token_num_uses"], 10, "read_role token_num_uses")
        self.eq(role["token_no_default_policy"], True, "read_role token_no_default_policy")
        role_id = approle.read_role_id(role_name=name)["data"]["role_id"]
        secret = approle.generate_secret_id(role_name=name)["data"]["secret_id"]
        client = self.new_client()
        auth = client.auth.approle.login(role_id=role_id, secret_id=secret)["auth"]
        self.check(1190 <= auth["lease_duration"] <= 1200,
                   f"a periodic login token: {auth['lease_duration']}")
        self.eq(auth["num_uses"], 10, "login token num_uses")
        self.eq(auth["policies"], [self.policy], "no default policy")
        self.raises(hexc.Forbidden, client.auth.token.lookup_self,
                    "without the default policy, no lookup-self")
        resp = self.root.adapter.post("/v1/auth/approle/tidy/secret-id")
        # hvac hands back the Response for a 202, as for Vault.
        self.eq(getattr(resp, "status_code", None), 202, "tidy/secret-id answers 202")
        warnings = resp.json().get("warnings") or []
        self.check(any("Tidy operation" in w for w in warnings),
                   f"tidy/secret-id answers Vault's warning: {warnings}")
        self.no_content(approle.delete_role(role_name=name), "delete the periodic role")

    def step_revoke_self(self):
        resp = self.app.auth.token.revoke_self()
        self.no_content(resp, "revoke_self")
        self.eq(self.app.is_authenticated(), False, "is_authenticated after revoke_self")
        self.raises(hexc.Forbidden,
                    lambda: self.app.secrets.kv.v2.read_secret_version(
                        path=self.p("app/db"), mount_point=MOUNT, raise_on_deleted_version=True),
                    "read with the revoked token")

    # ---- cleanup (as root) -----------------------------------------------

    def step_cleanup(self):
        if self.role_id is not None:
            resp = self.root.auth.approle.delete_role(role_name=self.role)
            self.no_content(resp, "delete_role")
            self.raises(hexc.InvalidPath,
                        lambda: self.root.auth.approle.read_role(role_name=self.role),
                        "read_role after delete")
        resp = self.root.sys.delete_acl_policy(name=self.policy)
        self.no_content(resp, "delete_acl_policy")
        self.raises(hexc.InvalidPath, lambda: self.root.sys.read_acl_policy(name=self.policy),
                    "read_acl_policy after delete")
        for path in self.created_paths:
            resp = self.kv.delete_metadata_and_all_versions(path=path, mount_point=MOUNT)
            self.no_content(resp, f"delete {path}")
        self.raises(hexc.InvalidPath,
                    lambda: self.kv.list_secrets(path=self.prefix, mount_point=MOUNT),
                    "prefix is empty after cleanup")


def main():
    addr = os.environ.get("VAULT_ADDR")
    # hvac.Client() falls back to VAULT_TOKEN: take it out of the environment so the
    # application's client starts without a token, as it would in production.
    token = os.environ.pop("VAULT_TOKEN", None)
    if not addr or not token:
        print("set VAULT_ADDR and VAULT_TOKEN (a root token)", file=sys.stderr)
        return 2
    root = hvac.Client(url=addr, token=token)
    run_id = uuid.uuid4().hex[:12]
    r = Runner(addr, root, run_id)
    print(f"hvac {importlib.metadata.version('hvac')} against {addr}, "
          f"prefix {MOUNT}/{r.prefix}, role and policy {r.role}")

    # Each of these sets up what the later steps use: stop at the first failure.
    setup = [
        ("write ACL policy", r.step_policy),
        ("write secrets", r.step_secrets),
        ("create role, role_id, secret_id", r.step_role),
        ("AppRole login", r.step_login),
    ]
    checks = [
        ("read an allowed secret", r.step_read_allowed),
        ("list the allowed folder", r.step_list_allowed),
        ("forbidden reads and writes", r.step_forbidden),
        ("wrong secret_id", r.step_wrong_secret),
        ("lookup_self", r.step_lookup_self),
        ("renew_self", r.step_renew_self),
        ("secret-id accessors: list, destroy", r.step_secret_id_accessors),
        ("custom role_id", r.step_custom_role_id),
        ("custom secret_id, metadata on the token, lookups", r.step_custom_secret_id_and_metadata),
        ("role token settings, tidy", r.step_role_token_settings),
        ("revoke_self", r.step_revoke_self),
    ]
    ready = all(r.run(name, fn) for name, fn in setup)
    if ready:
        for name, fn in checks:
            r.run(name, fn)
    else:
        print("setup failed: not running the other steps", file=sys.stderr)
    r.run("cleanup", r.step_cleanup)

    failed = len(r.failed_steps)
    if failed:
        print(f"failed steps: {', '.join(r.failed_steps)}", file=sys.stderr)
    print(f"hvac-approle: {r.passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
