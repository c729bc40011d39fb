//! `confmgr kv ...` against a real server: every command in every format it prints.

use crate::harness::{code, Harness, ROOT};
use crate::snap;
use serde_json::json;

/// Runs `args` once per format and joins the outputs under `--- <format>` headers.
async fn each_format(h: &Harness, args: &[&str], formats: &[&str]) -> String {
    let mut out = String::new();
    for format in formats {
        let mut all = args.to_vec();
        all.extend(["--format", format]);
        let run = h.root(&all).await.ok();
        out.push_str(&format!("--- {format}\n{}", run.stdout));
    }
    out
}

/// `kv get PATH --field NAME`'s stdout, read through a pipe.
async fn field(h: &Harness, path: &str, name: &str) -> String {
    h.root(&["kv", "get", path, "--field", name])
        .await
        .ok()
        .stdout
}

async fn data(h: &Harness, path: &str) -> serde_json::Value {
    h.root(&["kv", "get", path, "--format", "json"])
        .await
        .ok()
        .json()
}

#[tokio::test]
async fn put_and_get_in_every_format() {
    let h = Harness::start().await;
    let pem = h.file("cert.pem", "-----BEGIN X-----\nabc\n-----END X-----\n");
    let cert = format!("cert=@{}", pem.display());
    // KEY=@FILE and KEY=- keep secrets out of argv; stdin loses one trailing newline.
    let mut puts = String::new();
    for format in ["table", "json", "yaml"] {
        let run = h
            .exec(
                &[
                    "kv",
                    "put",
                    "app/db",
                    "user=app",
                    &cert,
                    "password=-",
                    "--format",
                    format,
                ],
                Some(ROOT),
                Some("it's a \"secret\" $HOME\n"),
            )
            .await
            .ok();
        puts.push_str(&format!("--- {format}\n{}", run.stdout));
    }
    snap!(&h, "kv_put", puts);
    assert_eq!(
        data(&h, "app/db").await,
        json!({
            "cert": "-----BEGIN X-----\nabc\n-----END X-----\n",
            "password": "it's a \"secret\" $HOME",
            "user": "app",
        })
    );
    let got = each_format(
        &h,
        &["kv", "get", "app/db"],
        &["table", "json", "yaml", "env"],
    )
    .await;
    snap!(&h, "kv_get", got);

    // An older version, and one key raw.
    h.root(&["kv", "put", "app/db", "user=other"]).await.ok();
    let old = h
        .root(&["kv", "get", "app/db", "--version", "1", "--field", "user"])
        .await
        .ok();
    assert_eq!(old.stdout, "app");
    let raw = h
        .root(&[
            "kv", "get", "app/db", "--field", "user", "--format", "table",
        ])
        .await
        .ok();
    assert_eq!(raw.stdout, "other");
    // An explicit --format json prints the value as JSON.
    let quoted = h
        .root(&["kv", "get", "app/db", "--field", "user", "--format", "json"])
        .await
        .ok();
    assert_eq!(quoted.stdout, "\"other\"\n");
    let env = h
        .root(&[
            "kv",
            "get",
            "app/db",
            "--version",
            "2",
            "--field",
            "password",
            "--format",
            "env",
        ])
        .await
        .ok();
    assert_eq!(env.stdout, "password=\"it's a \\\"secret\\\" \\$HOME\"\n");

    // Missing things are "not found" (3) and say what to do.
    let missing = h
        .root(&["kv", "get", "app/db", "--field", "nope"])
        .await
        .fails_with(code::NOT_FOUND);
    snap!(&h, "kv_get_missing_field", missing.stderr);
    let missing = h
        .root(&["kv", "get", "app/db", "--version", "9"])
        .await
        .fails_with(code::NOT_FOUND);
    snap!(&h, "kv_get_missing_version", missing.stderr);
    let missing = h
        .root(&["kv", "get", "app/none"])
        .await
        .fails_with(code::NOT_FOUND);
    snap!(&h, "kv_get_missing", missing.stderr);

    // A key that is not a variable name cannot be printed as env, and says so.
    h.root(&["kv", "put", "app/odd", "a-b=v"]).await.ok();
    let odd = h
        .root(&["kv", "get", "app/odd", "--format", "env"])
        .await
        .fails_with(code::GENERAL);
    snap!(&h, "kv_get_env_bad_name", odd.stderr);
}

/// `--field` through a pipe (as in `x=$(...)` or `> file`): the value's exact bytes, with
/// nothing quoted, escaped or added; non-string values as compact JSON.
#[tokio::test]
async fn field_prints_the_exact_value_through_a_pipe() {
    let h = Harness::start().await;
    let pem =
        "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\nQUJD\n-----END CERTIFICATE-----\n";
    let cert = h.file("tls.crt", pem);
    // A file keeps a value without a final newline (stdin would lose one).
    let token = h.file("token", "line one\nline \"two\" $HOME");
    h.root(&[
        "kv",
        "put",
        "app/tls",
        &format!("cert=@{}", cert.display()),
        &format!("token=@{}", token.display()),
        "password=pw",
    ])
    .await
    .ok();
    let mut out = String::new();
    for name in ["cert", "token", "password"] {
        out.push_str(&format!(
            "--- {name}\n{}\n--- end\n",
            field(&h, "app/tls", name).await
        ));
    }
    snap!(&h, "kv_get_field_pipe", out);
    assert_eq!(field(&h, "app/tls", "cert").await, pem);
    assert_eq!(
        field(&h, "app/tls", "token").await,
        "line one\nline \"two\" $HOME"
    );
    assert_eq!(field(&h, "app/tls", "password").await, "pw");

    // Values that are not strings (from an imported JSON file) print as compact JSON.
    let typed = h.file(
        "typed.json",
        r#"{"port": 5432, "tls": true, "hosts": ["a", "b"], "pool": {"max": 10}}"#,
    );
    h.root(&["import", typed.to_str().unwrap(), "--path", "app/typed"])
        .await
        .ok();
    for (name, text) in [
        ("port", "5432"),
        ("tls", "true"),
        ("hosts", r#"["a","b"]"#),
        ("pool", r#"{"max":10}"#),
    ] {
        assert_eq!(field(&h, "app/typed", name).await, text, "{name}");
    }
}

#[tokio::test]
async fn a_bad_pair_writes_nothing() {
    let h = Harness::start().await;
    h.root(&["kv", "put", "app/db", "a=1"]).await.ok();
    for (args, needle) in [
        (
            &["kv", "put", "app/db", "a=2", "s3cret-without-key"][..],
            "not KEY=VALUE",
        ),
        (
            &["kv", "put", "app/db", "a=@/nonexistent/file"],
            "cannot read the value of a",
        ),
        (
            &["kv", "put", "app/db", "a=-", "b=-"],
            "only one value can come from stdin",
        ),
    ] {
        let run = h.root(args).await.fails_with(code::GENERAL);
        assert!(run.stderr.contains(needle), "{args:?}: {}", run.stderr);
        assert!(!run.stderr.contains("s3cret"), "{}", run.stderr);
    }
    assert_eq!(data(&h, "app/db").await, json!({"a": "1"}));
}

#[tokio::test]
async fn check_and_set() {
    let h = Harness::start().await;
    h.root(&["kv", "put", "app/db", "--cas", "0", "a=1"])
        .await
        .ok();
    // --cas 0 only creates.
    let exists = h
        .root(&["kv", "put", "app/db", "--cas", "0", "a=2"])
        .await
        .fails_with(code::CONFLICT);
    snap!(&h, "kv_cas_exists", exists.stderr);
    h.root(&["kv", "put", "app/db", "--cas", "1", "a=2"])
        .await
        .ok();
    // A stale version is a conflict and changes nothing.
    let stale = h
        .root(&["kv", "put", "app/db", "--cas", "1", "a=3"])
        .await
        .fails_with(code::CONFLICT);
    snap!(&h, "kv_cas_stale", stale.stderr);
    let stale = h
        .root(&["kv", "patch", "app/db", "--cas", "1", "b=3"])
        .await
        .fails_with(code::CONFLICT);
    assert!(
        stale.stderr.contains("no longer at version 1"),
        "{}",
        stale.stderr
    );
    assert_eq!(data(&h, "app/db").await, json!({"a": "2"}));
    let meta = h
        .root(&["kv", "metadata", "app/db", "--format", "json"])
        .await
        .ok()
        .json();
    assert_eq!(meta["current_version"], 2);

    // A secret that requires check-and-set says how to give it.
    h.root(&["kv", "metadata", "app/db", "--cas-required", "true"])
        .await
        .ok();
    let required = h
        .root(&["kv", "put", "app/db", "a=4"])
        .await
        .fails_with(code::GENERAL);
    snap!(&h, "kv_cas_required", required.stderr);
}

#[tokio::test]
async fn patch_keeps_other_keys() {
    let h = Harness::start().await;
    h.root(&["kv", "put", "app/db", "a=1", "b=2", "c=3"])
        .await
        .ok();
    let patched = each_format(
        &h,
        &["kv", "patch", "app/db", "b=two", "--unset", "c"],
        &["table", "json", "yaml"],
    )
    .await;
    snap!(&h, "kv_patch", patched);
    assert_eq!(data(&h, "app/db").await, json!({"a": "1", "b": "two"}));
    let missing = h
        .root(&["kv", "patch", "app/none", "a=1"])
        .await
        .fails_with(code::NOT_FOUND);
    snap!(&h, "kv_patch_missing", missing.stderr);
    h.root(&["kv", "patch", "app/db"])
        .await
        .fails_with(code::USAGE);
}

#[tokio::test]
async fn list_flat_and_recursive() {
    let h = Harness::start().await;
    for path in [
        "app/prod/db",
        "app/prod/api",
        "app/dev/db",
        "app/shared",
        "ops/key",
    ] {
        h.root(&["kv", "put", path, "k=v"]).await.ok();
    }
    let top = each_format(&h, &["kv", "list"], &["table", "json", "yaml"]).await;
    snap!(&h, "kv_list_top", top);
    let app = each_format(&h, &["kv", "list", "app"], &["table", "json", "yaml"]).await;
    snap!(&h, "kv_list_app", app);
    let recursive = each_format(&h, &["kv", "list", "-r", "app"], &["table", "json", "yaml"]).await;
    snap!(&h, "kv_list_recursive", recursive);
    let all = h
        .root(&["kv", "list", "--recursive", "--format", "json"])
        .await
        .ok()
        .json();
    assert_eq!(
        all,
        json!([
            "app/dev/db",
            "app/prod/api",
            "app/prod/db",
            "app/shared",
            "ops/key"
        ])
    );
    let missing = h
        .root(&["kv", "list", "nothing/here"])
        .await
        .fails_with(code::NOT_FOUND);
    snap!(&h, "kv_list_missing", missing.stderr);
    let env = h
        .root(&["kv", "list", "--format", "env"])
        .await
        .fails_with(code::USAGE);
    assert!(
        env.stderr
            .starts_with("error: --format env does not apply to `confmgr kv list`"),
        "{}",
        env.stderr
    );
}

#[tokio::test]
async fn metadata_history_delete_undelete_destroy() {
    let h = Harness::start().await;
    for value in ["1", "2", "3"] {
        h.root(&["kv", "put", "app/db", &format!("v={value}")])
            .await
            .ok();
    }
    let meta = each_format(
        &h,
        &[
            "kv",
            "metadata",
            "app/db",
            "--max-versions",
            "5",
            "--custom-metadata",
            "owner=ops",
            "--custom-metadata",
            "ticket=OPS-1",
        ],
        &["table", "json", "yaml"],
    )
    .await;
    snap!(&h, "kv_metadata", meta);

    // Soft-delete the latest: reads say it is deleted and how to restore it.
    let deleted = each_format(&h, &["kv", "delete", "app/db"], &["table", "json", "yaml"]).await;
    snap!(&h, "kv_delete_latest", deleted);
    let gone = h
        .root(&["kv", "get", "app/db"])
        .await
        .fails_with(code::NOT_FOUND);
    snap!(&h, "kv_get_deleted", gone.stderr);
    let restored = each_format(
        &h,
        &["kv", "undelete", "app/db", "--version", "3"],
        &["table", "json", "yaml"],
    )
    .await;
    snap!(&h, "kv_undelete", restored);
    assert_eq!(data(&h, "app/db").await, json!({"v": "3"}));

    let some = h
        .root(&[
            "kv",
            "delete",
            "app/db",
            "--versions",
            "1,2",
            "--format",
            "table",
        ])
        .await
        .ok();
    assert_eq!(some.stdout, "deleted versions 1, 2 of secret/app/db\n");
    let destroyed = each_format(
        &h,
        &["kv", "destroy", "app/db", "--version", "1"],
        &["table", "json", "yaml"],
    )
    .await;
    snap!(&h, "kv_destroy", destroyed);
    let gone = h
        .root(&["kv", "get", "app/db", "--version", "1"])
        .await
        .fails_with(code::NOT_FOUND);
    snap!(&h, "kv_get_destroyed", gone.stderr);

    let history = each_format(&h, &["kv", "history", "app/db"], &["table", "json", "yaml"]).await;
    snap!(&h, "kv_history", history);
    let rows = h
        .root(&["kv", "history", "app/db", "--format", "json"])
        .await
        .ok()
        .json();
    assert_eq!(rows[0]["destroyed"], true);
    assert!(rows[1]["deletion_time"].is_string());
    assert_eq!(rows[2]["current"], true);
    assert!(rows[2]["deletion_time"].is_null());

    // --all-versions removes the secret for good.
    let all = h
        .root(&[
            "kv",
            "delete",
            "app/db",
            "--all-versions",
            "--format",
            "table",
        ])
        .await
        .ok();
    snap!(&h, "kv_delete_all", all.stdout);
    h.root(&["kv", "history", "app/db"])
        .await
        .fails_with(code::NOT_FOUND);
    h.root(&["kv", "get", "app/db"])
        .await
        .fails_with(code::NOT_FOUND);
    h.root(&["kv", "undelete", "app/db"])
        .await
        .fails_with(code::USAGE);
}

#[tokio::test]
async fn rollback_writes_an_old_version_again() {
    let h = Harness::start().await;
    h.root(&["kv", "put", "app/db", "password=first"])
        .await
        .ok();
    h.root(&["kv", "put", "app/db", "password=second"])
        .await
        .ok();
    let rolled = each_format(
        &h,
        &["kv", "rollback", "app/db", "--version", "1"],
        &["table", "json", "yaml"],
    )
    .await;
    snap!(&h, "kv_rollback", rolled);
    // Three rollbacks: versions 3, 4 and 5 all hold version 1's data.
    assert_eq!(data(&h, "app/db").await, json!({"password": "first"}));
    let meta = h
        .root(&["kv", "metadata", "app/db", "--format", "json"])
        .await
        .ok()
        .json();
    assert_eq!(meta["current_version"], 5);

    let stale = h
        .root(&["kv", "rollback", "app/db", "--version", "2", "--cas", "4"])
        .await
        .fails_with(code::CONFLICT);
    assert!(
        stale.stderr.contains("no longer at version 4"),
        "{}",
        stale.stderr
    );
    assert_eq!(data(&h, "app/db").await, json!({"password": "first"}));
    let missing = h
        .root(&["kv", "rollback", "app/db", "--version", "42"])
        .await
        .fails_with(code::NOT_FOUND);
    snap!(&h, "kv_rollback_missing", missing.stderr);
}

#[tokio::test]
async fn rollback_needs_update_not_read() {
    let h = Harness::start().await;
    h.root(&["kv", "put", "app/db", "password=first"])
        .await
        .ok();
    h.root(&["kv", "put", "app/db", "password=second"])
        .await
        .ok();
    let policy = h.file(
        "rotate.hcl",
        "path \"secret/data/app/*\" {\n  capabilities = [\"update\"]\n}\n",
    );
    h.root(&["policy", "write", "rotate", policy.to_str().unwrap()])
        .await
        .ok();
    let creds = h
        .root(&[
            "client", "create", "rotator", "--policy", "rotate", "--format", "json",
        ])
        .await
        .ok()
        .json();
    h.login(
        creds["client_id"].as_str().unwrap(),
        creds["secret"].as_str().unwrap(),
    )
    .await
    .ok();
    // The client cannot read the secret (4) but can roll it back.
    let denied = h
        .anon(&["kv", "get", "app/db"])
        .await
        .fails_with(code::DENIED);
    snap!(&h, "kv_get_denied", denied.stderr);
    h.anon(&["kv", "rollback", "app/db", "--version", "1"])
        .await
        .ok();
    assert_eq!(data(&h, "app/db").await, json!({"password": "first"}));
}
