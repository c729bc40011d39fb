use crate::harness::{Harness, APP_READ};
use crate::snap;

#[tokio::test]
async fn policy_write_read_list_delete() {
    let h = Harness::start().await;
    let status = h.anon(&["status", "--format", "table"]).await.ok();
    assert!(
        status.stdout.contains("sealed       false\n"),
        "{}",
        status.stdout
    );
    let file = h.file("app-read.hcl", APP_READ);
    let file = file.to_str().unwrap();

    let wrote = h
        .root(&["policy", "write", "app-read", file, "--format", "table"])
        .await
        .ok();
    snap!(&h, "policy_write", wrote.stdout);

    let read = h
        .root(&["policy", "read", "app-read", "--format", "table"])
        .await
        .ok();
    assert_eq!(read.stdout, APP_READ);
    let read = h.root(&["policy", "read", "app-read"]).await.ok();
    assert_eq!(read.json()["name"], "app-read");
    assert_eq!(read.json()["policy"], APP_READ);

    // From stdin too.
    h.exec(
        &["policy", "write", "ops", "-"],
        Some("root"),
        Some(APP_READ),
    )
    .await
    .ok();
    let list = h.root(&["policy", "list"]).await.ok().json();
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(
        names.contains(&"app-read") && names.contains(&"ops"),
        "{names:?}"
    );
    let table = h.root(&["policy", "list", "--format", "table"]).await.ok();
    assert!(
        table.stdout.lines().any(|l| l == "app-read"),
        "{}",
        table.stdout
    );

    let deleted = h
        .root(&["policy", "delete", "ops", "--format", "table"])
        .await
        .ok();
    snap!(&h, "policy_delete", deleted.stdout);
    let list = h.root(&["policy", "list"]).await.ok().json();
    assert!(!list.as_array().unwrap().contains(&"ops".into()));
    let gone = h.root(&["policy", "read", "ops"]).await.fails();
    snap!(&h, "policy_read_missing", gone.stderr);
}

#[tokio::test]
async fn bad_policy_shows_the_server_message() {
    let h = Harness::start().await;
    let bad = h.file(
        "bad.hcl",
        "path \"secret/data/*\" {\n  capabilities = [\"read\", \"fly\"]\n}\n",
    );
    let run = h
        .root(&["policy", "write", "bad", bad.to_str().unwrap()])
        .await
        .fails();
    assert!(run.stdout.is_empty());
    snap!(&h, "policy_write_bad", run.stderr);
    let list = h.root(&["policy", "list"]).await.ok().json();
    assert!(!list.as_array().unwrap().contains(&"bad".into()));
}
