//! The legacy create/fetch API (`CONFMGR_LEGACY_API`): both endpoints in `token` and `open`
//! modes, errors, 404 when off, exact bytes back, no plaintext at rest, audited.

use crate::harness::{send, Db, Options, TestApp, BOTH};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use confmgr_server::config::LegacyApi;
use serde_json::{json, Value};

const CREATE: [&str; 2] = ["/vault/secret/create/", "/vault/secret/create"];
const FETCH: [&str; 2] = ["/vault/secret/fetch", "/vault/secret/fetch/"];

async fn start(db: Db, mode: LegacyApi) -> TestApp {
    TestApp::start_options(
        db,
        Options {
            legacy_api: mode,
            ..Options::default()
        },
    )
    .await
}

/// POSTs `body` (JSON, or raw text when a string) with an optional token and request id.
async fn post(
    app: &TestApp,
    token: Option<&str>,
    route: &str,
    body: Value,
    request_id: &str,
) -> (u16, Value) {
    let mut request = app
        .client
        .post(format!("{}{route}", app.base))
        .header("X-Request-Id", request_id);
    if let Some(token) = token {
        request = request.header("X-Vault-Token", token);
    }
    request = match body {
        Value::String(raw) => request.header("Content-Type", "application/json").body(raw),
        body => request.json(&body),
    };
    send(request).await
}

/// Every byte value, then random ones: what a text-only path would mangle.
fn awkward_bytes() -> Vec<u8> {
    let mut bytes: Vec<u8> = (0..=255).collect();
    for _ in 0..8 {
        bytes.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    }
    bytes
}

async fn create(app: &TestApp, token: Option<&str>, route: &str, bytes: &[u8]) -> String {
    let (status, body) = post(
        app,
        token,
        route,
        json!({ "secret": STANDARD.encode(bytes) }),
        "create",
    )
    .await;
    assert_eq!(status, 200, "{route}: {body}");
    assert_eq!(
        body.as_object().unwrap().len(),
        1,
        "only the id is answered: {body}"
    );
    let id = body["secret_id"].as_str().unwrap().to_owned();
    let parsed = uuid::Uuid::parse_str(&id).unwrap();
    assert_eq!(parsed.get_version_num(), 4, "{id}");
    assert_eq!(parsed.hyphenated().to_string(), id, "lowercase, hyphenated");
    id
}

async fn fetch(app: &TestApp, token: Option<&str>, route: &str, id: &str) -> (u16, Value) {
    post(app, token, route, json!({ "secret_id": id }), "fetch").await
}

async fn policy_token(app: &TestApp, name: &str, rules: &str) -> String {
    let (status, body) = app
        .call(
            "PUT",
            &format!("/v1/sys/policies/acl/{name}"),
            Some(json!({ "policy": rules })),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    app.create_token(json!({"policies": [name]})).await.0
}

/// Errors that do not depend on who asks: 400 for bad input, 404 for unknown ids.
async fn assert_input_errors(app: &TestApp, token: Option<&str>, db: Db) {
    let secret_looking = "hunter2-not-base64!";
    for (body, what) in [
        (json!({ "secret": secret_looking }), "invalid base64"),
        (json!({ "secret": "aGVsbG8" }), "missing padding"),
        (json!({ "secret": "aGVs\nbG8=" }), "line break"),
        (json!({ "secret": "-_8=" }), "URL-safe alphabet"),
        (json!({ "secret": 12345 }), "a number"),
        (json!({ "value": "aGVsbG8=" }), "no secret field"),
        (json!([1, 2]), "not an object"),
        (Value::String("{\"secret\": ".into()), "malformed JSON"),
    ] {
        for route in CREATE {
            let (status, answer) = post(app, token, route, body.clone(), "bad-create").await;
            assert_eq!(status, 400, "{db:?} {route} {what}: {answer}");
            let errors = answer["errors"].as_array().unwrap();
            assert_eq!(errors.len(), 1, "{answer}");
            for echoed in [secret_looking, "12345", "aGVs"] {
                assert!(
                    !answer.to_string().contains(echoed),
                    "{what}: error echoes the input: {answer}"
                );
            }
        }
    }
    for (body, what) in [
        (json!({}), "no secret_id"),
        (json!({ "secret_id": 7 }), "a number"),
        (Value::String("not json".into()), "malformed JSON"),
    ] {
        let (status, answer) = post(app, token, FETCH[0], body, "bad-fetch").await;
        assert_eq!(status, 400, "{db:?} fetch {what}: {answer}");
    }
    for id in [
        uuid::Uuid::new_v4().to_string(),
        "not-a-uuid".into(),
        String::new(),
        "../../sys/policies".into(),
    ] {
        for route in FETCH {
            let (status, answer) = fetch(app, token, route, &id).await;
            assert_eq!(
                (status, answer),
                (404, json!({"errors": ["no secret with this secret_id"]})),
                "{db:?} {route} {id:?}"
            );
        }
    }
}

#[tokio::test]
async fn off_answers_like_an_unknown_route() {
    for db in BOTH {
        let app = start(db, LegacyApi::Off).await;
        let unknown = app.call("POST", "/vault/secret/nothing", None).await;
        assert_eq!(unknown.0, 404);
        for route in CREATE.iter().chain(FETCH.iter()) {
            for method in ["POST", "GET", "PUT"] {
                let answer = app
                    .call(
                        method,
                        route,
                        Some(json!({"secret": "aGVsbG8=", "secret_id": "x"})),
                    )
                    .await;
                assert_eq!(answer, unknown, "{db:?} {method} {route}");
            }
        }
        let (status, _) = app.call("LIST", "/v1/secret/metadata/legacy", None).await;
        assert_eq!(status, 404, "{db:?}: nothing was stored");
    }
}

#[tokio::test]
async fn token_mode_round_trip_and_errors() {
    for db in BOTH {
        let app = start(db, LegacyApi::Token).await;
        let root = Some(app.token.as_str());
        for (create_route, fetch_route) in CREATE.iter().zip(FETCH.iter()) {
            let bytes = awkward_bytes();
            let id = create(&app, root, create_route, &bytes).await;
            let (status, body) = fetch(&app, root, fetch_route, &id).await;
            assert_eq!(status, 200, "{db:?} {fetch_route}: {body}");
            assert_eq!(body.as_object().unwrap().len(), 1, "{body}");
            let back = STANDARD.decode(body["secret"].as_str().unwrap()).unwrap();
            assert_eq!(back, bytes, "{db:?}: the exact bytes come back");
            // Any spelling of the id names the same secret.
            let (status, _) = fetch(&app, root, fetch_route, &id.to_uppercase()).await;
            assert_eq!(status, 200);

            // An ordinary KV v2 secret, readable for migration.
            let (status, kv) = app
                .call("GET", &format!("/v1/secret/data/legacy/{id}"), None)
                .await;
            assert_eq!(status, 200, "{kv}");
            assert_eq!(
                kv["data"]["data"],
                json!({ "value": STANDARD.encode(&bytes) })
            );
            assert_eq!(kv["data"]["metadata"]["version"], 1);
        }
        // An empty secret is still a secret.
        let id = create(&app, root, CREATE[0], b"").await;
        assert_eq!(
            fetch(&app, root, FETCH[0], &id).await,
            (200, json!({"secret": ""}))
        );

        assert_input_errors(&app, root, db).await;

        for route in CREATE.iter().chain(FETCH.iter()) {
            let (status, body) = app.call("GET", route, None).await;
            assert_eq!(
                (status, body),
                (405, json!({"errors": ["unsupported operation"]})),
                "{db:?} GET {route}"
            );
        }
        // A secret deleted through the KV API is gone from the legacy API too.
        let id = create(&app, root, CREATE[0], b"short-lived").await;
        let (status, _) = app
            .call("DELETE", &format!("/v1/secret/data/legacy/{id}"), None)
            .await;
        assert_eq!(status, 204);
        assert_eq!(fetch(&app, root, FETCH[0], &id).await.0, 404, "{db:?}");
    }
}

#[tokio::test]
async fn token_mode_checks_policies() {
    for db in BOTH {
        let app = start(db, LegacyApi::Token).await;
        let writer = policy_token(
            &app,
            "legacy-writer",
            r#"path "secret/data/legacy/*" { capabilities = ["create"] }"#,
        )
        .await;
        let reader = policy_token(
            &app,
            "legacy-reader",
            r#"path "secret/data/legacy/*" { capabilities = ["read"] }"#,
        )
        .await;
        let elsewhere = policy_token(
            &app,
            "elsewhere",
            r#"path "secret/data/app/*" { capabilities = ["create", "update", "read"] }"#,
        )
        .await;
        let denied = json!({"errors": ["permission denied"]});
        let id = create(&app, Some(&writer), CREATE[0], b"from the writer").await;
        assert_eq!(
            fetch(&app, Some(&writer), FETCH[0], &id).await,
            (403, denied.clone()),
            "{db:?}: create does not imply read"
        );
        let (status, body) = fetch(&app, Some(&reader), FETCH[0], &id).await;
        assert_eq!(
            (
                status,
                STANDARD.decode(body["secret"].as_str().unwrap()).unwrap()
            ),
            (200, b"from the writer".to_vec()),
            "{db:?}"
        );
        let attempt = json!({"secret": "aGVsbG8="});
        for token in [
            Some(reader.as_str()),
            Some(elsewhere.as_str()),
            Some("cmt.bogus"),
            None,
        ] {
            let (status, body) = post(&app, token, CREATE[0], attempt.clone(), "c").await;
            assert_eq!((status, body), (403, denied.clone()), "{db:?} create");
        }
        for token in [Some(elsewhere.as_str()), Some("cmt.bogus"), None] {
            // A caller without read learns nothing, not even whether the id exists.
            for probe in [id.clone(), uuid::Uuid::new_v4().to_string()] {
                assert_eq!(
                    fetch(&app, token, FETCH[0], &probe).await,
                    (403, denied.clone()),
                    "{db:?} fetch"
                );
            }
        }
        let (_, listed) = app.call("LIST", "/v1/secret/metadata/legacy", None).await;
        assert_eq!(
            listed["data"]["keys"],
            json!([id]),
            "{db:?}: refused creates stored nothing"
        );
    }
}

#[tokio::test]
async fn open_mode_needs_no_token() {
    for db in BOTH {
        let app = start(db, LegacyApi::Open).await;
        for (create_route, fetch_route) in CREATE.iter().zip(FETCH.iter()) {
            let bytes = awkward_bytes();
            let id = create(&app, None, create_route, &bytes).await;
            let (status, body) = fetch(&app, None, fetch_route, &id).await;
            assert_eq!(status, 200, "{db:?}: {body}");
            assert_eq!(
                STANDARD.decode(body["secret"].as_str().unwrap()).unwrap(),
                bytes
            );
        }
        // A token, even a bogus one, changes nothing: it is not looked at.
        let id = create(&app, Some("cmt.bogus"), CREATE[0], b"x").await;
        assert_eq!(fetch(&app, Some("cmt.bogus"), FETCH[0], &id).await.0, 200);
        assert_input_errors(&app, None, db).await;
        // The rest of the API still needs a token.
        let (status, _) = send(
            app.client
                .get(format!("{}/v1/secret/data/legacy/{id}", app.base)),
        )
        .await;
        assert_eq!(status, 403, "{db:?}");
    }
}

#[tokio::test]
async fn stored_rows_hold_no_plaintext() {
    for db in BOTH {
        let app = start(db, LegacyApi::Token).await;
        let canary = b"legacy-canary-5d1c2a77-plaintext";
        let encoded = STANDARD.encode(canary);
        let id = create(&app, Some(&app.token), CREATE[0], canary).await;
        assert_eq!(
            fetch(&app, Some(&app.token), FETCH[0], &id).await.1["secret"],
            encoded.as_str(),
            "the canary is really stored"
        );
        let dumped = crate::security::dump(&app, db).await;
        assert!(
            dumped.contains(&format!("legacy/{id}")),
            "{db:?}: the dump covers the secret's rows"
        );
        let canary_text = String::from_utf8_lossy(canary).into_owned();
        for needle in [
            canary_text.clone(),
            crate::security::hex(canary),
            encoded.clone(),
            crate::security::hex(encoded.as_bytes()),
        ] {
            assert!(
                !dumped.contains(&needle),
                "{db:?}: database contains {needle}"
            );
        }
    }
}

#[tokio::test]
async fn legacy_access_is_audited() {
    for db in BOTH {
        for mode in [LegacyApi::Token, LegacyApi::Open] {
            let app = start(db, mode).await;
            let (token, accessor) = match mode {
                LegacyApi::Token => {
                    let rules =
                        r#"path "secret/data/legacy/*" { capabilities = ["create", "read"] }"#;
                    let (status, _) = app
                        .call(
                            "PUT",
                            "/v1/sys/policies/acl/migrator",
                            Some(json!({ "policy": rules })),
                        )
                        .await;
                    assert_eq!(status, 204);
                    let (token, accessor) =
                        app.create_token(json!({"policies": ["migrator"]})).await;
                    (Some(token), accessor)
                }
                _ => (None, String::new()),
            };
            let token = token.as_deref();
            let secret = STANDARD.encode(b"audited-secret-value");
            let (status, body) = post(
                &app,
                token,
                CREATE[0],
                json!({ "secret": secret }),
                "legacy-create",
            )
            .await;
            assert_eq!(status, 200, "{body}");
            let id = body["secret_id"].as_str().unwrap().to_owned();
            let cases = [
                ("legacy-create", json!({ "secret": secret }), CREATE[0]),
                ("legacy-fetch", json!({ "secret_id": id }), FETCH[0]),
                (
                    "legacy-unknown",
                    json!({ "secret_id": uuid::Uuid::new_v4() }),
                    FETCH[1],
                ),
                ("legacy-invalid", json!({ "secret": "%%%" }), CREATE[1]),
            ];
            for (request_id, body, route) in &cases[1..] {
                post(&app, token, route, body.clone(), request_id).await;
            }
            let (status, events) = app
                .call("GET", "/v1/sys/audit/events?limit=1000", None)
                .await;
            assert_eq!(status, 200, "{events}");
            let events = events["data"]["events"].as_array().unwrap();
            // Events name the KV secret behind the id (mount `secret`, path
            // `data/legacy/<id>`); a fetch is a `read`; the version is the one read.
            let expected = [
                ("legacy-create", "write", "ok", 200, Some(1)),
                ("legacy-fetch", "read", "ok", 200, Some(1)),
                ("legacy-unknown", "read", "not_found", 404, None),
                ("legacy-invalid", "write", "invalid", 400, None),
            ];
            for ((request_id, body, _), (_, operation, outcome, status, version)) in
                cases.iter().zip(expected)
            {
                let matching: Vec<&Value> = events
                    .iter()
                    .filter(|e| e["request_id"] == *request_id)
                    .collect();
                assert_eq!(
                    matching.len(),
                    1,
                    "{db:?} {mode:?} {request_id}: exactly one event, got {matching:?}"
                );
                let event = matching[0];
                assert_eq!(
                    (
                        event["operation"].as_str(),
                        event["outcome"].as_str(),
                        event["status"].as_u64(),
                        event["version"].as_i64(),
                    ),
                    (Some(operation), Some(outcome), Some(status), version),
                    "{db:?} {mode:?} {request_id}: {event}"
                );
                assert_eq!(
                    event["mount"], "secret",
                    "{db:?} {mode:?} {request_id}: {event}"
                );
                // The id is a credential: the path names its keyed digest (issue 22).
                let path = event["path"].as_str().unwrap();
                match body["secret_id"].as_str() {
                    Some(fetched) => assert_eq!(
                        path,
                        format!(
                            "data/{}",
                            confmgr_server::services::legacy::audit_path(
                                &app.state.root_key,
                                uuid::Uuid::parse_str(fetched).unwrap()
                            )
                        )
                    ),
                    // Created: the digest of the id the server chose.
                    None => assert!(
                        path.starts_with("data/legacy/hmac:"),
                        "{db:?} {mode:?} {request_id}: {event}"
                    ),
                }
                assert_eq!(
                    event["actor_accessor"], accessor,
                    "{db:?} {mode:?} {request_id}: the actor is the token's, none when open"
                );
                assert_eq!(event["remote_addr"], "127.0.0.1");
                for leaked in [secret.as_str(), "audited-secret-value"] {
                    assert!(!event.to_string().contains(leaked), "{event}");
                }
            }
        }
    }
}
