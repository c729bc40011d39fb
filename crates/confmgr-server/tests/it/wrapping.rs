//! Response wrapping through the HTTP API: `X-Vault-Wrap-TTL` on KV reads, AppRole
//! secret-id generation and token creation, `sys/wrapping/{wrap,unwrap,lookup,rewrap}`,
//! single use, expiry, tampering, concurrency, audit, and nothing in clear in the database.

use crate::harness::{as_token, send, Db, TestApp, BOTH};
use serde_json::{json, Value};

const INVALID: &str = "wrapping token is not valid or does not exist";

/// A request with the root token and `X-Vault-Wrap-TTL: ttl`.
async fn wrapped(
    app: &TestApp,
    method: &str,
    path: &str,
    ttl: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = app.request(method, path).header("X-Vault-Wrap-TTL", ttl);
    if let Some(body) = body {
        request = request.json(&body);
    }
    send(request).await
}

/// Unwraps with the wrapping token as the request's token (no other credential).
async fn unwrap_as(app: &TestApp, wrapping_token: &str) -> (u16, Value) {
    as_token(app, wrapping_token, "POST", "/v1/sys/wrapping/unwrap", None).await
}

/// `POST sys/wrapping/lookup` with the token in the body and no authentication.
async fn lookup(app: &TestApp, wrapping_token: &str) -> (u16, Value) {
    let url = format!("{}/v1/sys/wrapping/lookup", app.base);
    send(
        app.client
            .post(url)
            .json(&json!({ "token": wrapping_token })),
    )
    .await
}

fn wrap_token(body: &Value) -> String {
    body["wrap_info"]["token"].as_str().unwrap().to_owned()
}

/// The answer to a wrapped request carries `wrap_info` and nothing else.
fn assert_wrap_shape(body: &Value, ttl: i64, creation_path: &str) {
    for (field, want) in [
        ("data", Value::Null),
        ("auth", Value::Null),
        ("lease_id", json!("")),
        ("renewable", json!(false)),
        ("lease_duration", json!(0)),
    ] {
        assert_eq!(body[field], want, "{field}: {body}");
    }
    let info = &body["wrap_info"];
    assert!(
        info["token"].as_str().unwrap().starts_with("cmt."),
        "{body}"
    );
    assert!(!info["accessor"].as_str().unwrap().is_empty(), "{body}");
    assert_eq!(info["ttl"], json!(ttl), "{body}");
    assert_eq!(info["creation_path"], json!(creation_path), "{body}");
    let created = info["creation_time"].as_str().unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(created).is_ok(),
        "{created}"
    );
}

#[tokio::test]
async fn wrapped_kv_read_is_single_use_and_wraps_nothing_else() {
    for db in BOTH {
        let app = TestApp::start(db).await;
        let data = json!({"data": {"password": "wrapped-kv-canary"}});
        let (status, _) = app.call("POST", "/v1/secret/data/app/db", Some(data)).await;
        assert_eq!(status, 200);
        let (status, body) = wrapped(&app, "GET", "/v1/secret/data/app/db", "120s", None).await;
        assert_eq!(status, 200, "{body}");
        assert_wrap_shape(&body, 120, "secret/data/app/db");
        assert!(!body.to_string().contains("wrapped-kv-canary"), "{body}");
        assert_eq!(body["wrap_info"].get("wrapped_accessor"), None, "{body}");
        let token = wrap_token(&body);

        // The wrapping token is no token for anything else.
        let (status, _) = as_token(&app, &token, "GET", "/v1/secret/data/app/db", None).await;
        assert_eq!(status, 403);

        // Lookup needs no authentication and does not spend the token.
        for _ in 0..2 {
            let (status, body) = lookup(&app, &token).await;
            assert_eq!(status, 200, "{body}");
            assert_eq!(body["data"]["creation_path"], "secret/data/app/db");
            assert_eq!(body["data"]["creation_ttl"], 120);
            assert!(body["data"]["creation_time"].is_string());
        }

        // Also as the request's token, with GET.
        let (status, body) = as_token(&app, &token, "GET", "/v1/sys/wrapping/lookup", None).await;
        assert_eq!(
            (status, body["data"]["creation_ttl"].clone()),
            (200, json!(120))
        );

        let (status, body) = unwrap_as(&app, &token).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"]["data"]["password"], "wrapped-kv-canary");
        assert_eq!(body["data"]["metadata"]["version"], 1);
        assert_eq!(body["wrap_info"], Value::Null);

        // Single use: the second unwrap and a lookup fail as in Vault.
        for (status, body) in [unwrap_as(&app, &token).await, lookup(&app, &token).await] {
            assert_eq!((status, body), (400, json!({ "errors": [INVALID] })));
        }

        // A TTL of 0 asks for no wrapping; 204s and errors are never wrapped.
        let (status, body) = wrapped(&app, "GET", "/v1/secret/data/app/db", "0", None).await;
        assert_eq!(status, 200);
        assert_eq!(body["data"]["data"]["password"], "wrapped-kv-canary");
        let (status, body) = wrapped(&app, "GET", "/v1/secret/data/app/none", "60", None).await;
        assert_eq!((status, body), (404, json!({ "errors": [] })));
        let (status, body) = wrapped(&app, "DELETE", "/v1/secret/data/app/db", "60", None).await;
        assert_eq!((status, body), (204, Value::Null), "{db:?}");
        let url = format!("{}/v1/secret/data/app/db", app.base);
        let (status, _) = send(app.client.get(url).header("X-Vault-Wrap-TTL", "60")).await;
        assert_eq!(status, 403, "the route's own answer when not authenticated");
    }
}

#[tokio::test]
async fn bad_wrap_ttls_answer_400() {
    let app = TestApp::start(Db::Sqlite).await;
    app.call(
        "POST",
        "/v1/secret/data/a",
        Some(json!({"data": {"k": "v"}})),
    )
    .await;
    for (ttl, reason) in [
        ("abc", "invalid duration"),
        ("-5", "requested wrap ttl cannot be negative"),
        ("-1s", "requested wrap ttl cannot be negative"),
        ("10y", "invalid duration"),
        ("999999999", "exceeds the maximum of 7200 seconds"),
    ] {
        let (status, body) = wrapped(&app, "GET", "/v1/secret/data/a", ttl, None).await;
        assert_eq!(status, 400, "{ttl}: {body}");
        let message = body["errors"][0].as_str().unwrap();
        assert!(
            message.starts_with("error parsing X-Vault-Wrap-TTL header: ")
                && message.contains(reason),
            "{ttl}: {message}"
        );
    }
    for ttl in ["60", "60s", "1m", "1h"] {
        let (status, body) = wrapped(&app, "GET", "/v1/secret/data/a", ttl, None).await;
        assert_eq!(status, 200, "{ttl}: {body}");
        assert!(body["wrap_info"]["token"].is_string(), "{ttl}: {body}");
    }
    // sys/wrapping/wrap needs the header.
    let (status, body) = app
        .call("POST", "/v1/sys/wrapping/wrap", Some(json!({"a": "b"})))
        .await;
    assert_eq!(
        (status, body),
        (
            400,
            json!({"errors": ["endpoint requires response wrapping to be used"]})
        )
    );
}

/// AppRole secure introduction: the operator gets a wrapped secret_id, a CI job holding
/// only the wrapping token unwraps it and logs in.
#[tokio::test]
async fn approle_secure_introduction_end_to_end() {
    for db in BOTH {
        let app = TestApp::start(db).await;
        let policy = r#"path "secret/data/ci/*" { capabilities = ["read"] }"#;
        let (status, _) = app
            .call(
                "PUT",
                "/v1/sys/policies/acl/ci-read",
                Some(json!({ "policy": policy })),
            )
            .await;
        assert_eq!(status, 204);
        app.call(
            "POST",
            "/v1/secret/data/ci/deploy",
            Some(json!({"data": {"key": "deploy-key"}})),
        )
        .await;
        let (status, _) = app
            .call(
                "POST",
                "/v1/auth/approle/role/ci",
                Some(json!({"token_policies": ["ci-read"]})),
            )
            .await;
        assert_eq!(status, 204);
        let role_id = app.role_id("ci").await;

        let (status, body) = wrapped(
            &app,
            "POST",
            "/v1/auth/approle/role/ci/secret-id",
            "120s",
            Some(json!({})),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_wrap_shape(&body, 120, "auth/approle/role/ci/secret-id");
        assert!(!body.to_string().contains("secret_id\""), "{body}");
        let wrapping_token = wrap_token(&body);

        // The CI job: only the wrapping token.
        let (status, body) = unwrap_as(&app, &wrapping_token).await;
        assert_eq!(status, 200, "{body}");
        let secret_id = body["data"]["secret_id"].as_str().unwrap().to_owned();
        assert!(body["data"]["secret_id_accessor"].is_string(), "{body}");
        let url = format!("{}/v1/auth/approle/login", app.base);
        let (status, body) = send(
            app.client
                .post(url)
                .json(&json!({"role_id": role_id, "secret_id": secret_id})),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let token = body["auth"]["client_token"].as_str().unwrap();
        let (status, body) = as_token(&app, token, "GET", "/v1/secret/data/ci/deploy", None).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"]["data"]["key"], "deploy-key");

        // Someone who intercepted the wrapping token after the job finds it spent.
        let (status, body) = unwrap_as(&app, &wrapping_token).await;
        assert_eq!((status, body), (400, json!({ "errors": [INVALID] })));
    }
}

#[tokio::test]
async fn wrapped_token_creation_names_the_wrapped_accessor() {
    let app = TestApp::start(Db::Sqlite).await;
    let (status, body) = wrapped(
        &app,
        "POST",
        "/v1/auth/token/create",
        "5m",
        Some(json!({"policies": ["default"]})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_wrap_shape(&body, 300, "auth/token/create");
    let wrapped_accessor = body["wrap_info"]["wrapped_accessor"].clone();
    // Third-party unwrap: the root token unwraps with the wrapping token in the body.
    let (status, inner) = app
        .call(
            "POST",
            "/v1/sys/wrapping/unwrap",
            Some(json!({"token": wrap_token(&body)})),
        )
        .await;
    assert_eq!(status, 200, "{inner}");
    assert_eq!(inner["auth"]["accessor"], wrapped_accessor);
    let token = inner["auth"]["client_token"].as_str().unwrap();
    let (status, _) = as_token(&app, token, "GET", "/v1/auth/token/lookup-self", None).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn wrap_lookup_rewrap_unwrap_and_who_may_do_what() {
    for db in BOTH {
        let app = TestApp::start(db).await;
        let payload = json!({"zip": "zap", "n": 1, "nested": {"a": [1, 2]}});
        let (status, body) = wrapped(
            &app,
            "POST",
            "/v1/sys/wrapping/wrap",
            "90",
            Some(payload.clone()),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_wrap_shape(&body, 90, "sys/wrapping/wrap");
        let first = wrap_token(&body);

        // A token without a policy for them may neither unwrap for others, nor rewrap, nor
        // wrap; one with only the default policy may not rewrap (Vault's default policy
        // grants wrap, lookup and unwrap). The wrapping survives the attempts.
        let (bare, _) = app
            .create_token(json!({"policies": ["nothing"], "no_default_policy": true}))
            .await;
        let (plain, _) = app.create_token(json!({"policies": ["default"]})).await;
        for (token, path) in [
            (&bare, "unwrap"),
            (&bare, "rewrap"),
            (&bare, "wrap"),
            (&plain, "rewrap"),
        ] {
            let (status, _) = as_token(
                &app,
                token,
                "POST",
                &format!("/v1/sys/wrapping/{path}"),
                Some(json!({"token": first})),
            )
            .await;
            assert_eq!(status, 403, "{path}");
        }
        assert_eq!(lookup(&app, &first).await.0, 200);

        let (status, body) = app
            .call(
                "POST",
                "/v1/sys/wrapping/rewrap",
                Some(json!({"token": first})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_wrap_shape(&body, 90, "sys/wrapping/wrap");
        let second = wrap_token(&body);
        assert_ne!(first, second);
        assert_eq!(lookup(&app, &first).await.0, 400, "the old token is dead");
        let (status, body) = lookup(&app, &second).await;
        assert_eq!(
            (status, body["data"]["creation_path"].clone()),
            (200, json!("sys/wrapping/wrap"))
        );

        // A token with the default policy unwraps for the holder (token in the body).
        let (status, body) = as_token(
            &app,
            &plain,
            "POST",
            "/v1/sys/wrapping/unwrap",
            Some(json!({"token": second})),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"], payload);
        assert_eq!(unwrap_as(&app, &first).await.0, 400);
        assert_eq!(unwrap_as(&app, &second).await.0, 400);
        // Nothing at all, or an unknown token: 400 too.
        let url = format!("{}/v1/sys/wrapping/unwrap", app.base);
        assert_eq!(send(app.client.post(url)).await.0, 400);
        assert_eq!(unwrap_as(&app, "cmt.not-a-wrapping-token").await.0, 400);
    }
}

async fn count_wraps(app: &TestApp) -> i64 {
    let pool = app.raw_db().await;
    let n: i64 = sqlx::query_scalar("select count(*) from response_wraps")
        .fetch_one(&pool)
        .await
        .unwrap();
    n
}

#[tokio::test]
async fn expired_wrappings_fail_and_are_purged() {
    for db in BOTH {
        let app = TestApp::start(db).await;
        let (_, body) = wrapped(
            &app,
            "POST",
            "/v1/sys/wrapping/wrap",
            "60",
            Some(json!({"a": "b"})),
        )
        .await;
        let token = wrap_token(&body);
        let pool = app.raw_db().await;
        sqlx::query("update response_wraps set expires_at = 0")
            .execute(&pool)
            .await
            .unwrap();
        assert_eq!(count_wraps(&app).await, 1);
        assert_eq!(
            lookup(&app, &token).await,
            (400, json!({ "errors": [INVALID] }))
        );
        assert_eq!(count_wraps(&app).await, 0, "{db:?}: purged by the lookup");

        let (_, body) = wrapped(
            &app,
            "POST",
            "/v1/sys/wrapping/wrap",
            "60",
            Some(json!({"a": "b"})),
        )
        .await;
        let token = wrap_token(&body);
        sqlx::query("update response_wraps set expires_at = 0")
            .execute(&pool)
            .await
            .unwrap();
        assert_eq!(
            unwrap_as(&app, &token).await,
            (400, json!({ "errors": [INVALID] }))
        );
        assert_eq!(count_wraps(&app).await, 0, "{db:?}: purged by the unwrap");
    }
}

#[tokio::test]
async fn tampered_wrappings_fail_loudly_and_stay_as_they_were() {
    for db in BOTH {
        let app = TestApp::start(db).await;
        let pool = app.raw_db().await;
        for column in ["ciphertext", "creation_path", "wrapped_dek"] {
            let (_, body) = wrapped(
                &app,
                "POST",
                "/v1/sys/wrapping/wrap",
                "60",
                Some(json!({"a": "b"})),
            )
            .await;
            let token = wrap_token(&body);
            let accessor = body["wrap_info"]["accessor"].as_str().unwrap().to_owned();
            if column == "creation_path" {
                sqlx::query("update response_wraps set creation_path = 'secret/data/other' where accessor = $1")
                    .bind(&accessor)
                    .execute(&pool)
                    .await
                    .unwrap();
            } else {
                let select = format!("select {column} from response_wraps where accessor = $1");
                let mut bytes: Vec<u8> = sqlx::query_scalar(&select)
                    .bind(&accessor)
                    .fetch_one(&pool)
                    .await
                    .unwrap();
                let last = bytes.len() - 1;
                bytes[last] ^= 0x01;
                let update = format!("update response_wraps set {column} = $1 where accessor = $2");
                sqlx::query(&update)
                    .bind(bytes)
                    .bind(&accessor)
                    .execute(&pool)
                    .await
                    .unwrap();
            }
            let generic = json!({"errors": ["internal error"]});
            assert_eq!(
                unwrap_as(&app, &token).await,
                (500, generic.clone()),
                "{db:?} {column}"
            );
            assert_eq!(
                lookup(&app, &token).await,
                (500, generic.clone()),
                "{db:?} {column}"
            );
            let (status, _) = app
                .call(
                    "POST",
                    "/v1/sys/wrapping/rewrap",
                    Some(json!({"token": token})),
                )
                .await;
            assert_eq!(status, 500, "{db:?} {column}");
            let left: i64 =
                sqlx::query_scalar("select count(*) from response_wraps where accessor = $1")
                    .bind(&accessor)
                    .fetch_one(&pool)
                    .await
                    .unwrap();
            assert_eq!(
                left, 1,
                "{db:?} {column}: a failed unwrap leaves the row as it was"
            );
        }
    }
}

#[tokio::test]
async fn concurrent_unwraps_on_postgres_exactly_one_succeeds() {
    let app = TestApp::start(Db::Postgres).await;
    for round in 0..3 {
        let (_, body) = wrapped(
            &app,
            "POST",
            "/v1/sys/wrapping/wrap",
            "60",
            Some(json!({"round": round})),
        )
        .await;
        let token = wrap_token(&body);
        let mut attempts = tokio::task::JoinSet::new();
        for _ in 0..8 {
            let request = app
                .client
                .post(format!("{}/v1/sys/wrapping/unwrap", app.base))
                .header("X-Vault-Token", token.clone());
            attempts.spawn(send(request));
        }
        let results = attempts.join_all().await;
        let ok: Vec<_> = results
            .iter()
            .filter(|(status, _)| *status == 200)
            .collect();
        assert_eq!(ok.len(), 1, "round {round}: {results:?}");
        assert_eq!(ok[0].1["data"]["round"], round);
        assert!(
            results
                .iter()
                .all(|r| r.0 == 200 || *r == (400, json!({ "errors": [INVALID] }))),
            "{results:?}"
        );
    }
}

#[tokio::test]
async fn nothing_in_clear_in_the_database_and_audit_names_only_accessors() {
    for db in BOTH {
        let app = TestApp::start(db).await;
        let canary = "wrap-canary-6f1e0c";
        app.call(
            "POST",
            "/v1/secret/data/wrapped",
            Some(json!({"data": {"v": canary}})),
        )
        .await;
        let (_, read) = wrapped(&app, "GET", "/v1/secret/data/wrapped", "60", None).await;
        let (_, own) = wrapped(
            &app,
            "POST",
            "/v1/sys/wrapping/wrap",
            "60",
            Some(json!({"w": canary})),
        )
        .await;
        let (_, made) = wrapped(
            &app,
            "POST",
            "/v1/auth/token/create",
            "60",
            Some(json!({"policies": ["default"]})),
        )
        .await;
        let tokens = [wrap_token(&read), wrap_token(&own), wrap_token(&made)];
        let dumped = dump(&app, db).await;
        assert!(
            dumped.contains(read["wrap_info"]["accessor"].as_str().unwrap()),
            "{db:?}: the dump covers response_wraps"
        );
        for needle in [canary, &tokens[0], &tokens[1], &tokens[2]] {
            assert!(!dumped.contains(needle), "{db:?}: {needle} in clear");
            assert!(
                !dumped.contains(&crate::security::hex(needle.as_bytes())),
                "{db:?}: {needle} in hex"
            );
        }
        // The token made inside the wrapped answer is nowhere either, before or after unwrap.
        let (_, inner) = unwrap_as(&app, &tokens[2]).await;
        let made_token = inner["auth"]["client_token"].as_str().unwrap().to_owned();
        let (status, _) = unwrap_as(&app, &tokens[0]).await;
        assert_eq!(status, 200);
        let dumped = dump(&app, db).await;
        assert!(!dumped.contains(&made_token), "{db:?}");

        // Audit: a wrap event per wrapping and an unwrap event per unwrap, by accessor.
        crate::harness::seal_all(&app).await;
        let (status, body) = app
            .call("GET", "/v1/sys/audit/events?limit=1000", None)
            .await;
        assert_eq!(status, 200, "{body}");
        let events = body["data"]["events"].as_array().unwrap();
        let text = body.to_string();
        for token in &tokens {
            assert!(
                !text.contains(token.as_str()),
                "{db:?}: a wrapping token in the audit log"
            );
        }
        assert!(!text.contains(canary), "{db:?}");
        let with = |operation: &str, accessor: &Value| {
            events
                .iter()
                .filter(|e| {
                    e["operation"] == operation
                        && e["mount"] == "sys/wrapping"
                        && e["path"] == *accessor
                })
                .count()
        };
        for answer in [&read, &own, &made] {
            assert_eq!(
                with("wrap", &answer["wrap_info"]["accessor"]),
                1,
                "{db:?}: {events:?}"
            );
        }
        assert_eq!(with("unwrap", &read["wrap_info"]["accessor"]), 1, "{db:?}");
        assert_eq!(with("unwrap", &made["wrap_info"]["accessor"]), 1, "{db:?}");
        assert_eq!(with("unwrap", &own["wrap_info"]["accessor"]), 0, "{db:?}");
        // The self-unwrap request is attributed to the wrapping token's accessor.
        assert!(
            events.iter().any(|e| e["path"] == "wrapping/unwrap"
                && e["actor_accessor"] == read["wrap_info"]["accessor"]
                && e["actor_name"] == "response-wrapping"),
            "{db:?}: {events:?}"
        );
    }
}

/// Everything the database holds: every table's rows as JSON on PostgreSQL (bytea as
/// hex), the raw file bytes on SQLite.
async fn dump(app: &TestApp, db: Db) -> String {
    if db == Db::Sqlite {
        return crate::security::dump(app, db).await;
    }
    let pool = app.raw_db().await;
    let tables: Vec<String> = sqlx::query_scalar(
        "select table_name::text from information_schema.tables where table_schema = 'public'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(tables.iter().any(|t| t == "response_wraps"), "{tables:?}");
    let mut out = String::new();
    for table in tables {
        let sql = format!("select row_to_json(t)::text from {table} t");
        let rows: Vec<String> = sqlx::query_scalar(&sql).fetch_all(&pool).await.unwrap();
        for row in rows {
            out.push_str(&row);
            out.push('\n');
        }
    }
    out
}

/// The unchanged hvac client against a server on PostgreSQL, as `hvac.rs` runs its scripts.
#[tokio::test]
async fn hvac_response_wrapping_and_approle_secure_introduction() {
    let probe = std::process::Command::new("python3")
        .args(["-c", "import hvac"])
        .output();
    assert!(
        probe.is_ok_and(|out| out.status.success()),
        "this test needs python3 with hvac: run `pip install hvac` (.ci/run installs it)"
    );
    let app = TestApp::start(Db::Postgres).await;
    let script = format!("{}/tests/hvac_wrapping.py", env!("CARGO_MANIFEST_DIR"));
    let output = tokio::process::Command::new("python3")
        .arg(&script)
        .env("VAULT_ADDR", &app.base)
        .env("VAULT_TOKEN", &app.token)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "hvac_wrapping.py failed:\n{stdout}\n{stderr}"
    );
    let summary = stdout.lines().last().unwrap_or("");
    assert!(
        summary.starts_with("hvac-wrapping: ") && summary.ends_with(" passed, 0 failed"),
        "{stdout}"
    );
}

/// Audit fail-closed: while no audit event can be written, an unwrap answers 503, discloses
/// nothing and spends nothing, and a wrapped read discloses neither the secret nor a token.
#[tokio::test]
async fn an_audit_outage_neither_spends_nor_discloses() {
    for db in BOTH {
        let app = TestApp::start(db).await;
        let (_, body) = wrapped(
            &app,
            "POST",
            "/v1/sys/wrapping/wrap",
            "60",
            Some(json!({"k": "outage-canary"})),
        )
        .await;
        let token = wrap_token(&body);
        let pool = app.raw_db().await;
        let block: &[&str] = match db {
            Db::Postgres => &[
                "create function refuse_audit() returns trigger language plpgsql as $$ begin raise exception 'audit blocked'; end $$",
                "create trigger refuse_audit before insert on audit_events for each row execute function refuse_audit()",
            ],
            Db::Sqlite => &["create trigger refuse_audit before insert on audit_events begin select raise(abort, 'audit blocked'); end"],
        };
        for statement in block {
            sqlx::raw_sql(statement).execute(&pool).await.unwrap();
        }
        let (status, body) = unwrap_as(&app, &token).await;
        assert_eq!(status, 503, "{db:?}: {body}");
        assert!(!body.to_string().contains("outage-canary"), "{db:?}");
        let (status, body) = wrapped(&app, "GET", "/v1/auth/token/lookup-self", "60", None).await;
        assert_eq!(status, 503, "{db:?}: {body}");
        assert_eq!(body["wrap_info"], Value::Null, "{db:?}");

        let unblock = match db {
            Db::Postgres => "drop trigger refuse_audit on audit_events",
            Db::Sqlite => "drop trigger refuse_audit",
        };
        sqlx::raw_sql(unblock).execute(&pool).await.unwrap();
        let (status, body) = unwrap_as(&app, &token).await;
        assert_eq!(status, 200, "{db:?}: the wrapping survived: {body}");
        assert_eq!(body["data"]["k"], "outage-canary");
    }
}

/// A live wrapping keeps the keyring term that wraps its data key: the rewrap does not touch
/// wrappings, so retiring the term is refused until the wrapping is spent, and the wrapping
/// still opens after the rotation and rewrap.
#[tokio::test]
async fn a_live_wrapping_keeps_its_keyring_term_from_retirement() {
    for db in BOTH {
        let app = TestApp::start(db).await;
        let (status, body) = wrapped(
            &app,
            "POST",
            "/v1/sys/wrapping/wrap",
            "300",
            Some(json!({"k": "kept"})),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let token = wrap_token(&body);
        let (status, _) = app.call("POST", "/v1/sys/keys/rotate", None).await;
        assert_eq!(status, 200);
        // Past the wait for replicas to load the new term, which retire also checks.
        let pool = app.raw_db().await;
        sqlx::query("update keyring_terms set created_at = created_at - 60000000 where term = 2")
            .execute(&pool)
            .await
            .unwrap();
        let message = app.retire_refused(1).await;
        assert!(
            message.contains("still wraps the data keys of 1 response wrappings"),
            "{db:?}: {message}"
        );
        let (status, body) = unwrap_as(&app, &token).await;
        assert_eq!(status, 200, "{db:?}: {body}");
        assert_eq!(body["data"]["k"], "kept");
        let (status, body) = app
            .call("POST", "/v1/sys/keys/retire", Some(json!({"term": 1})))
            .await;
        assert_eq!(status, 204, "{db:?}: {body}");
    }
}

/// The `wrap` and `unwrap` events reach `CONFMGR_AUDIT_FILE` too, once committed, without
/// the wrapping token or the wrapped value.
#[tokio::test]
async fn wrap_and_unwrap_events_reach_the_audit_file() {
    use crate::harness::{audit_settings, test_access};
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("audit.jsonl");
    let settings = confmgr_server::audit::AuditSettings {
        file: Some(file.clone()),
        ..audit_settings()
    };
    let app = TestApp::start_audited(
        Db::Sqlite,
        confmgr_server::state::Limits::default(),
        test_access(),
        settings,
    )
    .await;
    let (status, body) = wrapped(
        &app,
        "POST",
        "/v1/sys/wrapping/wrap",
        "300",
        Some(json!({"k": "value-in-the-file-never"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let token = wrap_token(&body);
    let accessor = body["wrap_info"]["accessor"].as_str().unwrap().to_owned();
    let (status, _) = unwrap_as(&app, &token).await;
    assert_eq!(status, 200);
    let text = std::fs::read_to_string(&file).unwrap();
    let operations: Vec<String> = text
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .filter(|event| event["path"] == json!(accessor))
        .map(|event| event["operation"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(operations.contains(&"wrap".to_owned()), "{text}");
    assert!(operations.contains(&"unwrap".to_owned()), "{text}");
    assert!(
        !text.contains(&token),
        "no wrapping token in the audit file"
    );
    assert!(
        !text.contains("value-in-the-file-never"),
        "no wrapped value in the audit file"
    );
}
