#!/usr/bin/env python3
"""Exercise ConfMgr's Vault KV v2 API with the unchanged `hvac` client.

Usage:
    pip install hvac
    VAULT_ADDR=http://127.0.0.1:18300 VAULT_TOKEN=root python3 hvac_kv.py

Every check asserts the values the server sent back.  Each step works under
its own path below a per-run prefix, so a failing step does not cascade into
the others.  On success the last line is exactly `hvac: N passed, 0 failed`;
on any failure the failing step is named and the exit status is 1 (2 when the
environment is not set up).
"""

import importlib.metadata
import inspect
import os
import re
import sys
import traceback
import uuid
import warnings

import hvac
import hvac.exceptions as hexc

MOUNT = "secret"
TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")

# hvac's own `patch` calls read_secret_version without raise_on_deleted_version,
# which only emits a deprecation warning about a future default.
warnings.filterwarnings("ignore", message=".*raise_on_deleted_version.*")


class CheckFailed(Exception):
    pass


class Runner:
    def __init__(self, client, bad_client, prefix):
        self.client = client
        self.bad_client = bad_client
        self.kv = client.secrets.kv.v2
        self.prefix = prefix
        self.passed = 0
        self.failed_steps = []
        self.step = None
        self.created = set()
        self.has_raise_on_deleted = "raise_on_deleted_version" in inspect.signature(
            self.kv.read_secret_version
        ).parameters

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
        except Exception as e:  # wrong exception type
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

    def write(self, path, data, cas=None):
        self.created.add(path)
        kwargs = {"path": path, "secret": data, "mount_point": MOUNT}
        if cas is not None:
            kwargs["cas"] = cas
        return self.kv.create_or_update_secret(**kwargs)

    def write_ok(self, path, data, want_version, cas=None):
        resp = self.write(path, data, cas=cas)
        meta = resp["data"]
        self.eq(meta["version"], want_version, f"write {path} version")
        self.eq(meta["destroyed"], False, f"write {path} destroyed")
        self.eq(meta["deletion_time"], "", f"write {path} deletion_time")
        self.check(TIME_RE.match(meta["created_time"] or ""),
                   f"write {path} created_time {meta['created_time']!r} is RFC 3339")
        return resp

    def read(self, path, version=None, raise_on_deleted=True):
        kwargs = {"path": path, "mount_point": MOUNT}
        if version is not None:
            kwargs["version"] = version
        if self.has_raise_on_deleted:
            kwargs["raise_on_deleted_version"] = raise_on_deleted
        return self.kv.read_secret_version(**kwargs)

    def read_ok(self, path, want_data, want_version, version=None):
        resp = self.read(path, version=version)
        self.eq(resp["data"]["data"], want_data, f"read {path} v={version} data")
        md = resp["data"]["metadata"]
        self.eq(md["version"], want_version, f"read {path} v={version} metadata.version")
        self.eq(md["destroyed"], False, f"read {path} v={version} metadata.destroyed")
        self.eq(md["deletion_time"], "", f"read {path} v={version} metadata.deletion_time")
        return resp

    def meta(self, path):
        return self.kv.read_secret_metadata(path=path, mount_point=MOUNT)["data"]

    def subkeys(self, path, version=None, depth=None):
        if hasattr(self.kv, "read_secret_subkeys"):
            kwargs = {"path": path, "mount_point": MOUNT}
            if version is not None:
                kwargs["version"] = version
            if depth is not None:
                kwargs["depth"] = depth
            return self.kv.read_secret_subkeys(**kwargs)
        # hvac without read_secret_subkeys: same request through hvac's adapter.
        params = {}
        if version is not None:
            params["version"] = version
        if depth is not None:
            params["depth"] = depth
        return self.client.adapter.get(f"/v1/{MOUNT}/subkeys/{path}", params=params)

    def run(self, name, fn):
        self.step = name
        try:
            fn()
        except CheckFailed as e:
            self.failed_steps.append(name)
            print(f"FAIL step '{name}': {e}", file=sys.stderr)
        except Exception as e:
            self.failed_steps.append(name)
            print(f"FAIL step '{name}': unexpected {type(e).__name__}: {e}", file=sys.stderr)
            traceback.print_exc(file=sys.stderr)
        else:
            print(f"ok   {name}")

    # ---- steps -----------------------------------------------------------

    def step_auth(self):
        self.eq(self.client.is_authenticated(), True, "is_authenticated with good token")
        self.eq(self.bad_client.is_authenticated(), False, "is_authenticated with wrong token")
        bad_kv = self.bad_client.secrets.kv.v2
        path = self.p("auth/x")
        self.raises(hexc.Forbidden,
                    lambda: bad_kv.create_or_update_secret(path=path, secret={"a": "b"},
                                                           mount_point=MOUNT),
                    "write with wrong token")
        self.write_ok(path, {"a": "b"}, 1)
        self.raises(hexc.Forbidden,
                    lambda: bad_kv.read_secret_version(path=path, mount_point=MOUNT,
                                                       **({"raise_on_deleted_version": True}
                                                          if self.has_raise_on_deleted else {})),
                    "read existing path with wrong token")
        self.raises(hexc.Forbidden,
                    lambda: bad_kv.read_secret_metadata(path=self.p("auth/missing"),
                                                        mount_point=MOUNT),
                    "read missing metadata with wrong token (403, not 404)")
        self.raises(hexc.Forbidden,
                    lambda: bad_kv.list_secrets(path=self.p("auth"), mount_point=MOUNT),
                    "list with wrong token")

    def step_write_cas(self):
        path = self.p("cas/item")
        self.write_ok(path, {"v": "one"}, 1, cas=0)
        e = self.raises(hexc.InvalidRequest, lambda: self.write(path, {"v": "x"}, cas=0),
                        "cas=0 on existing key")
        self.check("check-and-set" in str(e), f"cas=0 error message mentions check-and-set: {e}")
        self.write_ok(path, {"v": "two"}, 2)  # no cas
        self.write_ok(path, {"v": "three", "n": 3}, 3, cas=2)
        e = self.raises(hexc.InvalidRequest, lambda: self.write(path, {"v": "x"}, cas=1),
                        "cas=1 when current version is 3")
        self.eq(getattr(e, "errors", None),
                ["check-and-set parameter did not match the current version"],
                "cas mismatch errors")
        self.raises(hexc.InvalidRequest, lambda: self.write(path, {"v": "x"}, cas=7),
                    "cas=7 (ahead of current version)")
        self.read_ok(path, {"v": "three", "n": 3}, 3)
        self.eq(self.meta(path)["current_version"], 3, "current_version after rejected writes")

    def step_read_versions(self):
        path = self.p("rv/item")
        v1 = {"k": "one"}
        v2 = {"k": "two", "num": 2, "flag": True, "list": [1, "a", None],
              "nested": {"x": {"y": "z"}}, "unicode": "h\u00e9llo \u2603"}
        self.write_ok(path, v1, 1)
        self.write_ok(path, v2, 2)
        latest = self.read_ok(path, v2, 2)
        self.check(latest.get("lease_id") == "" and latest.get("renewable") is False,
                   f"Vault envelope on read: {sorted(latest)}")
        self.read_ok(path, v1, 1, version=1)
        self.read_ok(path, v2, 2, version=2)
        # hvac's read_secret (latest) returns the same thing
        kwargs = {"raise_on_deleted_version": True} if self.has_raise_on_deleted else {}
        if hasattr(self.kv, "read_secret"):
            r = self.kv.read_secret(path=path, mount_point=MOUNT, **kwargs)
            self.eq(r["data"]["data"], v2, "read_secret data")
            self.eq(r["data"]["metadata"]["version"], 2, "read_secret version")
        self.raises(hexc.InvalidPath, lambda: self.read(path, version=99),
                    "read version beyond current")
        e = self.raises(hexc.InvalidPath, lambda: self.read(self.p("rv/missing")),
                        "read missing path")
        self.eq(getattr(e, "json", None), {"errors": []}, "missing path body")

    def step_patch(self):
        path = self.p("patch/item")
        self.write_ok(path, {"a": "1", "b": {"c": "2"}, "keep": "k"}, 1)
        resp = self.kv.patch(path=path, secret={"b": {"d": "3"}, "e": "4"}, mount_point=MOUNT)
        self.eq(resp["data"]["version"], 2, "patch result version")
        # hvac's patch is read + dict.update + write(cas=version): a shallow merge
        self.read_ok(path, {"a": "1", "b": {"d": "3"}, "keep": "k", "e": "4"}, 2)
        resp = self.kv.patch(path=path, secret={"a": "changed"}, mount_point=MOUNT)
        self.eq(resp["data"]["version"], 3, "second patch version")
        self.read_ok(path, {"a": "changed", "b": {"d": "3"}, "keep": "k", "e": "4"}, 3)
        self.read_ok(path, {"a": "1", "b": {"c": "2"}, "keep": "k"}, 1, version=1)
        self.raises(hexc.InvalidPath,
                    lambda: self.kv.patch(path=self.p("patch/missing"), secret={"a": "b"},
                                          mount_point=MOUNT),
                    "patch of a missing path")

    def step_merge_patch(self):
        # hvac 2.x's `patch` is client-side (read + write with cas).  Vault's own
        # PATCH method (JSON merge patch, RFC 7396) is sent through hvac's adapter.
        path = self.p("mergepatch/item")
        url = f"/v1/{MOUNT}/data/{path}"
        hdrs = {"Content-Type": "application/merge-patch+json"}

        def send(body, **kw):
            return self.client.adapter.request("PATCH", url, json=body, headers=hdrs, **kw)

        self.write_ok(path, {"a": "1", "b": {"c": "2", "x": "y"}, "rm": "gone"}, 1)
        resp = send({"data": {"b": {"d": "3", "x": None}, "rm": None}})
        self.eq(resp["data"]["version"], 2, "merge patch version")
        self.read_ok(path, {"a": "1", "b": {"c": "2", "d": "3"}}, 2)
        e = self.raises(hexc.InvalidRequest, lambda: send({"options": {"cas": 1}, "data": {"z": 1}}),
                        "merge patch with stale cas")
        self.check("check-and-set" in str(e), f"merge patch cas error: {e}")
        resp = send({"options": {"cas": 2}, "data": {"z": 1}})
        self.eq(resp["data"]["version"], 3, "merge patch with cas version")
        self.read_ok(path, {"a": "1", "b": {"c": "2", "d": "3"}, "z": 1}, 3)
        raw = self.client.adapter.request("PATCH", url, json={"data": {"z": 2}},
                                          raise_exception=False)
        self.eq(getattr(raw, "status_code", None), 415, "PATCH with application/json")
        self.raises(hexc.InvalidPath,
                    lambda: self.client.adapter.request(
                        "PATCH", f"/v1/{MOUNT}/data/{self.p('mergepatch/missing')}",
                        json={"data": {"z": 2}}, headers=hdrs),
                    "merge patch of a missing path")
        self.kv.delete_latest_version_of_secret(path=path, mount_point=MOUNT)
        self.raises(hexc.InvalidPath, lambda: send({"data": {"z": 2}}),
                    "merge patch when the current version is deleted")
        self.eq(self.meta(path)["current_version"], 3, "no version written by rejected patches")

    def step_list(self):
        base = self.p("list")
        for sub in ("top", "top/child", "folder/x", "folder/sub/y", "folder/sub/deep/z"):
            self.write_ok(f"{base}/{sub}", {"name": sub}, 1)

        def keys(path):
            return self.kv.list_secrets(path=path, mount_point=MOUNT)["data"]["keys"]

        got = keys(base)
        self.eq(sorted(got), ["folder/", "top", "top/"], f"list {base}")
        self.eq(got, sorted(got), "list keys are sorted")
        self.eq(keys(base + "/"), ["folder/", "top", "top/"], "list with trailing slash")
        self.eq(keys(base + "/folder"), ["sub/", "x"], "list folder")
        self.eq(keys(base + "/folder/sub/"), ["deep/", "y"], "list folder/sub")
        self.eq(keys(base + "/top"), ["child"], "list top/ (key and folder share a name)")
        top = keys(self.prefix)
        self.check("list/" in top, f"prefix listing contains 'list/': {top}")
        self.check(all(k.endswith("/") or "/" not in k for k in top),
                   f"prefix listing has only direct children: {top}")
        e = self.raises(hexc.InvalidPath, lambda: keys(base + "/nothing-here"),
                        "list of an empty folder")
        self.eq(getattr(e, "json", None), {"errors": []}, "empty list body")

    def step_metadata(self):
        path = self.p("meta/item")
        w1 = self.write_ok(path, {"n": 1}, 1)
        self.write_ok(path, {"n": 2}, 2)
        self.write_ok(path, {"n": 3}, 3)
        md = self.meta(path)
        self.eq(md["current_version"], 3, "metadata current_version")
        self.eq(sorted(md["versions"]), ["1", "2", "3"], "metadata version keys")
        for v, info in md["versions"].items():
            self.eq(info["destroyed"], False, f"metadata v{v} destroyed")
            self.eq(info["deletion_time"], "", f"metadata v{v} deletion_time")
        self.eq(md["max_versions"], 0, "metadata max_versions default")
        self.eq(md["cas_required"], False, "metadata cas_required default")
        self.eq(md["delete_version_after"], "0s", "metadata delete_version_after default")
        self.eq(md["custom_metadata"], None, "metadata custom_metadata default")
        self.eq(md["oldest_version"], 0, "metadata oldest_version before pruning")
        self.eq(md["created_time"], w1["data"]["created_time"], "metadata created_time is v1's")
        self.eq(md["versions"]["1"]["created_time"], w1["data"]["created_time"],
                "metadata v1 created_time")

        custom = {"owner": "team-a", "env": "test"}
        resp = self.kv.update_metadata(path=path, max_versions=5, custom_metadata=custom,
                                       mount_point=MOUNT)
        self.no_content(resp, "update_metadata")
        md = self.meta(path)
        self.eq(md["max_versions"], 5, "max_versions after update")
        self.eq(md["custom_metadata"], custom, "custom_metadata after update")
        self.eq(md["current_version"], 3, "current_version unchanged by update_metadata")
        r = self.read_ok(path, {"n": 3}, 3)
        self.eq(r["data"]["metadata"]["custom_metadata"], custom,
                "custom_metadata in data read")

        # an update that omits max_versions leaves it alone; custom_metadata is replaced
        resp = self.kv.update_metadata(path=path, custom_metadata={"owner": "team-b"},
                                       mount_point=MOUNT)
        self.no_content(resp, "second update_metadata")
        md = self.meta(path)
        self.eq(md["max_versions"], 5, "max_versions kept when omitted")
        self.eq(md["custom_metadata"], {"owner": "team-b"}, "custom_metadata replaced")

        # per-key cas_required
        resp = self.kv.update_metadata(path=path, cas_required=True, mount_point=MOUNT)
        self.no_content(resp, "update_metadata cas_required")
        self.eq(self.meta(path)["cas_required"], True, "cas_required after update")
        e = self.raises(hexc.InvalidRequest, lambda: self.write(path, {"n": 4}),
                        "write without cas when cas_required")
        self.check("check-and-set" in str(e), f"cas_required error mentions check-and-set: {e}")
        self.write_ok(path, {"n": 4}, 4, cas=3)

        # metadata of a missing path
        self.raises(hexc.InvalidPath, lambda: self.meta(self.p("meta/missing")),
                    "metadata of missing path")

    def step_max_versions_pruning(self):
        path = self.p("prune/item")
        for i in range(1, 4):
            self.write_ok(path, {"i": i}, i)
        resp = self.kv.update_metadata(path=path, max_versions=2, mount_point=MOUNT)
        self.no_content(resp, "update_metadata max_versions=2")
        self.write_ok(path, {"i": 4}, 4)
        md = self.meta(path)
        self.eq(sorted(md["versions"], key=int), ["3", "4"], "versions kept after pruning")
        self.eq(md["current_version"], 4, "current_version after pruning")
        self.eq(md["oldest_version"], 3, "oldest_version after pruning")
        self.raises(hexc.InvalidPath, lambda: self.read(path, version=1),
                    "read pruned version 1")
        self.raises(hexc.InvalidPath, lambda: self.read(path, version=2),
                    "read pruned version 2")
        self.read_ok(path, {"i": 3}, 3, version=3)
        self.read_ok(path, {"i": 4}, 4)

    def step_delete_undelete(self):
        path = self.p("del/item")
        for i in range(1, 4):
            self.write_ok(path, {"i": i}, i)

        resp = self.kv.delete_latest_version_of_secret(path=path, mount_point=MOUNT)
        self.no_content(resp, "delete_latest_version_of_secret")
        e = self.raises(hexc.InvalidPath, lambda: self.read(path),
                        "read latest after delete_latest")
        body = getattr(e, "json", None) or {}
        bd = body.get("data") or {}
        self.eq(bd.get("data"), None, "deleted read body data.data")
        self.eq((bd.get("metadata") or {}).get("version"), 3, "deleted read body version")
        self.check((bd.get("metadata") or {}).get("deletion_time"),
                   f"deleted read body has deletion_time: {body}")
        if self.has_raise_on_deleted:
            r = self.read(path, raise_on_deleted=False)
            self.eq(r["data"]["data"], None, "raise_on_deleted_version=False data")
            self.eq(r["data"]["metadata"]["version"], 3,
                    "raise_on_deleted_version=False version")
            self.check(TIME_RE.match(r["data"]["metadata"]["deletion_time"] or ""),
                       f"deletion_time is RFC 3339: {r['data']['metadata']}")
        md = self.meta(path)
        self.check(md["versions"]["3"]["deletion_time"] != "", "metadata v3 deletion_time set")
        self.eq(md["versions"]["3"]["destroyed"], False, "metadata v3 not destroyed")
        self.eq(md["current_version"], 3, "current_version after soft delete")
        self.read_ok(path, {"i": 2}, 2, version=2)

        resp = self.kv.delete_secret_versions(path=path, versions=[1, 2], mount_point=MOUNT)
        self.no_content(resp, "delete_secret_versions")
        self.raises(hexc.InvalidPath, lambda: self.read(path, version=1), "read deleted v1")
        self.raises(hexc.InvalidPath, lambda: self.read(path, version=2), "read deleted v2")
        md = self.meta(path)
        for v in ("1", "2", "3"):
            self.check(md["versions"][v]["deletion_time"] != "", f"metadata v{v} deleted")

        resp = self.kv.undelete_secret_versions(path=path, versions=[1, 3], mount_point=MOUNT)
        self.no_content(resp, "undelete_secret_versions")
        self.read_ok(path, {"i": 1}, 1, version=1)
        self.read_ok(path, {"i": 3}, 3)
        self.raises(hexc.InvalidPath, lambda: self.read(path, version=2),
                    "v2 still deleted after undeleting 1 and 3")
        md = self.meta(path)
        self.eq(md["versions"]["1"]["deletion_time"], "", "metadata v1 undeleted")
        self.eq(md["versions"]["3"]["deletion_time"], "", "metadata v3 undeleted")
        self.check(md["versions"]["2"]["deletion_time"] != "", "metadata v2 still deleted")

        # a write after deleting the latest version creates the next version
        self.kv.delete_latest_version_of_secret(path=path, mount_point=MOUNT)
        self.write_ok(path, {"i": 4}, 4)
        self.read_ok(path, {"i": 4}, 4)

    def step_destroy(self):
        path = self.p("destroy/item")
        self.write_ok(path, {"secret": "first"}, 1)
        self.write_ok(path, {"secret": "second"}, 2)
        resp = self.kv.destroy_secret_versions(path=path, versions=[1], mount_point=MOUNT)
        self.no_content(resp, "destroy_secret_versions")
        e = self.raises(hexc.InvalidPath, lambda: self.read(path, version=1),
                        "read destroyed v1")
        bd = (getattr(e, "json", None) or {}).get("data") or {}
        self.eq(bd.get("data"), None, "destroyed read body data.data")
        self.eq((bd.get("metadata") or {}).get("destroyed"), True,
                "destroyed read body metadata.destroyed")
        md = self.meta(path)
        self.eq(md["versions"]["1"]["destroyed"], True, "metadata v1 destroyed")
        self.eq(md["versions"]["2"]["destroyed"], False, "metadata v2 not destroyed")
        self.read_ok(path, {"secret": "second"}, 2)
        # undelete cannot bring a destroyed version back
        self.no_content(self.kv.undelete_secret_versions(path=path, versions=[1],
                                                         mount_point=MOUNT),
                        "undelete destroyed version")
        self.raises(hexc.InvalidPath, lambda: self.read(path, version=1),
                    "destroyed v1 after undelete")
        self.eq(self.meta(path)["versions"]["1"]["destroyed"], True,
                "metadata v1 still destroyed after undelete")
        # destroying the latest version
        self.no_content(self.kv.destroy_secret_versions(path=path, versions=[2],
                                                        mount_point=MOUNT),
                        "destroy latest version")
        self.raises(hexc.InvalidPath, lambda: self.read(path), "read latest after destroy")
        self.eq(self.meta(path)["versions"]["2"]["destroyed"], True, "metadata v2 destroyed")

    def step_subkeys(self):
        path = self.p("subkeys/item")
        self.write_ok(path, {"a": 1, "b": {"c": 2, "d": {"e": 3}}, "f": [1, 2]}, 1)
        self.write_ok(path, {"only": "v2"}, 2)
        r = self.subkeys(path)
        self.eq(r["data"]["subkeys"], {"only": None}, "subkeys latest")
        self.eq(r["data"]["metadata"]["version"], 2, "subkeys metadata.version")
        r = self.subkeys(path, version=1)
        self.eq(r["data"]["subkeys"], {"a": None, "b": {"c": None, "d": {"e": None}}, "f": None},
                "subkeys version=1")
        r = self.subkeys(path, version=1, depth=1)
        self.eq(r["data"]["subkeys"], {"a": None, "b": None, "f": None}, "subkeys depth=1")
        r = self.subkeys(path, version=1, depth=2)
        self.eq(r["data"]["subkeys"], {"a": None, "b": {"c": None, "d": None}, "f": None},
                "subkeys depth=2")
        self.raises(hexc.InvalidPath, lambda: self.subkeys(self.p("subkeys/missing")),
                    "subkeys of missing path")

    def step_config(self):
        orig = self.kv.read_configuration(mount_point=MOUNT)["data"]
        for k in ("max_versions", "cas_required", "delete_version_after"):
            self.check(k in orig, f"config has {k}: {orig}")
        self.check(isinstance(orig["max_versions"], int) and orig["max_versions"] >= 0,
                   f"config max_versions is a non-negative int: {orig}")
        self.eq(orig["cas_required"], False, "config cas_required (must be off for this test)")
        try:
            resp = self.kv.configure(max_versions=17, cas_required=False,
                                     delete_version_after="0s", mount_point=MOUNT)
            self.no_content(resp, "configure")
            cfg = self.kv.read_configuration(mount_point=MOUNT)["data"]
            self.eq(cfg["max_versions"], 17, "config max_versions after configure")
            self.eq(cfg["cas_required"], False, "config cas_required after configure")
            self.eq(cfg["delete_version_after"], "0s", "config delete_version_after")
        finally:
            resp = self.kv.configure(max_versions=orig["max_versions"],
                                     cas_required=orig["cas_required"],
                                     delete_version_after=orig["delete_version_after"],
                                     mount_point=MOUNT)
        self.no_content(resp, "configure (restore)")
        self.eq(self.kv.read_configuration(mount_point=MOUNT)["data"], orig, "config restored")

    def step_delete_all(self):
        path = self.p("gone/item")
        sibling = self.p("gone/sibling")
        self.write_ok(path, {"x": 1}, 1)
        self.write_ok(path, {"x": 2}, 2)
        self.write_ok(sibling, {"y": 1}, 1)
        resp = self.kv.delete_metadata_and_all_versions(path=path, mount_point=MOUNT)
        self.no_content(resp, "delete_metadata_and_all_versions")
        e = self.raises(hexc.InvalidPath, lambda: self.read(path), "read after delete-all")
        self.eq(getattr(e, "json", None), {"errors": []}, "read after delete-all body")
        self.raises(hexc.InvalidPath, lambda: self.read(path, version=1),
                    "read v1 after delete-all")
        self.raises(hexc.InvalidPath, lambda: self.meta(path), "metadata after delete-all")
        keys = self.kv.list_secrets(path=self.p("gone"), mount_point=MOUNT)["data"]["keys"]
        self.eq(keys, ["sibling"], "list after delete-all")
        self.read_ok(sibling, {"y": 1}, 1)
        # the key starts over at version 1
        self.write_ok(path, {"x": "fresh"}, 1, cas=0)
        self.read_ok(path, {"x": "fresh"}, 1)

    def step_cleanup(self):
        for path in sorted(self.created):
            resp = self.kv.delete_metadata_and_all_versions(path=path, mount_point=MOUNT)
            self.no_content(resp, f"cleanup {path}")
        self.raises(hexc.InvalidPath,
                    lambda: self.kv.list_secrets(path=self.prefix, mount_point=MOUNT),
                    "prefix is empty after cleanup")


def main():
    addr = os.environ.get("VAULT_ADDR")
    token = os.environ.get("VAULT_TOKEN")
    if not addr or not token:
        print("set VAULT_ADDR and VAULT_TOKEN", file=sys.stderr)
        return 2
    client = hvac.Client(url=addr, token=token)
    bad_client = hvac.Client(url=addr, token="wrong-" + uuid.uuid4().hex)
    prefix = "hvac-test-" + uuid.uuid4().hex[:12]
    print(f"hvac {importlib.metadata.version('hvac')} against {addr}, prefix {MOUNT}/{prefix}")

    r = Runner(client, bad_client, prefix)
    steps = [
        ("auth", r.step_auth),
        ("create_or_update_secret + cas", r.step_write_cas),
        ("read_secret_version", r.step_read_versions),
        ("patch", r.step_patch),
        ("server-side PATCH (merge patch)", r.step_merge_patch),
        ("list_secrets", r.step_list),
        ("read_secret_metadata + update_metadata", r.step_metadata),
        ("max_versions pruning", r.step_max_versions_pruning),
        ("delete + undelete", r.step_delete_undelete),
        ("destroy_secret_versions", r.step_destroy),
        ("subkeys", r.step_subkeys),
        ("configure + read_configuration", r.step_config),
        ("delete_metadata_and_all_versions", r.step_delete_all),
        ("cleanup", r.step_cleanup),
    ]
    for name, fn in steps:
        r.run(name, fn)
        if name == "auth" and r.failed_steps:
            print("auth failed: not running the other steps", file=sys.stderr)
            break

    failed = len(r.failed_steps)
    if failed:
        print(f"failed steps: {', '.join(r.failed_steps)}", file=sys.stderr)
    print(f"hvac: {r.passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
