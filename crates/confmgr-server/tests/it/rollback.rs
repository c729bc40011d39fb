//! `POST /v1/secret/rollback/:path`: version n's data as a new version, with `update` and
//! without `read`, re-encrypted, audited, and nothing changed by a refused request.

use crate::harness::{send, TestApp, BOTH};
use serde_json::{json, Value};
use sqlx::Row;

async fn call_as(
    app: &TestApp,
    token: Option<&str>,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = app.client.request(method, format!("{}{path}", app.base));
    if let Some(token) = token {
        request = request.header("X-Vault-Token", token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    send(request).await
}

/// A token whose only policy grants `capabilities` on `secret/data/app/*`.
async fn token_with(app: &TestApp, name: &str, capabilities: &str) -> String {
    let policy = format!("path \"secret/data/app/*\" {{ capabilities = [{capabilities}] }}");
    let (status, body) = app
        .call(
            "PUT",
            &format!("/v1/sys/policies/acl/{name}"),
            Some(json!({ "policy": policy })),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    app.create_token(json!({"policies": [name]})).await.0
}

async fn put(app: &TestApp, path: &str, data: Value) {
    let (status, body) = app
        .call(
            "POST",
            &format!("/v1/secret/data/{path}"),
            Some(json!({ "data": data })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

/// (current version, current data or Null when it cannot be read, number of versions kept).
async fn state_of(app: &TestApp, path: &str) -> (i64, Value, usize) {
    let (status, meta) = app
        .call("GET", &format!("/v1/secret/metadata/{path}"), None)
        .await;
    assert_eq!(status, 200, "{meta}");
    let (_, read) = app
        .call("GET", &format!("/v1/secret/data/{path}"), None)
        .await;
    (
        meta["data"]["current_version"].as_i64().unwrap(),
        read["data"]["data"].clone(),
        meta["data"]["versions"].as_object().unwrap().len(),
    )
}

async fn ciphertext_and_key(app: &TestApp, path: &str, version: i64) -> (Vec<u8>, Vec<u8>) {
    let row = sqlx::query(
        "select ciphertext, wrapped_dek from kv_versions where path = $1 and version = $2",
    )
    .bind(path.to_owned())
    .bind(version)
    .fetch_one(&app.raw_db().await)
    .await
    .unwrap();
    (row.get("ciphertext"), row.get("wrapped_dek"))
}

#[tokio::test]
async fn rollback_writes_the_old_data_as_a_new_version() {
    for db in BOTH {
        let app = TestApp::start(db).await;
        put(&app, "app/db", json!({"user": "u", "pw": "one"})).await;
        put(
            &app,
            "app/db",
            json!({"user": "u", "pw": "two", "extra": 1}),
        )
        .await;
        let (status, body) = send(
            app.request("POST", "/v1/secret/rollback/app/db")
                .header("X-Request-Id", "rollback-1")
                .json(&json!({"version": 1})),
        )
        .await;
        assert_eq!(status, 200, "{db:?} {body}");
        assert_eq!(
            state_of(&app, "app/db").await,
            (3, json!({"user": "u", "pw": "one"}), 3),
            "{db:?}"
        );
        // Version 2 is still there, untouched.
        let (_, v2) = app
            .call("GET", "/v1/secret/data/app/db?version=2", None)
            .await;
        assert_eq!(v2["data"]["data"]["pw"], "two");

        // The response is shaped like a write's, in the KV envelope.
        let (status, body) = app
            .call(
                "POST",
                "/v1/secret/rollback/app/db",
                Some(json!({"version": "2"})),
            )
            .await;
        assert_eq!(status, 200, "{db:?} {body}");
        let data = &body["data"];
        assert_eq!(data["version"], 4);
        assert_eq!(data["deletion_time"], "");
        assert_eq!(data["destroyed"], false);
        assert!(data["created_time"].as_str().unwrap().ends_with('Z'));
        assert!(data.get("custom_metadata").is_some(), "{body}");
        assert!(data.get("data").is_none(), "no secret data in the answer");
        for key in ["request_id", "lease_id", "renewable", "wrap_info", "auth"] {
            assert!(body.get(key).is_some(), "envelope lacks {key}");
        }
        assert_eq!(
            state_of(&app, "app/db").await.1,
            json!({"user": "u", "pw": "two", "extra": 1})
        );

        // Sealed again under a fresh data key, never a copy of the old ciphertext.
        let (c1, k1) = ciphertext_and_key(&app, "app/db", 1).await;
        let (c3, k3) = ciphertext_and_key(&app, "app/db", 3).await;
        assert_ne!(c1, c3, "{db:?}: ciphertext copied");
        assert_ne!(k1, k3, "{db:?}: data key reused");

        // Audited as a write of the new version, with no secret value in the event.
        let (status, events) = app
            .call(
                "GET",
                "/v1/sys/audit/events?limit=1000&path_prefix=rollback/",
                None,
            )
            .await;
        assert_eq!(status, 200, "{events}");
        let events = events["data"]["events"].as_array().unwrap();
        let event = events
            .iter()
            .find(|e| e["request_id"] == "rollback-1")
            .unwrap_or_else(|| panic!("{db:?}: no event for the rollback in {events:?}"));
        assert_eq!(
            (
                event["operation"].as_str(),
                event["mount"].as_str(),
                event["path"].as_str(),
                event["outcome"].as_str(),
                event["status"].as_u64(),
                event["version"].as_i64(),
            ),
            (
                Some("write"),
                Some("secret"),
                Some("rollback/app/db"),
                Some("ok"),
                Some(200),
                Some(3)
            ),
            "{db:?}"
        );
        assert!(!event["actor_accessor"].as_str().unwrap().is_empty());
        assert!(!event.to_string().contains("one"), "{event}");
    }
}

#[tokio::test]
async fn update_without_read_can_roll_back_but_not_read() {
    for db in BOTH {
        let app = TestApp::start(db).await;
        put(&app, "app/api", json!({"key": "old"})).await;
        put(&app, "app/api", json!({"key": "new"})).await;
        let updater = token_with(&app, "updater", "\"update\"").await;

        let (status, body) = call_as(
            &app,
            Some(&updater),
            "POST",
            "/v1/secret/rollback/app/api",
            Some(json!({"version": 1})),
        )
        .await;
        assert_eq!(status, 200, "{db:?} {body}");
        assert_eq!(body["data"]["version"], 3);
        assert!(
            !body.to_string().contains("old"),
            "the answer reveals no data: {body}"
        );
        assert_eq!(
            state_of(&app, "app/api").await,
            (3, json!({"key": "old"}), 3)
        );

        for read in [
            "/v1/secret/data/app/api",
            "/v1/secret/data/app/api?version=1",
        ] {
            let (status, body) = call_as(&app, Some(&updater), "GET", read, None).await;
            assert_eq!(status, 403, "{db:?} {read}: {body}");
            assert!(!body.to_string().contains("old"));
        }
        // Only `secret/data/app/*` is granted.
        put(&app, "other/x", json!({"k": "a"})).await;
        put(&app, "other/x", json!({"k": "b"})).await;
        let (status, _) = call_as(
            &app,
            Some(&updater),
            "POST",
            "/v1/secret/rollback/other/x",
            Some(json!({"version": 1})),
        )
        .await;
        assert_eq!(status, 403, "{db:?}");
        assert_eq!(state_of(&app, "other/x").await, (2, json!({"k": "b"}), 2));
    }
}

#[tokio::test]
async fn without_update_is_forbidden_and_changes_nothing() {
    for db in BOTH {
        let app = TestApp::start(db).await;
        put(&app, "app/api", json!({"key": "old"})).await;
        put(&app, "app/api", json!({"key": "new"})).await;
        let reader = token_with(&app, "reader", "\"read\", \"create\", \"list\"").await;
        let patcher = token_with(&app, "patcher", "\"patch\", \"delete\"").await;
        for token in [Some(reader.as_str()), Some(patcher.as_str()), None] {
            for path in [
                "/v1/secret/rollback/app/api",
                "/v1/secret/rollback/app/nope",
            ] {
                let (status, body) =
                    call_as(&app, token, "POST", path, Some(json!({"version": 1}))).await;
                assert_eq!(
                    (status, body),
                    (403, json!({"errors": ["permission denied"]})),
                    "{db:?} {path}: a missing path answers like an existing one"
                );
            }
        }
        assert_eq!(
            state_of(&app, "app/api").await,
            (2, json!({"key": "new"}), 2)
        );
    }
}

async fn rollback(app: &TestApp, path: &str, body: Value) -> (u16, Value) {
    app.call("POST", &format!("/v1/secret/rollback/{path}"), Some(body))
        .await
}

#[tokio::test]
async fn bad_input_changes_nothing() {
    for db in BOTH {
        let app = TestApp::start(db).await;
        put(&app, "app/cfg", json!({"v": "1"})).await;
        put(&app, "app/cfg", json!({"v": "2"})).await;
        put(&app, "app/cfg", json!({"v": "3"})).await;
        put(&app, "app/cfg", json!({"v": "4"})).await;
        assert_eq!(
            app.call(
                "POST",
                "/v1/secret/delete/app/cfg",
                Some(json!({"versions": [2]}))
            )
            .await
            .0,
            204
        );
        assert_eq!(
            app.call(
                "POST",
                "/v1/secret/destroy/app/cfg",
                Some(json!({"versions": [3]}))
            )
            .await
            .0,
            204
        );
        let before = state_of(&app, "app/cfg").await;
        assert_eq!(before, (4, json!({"v": "4"}), 4));

        for body in [
            json!({}),
            json!({"version": 0}),
            json!({"version": -1}),
            json!({"version": 1.5}),
            json!({"version": "one"}),
            json!({"version": true}),
            json!({"version": null}),
            json!({"version": [1]}),
            json!({"version": 1, "options": {"cas": -1}}),
        ] {
            let (status, answer) = rollback(&app, "app/cfg", body.clone()).await;
            assert_eq!(status, 400, "{db:?} {body}: {answer}");
            assert_eq!(answer["errors"].as_array().unwrap().len(), 1, "{answer}");
        }
        let (status, answer) = send(
            app.request("POST", "/v1/secret/rollback/app/cfg")
                .header("Content-Type", "application/json")
                .body("{\"version\": "),
        )
        .await;
        assert_eq!(status, 400, "{db:?} malformed JSON {answer}");

        for (version, what) in [(2, "deleted"), (3, "destroyed")] {
            let (status, answer) = rollback(&app, "app/cfg", json!({ "version": version })).await;
            assert_eq!(status, 400, "{db:?} {what}: {answer}");
            let message = answer["errors"][0].as_str().unwrap();
            assert!(
                message.contains(&format!("version {version}")) && message.contains("deleted"),
                "{db:?}: {message}"
            );
        }
        for (path, version) in [("app/cfg", 5), ("app/cfg", 99), ("app/missing", 1)] {
            let (status, answer) = rollback(&app, path, json!({ "version": version })).await;
            assert_eq!(
                (status, answer),
                (404, json!({"errors": []})),
                "{db:?} {path} v{version}"
            );
        }
        // A stale check-and-set is refused like a normal write's.
        let (status, answer) = rollback(
            &app,
            "app/cfg",
            json!({"version": 1, "options": {"cas": 3}}),
        )
        .await;
        assert_eq!(
            (status, answer),
            (
                400,
                json!({"errors": ["check-and-set parameter did not match the current version"]})
            ),
            "{db:?}"
        );
        assert_eq!(state_of(&app, "app/cfg").await, before, "{db:?}");
        // The missing path was not created by the refused rollback.
        let (status, _) = app
            .call("GET", "/v1/secret/metadata/app/missing", None)
            .await;
        assert_eq!(status, 404);
    }
}

#[tokio::test]
async fn cas_required_and_max_versions_apply_as_to_a_write() {
    for db in BOTH {
        let app = TestApp::start(db).await;
        put(&app, "app/lim", json!({"v": "a"})).await;
        put(&app, "app/lim", json!({"v": "b"})).await;
        let (status, _) = app
            .call(
                "POST",
                "/v1/secret/metadata/app/lim",
                Some(json!({"cas_required": true, "max_versions": 2})),
            )
            .await;
        assert_eq!(status, 204);

        let (status, answer) = rollback(&app, "app/lim", json!({"version": 1})).await;
        assert_eq!(
            (status, answer),
            (
                400,
                json!({"errors": ["check-and-set parameter required for this call"]})
            ),
            "{db:?}"
        );
        assert_eq!(state_of(&app, "app/lim").await, (2, json!({"v": "b"}), 2));

        let (status, answer) = rollback(
            &app,
            "app/lim",
            json!({"version": 1, "options": {"cas": 2}}),
        )
        .await;
        assert_eq!(status, 200, "{db:?} {answer}");
        assert_eq!(answer["data"]["version"], 3);
        // Pruned to max_versions = 2: version 1 is gone, so it can no longer be rolled back to.
        let (_, meta) = app.call("GET", "/v1/secret/metadata/app/lim", None).await;
        assert_eq!(meta["data"]["oldest_version"], 2, "{db:?} {meta}");
        assert_eq!(
            state_of(&app, "app/lim").await,
            (3, json!({"v": "a"}), 2),
            "{db:?}"
        );
        let (status, _) = rollback(
            &app,
            "app/lim",
            json!({"version": 1, "options": {"cas": 3}}),
        )
        .await;
        assert_eq!(status, 404, "{db:?}");

        // The mount's delete_version_after applies to the new version as to a write.
        let (status, _) = app
            .call(
                "POST",
                "/v1/secret/config",
                Some(json!({"delete_version_after": "1h"})),
            )
            .await;
        assert_eq!(status, 204);
        let (status, answer) = rollback(
            &app,
            "app/lim",
            json!({"version": 2, "options": {"cas": 3}}),
        )
        .await;
        assert_eq!(status, 200, "{db:?} {answer}");
        assert_ne!(answer["data"]["deletion_time"], "", "{db:?} {answer}");
    }
}

#[tokio::test]
async fn rollback_across_a_key_rotation_seals_under_the_new_term() {
    for db in BOTH {
        let app = TestApp::start(db).await;
        put(&app, "app/rot", json!({"v": "before"})).await;
        put(&app, "app/rot", json!({"v": "after"})).await;
        let (status, body) = app.call("POST", "/v1/sys/keys/rotate", None).await;
        assert_eq!((status, &body["data"]["term"]), (200, &json!(2)), "{body}");
        let (status, body) = rollback(&app, "app/rot", json!({"version": 1})).await;
        assert_eq!(status, 200, "{db:?} {body}");
        assert_eq!(state_of(&app, "app/rot").await.1, json!({"v": "before"}));
        let row =
            sqlx::query("select term from kv_versions where path = 'app/rot' and version = 3")
                .fetch_one(&app.raw_db().await)
                .await
                .unwrap();
        assert_eq!(
            row.get::<i64, _>("term"),
            2,
            "{db:?}: opened under term 1, sealed under 2"
        );
    }
}
