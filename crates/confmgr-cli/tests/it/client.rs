use crate::harness::{redact, Harness, APP_READ, TTL_LEFT};
use crate::snap;
use std::os::unix::fs::PermissionsExt;

/// The app-read policy, a secret it may read and one it may not.
async fn seed(h: &Harness) {
    let policy = h.file("app-read.hcl", APP_READ);
    h.root(&["policy", "write", "app-read", policy.to_str().unwrap()])
        .await
        .ok();
    h.root(&["kv", "put", "app/config", "db_url=postgres://db/app"])
        .await
        .ok();
    h.root(&["kv", "put", "billing/config", "key=other"])
        .await
        .ok();
}

async fn create(h: &Harness, name: &str) -> (String, String, String) {
    let run = h
        .root(&[
            "client",
            "create",
            name,
            "--policy",
            "app-read",
            "--token-ttl",
            "30m",
        ])
        .await
        .ok();
    assert!(run.stderr.contains("shown only once"), "{}", run.stderr);
    let json = run.json();
    let field = |key: &str| json[key].as_str().unwrap().to_owned();
    (
        field("client_id"),
        field("secret"),
        field("secret_accessor"),
    )
}

#[tokio::test]
async fn create_login_and_read_by_policy() {
    let h = Harness::start().await;
    seed(&h).await;

    let run = h
        .root(&[
            "client",
            "create",
            "app",
            "--policy",
            "app-read",
            "--token-ttl",
            "30m",
        ])
        .await
        .ok();
    snap!(&h, "client_create_warning", run.stderr);
    let mut created = run.json();
    let client_id = created["client_id"].as_str().unwrap().to_owned();
    let secret = created["secret"].as_str().unwrap().to_owned();
    redact(&mut created, &["client_id", "secret", "secret_accessor"]);
    snap!(
        &h,
        "client_create_json",
        serde_json::to_string_pretty(&created).unwrap()
    );

    // A second create of the same name is refused.
    let again = h.root(&["client", "create", "app"]).await.fails();
    snap!(&h, "client_create_exists", again.stderr);

    let show = h
        .root(&["client", "show", "app", "--format", "table"])
        .await
        .ok();
    snap!(&h, "client_show", show.stdout);
    let shown = h.root(&["client", "show", "app"]).await.ok().json();
    assert_eq!(shown["client_id"], client_id.as_str());
    assert_eq!(shown["token_ttl"], 1800);
    assert_eq!(shown["secret_accessors"].as_array().unwrap().len(), 1);
    let list = h.root(&["client", "list"]).await.ok().json();
    assert_eq!(list, serde_json::json!(["app"]));

    // Log in with the printed id and secret (secret on stdin).
    let login = h
        .exec(
            &[
                "login",
                "--role-id",
                &client_id,
                "--secret-id",
                "-",
                "--format",
                "table",
            ],
            None,
            Some(&format!("{secret}\n")),
        )
        .await
        .ok();
    assert!(!login.stdout.contains("cmt."), "the token was printed");
    snap!(&h, "login_table", login.stdout, TTL_LEFT);

    let token_file = h.token_file();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&token_file), 0o600);
    assert_eq!(mode(token_file.parent().unwrap()), 0o700);
    assert!(std::fs::read_to_string(&token_file)
        .unwrap()
        .starts_with("cmt."));

    // The token file is used when no token variable is set.
    let allowed = h.anon(&["kv", "get", "app/config"]).await.ok();
    assert_eq!(allowed.json()["db_url"], "postgres://db/app");
    let table = h
        .anon(&["kv", "get", "app/config", "--format", "table"])
        .await
        .ok();
    assert_eq!(table.stdout, "db_url  postgres://db/app\n");
    h.anon(&["kv", "get", "billing/config"]).await.denied();
    h.anon(&["client", "list"]).await.denied();

    // --print-token prints it, --no-store leaves the file alone.
    let before = std::fs::read_to_string(&token_file).unwrap();
    let printed = h
        .exec(
            &[
                "login",
                "--role-id",
                &client_id,
                "--secret-id",
                "-",
                "--print-token",
                "--no-store",
            ],
            None,
            Some(&secret),
        )
        .await
        .ok();
    let token = printed.json()["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("cmt."));
    assert_ne!(token, before.trim());
    assert_eq!(std::fs::read_to_string(&token_file).unwrap(), before);

    // A wrong secret does not log in.
    let wrong = h.login(&client_id, "nope.nope").await.fails();
    assert!(wrong.stderr.starts_with("error: "), "{}", wrong.stderr);

    let deleted = h
        .root(&["client", "delete", "app", "--format", "table"])
        .await
        .ok();
    assert_eq!(deleted.stdout, "deleted client app\n");
    h.login(&client_id, &secret).await.fails();
    let missing = h.root(&["client", "show", "app"]).await.fails();
    assert_eq!(missing.stderr, "error: no client named app\n");
}

#[tokio::test]
async fn login_from_secret_file_and_token_method() {
    let h = Harness::start().await;
    seed(&h).await;
    let (client_id, secret, _) = create(&h, "app").await;
    let secret_file = h.file("secret-id", &format!("{secret}\n"));
    h.anon(&[
        "login",
        "--role-id",
        &client_id,
        "--secret-id-file",
        secret_file.to_str().unwrap(),
    ])
    .await
    .ok();
    h.anon(&["kv", "get", "app/config"]).await.ok();
    // On the command line it works, with a warning.
    let literal = h
        .anon(&["login", "--role-id", &client_id, "--secret-id", &secret])
        .await
        .ok();
    assert!(
        literal.stderr.contains("visible to other local users"),
        "{}",
        literal.stderr
    );

    // --method token checks the token, then stores it.
    let login = h
        .exec(&["login", "--method", "token"], None, Some("root\n"))
        .await
        .ok();
    assert_eq!(login.json()["policies"], serde_json::json!(["root"]));
    assert_eq!(std::fs::read_to_string(h.token_file()).unwrap(), "root\n");
    h.anon(&["kv", "get", "billing/config"]).await.ok();
    h.exec(
        &["login", "--method", "token"],
        None,
        Some("cmt.not-a-token"),
    )
    .await
    .denied();
    assert_eq!(std::fs::read_to_string(h.token_file()).unwrap(), "root\n");

    // Usage errors exit 2.
    let usage = h
        .anon(&["login", "--method", "approle", "--secret-id", "-"])
        .await;
    assert_eq!(usage.code, 2, "{}", usage.stderr);
    assert!(usage.stderr.contains("--role-id"), "{}", usage.stderr);
}

#[tokio::test]
async fn rotate_then_revoke_the_old_secret() {
    let h = Harness::start().await;
    seed(&h).await;
    let (client_id, old_secret, old_accessor) = create(&h, "app").await;

    let rotated = h.root(&["client", "rotate-secret", "app"]).await.ok();
    assert!(
        rotated
            .stderr
            .contains(&format!("confmgr client revoke-secret app {old_accessor}")),
        "{}",
        rotated.stderr
    );
    snap!(&h, "rotate_hint", rotated.stderr);
    let json = rotated.json();
    assert_eq!(json["client_id"], client_id.as_str());
    let new_secret = json["secret"].as_str().unwrap().to_owned();
    let new_accessor = json["secret_accessor"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, old_secret);
    assert_eq!(
        json["previous_secret_accessors"],
        serde_json::json!([old_accessor])
    );

    // Both secrets work until the old one is revoked: no downtime.
    h.login(&client_id, &old_secret).await.ok();
    h.login(&client_id, &new_secret).await.ok();
    let accessors =
        h.root(&["client", "show", "app"]).await.ok().json()["secret_accessors"].clone();
    assert_eq!(accessors.as_array().unwrap().len(), 2);

    let revoked = h
        .root(&[
            "client",
            "revoke-secret",
            "app",
            &old_accessor,
            "--format",
            "table",
        ])
        .await
        .ok();
    snap!(&h, "revoke_secret", revoked.stdout);
    h.login(&client_id, &old_secret).await.fails();
    h.login(&client_id, &new_secret).await.ok();
    let accessors =
        h.root(&["client", "show", "app"]).await.ok().json()["secret_accessors"].clone();
    assert_eq!(accessors, serde_json::json!([new_accessor]));

    let again = h
        .root(&["client", "revoke-secret", "app", &old_accessor])
        .await
        .fails();
    snap!(&h, "revoke_secret_again", again.stderr);
}

#[tokio::test]
async fn client_certificate_patterns_are_set_and_shown() {
    let h = Harness::start().await;
    h.root(&[
        "client",
        "create",
        "api",
        "--cert-cn",
        "api-*",
        "--cert-uri",
        "spiffe://prod/ns/payments/sa/api",
        "--cert-dns",
        "api.internal",
    ])
    .await
    .ok();
    let shown = h.root(&["client", "show", "api"]).await.ok().json();
    assert_eq!(shown["allowed_common_names"], serde_json::json!(["api-*"]));
    assert_eq!(
        shown["allowed_uri_sans"],
        serde_json::json!(["spiffe://prod/ns/payments/sa/api"])
    );
    assert_eq!(
        shown["allowed_dns_sans"],
        serde_json::json!(["api.internal"])
    );

    // A catch-all would let every certificate of the CA in: refused, nothing created.
    let refused = h
        .root(&["client", "create", "everyone", "--cert-cn", "*"])
        .await;
    assert_ne!(refused.code, 0);
    assert!(
        refused.stderr.contains("allowed_common_names"),
        "{}",
        refused.stderr
    );
    let list = h.root(&["client", "list"]).await.ok().json();
    assert!(!list.to_string().contains("everyone"), "{list}");
}
