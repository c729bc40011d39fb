//! AppRole in full (issue 28, item 4) through the HTTP API: custom role_ids and
//! secret_ids, secret_id metadata on the login token, lookups, tidy, and the role's token
//! settings enforced.

use super::{client, login};
use crate::harness::{as_token, Db, TestApp, BOTH};
use serde_json::{json, Value};

fn error(body: &Value) -> &str {
    body["errors"][0].as_str().unwrap_or_default()
}

#[tokio::test]
async fn a_custom_role_id_replaces_the_old_one() {
    for db in BOTH {
        let app = TestApp::start(db).await;
        let (old_id, secret_id, _) = client(&app, "web", &["default"], json!({})).await;
        let (status, body) = login(&app, &old_id, &secret_id).await;
        assert_eq!(status, 200, "{db:?} {body}");
        let earlier = body["auth"]["client_token"].as_str().unwrap().to_owned();

        let (status, body) = app
            .call(
                "POST",
                "/v1/auth/approle/role/web/role-id",
                Some(json!({"role_id": "web-role-id"})),
            )
            .await;
        assert_eq!(status, 204, "{db:?} {body}");
        assert_eq!(app.role_id("web").await, "web-role-id");
        assert_eq!(login(&app, &old_id, &secret_id).await.0, 400, "{db:?}");
        assert_eq!(
            login(&app, "web-role-id", &secret_id).await.0,
            200,
            "{db:?}"
        );
        // Tokens stay the role's: deleting it still revokes them.
        app.call("DELETE", "/v1/auth/approle/role/web", None).await;
        let (status, _) = as_token(&app, &earlier, "GET", "/v1/auth/token/lookup-self", None).await;
        assert_eq!(status, 403, "{db:?}");

        // On creation, and refused when taken or missing.
        let (status, _) = app
            .call(
                "POST",
                "/v1/auth/approle/role/api",
                Some(json!({"role_id": "api-id", "token_policies": "default"})),
            )
            .await;
        assert_eq!(status, 204);
        assert_eq!(app.role_id("api").await, "api-id");
        client(&app, "other", &["default"], json!({})).await;
        let (status, body) = app
            .call(
                "POST",
                "/v1/auth/approle/role/other/role-id",
                Some(json!({"role_id": "api-id"})),
            )
            .await;
        assert_eq!((status, error(&body)), (400, "role_id already in use"));
        let (status, body) = app
            .call(
                "POST",
                "/v1/auth/approle/role/other/role-id",
                Some(json!({})),
            )
            .await;
        assert_eq!((status, error(&body)), (400, "missing role_id"));
        let (status, _) = app
            .call(
                "POST",
                "/v1/auth/approle/role/ghost/role-id",
                Some(json!({"role_id": "x"})),
            )
            .await;
        assert_eq!(status, 404);
    }
}

#[tokio::test]
async fn custom_secret_ids_log_in_and_metadata_reaches_the_token() {
    for db in BOTH {
        let app = TestApp::start(db).await;
        let (role_id, _, _) = client(&app, "ci", &["default"], json!({})).await;
        let (status, body) = app
            .call(
                "POST",
                "/v1/auth/approle/role/ci/custom-secret-id",
                Some(json!({
                    "secret_id": "my-own-secret-id-1",
                    "metadata": "{\"pipeline\": \"deploy\", \"role_name\": \"spoofed\"}",
                    "ttl": "1h",
                })),
            )
            .await;
        assert_eq!(status, 200, "{db:?} {body}");
        assert_eq!(body["data"]["secret_id"], "my-own-secret-id-1");
        assert_eq!(body["data"]["secret_id_ttl"], 3600);
        let accessor = body["data"]["secret_id_accessor"]
            .as_str()
            .unwrap()
            .to_owned();

        let (status, body) = login(&app, &role_id, "my-own-secret-id-1").await;
        assert_eq!(status, 200, "{db:?} {body}");
        // The secret_id's metadata, with the role's name winning (Vault).
        assert_eq!(
            body["auth"]["metadata"],
            json!({"pipeline": "deploy", "role_name": "ci"})
        );
        let token = body["auth"]["client_token"].as_str().unwrap().to_owned();
        let (_, body) = as_token(&app, &token, "GET", "/v1/auth/token/lookup-self", None).await;
        assert_eq!(body["data"]["meta"]["pipeline"], "deploy", "{db:?}");
        assert_eq!(body["data"]["path"], "auth/approle/login");

        assert_eq!(login(&app, &role_id, "my-own-secret-id-2").await.0, 400);
        let (status, body) = app
            .call(
                "POST",
                "/v1/auth/approle/role/ci/custom-secret-id",
                Some(json!({"secret_id": "my-own-secret-id-1"})),
            )
            .await;
        assert_eq!(
            (status, error(&body)),
            (400, "secret_id is already registered")
        );
        let (status, body) = app
            .call(
                "POST",
                "/v1/auth/approle/role/ci/custom-secret-id",
                Some(json!({})),
            )
            .await;
        assert_eq!((status, error(&body)), (400, "missing secret_id"));

        // Lookup by value and by accessor; an unknown value answers 204 (Vault).
        let (status, body) = app
            .call(
                "POST",
                "/v1/auth/approle/role/ci/secret-id/lookup",
                Some(json!({"secret_id": "my-own-secret-id-1"})),
            )
            .await;
        assert_eq!(status, 200, "{db:?} {body}");
        assert_eq!(body["data"]["secret_id_accessor"], accessor.as_str());
        assert_eq!(body["data"]["metadata"]["pipeline"], "deploy");
        let (status, body) = app
            .call(
                "POST",
                "/v1/auth/approle/role/ci/secret-id/lookup",
                Some(json!({"secret_id": "never-issued"})),
            )
            .await;
        assert_eq!((status, body), (204, Value::Null), "{db:?}");
        let (status, body) = app
            .call(
                "POST",
                "/v1/auth/approle/role/ci/secret-id-accessor/lookup",
                Some(json!({"secret_id_accessor": accessor})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"]["metadata"]["pipeline"], "deploy");
        let (status, _) = app
            .call(
                "POST",
                "/v1/auth/approle/role/ci/secret-id-accessor/destroy",
                Some(json!({"secret_id_accessor": accessor})),
            )
            .await;
        assert_eq!(status, 204);
        assert_eq!(login(&app, &role_id, "my-own-secret-id-1").await.0, 400);
        // Vault's answer for an accessor the role does not hold: 404, reason in data.error.
        let (status, body) = app
            .call(
                "POST",
                "/v1/auth/approle/role/ci/secret-id-accessor/lookup",
                Some(json!({"secret_id_accessor": accessor})),
            )
            .await;
        assert_eq!(status, 404, "{db:?}");
        assert_eq!(
            body["data"]["error"],
            format!("failed to find accessor entry for secret_id_accessor: \"{accessor}\"")
        );

        // The same custom secret_id in another role is that role's own.
        let (other_id, _, _) = client(&app, "other", &["default"], json!({})).await;
        let (status, _) = app
            .call(
                "POST",
                "/v1/auth/approle/role/other/custom-secret-id",
                Some(json!({"secret_id": "shared-value"})),
            )
            .await;
        assert_eq!(status, 200);
        assert_eq!(login(&app, &role_id, "shared-value").await.0, 400);
        assert_eq!(login(&app, &other_id, "shared-value").await.0, 200);
    }
}

#[tokio::test]
async fn custom_secret_ids_are_not_stored_in_clear() {
    for db in BOTH {
        let app = TestApp::start(db).await;
        client(&app, "canary", &["default"], json!({})).await;
        let custom = "canary-custom-secret-0123456789";
        let (status, _) = app
            .call(
                "POST",
                "/v1/auth/approle/role/canary/custom-secret-id",
                Some(json!({"secret_id": custom})),
            )
            .await;
        assert_eq!(status, 200);
        let (status, body) = app
            .call(
                "POST",
                "/v1/auth/token/create",
                Some(json!({"id": "canary-custom-token-0123456789"})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let dumped = crate::security::dump(&app, db).await;
        for needle in [custom, "canary-custom-token-0123456789"] {
            assert!(!dumped.contains(needle), "{db:?}: {needle} in clear");
            assert!(
                !dumped.contains(&crate::security::hex(needle.as_bytes())),
                "{db:?}: {needle} in hex"
            );
        }
    }
}

#[tokio::test]
async fn role_token_settings_shape_the_login_token() {
    let app = TestApp::start(Db::Sqlite).await;
    let (role_id, _, _) = client(
        &app,
        "periodic",
        &["app"],
        json!({
            "token_period": "20m",
            "token_num_uses": 3,
            "token_explicit_max_ttl": "2h",
            "token_no_default_policy": true,
        }),
    )
    .await;
    let (_, body) = app
        .call("GET", "/v1/auth/approle/role/periodic", None)
        .await;
    let role = &body["data"];
    assert_eq!(
        (
            role["token_period"].clone(),
            role["token_num_uses"].clone(),
            role["token_explicit_max_ttl"].clone(),
            role["token_no_default_policy"].clone()
        ),
        (json!(1200), json!(3), json!(7200), json!(true))
    );
    let (_, body) = app
        .call(
            "POST",
            "/v1/auth/approle/role/periodic/secret-id",
            Some(json!({})),
        )
        .await;
    let secret_id = body["data"]["secret_id"].as_str().unwrap().to_owned();
    let (status, body) = login(&app, &role_id, &secret_id).await;
    assert_eq!(status, 200, "{body}");
    let auth = &body["auth"];
    assert_eq!(auth["lease_duration"], 1200);
    assert_eq!(auth["num_uses"], 3);
    assert_eq!(auth["policies"], json!(["app"]));
    let token = auth["client_token"].as_str().unwrap().to_owned();
    // Without the default policy it may not look itself up; each try spends a use.
    for _ in 0..3 {
        let (status, _) = as_token(&app, &token, "GET", "/v1/auth/token/lookup-self", None).await;
        assert_eq!(status, 403);
    }
    let (status, body) = app
        .call(
            "POST",
            "/v1/auth/token/lookup",
            Some(json!({"token": token})),
        )
        .await;
    assert_eq!(
        (status, error(&body)),
        (403, "bad token"),
        "spent after 3 uses"
    );
}

#[tokio::test]
async fn tidy_removes_expired_secret_ids() {
    let app = TestApp::start(Db::Sqlite).await;
    client(&app, "web", &["default"], json!({})).await;
    let (_, body) = app
        .call(
            "POST",
            "/v1/auth/approle/role/web/secret-id",
            Some(json!({"ttl": "1h"})),
        )
        .await;
    let accessor = body["data"]["secret_id_accessor"]
        .as_str()
        .unwrap()
        .to_owned();
    let db = app.raw_db().await;
    sqlx::query("update client_secrets set expires_at = 1 where accessor = $1")
        .bind(&accessor)
        .execute(&db)
        .await
        .unwrap();
    let (status, body) = app
        .call("POST", "/v1/auth/approle/tidy/secret-id", None)
        .await;
    assert_eq!(status, 202, "{body}");
    assert!(body["warnings"][0]
        .as_str()
        .unwrap()
        .starts_with("Tidy operation successfully started"));
    assert_eq!(
        body["warnings"][1],
        "ConfMgr removed 1 expired secret_id(s)."
    );
    let (_, body) = app
        .call("LIST", "/v1/auth/approle/role/web/secret-id", None)
        .await;
    assert_eq!(
        body["data"]["keys"].as_array().unwrap().len(),
        1,
        "the live one stays"
    );
    let (status, _) = as_token(
        &app,
        &app.create_token(json!({"policies": ["default"]})).await.0,
        "POST",
        "/v1/auth/approle/tidy/secret-id",
        None,
    )
    .await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn every_vault_role_field_is_enforced_or_refused() {
    let app = TestApp::start(Db::Sqlite).await;
    let accepted = json!({
        "bind_secret_id": true, "secret_id_bound_cidrs": ["10.0.0.0/8"],
        "secret_id_num_uses": 2, "secret_id_ttl": "1h", "local_secret_ids": false,
        "token_ttl": "10m", "token_max_ttl": "1h", "token_policies": ["a"],
        "policies": ["a"], "token_bound_cidrs": ["10.0.0.0/8"], "token_explicit_max_ttl": "2h",
        "token_no_default_policy": false, "token_num_uses": 1, "token_period": 0,
        "token_type": "service", "role_id": "all-fields-role", "period": 0,
    });
    let (status, body) = app
        .call("POST", "/v1/auth/approle/role/all", Some(accepted))
        .await;
    assert_eq!(status, 204, "{body}");
    for (refused, field) in [
        (json!({"bind_secret_id": false}), "bind_secret_id"),
        (json!({"local_secret_ids": true}), "local_secret_ids"),
        (json!({"token_type": "batch"}), "token_type"),
        (
            json!({"token_strictly_bind_ip": true}),
            "token_strictly_bind_ip",
        ),
    ] {
        let (status, body) = app
            .call("POST", "/v1/auth/approle/role/all", Some(refused.clone()))
            .await;
        assert_eq!(status, 400, "{refused}: {body}");
        assert!(error(&body).contains(field), "{refused}: {body}");
    }
}

#[tokio::test]
async fn per_field_routes_read_set_and_reset_one_setting() {
    for db in BOTH {
        let app = TestApp::start(db).await;
        client(
            &app,
            "web",
            &["app"],
            json!({"token_bound_cidrs": ["10.0.0.0/8"]}),
        )
        .await;
        let (status, body) = app
            .call("GET", "/v1/auth/approle/role/web/policies", None)
            .await;
        assert_eq!(status, 200, "{db:?} {body}");
        assert_eq!(
            body["data"],
            json!({"policies": ["app"], "token_policies": ["app"]})
        );
        let (status, _) = app
            .call(
                "POST",
                "/v1/auth/approle/role/web/token-ttl",
                Some(json!({"token_ttl": "5m"})),
            )
            .await;
        assert_eq!(status, 204, "{db:?}");
        let (_, body) = app
            .call("GET", "/v1/auth/approle/role/web/token-ttl", None)
            .await;
        assert_eq!(body["data"], json!({"token_ttl": 300}));
        let (_, body) = app
            .call("GET", "/v1/auth/approle/role/web/period", None)
            .await;
        assert_eq!(body["data"], json!({"period": 0, "token_period": 0}));
        let (status, _) = app
            .call(
                "POST",
                "/v1/auth/approle/role/web/period",
                Some(json!({"period": "10m"})),
            )
            .await;
        assert_eq!(status, 204);
        let (_, body) = app.call("GET", "/v1/auth/approle/role/web", None).await;
        assert_eq!(body["data"]["token_period"], 600, "{db:?}");

        // Reset: back to the default.
        let (status, _) = app
            .call(
                "DELETE",
                "/v1/auth/approle/role/web/token-bound-cidrs",
                None,
            )
            .await;
        assert_eq!(status, 204);
        let (_, body) = app
            .call("GET", "/v1/auth/approle/role/web/token-bound-cidrs", None)
            .await;
        assert_eq!(body["data"], json!({"token_bound_cidrs": []}));

        // Refused the way a role write refuses them, and nothing changes.
        for (path, body, message) in [
            (
                "bind-secret-id",
                json!({"bind_secret_id": false}),
                "bind_secret_id",
            ),
            ("token-ttl", json!({}), "missing token_ttl"),
            ("token-ttl", json!({"token_max_ttl": 5}), "token_max_ttl"),
            (
                "policies",
                json!({"token_policies": ["root"]}),
                "root policy",
            ),
            (
                "local-secret-ids",
                json!({"local_secret_ids": true}),
                "local_secret_ids",
            ),
        ] {
            let (status, answer) = app
                .call(
                    "POST",
                    &format!("/v1/auth/approle/role/web/{path}"),
                    Some(body.clone()),
                )
                .await;
            assert_eq!(status, 400, "{db:?} {path} {body}: {answer}");
            assert!(error(&answer).contains(message), "{path}: {answer}");
        }
        let (_, body) = app
            .call("GET", "/v1/auth/approle/role/web/token-ttl", None)
            .await;
        assert_eq!(body["data"], json!({"token_ttl": 300}));
        // Unknown role or field: 404 (a per-field write never creates a role).
        let (status, _) = app
            .call(
                "POST",
                "/v1/auth/approle/role/ghost/token-ttl",
                Some(json!({"token_ttl": 5})),
            )
            .await;
        assert_eq!(status, 404);
        assert_eq!(
            app.call("GET", "/v1/auth/approle/role/ghost", None).await.0,
            404
        );
        let (status, _) = app
            .call("GET", "/v1/auth/approle/role/web/no-such-field", None)
            .await;
        assert_eq!(status, 404);
        // A policy on one field's path grants that field only.
        app.call(
            "PUT",
            "/v1/sys/policies/acl/ttl-only",
            Some(json!({"policy": r#"path "auth/approle/role/web/token-ttl" { capabilities = ["update", "read"] }"#})),
        )
        .await;
        let limited = app.create_token(json!({"policies": ["ttl-only"]})).await.0;
        let set = |path: &'static str, body: Value| {
            let (app, limited) = (&app, limited.clone());
            async move {
                as_token(
                    app,
                    &limited,
                    "POST",
                    &format!("/v1/auth/approle/role/web/{path}"),
                    Some(body),
                )
                .await
                .0
            }
        };
        assert_eq!(set("token-ttl", json!({"token_ttl": 60})).await, 204);
        assert_eq!(set("policies", json!({"token_policies": ["x"]})).await, 403);
    }
}

#[tokio::test]
async fn a_secret_ids_token_cidrs_narrow_the_roles() {
    for db in BOTH {
        let app = TestApp::start(db).await;
        let (role_id, _, _) = client(
            &app,
            "web",
            &["default"],
            json!({"token_bound_cidrs": ["127.0.0.0/8", "10.0.0.0/8"]}),
        )
        .await;
        let secret = |cidrs: Value| {
            let app = &app;
            async move {
                app.call(
                    "POST",
                    "/v1/auth/approle/role/web/secret-id",
                    Some(json!({"token_bound_cidrs": cidrs})),
                )
                .await
            }
        };
        let (status, body) = secret(json!(["192.168.0.0/16"])).await;
        assert_eq!(status, 400, "{db:?}: outside the role's: {body}");
        let (status, body) = secret(json!("10.1.0.0/16")).await;
        assert_eq!(status, 200, "{db:?} {body}");
        let elsewhere = body["data"]["secret_id"].as_str().unwrap().to_owned();
        let accessor = body["data"]["secret_id_accessor"]
            .as_str()
            .unwrap()
            .to_owned();
        let (_, info) = app
            .call(
                "POST",
                "/v1/auth/approle/role/web/secret-id-accessor/lookup",
                Some(json!({"secret_id_accessor": accessor})),
            )
            .await;
        assert_eq!(info["data"]["token_bound_cidrs"], json!(["10.1.0.0/16"]));
        // The login works from here, but its token only from 10.1/16: not from 127.0.0.1.
        let (status, body) = login(&app, &role_id, &elsewhere).await;
        assert_eq!(status, 200, "{db:?} {body}");
        let token = body["auth"]["client_token"].as_str().unwrap().to_owned();
        let (status, _) = as_token(&app, &token, "GET", "/v1/auth/token/lookup-self", None).await;
        assert_eq!(status, 403, "{db:?}");
        let (_, body) = secret(json!(["127.0.0.1"])).await;
        let here = body["data"]["secret_id"].as_str().unwrap().to_owned();
        let (_, body) = login(&app, &role_id, &here).await;
        let token = body["auth"]["client_token"].as_str().unwrap().to_owned();
        let (status, _) = as_token(&app, &token, "GET", "/v1/auth/token/lookup-self", None).await;
        assert_eq!(status, 200, "{db:?}");

        // The role narrowed later: a secret whose blocks no longer lie inside it logs in
        // nowhere (never anywhere).
        app.call(
            "POST",
            "/v1/auth/approle/role/web",
            Some(json!({"token_bound_cidrs": ["10.0.0.0/8"]})),
        )
        .await;
        assert_eq!(login(&app, &role_id, &here).await.0, 400, "{db:?}");
    }
}
