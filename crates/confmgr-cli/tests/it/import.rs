use crate::harness::{redact, Harness, APP_READ};
use crate::snap;
use std::os::unix::fs::PermissionsExt;

const THREE: &str = "\
- name: web
  policies: [app-read]
- name: worker
  policies: [app-read]
  token_ttl: 15m
  token_max_ttl: 2h
  secret_uses: 5
- name: ci
  policies: [app-read]
  secret_ttl: 30d
  bound_cidrs: [127.0.0.0/8]
";

async fn with_policy() -> Harness {
    let h = Harness::start().await;
    let policy = h.file("app-read.hcl", APP_READ);
    h.root(&["policy", "write", "app-read", policy.to_str().unwrap()])
        .await
        .ok();
    h.root(&["kv", "put", "app/config", "k=v"]).await.ok();
    h
}

#[tokio::test]
async fn import_three_clients() {
    let h = with_policy().await;
    let file = h.file("clients.yaml", THREE);
    let run = h
        .root(&["client", "import", file.to_str().unwrap()])
        .await
        .ok();
    // Not a terminal: one log line per client on stderr.
    snap!(&h, "import_log", run.stderr);
    let mut created = run.json();
    assert_eq!(created.as_array().unwrap().len(), 3);
    // Every printed credential logs in.
    for entry in created.as_array().unwrap() {
        let id = entry["client_id"].as_str().unwrap();
        let secret = entry["secret"].as_str().unwrap();
        h.login(id, secret).await.ok();
        h.anon(&["kv", "get", "app/config"]).await.ok();
    }
    redact(&mut created, &["client_id", "secret", "secret_accessor"]);
    snap!(
        &h,
        "import_json",
        serde_json::to_string_pretty(&created).unwrap()
    );

    let worker = h.root(&["client", "show", "worker"]).await.ok().json();
    assert_eq!(worker["token_ttl"], 900);
    assert_eq!(worker["token_max_ttl"], 7200);
    assert_eq!(worker["secret_uses"], 5);
    let ci = h.root(&["client", "show", "ci"]).await.ok().json();
    assert_eq!(ci["secret_ttl"], 30 * 86_400);
    assert_eq!(ci["bound_cidrs"], serde_json::json!(["127.0.0.0/8"]));
    let mut names: Vec<String> =
        serde_json::from_value(h.root(&["client", "list"]).await.ok().json()).unwrap();
    names.sort();
    assert_eq!(names, ["ci", "web", "worker"]);

    // Importing the same names again is refused before anything is created.
    let again = h
        .root(&["client", "import", file.to_str().unwrap()])
        .await
        .fails();
    snap!(&h, "import_existing", again.stderr);
}

#[tokio::test]
async fn import_to_a_secrets_file() {
    let h = with_policy().await;
    let file = h.file(
        "clients.json",
        r#"[{"name": "a", "policies": ["app-read"]}, {"name": "b"}]"#,
    );
    let out = h.work.path().join("creds.json");
    let run = h
        .root(&[
            "client",
            "import",
            file.to_str().unwrap(),
            "--secrets-out",
            out.to_str().unwrap(),
            "--format",
            "table",
        ])
        .await
        .ok();
    snap!(&h, "import_secrets_out", run.stdout);
    let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let creds: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let secret = creds[0]["secret"].as_str().unwrap();
    assert!(!run.stdout.contains(secret), "a secret reached stdout");
    h.login(creds[0]["client_id"].as_str().unwrap(), secret)
        .await
        .ok();

    // An existing secrets file is never overwritten.
    let file2 = h.file("more.yaml", "- name: c\n");
    let refused = h
        .root(&[
            "client",
            "import",
            file2.to_str().unwrap(),
            "--secrets-out",
            out.to_str().unwrap(),
        ])
        .await
        .fails();
    assert!(
        refused.stderr.contains("cannot create"),
        "{}",
        refused.stderr
    );
    let names = h.root(&["client", "list"]).await.ok().json();
    assert!(!names.as_array().unwrap().contains(&"c".into()));
}

#[tokio::test]
async fn a_bad_entry_creates_nothing() {
    let h = with_policy().await;
    let file = h.file(
        "clients.yml",
        "\
- name: good
  policies: [app-read]
- name: typo
  polices: [app-read]
- name: fine
  token_ttl: 1h
  token_max_ttl: 30m
",
    );
    let run = h
        .root(&["client", "import", file.to_str().unwrap()])
        .await
        .fails();
    assert!(run.stdout.is_empty());
    snap!(&h, "import_bad_entry", run.stderr);
    let names = h.root(&["client", "list"]).await.ok().json();
    assert_eq!(names, serde_json::json!([]));
}
