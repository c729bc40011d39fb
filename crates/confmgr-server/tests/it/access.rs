//! Clients (AppRole), tokens and policies, through the HTTP API.

mod approle_full;
mod tokens_full;

use crate::harness::{as_token, metric, send, test_access, Db, TestApp, BOTH};
use confmgr_core::credentials::HashCost;
use confmgr_server::login_guard::LoginGuard;
use confmgr_server::state::{AccessSettings, Limits};
use serde_json::{json, Value};
use std::time::Duration;

const APP_POLICY: &str = r#"
path "secret/data/app/*" { capabilities = ["read"] }
path "secret/metadata/app/*" { capabilities = ["list", "read"] }
path "secret/data/app/private/*" { capabilities = ["deny"] }
"#;

/// A client with `policies`, and one secret: (role_id, secret_id, secret accessor).
async fn client(
    app: &TestApp,
    name: &str,
    policies: &[&str],
    extra: Value,
) -> (String, String, String) {
    let mut role = json!({ "token_policies": policies, "token_ttl": "1h", "token_max_ttl": "2h" });
    if let (Some(role), Some(extra)) = (role.as_object_mut(), extra.as_object()) {
        role.extend(extra.clone());
    }
    let (status, body) = app
        .call("POST", &format!("/v1/auth/approle/role/{name}"), Some(role))
        .await;
    assert_eq!(status, 204, "{body}");
    let role_id = app.role_id(name).await;
    let (status, body) = app
        .call(
            "POST",
            &format!("/v1/auth/approle/role/{name}/secret-id"),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let secret_id = body["data"]["secret_id"].as_str().unwrap().to_owned();
    let accessor = body["data"]["secret_id_accessor"]
        .as_str()
        .unwrap()
        .to_owned();
    (role_id, secret_id, accessor)
}

async fn login(app: &TestApp, role_id: &str, secret_id: &str) -> (u16, Value) {
    let url = format!("{}/v1/auth/approle/login", app.base);
    send(
        app.client
            .post(url)
            .json(&json!({ "role_id": role_id, "secret_id": secret_id })),
    )
    .await
}

#[tokio::test]
async fn policies_crud_and_validation() {
    let app = TestApp::start(Db::Sqlite).await;
    let (status, _) = app
        .call(
            "PUT",
            "/v1/sys/policies/acl/app-read",
            Some(json!({ "policy": APP_POLICY })),
        )
        .await;
    assert_eq!(status, 204);
    let (status, body) = app.call("GET", "/v1/sys/policies/acl/app-read", None).await;
    assert_eq!(
        (status, body["data"]["policy"].as_str()),
        (200, Some(APP_POLICY))
    );
    let (_, body) = app.call("LIST", "/v1/sys/policies/acl", None).await;
    // `default` is built in (stored by migration 0009), like `root`.
    assert_eq!(body["data"]["keys"], json!(["app-read", "default", "root"]));
    let (status, body) = app
        .call(
            "PUT",
            "/v1/sys/policies/acl/bad",
            Some(json!({ "policy": r#"path "x" { capabilities = ["fly"] }"# })),
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        body["errors"][0].as_str().unwrap().contains("fly"),
        "{body}"
    );
    assert_eq!(
        app.call("GET", "/v1/sys/policies/acl/bad", None).await.0,
        404,
        "a refused policy is not stored"
    );
    assert_eq!(
        app.call(
            "PUT",
            "/v1/sys/policies/acl/root",
            Some(json!({ "policy": "" }))
        )
        .await
        .0,
        400
    );
    assert_eq!(
        app.call("DELETE", "/v1/sys/policies/acl/root", None)
            .await
            .0,
        400
    );
    // hvac's older route
    let (status, body) = app.call("GET", "/v1/sys/policy/app-read", None).await;
    assert_eq!(
        (status, body["data"]["rules"].as_str()),
        (200, Some(APP_POLICY))
    );
    assert_eq!(
        app.call("DELETE", "/v1/sys/policies/acl/app-read", None)
            .await
            .0,
        204
    );
    assert_eq!(
        app.call("GET", "/v1/sys/policies/acl/app-read", None)
            .await
            .0,
        404
    );
}

#[tokio::test]
async fn approle_login_and_policy_enforcement() {
    for db in BOTH {
        let app = TestApp::start(db).await;
        app.call(
            "PUT",
            "/v1/sys/policies/acl/app-read",
            Some(json!({ "policy": APP_POLICY })),
        )
        .await;
        for path in ["app/db", "app/private/key", "other/db"] {
            app.call(
                "POST",
                &format!("/v1/secret/data/{path}"),
                Some(json!({"data": {"v": path}})),
            )
            .await;
        }
        let (role_id, secret_id, _) = client(&app, "web", &["app-read"], json!({})).await;
        let (status, body) = login(&app, &role_id, &secret_id).await;
        assert_eq!(status, 200, "{body}");
        let auth = &body["auth"];
        assert_eq!(auth["policies"], json!(["app-read", "default"]));
        assert_eq!(auth["token_policies"], json!(["app-read", "default"]));
        assert_eq!(auth["metadata"]["role_name"], "web");
        assert_eq!(auth["lease_duration"], 3600);
        assert_eq!(auth["renewable"], true);
        assert_eq!(auth["issuer"], "confmgr");
        let token = auth["client_token"].as_str().unwrap().to_owned();
        assert!(token.starts_with("cmt."));

        let (status, body) = as_token(&app, &token, "GET", "/v1/secret/data/app/db", None).await;
        assert_eq!(
            (status, body["data"]["data"]["v"].clone()),
            (200, json!("app/db"))
        );
        let (status, body) = as_token(&app, &token, "LIST", "/v1/secret/metadata/app/", None).await;
        assert_eq!(
            (status, body["data"]["keys"].clone()),
            (200, json!(["db", "private/"]))
        );
        // Denied: no rule, an explicit deny, a write, and a path that does not exist: all 403.
        for (method, path) in [
            ("GET", "/v1/secret/data/other/db"),
            ("GET", "/v1/secret/data/other/missing"),
            ("GET", "/v1/secret/data/app/private/key"),
            ("POST", "/v1/secret/data/app/db"),
            ("DELETE", "/v1/secret/data/app/db"),
            ("GET", "/v1/secret/config"),
            ("LIST", "/v1/sys/policies/acl"),
            ("LIST", "/v1/auth/approle/role"),
        ] {
            let (status, body) =
                as_token(&app, &token, method, path, Some(json!({"data": {"x": 1}}))).await;
            assert_eq!(
                (status, body),
                (403, json!({"errors": ["permission denied"]})),
                "{method} {path}"
            );
        }
        assert_eq!(
            as_token(&app, &token, "GET", "/v1/secret/data/app/missing", None)
                .await
                .0,
            404,
            "allowed read of a missing path is 404"
        );
        let (status, body) =
            as_token(&app, &token, "GET", "/v1/auth/token/lookup-self", None).await;
        assert_eq!(
            (status, body["data"]["policies"].clone()),
            (200, json!(["app-read", "default"]))
        );
        assert_eq!(body["data"]["issuer"], "confmgr");

        // Wrong secret, wrong role: the same 400.
        let (status, body) = login(&app, &role_id, "AAAAAAAAAAAA.bad").await;
        assert_eq!(
            (status, body),
            (400, json!({"errors": ["invalid role or secret ID"]}))
        );
        let (status, _) = login(&app, "00000000-0000-0000-0000-000000000000", &secret_id).await;
        assert_eq!(status, 400);
    }
}

#[tokio::test]
async fn client_secret_rotation_limits_and_cidrs() {
    let app = TestApp::start(Db::Postgres).await;
    let (role_id, first, first_accessor) = client(&app, "api", &["default"], json!({})).await;
    let (status, body) = app
        .call(
            "POST",
            "/v1/auth/approle/role/api/secret-id",
            Some(json!({"metadata": "{\"owner\":\"ci\"}"})),
        )
        .await;
    assert_eq!(status, 200);
    let second = body["data"]["secret_id"].as_str().unwrap().to_owned();
    // Both live: rotate without downtime.
    assert_eq!(login(&app, &role_id, &first).await.0, 200);
    assert_eq!(login(&app, &role_id, &second).await.0, 200);
    let (_, body) = app
        .call("LIST", "/v1/auth/approle/role/api/secret-id", None)
        .await;
    assert_eq!(body["data"]["keys"].as_array().unwrap().len(), 2);
    let (status, body) = app
        .call(
            "POST",
            "/v1/auth/approle/role/api/secret-id/lookup",
            Some(json!({"secret_id": second})),
        )
        .await;
    assert_eq!(
        (status, body["data"]["metadata"]["owner"].clone()),
        (200, json!("ci"))
    );
    let (status, body) = app
        .call(
            "POST",
            "/v1/auth/approle/role/api/secret-id-accessor/lookup",
            Some(json!({"secret_id_accessor": first_accessor})),
        )
        .await;
    assert_eq!(
        (status, body["data"]["secret_id_accessor"].as_str()),
        (200, Some(first_accessor.as_str()))
    );
    // Retire the old one.
    let destroy = json!({"secret_id_accessor": first_accessor});
    assert_eq!(
        app.call(
            "POST",
            "/v1/auth/approle/role/api/secret-id-accessor/destroy",
            Some(destroy)
        )
        .await
        .0,
        204
    );
    assert_eq!(login(&app, &role_id, &first).await.0, 400);
    assert_eq!(login(&app, &role_id, &second).await.0, 200);
    assert_eq!(
        app.call(
            "POST",
            "/v1/auth/approle/role/api/secret-id/destroy",
            Some(json!({"secret_id": second}))
        )
        .await
        .0,
        204
    );
    assert_eq!(login(&app, &role_id, &second).await.0, 400);

    // A secret good for one use.
    let (status, body) = app
        .call(
            "POST",
            "/v1/auth/approle/role/api/secret-id",
            Some(json!({"num_uses": 1})),
        )
        .await;
    assert_eq!(
        (status, body["data"]["secret_id_num_uses"].clone()),
        (200, json!(1))
    );
    let once = body["data"]["secret_id"].as_str().unwrap().to_owned();
    assert_eq!(login(&app, &role_id, &once).await.0, 200);
    assert_eq!(login(&app, &role_id, &once).await.0, 400);

    // Bound CIDRs: secrets usable only from 10/8; tokens usable only from 10/8.
    let (fenced_role, fenced_secret, _) = client(
        &app,
        "fenced",
        &["default"],
        json!({"secret_id_bound_cidrs": ["10.0.0.0/8"]}),
    )
    .await;
    assert_eq!(login(&app, &fenced_role, &fenced_secret).await.0, 400);
    let (bound_role, bound_secret, _) = client(
        &app,
        "bound",
        &["default"],
        json!({"token_bound_cidrs": "10.0.0.0/8"}),
    )
    .await;
    let (status, body) = login(&app, &bound_role, &bound_secret).await;
    assert_eq!(status, 200);
    let token = body["auth"]["client_token"].as_str().unwrap();
    assert_eq!(
        as_token(&app, token, "GET", "/v1/auth/token/lookup-self", None)
            .await
            .0,
        403
    );
    assert_eq!(
        app.call(
            "POST",
            "/v1/auth/approle/role/x",
            Some(json!({"token_bound_cidrs": ["nope"]}))
        )
        .await
        .0,
        400
    );

    // Deleting the client revokes its tokens.
    let (status, body) = login(&app, &role_id, &{
        let (_, b) = app
            .call(
                "POST",
                "/v1/auth/approle/role/api/secret-id",
                Some(json!({})),
            )
            .await;
        b["data"]["secret_id"].as_str().unwrap().to_owned()
    })
    .await;
    assert_eq!(status, 200);
    let token = body["auth"]["client_token"].as_str().unwrap().to_owned();
    assert_eq!(
        app.call("DELETE", "/v1/auth/approle/role/api", None)
            .await
            .0,
        204
    );
    assert_eq!(
        as_token(&app, &token, "GET", "/v1/auth/token/lookup-self", None)
            .await
            .0,
        403
    );
    assert_eq!(
        app.call("GET", "/v1/auth/approle/role/api", None).await.0,
        404
    );
    let (_, body) = app.call("LIST", "/v1/auth/approle/role", None).await;
    assert_eq!(body["data"]["keys"], json!(["bound", "fenced"]));
}

#[tokio::test]
async fn token_lifecycle() {
    let app = TestApp::start(Db::Postgres).await;
    app.call(
        "PUT",
        "/v1/sys/policies/acl/tokens",
        Some(
            json!({"policy": r#"path "auth/token/create" { capabilities = ["update"] }
path "secret/data/*" { capabilities = ["read"] }"#}),
        ),
    )
    .await;
    app.call(
        "PUT",
        "/v1/sys/policies/acl/extra",
        Some(json!({"policy": ""})),
    )
    .await;
    let (status, body) = app
        .call(
            "POST",
            "/v1/auth/token/create",
            Some(json!({"policies": ["tokens"], "ttl": "1h", "explicit_max_ttl": "90m"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let parent = body["auth"]["client_token"].as_str().unwrap().to_owned();
    let parent_accessor = body["auth"]["accessor"].as_str().unwrap().to_owned();
    assert_eq!(body["auth"]["lease_duration"], 3600);

    // Children: a subset of the parent's policies only.
    let (status, body) = as_token(
        &app,
        &parent,
        "POST",
        "/v1/auth/token/create",
        Some(json!({"policies": ["extra"]})),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = as_token(
        &app,
        &parent,
        "POST",
        "/v1/auth/token/create",
        Some(json!({"policies": ["tokens"]})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let child = body["auth"]["client_token"].as_str().unwrap().to_owned();
    let (status, body) = as_token(
        &app,
        &child,
        "POST",
        "/v1/auth/token/create",
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 200);
    let grandchild = body["auth"]["client_token"].as_str().unwrap().to_owned();
    assert_eq!(body["auth"]["orphan"], false);

    // Renewal never passes the max TTL.
    let (status, body) = as_token(
        &app,
        &parent,
        "POST",
        "/v1/auth/token/renew-self",
        Some(json!({"increment": "10h"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let lease = body["auth"]["lease_duration"].as_i64().unwrap();
    assert!((5390..=5400).contains(&lease), "capped at 90m, got {lease}");

    // Revoking the parent revokes children and grandchildren.
    let (status, _) = app
        .call(
            "POST",
            "/v1/auth/token/revoke-accessor",
            Some(json!({"accessor": parent_accessor})),
        )
        .await;
    assert_eq!(status, 204);
    for token in [&parent, &child, &grandchild] {
        assert_eq!(
            as_token(&app, token, "GET", "/v1/auth/token/lookup-self", None)
                .await
                .0,
            403
        );
    }
    assert_eq!(
        app.call(
            "POST",
            "/v1/auth/token/revoke-accessor",
            Some(json!({"accessor": "nope"}))
        )
        .await
        .0,
        400
    );

    // Expiry: a token whose time has passed is refused.
    let (short, accessor) = app
        .create_token(json!({"policies": ["tokens"], "ttl": "1h"}))
        .await;
    assert_eq!(
        as_token(&app, &short, "GET", "/v1/secret/data/any", None)
            .await
            .0,
        404
    );
    let pool = app.raw_db().await;
    sqlx::query("update tokens set expires_at = 1 where accessor = $1")
        .bind(accessor)
        .execute(&pool)
        .await
        .unwrap();
    // A change made behind the server's back (not through its API) is seen
    // once the auth cache entry is older than its TTL.
    tokio::time::sleep(confmgr_server::auth_cache::DEFAULT_TTL + Duration::from_millis(100)).await;
    assert_eq!(
        as_token(&app, &short, "GET", "/v1/secret/data/any", None)
            .await
            .0,
        403
    );

    // revoke-self
    let own = app.create_token(json!({"policies": ["tokens"]})).await.0;
    assert_eq!(
        as_token(&app, &own, "POST", "/v1/auth/token/revoke-self", None)
            .await
            .0,
        204
    );
    assert_eq!(
        as_token(&app, &own, "GET", "/v1/auth/token/lookup-self", None)
            .await
            .0,
        403
    );
}

#[tokio::test]
async fn no_client_secret_or_token_in_the_database() {
    for db in BOTH {
        let app = TestApp::start(db).await;
        let (role_id, secret_id, _) = client(&app, "canary", &["default"], json!({})).await;
        let (_, body) = login(&app, &role_id, &secret_id).await;
        let token = body["auth"]["client_token"].as_str().unwrap().to_owned();
        let child = app.create_token(json!({})).await.0;
        let dumped = crate::security::dump(&app, db).await;
        assert!(
            dumped.contains(&role_id),
            "{db:?}: the dump covers the clients table"
        );
        let secret_part = secret_id.split_once('.').unwrap().1;
        for needle in [secret_id.as_str(), secret_part, &token, &child, &app.token] {
            assert!(
                !dumped.contains(needle),
                "{db:?}: database contains a credential in clear"
            );
            assert!(
                !dumped.contains(&crate::security::hex(needle.as_bytes())),
                "{db:?}: hex credential"
            );
        }
        assert!(
            dumped.contains("$argon2id$"),
            "{db:?}: secrets are stored as argon2id hashes"
        );
    }
}

#[tokio::test]
async fn login_flood_gets_429_while_reads_keep_answering() {
    let access = AccessSettings::new(
        3600,
        7200,
        HashCost::PRODUCTION,
        LoginGuard::new(5, 1000, std::time::Duration::from_secs(60), 1),
    );
    let app = TestApp::start_full(Db::Sqlite, Limits::default(), access).await;
    app.call(
        "POST",
        "/v1/secret/data/hot",
        Some(json!({"data": {"v": 1}})),
    )
    .await;
    let (role_id, _, _) = client(&app, "target", &["default"], json!({})).await;

    let mut flood = Vec::new();
    for i in 0..40 {
        let (client, url, role_id) = (
            app.client.clone(),
            format!("{}/v1/auth/approle/login", app.base),
            role_id.clone(),
        );
        flood.push(tokio::spawn(async move {
            let response = client
                .post(url)
                .json(&json!({"role_id": role_id, "secret_id": format!("AAAAAAAAAAAA.wrong{i}")}))
                .send()
                .await
                .unwrap();
            (
                response.status().as_u16(),
                response.headers().get("retry-after").is_some(),
            )
        }));
    }
    let mut reads = 0;
    while !flood.iter().all(|h| h.is_finished()) {
        let (status, body) = app.call("GET", "/v1/secret/data/hot", None).await;
        assert_eq!(
            (status, body["data"]["data"]["v"].clone()),
            (200, json!(1)),
            "reads keep answering during the flood"
        );
        reads += 1;
    }
    let mut limited = 0;
    for handle in flood {
        let (status, retry_after) = handle.await.unwrap();
        assert!(status == 400 || status == 429, "{status}");
        if status == 429 {
            assert!(retry_after, "429 carries Retry-After");
            limited += 1;
        }
    }
    assert!(
        limited >= 30,
        "at most 5 failures (plus those in flight) are tried before 429s: {limited} limited"
    );
    assert!(reads > 0);
    let _ = test_access;
}

#[tokio::test]
async fn hardening_no_root_clients_no_ignored_restrictions_no_widening() {
    let app = TestApp::start(Db::Sqlite).await;
    let (status, body) = app
        .call(
            "POST",
            "/v1/auth/approle/role/boss",
            Some(json!({"token_policies": ["root"]})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body["errors"][0].as_str().unwrap().contains("root policy"));
    for field in [
        json!({"bind_secret_id": false}),
        json!({"local_secret_ids": true}),
        json!({"enable_local_secret_ids": true}),
        json!({"token_type": "batch"}),
    ] {
        let (status, body) = app
            .call("POST", "/v1/auth/approle/role/strict", Some(field.clone()))
            .await;
        assert_eq!(status, 400, "{field} must be refused, not ignored: {body}");
    }
    assert_eq!(
        app.call(
            "POST",
            "/v1/auth/approle/role/strict",
            Some(json!({"token_num_uses": 0, "token_type": "default"}))
        )
        .await
        .0,
        204
    );
    // A secret_id's token CIDRs must lie within the role's: they narrow, never widen.
    app.call(
        "POST",
        "/v1/auth/approle/role/strict",
        Some(json!({"token_bound_cidrs": ["192.168.0.0/16"]})),
    )
    .await;
    let (status, body) = app
        .call(
            "POST",
            "/v1/auth/approle/role/strict/secret-id",
            Some(json!({"token_bound_cidrs": ["10.0.0.0/8"]})),
        )
        .await;
    assert_eq!(status, 400, "{body}");

    // A secret's CIDRs narrow the client's, never widen them.
    let (role_id, _, _) = client(
        &app,
        "narrow",
        &["default"],
        json!({"secret_id_bound_cidrs": ["10.0.0.0/8"]}),
    )
    .await;
    let (_, body) = app
        .call(
            "POST",
            "/v1/auth/approle/role/narrow/secret-id",
            Some(json!({"cidr_list": ["127.0.0.0/8"]})),
        )
        .await;
    let widened = body["data"]["secret_id"].as_str().unwrap().to_owned();
    assert_eq!(login(&app, &role_id, &widened).await.0, 400);

    // `list` on a folder matches the folder's glob, as in Vault.
    app.call("PUT", "/v1/sys/policies/acl/lister", Some(json!({"policy": "path \"sys/policies/acl/*\" { capabilities = [\"list\"] }\npath \"auth/approle/role/*\" { capabilities = [\"list\"] }"}))).await;
    let lister = app.create_token(json!({"policies": ["lister"]})).await.0;
    assert_eq!(
        as_token(&app, &lister, "LIST", "/v1/sys/policies/acl", None)
            .await
            .0,
        200
    );
    assert_eq!(
        as_token(&app, &lister, "LIST", "/v1/auth/approle/role", None)
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn children_never_outlive_their_parent_and_ttl_zero_means_default() {
    let app = TestApp::start(Db::Sqlite).await;
    app.call(
        "PUT",
        "/v1/sys/policies/acl/maker",
        Some(json!({"policy": "path \"auth/token/create\" { capabilities = [\"update\"] }"})),
    )
    .await;
    let parent = app
        .create_token(json!({"policies": ["maker"], "ttl": "1h", "explicit_max_ttl": "2h"}))
        .await
        .0;
    let (_, body) = as_token(
        &app,
        &parent,
        "POST",
        "/v1/auth/token/create",
        Some(json!({"ttl": "10m"})),
    )
    .await;
    let child = body["auth"]["client_token"].as_str().unwrap().to_owned();
    let (status, body) = as_token(
        &app,
        &child,
        "POST",
        "/v1/auth/token/renew-self",
        Some(json!({"increment": "24h"})),
    )
    .await;
    assert_eq!(status, 200);
    let lease = body["auth"]["lease_duration"].as_i64().unwrap();
    assert!(
        lease <= 7200,
        "the child's renewals stop at the parent's max: {lease}"
    );
    let (_, body) = app
        .call("POST", "/v1/auth/token/create", Some(json!({"ttl": "0"})))
        .await;
    assert_eq!(
        body["auth"]["lease_duration"], 3600,
        "ttl 0 means the default TTL"
    );
}

/// Uses `token` on `path` every 20 ms for one auth cache TTL, so that the background pass
/// would keep confirming it if it could, then answers the next request to `path`.
async fn answer_after_a_ttl_of_use(app: &TestApp, token: &str, path: &str) -> (u16, Value) {
    let started = std::time::Instant::now();
    while started.elapsed() < confmgr_server::auth_cache::DEFAULT_TTL + Duration::from_millis(20) {
        as_token(app, token, "GET", path, None).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    as_token(app, token, "GET", path, None).await
}

/// A token in steady use is confirmed again in the background, not on its requests; a
/// revocation made behind the server's back (as another replica's would be) still ends it
/// within the auth cache TTL of the last confirmation.
#[tokio::test]
async fn a_busy_token_is_confirmed_in_the_background_and_refused_within_the_ttl_once_revoked() {
    use confmgr_server::auth_cache::DEFAULT_TTL;
    use std::time::Instant;
    const MOUNT_INFO: &str = "/v1/sys/internal/ui/mounts/secret/app";
    for db in BOTH {
        let app = TestApp::start(db).await;
        let (token, accessor) = app.create_token(json!({"ttl": "1h"})).await;
        let before = app.scrape().await;
        let started = Instant::now();
        let mut requests = 0;
        while started.elapsed() < DEFAULT_TTL * 6 {
            let (status, body) = as_token(&app, &token, "GET", MOUNT_INFO, None).await;
            assert_eq!(status, 200, "{db:?}: {body}");
            requests += 1;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let after = app.scrape().await;
        let change = |series: &str| metric(&after, series) - metric(&before, series);
        let misses = change(r#"confmgr_auth_cache_lookups_total{result="miss"}"#);
        let hits = change(r#"confmgr_auth_cache_lookups_total{result="hit"}"#);
        assert_eq!(
            misses + hits,
            requests as f64,
            "{db:?}: every check counted"
        );
        // Looked up per TTL, it would miss at least six times.
        assert!(
            misses <= 3.0,
            "{db:?}: {misses} lookups in {requests} requests over six TTLs"
        );
        assert!(
            change(r#"confmgr_auth_tokens_confirmed_total{by="marker"}"#) >= 1.0,
            "{db:?}: nothing changed, so the access-change marker confirmed it: {after}"
        );

        let pool = app.raw_db().await;
        sqlx::query("update tokens set revoked_at = 1 where accessor = $1")
            .bind(accessor)
            .execute(&pool)
            .await
            .unwrap();
        let (status, _) = answer_after_a_ttl_of_use(&app, &token, MOUNT_INFO).await;
        assert_eq!(
            status, 403,
            "{db:?}: refused within the TTL of the revocation"
        );
    }
}

/// A token used less often than once per TTL stays cached as long as no token or policy
/// changes (the access-change marker confirms it), and a policy changed in SQL behind the
/// server's back (as by another replica) still takes effect within the TTL.
#[tokio::test]
async fn a_token_used_now_and_then_stays_cached_until_a_policy_changes_behind_the_servers_back() {
    use confmgr_server::auth_cache::DEFAULT_TTL;
    const SECRET: &str = "/v1/secret/data/app/db";
    for db in BOTH {
        let app = TestApp::start(db).await;
        app.call(
            "PUT",
            "/v1/sys/policies/acl/app-reader",
            Some(json!({"policy": "path \"secret/data/app/*\" { capabilities = [\"read\"] }"})),
        )
        .await;
        app.call("POST", SECRET, Some(json!({"data": {"password": "p1"}})))
            .await;
        let (token, _) = app
            .create_token(json!({"policies": ["app-reader"], "ttl": "1h"}))
            .await;
        let (status, body) = as_token(&app, &token, "GET", SECRET, None).await;
        assert_eq!(status, 200, "{db:?}: {body}");

        let before = app.scrape().await;
        for _ in 0..4 {
            tokio::time::sleep(DEFAULT_TTL * 3 / 2).await;
            let (status, body) = as_token(&app, &token, "GET", SECRET, None).await;
            assert_eq!(status, 200, "{db:?}: {body}");
        }
        let after = app.scrape().await;
        let misses = metric(&after, r#"confmgr_auth_cache_lookups_total{result="miss"}"#)
            - metric(
                &before,
                r#"confmgr_auth_cache_lookups_total{result="miss"}"#,
            );
        // Confirmed per use only, each of the four requests would find its entry expired.
        assert_eq!(
            misses, 0.0,
            "{db:?}: a request every 1.5 TTL was looked up again: {after}"
        );

        let pool = app.raw_db().await;
        sqlx::query("update policies set policy = $1 where name = 'app-reader'")
            .bind("path \"secret/data/other/*\" { capabilities = [\"read\"] }")
            .execute(&pool)
            .await
            .unwrap();
        let (status, body) = answer_after_a_ttl_of_use(&app, &token, SECRET).await;
        assert_eq!(
            status, 403,
            "{db:?}: the changed policy applies within the TTL: {body}"
        );
    }
}
