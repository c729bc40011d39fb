#!/usr/bin/env python3
"""Exercise ConfMgr's response wrapping with the unchanged `hvac` client.

Usage:
    pip install hvac
    VAULT_ADDR=http://127.0.0.1:18500 VAULT_TOKEN=root python3 hvac_wrapping.py

VAULT_TOKEN must be a root token. The script wraps a KV read, arbitrary data
(sys/wrapping/wrap) and a token creation, looks wrapping tokens up, rewraps one, unwraps
each (as the wrapping token itself, and as a third party), checks that a second unwrap
fails, and walks through AppRole's secure introduction: the operator asks for a wrapped
secret_id, a CI job that holds only the wrapping token unwraps it, logs in and reads its
secret. Everything lives under a per-run prefix and role/policy name, removed at the end.

On success the last line is exactly `hvac-wrapping: N passed, 0 failed`; on any failure
the failing step is named and the exit status is 1 (2 when the environment is not set up).
"""

import os
import sys
import traceback
import uuid

import hvac
import hvac.exceptions as hexc

MOUNT = "secret"


class CheckFailed(Exception):
    pass


def check(condition, message):
    if not condition:
        raise CheckFailed(message)


def expect_invalid(call, what):
    try:
        call()
    except hexc.InvalidRequest as error:
        check(
            "wrapping token is not valid or does not exist" in str(error),
            f"{what}: unexpected error text {error}",
        )
        return
    raise CheckFailed(f"{what}: expected 400 InvalidRequest")


def wrap_info(answer, ttl, creation_path):
    info = answer["wrap_info"]
    check(info is not None, f"no wrap_info in {answer}")
    check(answer.get("data") is None, f"data in clear next to wrap_info: {answer}")
    check(info["ttl"] == ttl, f"ttl {info['ttl']} != {ttl}")
    check(info["creation_path"] == creation_path, f"creation_path {info['creation_path']}")
    check(info["token"] and info["accessor"], f"token and accessor: {info}")
    return info


class Runner:
    def __init__(self, addr, root, run_id):
        self.addr = addr
        self.root = root
        self.run = run_id
        self.passed = 0
        self.failed = 0

    def step(self, name, fn):
        try:
            fn()
            self.passed += 1
            print(f"ok   {name}")
        except Exception:  # noqa: BLE001 - report every failure and carry on
            self.failed += 1
            print(f"FAIL {name}")
            traceback.print_exc(file=sys.stdout)

    def client(self, token=None):
        return hvac.Client(url=self.addr, token=token)

    def kv_read_wrapped(self):
        path = f"{self.run}/db"
        self.root.secrets.kv.v2.create_or_update_secret(
            path=path, secret={"password": "hvac-wrapped"}, mount_point=MOUNT
        )
        answer = self.root.read(f"{MOUNT}/data/{path}", wrap_ttl="120s")
        info = wrap_info(answer, 120, f"{MOUNT}/data/{path}")
        check("hvac-wrapped" not in str(answer), "the secret shows next to wrap_info")
        looked = self.root.adapter.post(
            "/v1/sys/wrapping/lookup", json={"token": info["token"]}
        )
        check(looked["data"]["creation_ttl"] == 120, f"lookup: {looked}")
        check(looked["data"]["creation_path"] == f"{MOUNT}/data/{path}", f"lookup: {looked}")
        # The wrapping token as the client's token, as a CI job would use it.
        inner = self.client(info["token"]).sys.unwrap()
        check(inner["data"]["data"] == {"password": "hvac-wrapped"}, f"unwrapped {inner}")
        expect_invalid(lambda: self.root.sys.unwrap(token=info["token"]), "second unwrap")

    def wrap_rewrap_unwrap(self):
        payload = {"zip": "zap", "run": self.run}
        answer = self.root.sys.wrap(payload=payload, ttl=60)
        info = wrap_info(answer, 60, "sys/wrapping/wrap")
        rewrapped = self.root.adapter.post(
            "/v1/sys/wrapping/rewrap", json={"token": info["token"]}
        )
        new = wrap_info(rewrapped, 60, "sys/wrapping/wrap")
        check(new["token"] != info["token"], "rewrap kept the token")
        expect_invalid(lambda: self.root.sys.unwrap(token=info["token"]), "old token after rewrap")
        inner = self.root.sys.unwrap(token=new["token"])
        check(inner["data"] == payload, f"unwrapped {inner}")

    def token_create_wrapped(self):
        answer = self.root.auth.token.create(policies=["default"], ttl="10m", wrap_ttl="60s")
        info = wrap_info(answer, 60, "auth/token/create")
        check(answer.get("auth") is None, "the new token shows next to wrap_info")
        inner = self.root.sys.unwrap(token=info["token"])
        check(inner["auth"]["accessor"] == info["wrapped_accessor"], f"{inner} vs {info}")
        made = self.client(inner["auth"]["client_token"])
        check(made.is_authenticated(), "the unwrapped token does not work")

    def bad_ttl(self):
        try:
            self.root.read(f"{MOUNT}/data/{self.run}/db", wrap_ttl="soon")
        except hexc.InvalidRequest as error:
            check("error parsing X-Vault-Wrap-TTL header" in str(error), str(error))
            return
        raise CheckFailed("a bad wrap TTL was accepted")

    def secure_introduction(self):
        role, policy = f"ci-{self.run}", f"ci-{self.run}"
        self.root.secrets.kv.v2.create_or_update_secret(
            path=f"{self.run}/ci/deploy", secret={"key": "deploy-key"}, mount_point=MOUNT
        )
        self.root.sys.create_or_update_acl_policy(
            name=policy,
            policy=f'path "{MOUNT}/data/{self.run}/ci/*" {{ capabilities = ["read"] }}',
        )
        self.root.auth.approle.create_or_update_approle(
            role_name=role, token_policies=[policy], token_ttl="10m"
        )
        role_id = self.root.auth.approle.read_role_id(role_name=role)["data"]["role_id"]
        # The operator: a wrapped secret_id, 120 seconds to live.
        answer = self.root.write_data(
            f"auth/approle/role/{role}/secret-id", wrap_ttl="120s"
        )
        info = wrap_info(answer, 120, f"auth/approle/role/{role}/secret-id")
        # The CI job: only the wrapping token (and the role_id, which is not secret).
        job = self.client(info["token"])
        secret_id = job.sys.unwrap()["data"]["secret_id"]
        job = self.client()
        job.auth.approle.login(role_id=role_id, secret_id=secret_id)
        check(job.is_authenticated(), "login with the unwrapped secret_id failed")
        read = job.secrets.kv.v2.read_secret_version(
            path=f"{self.run}/ci/deploy", mount_point=MOUNT, raise_on_deleted_version=True
        )
        check(read["data"]["data"] == {"key": "deploy-key"}, f"read {read}")
        expect_invalid(lambda: self.client(info["token"]).sys.unwrap(), "replayed wrapping token")
        self.root.auth.approle.delete_role(role_name=role)
        self.root.sys.delete_acl_policy(name=policy)

    def cleanup(self):
        for path in [f"{self.run}/db", f"{self.run}/ci/deploy"]:
            self.root.secrets.kv.v2.delete_metadata_and_all_versions(path=path, mount_point=MOUNT)


def main():
    addr, token = os.environ.get("VAULT_ADDR"), os.environ.get("VAULT_TOKEN")
    if not addr or not token:
        print("set VAULT_ADDR and VAULT_TOKEN (a root token)")
        return 2
    root = hvac.Client(url=addr, token=token)
    if not root.is_authenticated():
        print("VAULT_TOKEN is not accepted")
        return 2
    runner = Runner(addr, root, f"wrap-{uuid.uuid4().hex[:8]}")
    runner.step("wrapped KV read: lookup, unwrap as the wrapping token, second unwrap 400", runner.kv_read_wrapped)
    runner.step("sys/wrapping/wrap, rewrap, unwrap by a third party", runner.wrap_rewrap_unwrap)
    runner.step("wrapped token creation names the wrapped accessor", runner.token_create_wrapped)
    runner.step("a bad wrap TTL answers 400", runner.bad_ttl)
    runner.step("AppRole secure introduction: wrapped secret_id, CI unwraps and logs in", runner.secure_introduction)
    runner.step("cleanup", runner.cleanup)
    print(f"hvac-wrapping: {runner.passed} passed, {runner.failed} failed")
    return 0 if runner.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
