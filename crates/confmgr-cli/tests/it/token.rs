use crate::harness::{redact, Harness, APP_READ, TTL_LEFT};
use crate::snap;

#[tokio::test]
async fn lookup_and_revoke_self() {
    let h = Harness::start().await;
    let policy = h.file("app-read.hcl", APP_READ);
    h.root(&["policy", "write", "app-read", policy.to_str().unwrap()])
        .await
        .ok();
    h.root(&["kv", "put", "app/config", "k=v"]).await.ok();
    let created = h
        .root(&["client", "create", "app", "--policy", "app-read"])
        .await
        .ok()
        .json();
    let (id, secret) = (
        created["client_id"].as_str().unwrap(),
        created["secret"].as_str().unwrap(),
    );
    let login = h.login(id, secret).await.ok().json();
    let accessor = login["accessor"].as_str().unwrap().to_owned();
    let token = std::fs::read_to_string(h.token_file())
        .unwrap()
        .trim()
        .to_owned();

    let lookup = h.anon(&["token", "lookup", "--format", "table"]).await.ok();
    assert!(!lookup.stdout.contains(&token), "lookup printed the token");
    snap!(&h, "token_lookup_table", lookup.stdout, TTL_LEFT);
    let mut json = h.anon(&["token", "lookup"]).await.ok().json();
    assert_eq!(json["accessor"], accessor.as_str());
    assert!(json.get("id").is_none());
    redact(
        &mut json,
        &[
            "accessor",
            "creation_time",
            "expire_time",
            "ttl",
            "creation_ttl",
        ],
    );
    snap!(
        &h,
        "token_lookup_json",
        serde_json::to_string_pretty(&json).unwrap()
    );

    // Root looks the client's token up by accessor.
    let by_accessor = h
        .root(&["token", "lookup", "--accessor", &accessor])
        .await
        .ok()
        .json();
    assert_eq!(by_accessor["accessor"], accessor.as_str());
    assert!(by_accessor.get("id").is_none());

    let revoked = h
        .anon(&["token", "revoke", "--self", "--format", "table"])
        .await
        .ok();
    snap!(&h, "token_revoke_self", revoked.stdout);
    assert!(!h.token_file().exists(), "the token file was kept");

    // The revoked token no longer works.
    h.exec(&["kv", "get", "app/config"], Some(&token), None)
        .await
        .denied();
    h.exec(&["token", "lookup"], Some(&token), None)
        .await
        .denied();
    let none = h.anon(&["token", "lookup"]).await.fails();
    snap!(&h, "no_token", none.stderr);
}

#[tokio::test]
async fn revoke_by_accessor() {
    let h = Harness::start().await;
    h.root(&["client", "create", "app"]).await.ok();
    let created = h
        .root(&["client", "rotate-secret", "app"])
        .await
        .ok()
        .json();
    let login = h
        .login(
            created["client_id"].as_str().unwrap(),
            created["secret"].as_str().unwrap(),
        )
        .await
        .ok()
        .json();
    let accessor = login["accessor"].as_str().unwrap();
    h.anon(&["token", "lookup"]).await.ok();
    let revoked = h
        .root(&["token", "revoke", "--accessor", accessor])
        .await
        .ok()
        .json();
    assert_eq!(revoked["accessor"], accessor);
    h.anon(&["token", "lookup"]).await.denied();
}
