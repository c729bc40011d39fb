//! Vault's token lifecycle (issue 28, item 3) through the HTTP API: renewal, periodic and
//! use-limited tokens, orphans, token roles, the default policy, capabilities, and the
//! status codes and texts Vault answers.

use crate::harness::{as_token, Db, TestApp, BOTH};
use serde_json::{json, Value};

fn error(body: &Value) -> &str {
    body["errors"][0].as_str().unwrap_or_default()
}

async fn create(app: &TestApp, token: &str, path: &str, body: Value) -> (u16, Value) {
    as_token(app, token, "POST", path, Some(body)).await
}

/// Writes policy `name` as root.
async fn policy(app: &TestApp, name: &str, text: &str) {
    let (status, body) = app
        .call(
            "PUT",
            &format!("/v1/sys/policies/acl/{name}"),
            Some(json!({ "policy": text })),
        )
        .await;
    assert_eq!(status, 204, "{body}");
}

#[tokio::test]
async fn renewal_caps_and_shapes() {
    let app = TestApp::start(Db::Sqlite).await;
    let (token, accessor) = app
        .create_token(json!({"ttl": "1h", "explicit_max_ttl": "90m"}))
        .await;

    // renew-self: the increment, never past the explicit max.
    let (status, body) = as_token(
        &app,
        &token,
        "POST",
        "/v1/auth/token/renew-self",
        Some(json!({"increment": "10m"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["auth"]["lease_duration"], 600);
    assert_eq!(body["auth"]["client_token"], token.as_str());
    let (status, body) = app
        .call(
            "POST",
            "/v1/auth/token/renew",
            Some(json!({"token": token, "increment": "5h"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let lease = body["auth"]["lease_duration"].as_i64().unwrap();
    assert!((5390..=5400).contains(&lease), "capped at 90m: {lease}");

    // renew-accessor answers without the token.
    let (status, body) = app
        .call(
            "POST",
            "/v1/auth/token/renew-accessor",
            Some(json!({"accessor": accessor, "increment": 60})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["auth"]["client_token"], "");
    assert_eq!(body["auth"]["lease_duration"], 60);

    // Vault's answers to a missing, unknown and unrenewable token.
    let (status, body) = app
        .call("POST", "/v1/auth/token/renew", Some(json!({})))
        .await;
    assert_eq!((status, error(&body)), (400, "missing token ID"));
    let (status, body) = app
        .call(
            "POST",
            "/v1/auth/token/renew",
            Some(json!({"token": "cmt.nope"})),
        )
        .await;
    assert_eq!((status, error(&body)), (400, "token not found"));
    let fixed = app.create_token(json!({"renewable": false})).await.0;
    let (status, body) = as_token(&app, &fixed, "POST", "/v1/auth/token/renew-self", None).await;
    assert_eq!((status, error(&body)), (400, "lease is not renewable"));
    let (_, body) = as_token(&app, &fixed, "GET", "/v1/auth/token/lookup-self", None).await;
    assert_eq!(body["data"]["renewable"], false);
    // A root token never expires: Vault answers it as not renewable too.
    let (status, body) = app.call("POST", "/v1/auth/token/renew-self", None).await;
    assert_eq!((status, error(&body)), (400, "lease is not renewable"));
}

#[tokio::test]
async fn periodic_tokens_get_their_period_on_every_renewal() {
    for db in BOTH {
        let app = TestApp::start(db).await;
        let (status, body) = app
            .call(
                "POST",
                "/v1/auth/token/create",
                Some(json!({"period": "30m", "policies": ["default"]})),
            )
            .await;
        assert_eq!(status, 200, "{db:?} {body}");
        assert_eq!(body["auth"]["lease_duration"], 1800, "{db:?}: not 768h");
        let token = body["auth"]["client_token"].as_str().unwrap().to_owned();
        let (_, body) = as_token(&app, &token, "GET", "/v1/auth/token/lookup-self", None).await;
        assert_eq!(body["data"]["period"], 1800, "{db:?}");
        assert_eq!(body["data"]["ttl"], 1800, "{db:?}");
        // The increment is ignored: the period again.
        let (status, body) = as_token(
            &app,
            &token,
            "POST",
            "/v1/auth/token/renew-self",
            Some(json!({"increment": "5h"})),
        )
        .await;
        assert_eq!(
            (status, body["auth"]["lease_duration"].clone()),
            (200, json!(1800)),
            "{db:?}"
        );
        // Only root or sudo may ask for a period.
        let (status, body) =
            create(&app, &token, "/v1/auth/token/create", json!({"period": 60})).await;
        assert_eq!(status, 403, "{db:?}: default grants no create: {body}");
    }
    let app = TestApp::start(Db::Sqlite).await;
    policy(
        &app,
        "maker",
        r#"path "auth/token/create" { capabilities = ["update"] }"#,
    )
    .await;
    let maker = app.create_token(json!({"policies": ["maker"]})).await.0;
    let (status, body) = create(&app, &maker, "/v1/auth/token/create", json!({"period": 60})).await;
    assert_eq!(
        (status, error(&body)),
        (
            400,
            "root or sudo privileges required to create periodic token"
        )
    );
    // An explicit max TTL still caps a periodic token.
    let (_, body) = app
        .call(
            "POST",
            "/v1/auth/token/create",
            Some(json!({"period": "1h", "explicit_max_ttl": "10m"})),
        )
        .await;
    assert_eq!(body["auth"]["lease_duration"], 600);
}

#[tokio::test]
async fn num_uses_counts_every_use_and_the_last_revokes() {
    for db in BOTH {
        let app = TestApp::start(db).await;
        let (token, accessor) = app.create_token(json!({"num_uses": 2})).await;
        let lookup = || as_token(&app, &token, "GET", "/v1/auth/token/lookup-self", None);
        let (status, body) = lookup().await;
        assert_eq!(
            (status, body["data"]["num_uses"].clone()),
            (200, json!(1)),
            "{db:?}"
        );
        let (status, body) = lookup().await;
        assert_eq!(
            (status, body["data"]["num_uses"].clone()),
            (200, json!(0)),
            "{db:?}"
        );
        let (status, body) = lookup().await;
        assert_eq!((status, error(&body)), (403, "permission denied"), "{db:?}");
        let (status, _) = app
            .call(
                "POST",
                "/v1/auth/token/lookup-accessor",
                Some(json!({"accessor": accessor})),
            )
            .await;
        assert_eq!(status, 400, "{db:?}: the spent token is revoked");

        // A denied request spends a use too (Vault counts it at authentication).
        let (token, _) = app
            .create_token(json!({"num_uses": 1, "policies": ["default"]}))
            .await;
        let (status, _) = as_token(&app, &token, "GET", "/v1/secret/data/x", None).await;
        assert_eq!(status, 403);
        let (status, _) = as_token(&app, &token, "GET", "/v1/auth/token/lookup-self", None).await;
        assert_eq!(status, 403, "{db:?}");

        // A use-limited token cannot create tokens (Vault).
        let (status, body) = app
            .call(
                "POST",
                "/v1/auth/token/create",
                Some(json!({"num_uses": 5, "policies": ["root"]})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let limited = body["auth"]["client_token"].as_str().unwrap().to_owned();
        let (status, body) = create(&app, &limited, "/v1/auth/token/create", json!({})).await;
        assert_eq!(
            (status, error(&body)),
            (400, "use limited tokens cannot create tokens")
        );
    }
}

#[tokio::test]
async fn orphans_outlive_their_creator_and_revoke_orphan_keeps_children() {
    let app = TestApp::start(Db::Sqlite).await;
    let parent = app.create_token(json!({"policies": ["root"]})).await.0;
    let child = |body: Value, path: &'static str| {
        let parent = parent.clone();
        let app = &app;
        async move {
            let (status, body) = create(app, &parent, path, body).await;
            assert_eq!(status, 200, "{body}");
            body["auth"]["client_token"].as_str().unwrap().to_owned()
        }
    };
    let kid = child(json!({}), "/v1/auth/token/create").await;
    let no_parent = child(json!({"no_parent": true}), "/v1/auth/token/create").await;
    let orphan = child(json!({}), "/v1/auth/token/create-orphan").await;
    let (_, body) = as_token(&app, &orphan, "GET", "/v1/auth/token/lookup-self", None).await;
    assert_eq!(body["data"]["orphan"], true);
    assert_eq!(body["data"]["path"], "auth/token/create-orphan");

    let (status, _) = app
        .call(
            "POST",
            "/v1/auth/token/revoke",
            Some(json!({"token": parent})),
        )
        .await;
    assert_eq!(status, 204);
    let alive = |token: String| {
        let app = &app;
        async move {
            as_token(app, &token, "GET", "/v1/auth/token/lookup-self", None)
                .await
                .0
        }
    };
    assert_eq!(alive(kid).await, 403, "children go with their parent");
    assert_eq!(alive(no_parent).await, 200);
    assert_eq!(alive(orphan).await, 200);
    // Revoking an unknown token is not an error (Vault); a missing one is.
    let (status, _) = app
        .call(
            "POST",
            "/v1/auth/token/revoke",
            Some(json!({"token": parent})),
        )
        .await;
    assert_eq!(status, 204);
    let (status, body) = app
        .call("POST", "/v1/auth/token/revoke", Some(json!({})))
        .await;
    assert_eq!((status, error(&body)), (400, "missing token ID"));

    // revoke-orphan: the token goes, its children stay (as orphans).
    let second = app.create_token(json!({"policies": ["root"]})).await.0;
    let (_, body) = create(&app, &second, "/v1/auth/token/create", json!({})).await;
    let kept = body["auth"]["client_token"].as_str().unwrap().to_owned();
    let (status, _) = app
        .call(
            "POST",
            "/v1/auth/token/revoke-orphan",
            Some(json!({"token": second})),
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(alive(second).await, 403);
    let (status, body) = as_token(&app, &kept, "GET", "/v1/auth/token/lookup-self", None).await;
    assert_eq!((status, body["data"]["orphan"].clone()), (200, json!(true)));

    // Orphans without the orphan route need root or sudo; revoke-orphan needs sudo.
    policy(
        &app,
        "maker",
        r#"path "auth/token/create" { capabilities = ["update"] }
path "auth/token/revoke-orphan" { capabilities = ["update"] }"#,
    )
    .await;
    let maker = app.create_token(json!({"policies": ["maker"]})).await.0;
    let (status, body) = create(
        &app,
        &maker,
        "/v1/auth/token/create",
        json!({"no_parent": true}),
    )
    .await;
    assert_eq!(
        (status, error(&body)),
        (
            400,
            "root or sudo privileges required to create orphan token"
        )
    );
    let (status, _) = create(
        &app,
        &maker,
        "/v1/auth/token/revoke-orphan",
        json!({"token": kept}),
    )
    .await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn token_roles_decide_what_their_tokens_get() {
    for db in BOTH {
        let app = TestApp::start(db).await;
        let (status, _) = app.call("LIST", "/v1/auth/token/roles", None).await;
        assert_eq!(status, 404, "{db:?}: no roles yet");
        let (status, body) = app
            .call(
                "POST",
                "/v1/auth/token/roles/CI",
                Some(json!({
                    "allowed_policies": ["deployer", "reader"],
                    "disallowed_policies": "admin",
                    "orphan": true,
                    "token_period": "1h",
                    "token_explicit_max_ttl": "10h",
                    "token_num_uses": 0,
                    "path_suffix": "v1-prod",
                    "token_type": "service",
                })),
            )
            .await;
        assert_eq!(status, 204, "{db:?} {body}");
        let (status, body) = app.call("GET", "/v1/auth/token/roles/ci", None).await;
        assert_eq!(status, 200, "{db:?} {body}");
        let role = &body["data"];
        assert_eq!(role["name"], "ci");
        assert_eq!(role["allowed_policies"], json!(["deployer", "reader"]));
        assert_eq!(role["disallowed_policies"], json!(["admin"]));
        assert_eq!(
            (role["orphan"].clone(), role["renewable"].clone()),
            (json!(true), json!(true))
        );
        assert_eq!(
            (role["token_period"].clone(), role["period"].clone()),
            (json!(3600), json!(3600))
        );
        assert_eq!(role["token_explicit_max_ttl"], 36000);
        assert_eq!(role["token_type"], "service");
        let (status, body) = app.call("LIST", "/v1/auth/token/roles", None).await;
        assert_eq!((status, body["data"]["keys"].clone()), (200, json!(["ci"])));

        // A caller allowed to use the role gets the role's policies, not its own.
        policy(
            &app,
            "use-ci",
            r#"path "auth/token/create/ci" { capabilities = ["update"] }"#,
        )
        .await;
        let user = app.create_token(json!({"policies": ["use-ci"]})).await.0;
        let (status, body) = create(
            &app,
            &user,
            "/v1/auth/token/create/ci",
            json!({"policies": ["reader"]}),
        )
        .await;
        assert_eq!(status, 200, "{db:?} {body}");
        let auth = &body["auth"];
        assert_eq!(auth["policies"], json!(["default", "reader"]));
        assert_eq!(
            (auth["orphan"].clone(), auth["lease_duration"].clone()),
            (json!(true), json!(3600))
        );
        let made = auth["client_token"].as_str().unwrap().to_owned();
        let (_, body) = as_token(&app, &made, "GET", "/v1/auth/token/lookup-self", None).await;
        assert_eq!(body["data"]["role"], "ci");
        assert_eq!(body["data"]["path"], "auth/token/create/ci/v1-prod");

        for (asked, message) in [
            (
                json!({"policies": ["admin"]}),
                "must be subset of the role's allowed policies",
            ),
            (
                json!({"policies": ["root"]}),
                "must be subset of the role's allowed policies",
            ),
            (json!({"polices": ["reader"]}), "polices"),
        ] {
            let (status, body) =
                create(&app, &user, "/v1/auth/token/create/ci", asked.clone()).await;
            assert_eq!(status, 400, "{db:?} {asked}: {body}");
            assert!(error(&body).contains(message), "{db:?} {asked}: {body}");
        }
        let (status, body) = app
            .call("POST", "/v1/auth/token/create/nope", Some(json!({})))
            .await;
        assert_eq!((status, error(&body)), (400, "unknown role nope"));
        // The role does not reach beyond itself: create without it still needs its own ACL.
        let (status, _) = create(&app, &user, "/v1/auth/token/create", json!({})).await;
        assert_eq!(status, 403);

        for refused in [
            json!({"allowed_policies": ["root"]}),
            json!({"token_type": "batch"}),
            json!({"allowed_policies_glob": ["dev-*"]}),
            json!({"orphn": true}),
        ] {
            let (status, body) = app
                .call("POST", "/v1/auth/token/roles/ci", Some(refused.clone()))
                .await;
            assert_eq!(status, 400, "{db:?} {refused}: {body}");
        }
        let (status, _) = app.call("DELETE", "/v1/auth/token/roles/ci", None).await;
        assert_eq!(status, 204);
        let (status, _) = app.call("GET", "/v1/auth/token/roles/ci", None).await;
        assert_eq!(status, 404);
        // Tokens made from a deleted role keep working, as in Vault.
        let (status, _) = as_token(&app, &made, "GET", "/v1/auth/token/lookup-self", None).await;
        assert_eq!(status, 200, "{db:?}");
    }
}

#[tokio::test]
async fn the_default_policy_is_built_in_attached_and_kept() {
    let app = TestApp::start(Db::Sqlite).await;
    let (status, body) = app.call("GET", "/v1/sys/policies/acl/default", None).await;
    assert_eq!(status, 200);
    assert!(body["data"]["policy"]
        .as_str()
        .unwrap()
        .contains("auth/token/renew-self"));
    let (status, body) = app
        .call("DELETE", "/v1/sys/policies/acl/default", None)
        .await;
    assert_eq!(
        (status, error(&body)),
        (400, "cannot delete default policy")
    );
    let (status, body) = app.call("DELETE", "/v1/sys/policies/acl/root", None).await;
    assert_eq!(
        (status, error(&body)),
        (400, "cannot delete \"root\" policy")
    );

    let (status, body) = app
        .call(
            "POST",
            "/v1/auth/token/create",
            Some(json!({"policies": ["x"]})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["auth"]["policies"], json!(["default", "x"]));
    // Vault's default policy also lets a token wrap and unwrap responses (migration 0021).
    let with_default = body["auth"]["client_token"].as_str().unwrap().to_owned();
    let (status, wrapped) = crate::harness::send(
        app.client
            .post(format!("{}/v1/sys/wrapping/wrap", app.base))
            .header("X-Vault-Token", &with_default)
            .header("X-Vault-Wrap-TTL", "60")
            .json(&json!({"k": "v"})),
    )
    .await;
    assert_eq!(status, 200, "{wrapped}");
    let bare = app
        .create_token(json!({"policies": ["x"], "no_default_policy": true}))
        .await
        .0;
    // Without the default policy a token may not even look itself up, as in Vault.
    for (method, path) in [
        ("GET", "/v1/auth/token/lookup-self"),
        ("POST", "/v1/auth/token/renew-self"),
        ("POST", "/v1/sys/capabilities-self"),
        ("POST", "/v1/sys/wrapping/wrap"),
    ] {
        assert_eq!(
            as_token(&app, &bare, method, path, None).await.0,
            403,
            "{path}"
        );
    }
}

#[tokio::test]
async fn capabilities_in_vaults_shape() {
    let app = TestApp::start(Db::Sqlite).await;
    policy(
        &app,
        "app",
        r#"path "secret/data/app/*" { capabilities = ["read", "list"] }"#,
    )
    .await;
    let (token, accessor) = app.create_token(json!({"policies": ["app"]})).await;
    let (status, body) = as_token(
        &app,
        &token,
        "POST",
        "/v1/sys/capabilities-self",
        Some(json!({"paths": ["secret/data/app/db", "secret/data/other"]})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["secret/data/app/db"], json!(["list", "read"]));
    assert_eq!(body["data"]["secret/data/other"], json!(["deny"]));
    assert_eq!(body["data"].get("capabilities"), None, "only for one path");
    let (_, body) = as_token(
        &app,
        &token,
        "POST",
        "/v1/sys/capabilities-self",
        Some(json!({"path": "secret/data/app/db"})),
    )
    .await;
    assert_eq!(body["data"]["capabilities"], json!(["list", "read"]));

    let (status, body) = app
        .call(
            "POST",
            "/v1/sys/capabilities",
            Some(json!({"token": token, "paths": ["secret/data/app/x"]})),
        )
        .await;
    assert_eq!(
        (status, body["data"]["capabilities"].clone()),
        (200, json!(["list", "read"]))
    );
    let (_, body) = app
        .call(
            "POST",
            "/v1/sys/capabilities-accessor",
            Some(json!({"accessor": accessor, "paths": ["a"]})),
        )
        .await;
    assert_eq!(body["data"]["capabilities"], json!(["deny"]));
    let (_, body) = app
        .call(
            "POST",
            "/v1/sys/capabilities-self",
            Some(json!({"paths": ["x"]})),
        )
        .await;
    assert_eq!(body["data"]["capabilities"], json!(["root"]));
    let (status, body) = app
        .call(
            "POST",
            "/v1/sys/capabilities",
            Some(json!({"token": "cmt.nope", "paths": ["x"]})),
        )
        .await;
    assert_eq!((status, error(&body)), (400, "invalid token"));
    let (status, body) = app
        .call("POST", "/v1/sys/capabilities-self", Some(json!({})))
        .await;
    assert_eq!((status, error(&body)), (400, "paths must be supplied"));
    // Asking about another token needs a policy for it.
    let (status, _) = as_token(
        &app,
        &token,
        "POST",
        "/v1/sys/capabilities",
        Some(json!({"token": app.token, "paths": ["x"]})),
    )
    .await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn vaults_statuses_for_bad_tokens_and_unknown_fields() {
    let app = TestApp::start(Db::Sqlite).await;
    let (token, _) = app.create_token(json!({})).await;
    let (status, body) = app
        .call(
            "POST",
            "/v1/auth/token/lookup",
            Some(json!({"token": "cmt.unknown"})),
        )
        .await;
    assert_eq!((status, error(&body)), (403, "bad token"));
    // Without a token in the body, lookup answers for the caller (Vault).
    let (status, body) = as_token(&app, &token, "POST", "/v1/auth/token/lookup-self", None).await;
    assert_eq!((status, body["data"]["id"].clone()), (200, json!(token)));
    app.call(
        "POST",
        "/v1/auth/token/revoke",
        Some(json!({"token": token})),
    )
    .await;
    let (status, body) = as_token(&app, &token, "GET", "/v1/auth/token/lookup-self", None).await;
    assert_eq!((status, error(&body)), (403, "permission denied"));
    let (status, body) = app
        .call(
            "POST",
            "/v1/auth/token/lookup",
            Some(json!({"token": token})),
        )
        .await;
    assert_eq!((status, error(&body)), (403, "bad token"));

    for (body, field) in [
        (json!({"policy": ["x"]}), "policy"),
        (json!({"ttl": "1h", "max_ttl": "2h"}), "max_ttl"),
        (json!({"type": "batch"}), "batch"),
        (json!({"entity_alias": "bob"}), "entity_alias"),
    ] {
        let (status, answer) = app
            .call("POST", "/v1/auth/token/create", Some(body.clone()))
            .await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert!(error(&answer).contains(field), "{body}: {answer}");
    }
    // Vault's other create fields are accepted.
    let (status, body) = app
        .call(
            "POST",
            "/v1/auth/token/create",
            Some(json!({
                "policies": ["a"], "meta": {"k": "v"}, "no_parent": false,
                "no_default_policy": false, "renewable": true, "ttl": "1h", "type": "service",
                "explicit_max_ttl": 0, "display_name": "my app", "num_uses": 0,
                "format": "json", "lease": "2h",
            })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["auth"]["metadata"], json!({"k": "v"}));
    assert_eq!(body["auth"]["lease_duration"], 3600);
}

#[tokio::test]
async fn renewals_lookups_and_denials_are_audited_without_the_token() {
    let app = TestApp::start(Db::Sqlite).await;
    let (token, accessor) = app
        .create_token(json!({"ttl": "1h", "policies": ["default"]}))
        .await;
    let cases = [
        (
            "renew-1",
            "/v1/auth/token/renew-self",
            Some(json!({"increment": 60})),
            "ok",
        ),
        ("lookup-1", "/v1/auth/token/lookup-self", None, "ok"),
        (
            "denied-1",
            "/v1/auth/token/create",
            Some(json!({})),
            "denied",
        ),
    ];
    for (id, path, body, _) in &cases {
        let mut request = app
            .client
            .post(format!("{}{path}", app.base))
            .header("X-Vault-Token", &token)
            .header("X-Request-Id", *id);
        if let Some(body) = body {
            request = request.json(body);
        }
        request.send().await.unwrap();
    }
    let (status, body) = app
        .call("GET", "/v1/sys/audit/events?limit=1000", None)
        .await;
    assert_eq!(status, 200);
    let events = body["data"]["events"].as_array().unwrap();
    for (id, _, _, outcome) in &cases {
        let event = events
            .iter()
            .find(|e| e["request_id"] == *id)
            .unwrap_or_else(|| panic!("{id} not audited"));
        assert_eq!(event["outcome"], *outcome, "{id}: {event}");
        assert_eq!(event["actor_accessor"], accessor.as_str(), "{id}: {event}");
    }
    assert!(
        !body.to_string().contains(&token),
        "the token itself is never audited"
    );
}

#[tokio::test]
async fn listing_accessors_needs_sudo() {
    let app = TestApp::start(Db::Sqlite).await;
    let (token, accessor) = app.create_token(json!({"policies": ["lister"]})).await;
    let (status, body) = app.call("LIST", "/v1/auth/token/accessors", None).await;
    assert_eq!(status, 200, "{body}");
    let keys = body["data"]["keys"].as_array().unwrap();
    assert!(keys.iter().any(|k| *k == accessor.as_str()), "{body}");
    assert!(!body.to_string().contains(&token));
    // `list` alone is not enough, as in Vault.
    policy(
        &app,
        "lister",
        r#"path "auth/token/accessors/" { capabilities = ["list"] }"#,
    )
    .await;
    let (status, _) = as_token(&app, &token, "LIST", "/v1/auth/token/accessors", None).await;
    assert_eq!(status, 403);
    policy(
        &app,
        "lister",
        r#"path "auth/token/accessors/" { capabilities = ["list", "sudo"] }"#,
    )
    .await;
    let (status, _) = as_token(&app, &token, "LIST", "/v1/auth/token/accessors", None).await;
    assert_eq!(status, 200);
    app.call(
        "POST",
        "/v1/auth/token/revoke-accessor",
        Some(json!({"accessor": accessor})),
    )
    .await;
    let (_, body) = app.call("LIST", "/v1/auth/token/accessors", None).await;
    assert!(
        !body.to_string().contains(&accessor),
        "revoked tokens are not listed"
    );
}

/// Migration 0009 gives tokens live when it runs (other than root tokens) the default
/// policy, so they keep the `-self` routes that used to need no policy. Its statement is
/// run again here on tokens inserted as they were before it, on both backends.
#[tokio::test]
async fn migration_0009_gives_live_tokens_the_default_policy() {
    for db in BOTH {
        let app = TestApp::start(db).await;
        let migration = match db {
            Db::Sqlite => include_str!("../../../../../migrations/sqlite/0009_token_lifecycle.sql"),
            Db::Postgres => {
                include_str!("../../../../../migrations/postgres/0009_token_lifecycle.sql")
            }
        };
        let statement = &migration[migration.rfind("update tokens").unwrap()..];
        let (old, old_accessor) = app.create_token(json!({"policies": ["x"]})).await;
        let (_, root_accessor) = app.create_token(json!({"policies": ["root"]})).await;
        let (_, revoked_accessor) = app.create_token(json!({"policies": ["y"]})).await;
        let pool = app.raw_db().await;
        for (accessor, policies, revoked) in [
            (&old_accessor, r#"["x"]"#, None),
            (&root_accessor, r#"["root"]"#, None),
            (&revoked_accessor, r#"["y"]"#, Some(1_i64)),
        ] {
            sqlx::query("update tokens set policies = $2, revoked_at = $3 where accessor = $1")
                .bind(accessor.as_str())
                .bind(policies)
                .bind(revoked)
                .execute(&pool)
                .await
                .unwrap();
        }
        sqlx::query(statement).execute(&pool).await.unwrap();
        let policies = |accessor: String| {
            let pool = pool.clone();
            async move {
                let row: (String,) =
                    sqlx::query_as("select policies from tokens where accessor = $1")
                        .bind(accessor)
                        .fetch_one(&pool)
                        .await
                        .unwrap();
                serde_json::from_str::<Value>(&row.0).unwrap()
            }
        };
        assert_eq!(
            policies(old_accessor).await,
            json!(["x", "default"]),
            "{db:?}"
        );
        assert_eq!(policies(root_accessor).await, json!(["root"]), "{db:?}");
        assert_eq!(policies(revoked_accessor).await, json!(["y"]), "{db:?}");
        // Never used before, so not cached: its first request reads the migrated row.
        let (status, _) = as_token(&app, &old, "GET", "/v1/auth/token/lookup-self", None).await;
        assert_eq!(status, 200, "{db:?}");
    }
}

#[tokio::test]
async fn token_tidy_answers_vaults_202_and_needs_sudo() {
    let app = TestApp::start(Db::Sqlite).await;
    let (status, body) = app.call("POST", "/v1/auth/token/tidy", None).await;
    assert_eq!(status, 202, "{body}");
    assert!(body["warnings"][0]
        .as_str()
        .unwrap()
        .starts_with("Tidy operation successfully started"));
    policy(
        &app,
        "tidier",
        r#"path "auth/token/tidy" { capabilities = ["update"] }"#,
    )
    .await;
    let tidier = app.create_token(json!({"policies": ["tidier"]})).await.0;
    let (status, _) = as_token(&app, &tidier, "POST", "/v1/auth/token/tidy", None).await;
    assert_eq!(status, 403, "sudo is needed too");
}
