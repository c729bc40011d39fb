//! Audit: the events each route yields, fail-closed behaviour, the hash chain and its
//! verification, retention, and the events API.

use crate::harness::{
    audit_settings, purge_before, seal_all, send, test_access, Db, TestApp, BOTH,
};
use confmgr_server::state::Limits;
use serde_json::{json, Value};

/// (operation, mount, path, outcome, status, version) of an expected event.
type Expected<'a> = (&'a str, &'a str, &'a str, &'a str, u16, Option<i64>);
/// (request id, method, path, body, token) and the event it must yield.
type Case<'a> = (
    &'a str,
    &'a str,
    &'a str,
    Option<Value>,
    Option<&'a str>,
    Expected<'a>,
);

/// Sends a request with a known request id; returns the status.
async fn traced(
    app: &TestApp,
    id: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
    token: Option<&str>,
) -> u16 {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = app
        .client
        .request(method, format!("{}{path}", app.base))
        .header("X-Request-Id", id);
    if let Some(token) = token {
        request = request.header("X-Vault-Token", token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    send(request).await.0
}

async fn events(app: &TestApp, query: &str) -> Vec<Value> {
    let (status, body) = app
        .call(
            "GET",
            &format!("/v1/sys/audit/events?limit=1000&{query}"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["data"]["events"].as_array().unwrap().clone()
}

async fn verify(app: &TestApp) -> Value {
    seal_all(app).await;
    let (status, body) = app.call("POST", "/v1/sys/audit/verify", None).await;
    assert_eq!(status, 200, "{body}");
    body["data"].clone()
}

#[tokio::test]
async fn each_route_yields_exactly_its_event() {
    for db in BOTH {
        let app = TestApp::start(db).await;
        let root = app.token.clone();
        app.call(
            "PUT",
            "/v1/sys/policies/acl/reader",
            Some(json!({"policy": "path \"secret/data/app/*\" { capabilities = [\"read\"] }"})),
        )
        .await;
        let (reader, reader_accessor) = app.create_token(json!({"policies": ["reader"]})).await;
        // (request id, method, path, body, token) → expected (operation, mount, path, outcome, status, version)
        let w = Some(json!({"data": {"k": "v"}}));
        let cases: Vec<Case> = vec![
            (
                "r1",
                "POST",
                "/v1/secret/data/app/one",
                w.clone(),
                Some(&root),
                ("write", "secret", "data/app/one", "ok", 200, Some(1)),
            ),
            (
                "r2",
                "POST",
                "/v1/secret/data/app/one",
                w.clone(),
                Some(&root),
                ("write", "secret", "data/app/one", "ok", 200, Some(2)),
            ),
            (
                "r3",
                "GET",
                "/v1/secret/data/app/one?version=1",
                None,
                Some(&reader),
                ("read", "secret", "data/app/one", "ok", 200, Some(1)),
            ),
            (
                "r4",
                "GET",
                "/v1/secret/data/app/none",
                None,
                Some(&reader),
                ("read", "secret", "data/app/none", "not_found", 404, None),
            ),
            (
                "r5",
                "GET",
                "/v1/secret/data/other",
                None,
                Some(&reader),
                ("read", "secret", "data/other", "denied", 403, None),
            ),
            (
                "r6",
                "GET",
                "/v1/secret/data/app/one",
                None,
                None,
                ("read", "secret", "data/app/one", "denied", 403, None),
            ),
            (
                "r7",
                "POST",
                "/v1/secret/data/app/one",
                Some(json!({"data": {"k": 1}, "options": {"cas": 9}})),
                Some(&root),
                ("write", "secret", "data/app/one", "invalid", 400, None),
            ),
            (
                "r8",
                "DELETE",
                "/v1/secret/data/app/one",
                None,
                Some(&root),
                ("delete", "secret", "data/app/one", "ok", 204, None),
            ),
            (
                "r9",
                "POST",
                "/v1/secret/undelete/app/one",
                Some(json!({"versions": [2]})),
                Some(&root),
                ("write", "secret", "undelete/app/one", "ok", 204, None),
            ),
            (
                "r10",
                "POST",
                "/v1/secret/destroy/app/one",
                Some(json!({"versions": [1]})),
                Some(&root),
                ("write", "secret", "destroy/app/one", "ok", 204, None),
            ),
            (
                "r11",
                "LIST",
                "/v1/secret/metadata/app",
                None,
                Some(&root),
                ("list", "secret", "metadata/app", "ok", 200, None),
            ),
            (
                "r12",
                "POST",
                "/v1/secret/metadata/app/one",
                Some(json!({"max_versions": 3})),
                Some(&root),
                ("write", "secret", "metadata/app/one", "ok", 204, None),
            ),
            (
                "r13",
                "GET",
                "/v1/secret/config",
                None,
                Some(&root),
                ("read", "secret", "config", "ok", 200, None),
            ),
            (
                "r14",
                "PUT",
                "/v1/sys/policies/acl/extra",
                Some(json!({"policy": "path \"x\" { capabilities = [\"fly\"] }"})),
                Some(&root),
                ("write", "sys", "policies/acl/extra", "invalid", 400, None),
            ),
            (
                "r15",
                "POST",
                "/v1/auth/approle/role/web",
                Some(json!({"token_policies": ["reader"]})),
                Some(&root),
                ("write", "auth/approle", "role/web", "ok", 204, None),
            ),
            (
                "r16",
                "POST",
                "/v1/auth/approle/login",
                Some(json!({"role_id": "nope", "secret_id": "x"})),
                None,
                ("login", "auth/approle", "login", "denied", 400, None),
            ),
            (
                "r17",
                "GET",
                "/v1/auth/token/lookup-self",
                None,
                Some(&reader),
                ("read", "auth/token", "lookup-self", "ok", 200, None),
            ),
            (
                "r18",
                "DELETE",
                "/v1/sys/policies/acl/reader",
                None,
                Some(&root),
                ("delete", "sys", "policies/acl/reader", "ok", 204, None),
            ),
        ];
        for (id, method, path, body, token, expected) in &cases {
            let status = traced(&app, id, method, path, body.clone(), *token).await;
            assert_eq!(status, expected.4, "{db:?} {id} {method} {path}");
        }
        // Unaudited: health; and a route outside the API.
        traced(&app, "u1", "GET", "/v1/sys/health", None, None).await;
        let long_id = "x".repeat(5000);
        traced(
            &app,
            &long_id,
            "GET",
            "/v1/secret/config",
            None,
            Some(&root),
        )
        .await;

        let all = events(&app, "").await;
        for (id, _, _, _, token, (operation, mount, path, outcome, status, version)) in &cases {
            let matching: Vec<&Value> = all.iter().filter(|e| e["request_id"] == *id).collect();
            assert_eq!(
                matching.len(),
                1,
                "{db:?} {id}: exactly one event, got {matching:?}"
            );
            let event = matching[0];
            assert_eq!(
                (
                    event["operation"].as_str(),
                    event["mount"].as_str(),
                    event["path"].as_str(),
                    event["outcome"].as_str(),
                    event["status"].as_u64()
                ),
                (
                    Some(*operation),
                    Some(*mount),
                    Some(*path),
                    Some(*outcome),
                    Some(u64::from(*status))
                ),
                "{db:?} {id}"
            );
            assert_eq!(event["version"].as_i64(), *version, "{db:?} {id} version");
            assert_eq!(event["remote_addr"], "127.0.0.1");
            if *token == Some(reader.as_str()) {
                assert_eq!(
                    event["actor_accessor"],
                    reader_accessor.as_str(),
                    "{id}: the actor is the token's accessor"
                );
            }
        }
        assert!(
            all.iter().all(|e| e["request_id"] != "u1"),
            "health is not audited"
        );
        assert!(
            all.iter()
                .all(|e| e["request_id"].as_str().unwrap().len() <= 200),
            "caller-supplied ids are bounded"
        );
        let login = all.iter().find(|e| e["request_id"] == "r16").unwrap();
        assert_eq!(
            login["client_id"], "",
            "a role_id that is not a UUID is not recorded (it may be a pasted secret)"
        );

        // Filters and paging.
        let denied = events(&app, "outcome=denied").await;
        assert!(denied.iter().all(|e| e["outcome"] == "denied") && denied.len() >= 2);
        let prefixed = events(&app, "path_prefix=data/app/").await;
        assert!(
            !prefixed.is_empty()
                && prefixed
                    .iter()
                    .all(|e| e["path"].as_str().unwrap().starts_with("data/app/"))
        );
        let (_, page) = app.call("GET", "/v1/sys/audit/events?limit=2", None).await;
        let cursor = page["data"]["next_cursor"].as_i64().unwrap();
        let (_, next) = app
            .call(
                "GET",
                &format!("/v1/sys/audit/events?limit=2&cursor={cursor}"),
                None,
            )
            .await;
        assert_ne!(
            page["data"]["events"][0]["event_id"],
            next["data"]["events"][0]["event_id"]
        );
        assert_eq!(
            app.call("GET", "/v1/sys/audit/events?outcome=maybe", None)
                .await
                .0,
            400
        );
        assert_eq!(
            app.call("GET", "/v1/sys/audit/events?since=yesterday", None)
                .await
                .0,
            400
        );
        assert_eq!(verify(&app).await["ok"], true);
    }
}

#[tokio::test]
async fn audit_file_and_table_hold_no_secret_value_or_token() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("audit.jsonl");
    let mut settings = audit_settings();
    settings.file = Some(file.clone());
    let app =
        TestApp::start_audited(Db::Postgres, Limits::default(), test_access(), settings).await;
    let canary = "canary-audit-77d1e3";
    app.call(
        "POST",
        "/v1/secret/data/c",
        Some(json!({"data": {"pw": canary}})),
    )
    .await;
    app.call("GET", "/v1/secret/data/c", None).await;
    app.call(
        "PATCH",
        "/v1/secret/data/c",
        Some(json!({"data": {"pw": canary}})),
    )
    .await;
    let child = app.create_token(json!({})).await.0;
    app.call("POST", "/v1/auth/approle/role/r", Some(json!({})))
        .await;
    let (_, body) = app
        .call("POST", "/v1/auth/approle/role/r/secret-id", Some(json!({})))
        .await;
    let secret_id = body["data"]["secret_id"].as_str().unwrap().to_owned();
    let (_, body) = app
        .call("GET", "/v1/auth/approle/role/r/role-id", None)
        .await;
    let role_id = body["data"]["role_id"].as_str().unwrap().to_owned();
    let (_, body) = send(
        app.client
            .post(format!("{}/v1/auth/approle/login", app.base))
            .json(&json!({"role_id": role_id, "secret_id": secret_id})),
    )
    .await;
    let login_token = body["auth"]["client_token"].as_str().unwrap().to_owned();
    send(
        app.client
            .get(format!("{}/v1/secret/data/c", app.base))
            .header("X-Vault-Token", &child),
    )
    .await;
    seal_all(&app).await;

    let lines = std::fs::read_to_string(&file).unwrap();
    assert!(
        lines.lines().count() >= 9,
        "every event is mirrored to the file"
    );
    for line in lines.lines() {
        let _: Value = serde_json::from_str(line).unwrap();
    }
    let table = crate::security::dump(&app, Db::Postgres).await;
    assert!(table.contains("data/c"), "the dump covers the audit table");
    let secret_part = secret_id.split_once('.').unwrap().1;
    for needle in [
        canary,
        app.token.as_str(),
        child.as_str(),
        login_token.as_str(),
        secret_part,
    ] {
        assert!(!lines.contains(needle), "the audit file holds a secret");
        assert!(!table.contains(needle), "the audit table holds a secret");
    }
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&file).unwrap().permissions())
            & 0o777;
    assert_eq!(mode, 0o600);
}

async fn block_audit_inserts(app: &TestApp, db: Db) {
    let pool = app.raw_db().await;
    let statements: &[&str] = match db {
        Db::Postgres => &[
            "create function refuse_audit() returns trigger language plpgsql as $$ begin raise exception 'audit blocked'; end $$",
            "create trigger refuse_audit before insert on audit_events for each row execute function refuse_audit()",
        ],
        Db::Sqlite => &["create trigger refuse_audit before insert on audit_events begin select raise(abort, 'audit blocked'); end"],
    };
    for statement in statements {
        sqlx::raw_sql(statement).execute(&pool).await.unwrap();
    }
}

async fn unblock_audit_inserts(app: &TestApp) {
    let pool = app.raw_db().await;
    sqlx::raw_sql("drop trigger refuse_audit on audit_events")
        .execute(&pool)
        .await
        .or(sqlx::raw_sql("drop trigger refuse_audit")
            .execute(&pool)
            .await)
        .unwrap();
}

#[tokio::test]
async fn fail_closed_when_the_audit_log_cannot_be_written() {
    for db in BOTH {
        let app = TestApp::start(db).await;
        app.call(
            "POST",
            "/v1/secret/data/guarded",
            Some(json!({"data": {"pw": "fail-closed-secret"}})),
        )
        .await;
        block_audit_inserts(&app, db).await;

        let (status, body) = app.call("GET", "/v1/secret/data/guarded", None).await;
        assert_eq!(status, 503, "{db:?} read: {body}");
        assert!(
            !body.to_string().contains("fail-closed-secret"),
            "nothing is disclosed"
        );
        let (status, _) = app
            .call(
                "POST",
                "/v1/secret/data/guarded",
                Some(json!({"data": {"pw": "changed"}})),
            )
            .await;
        assert_eq!(status, 503, "{db:?} write");
        let (status, _) = app
            .call(
                "POST",
                "/v1/secret/data/new-path",
                Some(json!({"data": {"pw": "x"}})),
            )
            .await;
        assert_eq!(status, 503, "{db:?} create");

        unblock_audit_inserts(&app).await;
        let (status, body) = app.call("GET", "/v1/secret/data/guarded", None).await;
        assert_eq!(
            (status, body["data"]["data"]["pw"].clone()),
            (200, json!("fail-closed-secret")),
            "{db:?}: resumes without restart; the write changed nothing"
        );
        assert_eq!(body["data"]["metadata"]["version"], 1);
        assert_eq!(
            app.call("GET", "/v1/secret/data/new-path", None).await.0,
            404,
            "{db:?}: the refused create left nothing"
        );
    }
}

#[tokio::test]
async fn tampering_is_found_at_the_first_broken_link() {
    for db in BOTH {
        let app = TestApp::start(db).await;
        for i in 0..8 {
            app.call(
                "POST",
                &format!("/v1/secret/data/t{i}"),
                Some(json!({"data": {"i": i}})),
            )
            .await;
        }
        let report = verify(&app).await;
        assert_eq!(
            report["ok"], true,
            "{db:?}: an untouched log verifies: {report}"
        );
        assert!(report["checked"].as_u64().unwrap() >= 8);
        let pool = app.raw_db().await;

        // Edit one field of seq 3.
        sqlx::query("update audit_events set path = 'data/forged' where seq = 3")
            .execute(&pool)
            .await
            .unwrap();
        let report = verify(&app).await;
        assert_eq!(
            (
                report["ok"].clone(),
                report["first_break"]["kind"].clone(),
                report["first_break"]["seq"].clone()
            ),
            (json!(false), json!("edited"), json!(3)),
            "{db:?}: {report}"
        );
        sqlx::query("update audit_events set path = 'data/t2' where seq = 3")
            .execute(&pool)
            .await
            .unwrap();
        assert_eq!(verify(&app).await["ok"], true, "{db:?}: restored");

        // Swap the order of seq 4 and 5.
        for statement in [
            "update audit_events set seq = -5 where seq = 5",
            "update audit_events set seq = 5 where seq = 4",
            "update audit_events set seq = 4 where seq = -5",
        ] {
            sqlx::query(statement).execute(&pool).await.unwrap();
        }
        let report = verify(&app).await;
        assert_eq!(
            (
                report["first_break"]["kind"].clone(),
                report["first_break"]["seq"].clone()
            ),
            (json!("relinked"), json!(4)),
            "{db:?}: {report}"
        );
        for statement in [
            "update audit_events set seq = -5 where seq = 5",
            "update audit_events set seq = 5 where seq = 4",
            "update audit_events set seq = 4 where seq = -5",
        ] {
            sqlx::query(statement).execute(&pool).await.unwrap();
        }
        assert_eq!(verify(&app).await["ok"], true, "{db:?}: swapped back");

        // Delete seq 6.
        sqlx::query("delete from audit_events where seq = 6")
            .execute(&pool)
            .await
            .unwrap();
        let report = verify(&app).await;
        assert_eq!(
            (
                report["first_break"]["kind"].clone(),
                report["first_break"]["expected_seq"].clone()
            ),
            (json!("missing"), json!(6)),
            "{db:?}: {report}"
        );
    }
}

#[tokio::test]
async fn retention_purge_keeps_the_chain_verifiable() {
    for db in BOTH {
        let app = TestApp::start(db).await;
        for i in 0..5 {
            app.call(
                "POST",
                &format!("/v1/secret/data/r{i}"),
                Some(json!({"data": {"i": i}})),
            )
            .await;
        }
        seal_all(&app).await;
        let cutoff = confmgr_core::time::now_micros();
        let (checkpoint, purged) = purge_before(&app, cutoff).await;
        assert!(
            purged >= 5 && checkpoint >= 5,
            "{db:?}: {purged} purged up to {checkpoint}"
        );
        app.call("GET", "/v1/secret/data/r1", None).await;
        let report = verify(&app).await;
        assert_eq!(
            report["ok"], true,
            "{db:?}: verification starts at the checkpoint: {report}"
        );
        assert!(report["last_seq"].as_i64().unwrap() > checkpoint);
        let remaining = events(&app, "").await;
        assert!(remaining
            .iter()
            .all(|e| e["seq"].as_i64().is_none_or(|s| s > checkpoint)));
    }
}

/// Writes to one existing secret race (on PostgreSQL without a row lock, retried when another
/// change came first): each still gets its own version and exactly one event naming it, and
/// check-and-set still refuses a stale version.
#[tokio::test]
async fn racing_writes_to_one_secret_each_get_a_version_and_one_event() {
    const WRITERS: i64 = 24;
    for db in BOTH {
        let app = TestApp::start(db).await;
        let (status, _) = app
            .call(
                "POST",
                "/v1/secret/data/raced",
                Some(json!({"data": {"n": 0}})),
            )
            .await;
        assert_eq!(status, 200);
        let mut writers = tokio::task::JoinSet::new();
        for n in 1..=WRITERS {
            let request = app
                .request("POST", "/v1/secret/data/raced")
                .header("X-Request-Id", format!("race-{n}"))
                .json(&json!({"data": {"n": n}}));
            writers.spawn(send(request));
        }
        let mut versions = Vec::new();
        while let Some(joined) = writers.join_next().await {
            let (status, body) = joined.unwrap();
            assert_eq!(status, 200, "{db:?}: {body}");
            versions.push(body["data"]["version"].as_i64().unwrap());
        }
        versions.sort_unstable();
        assert_eq!(
            versions,
            (2..=WRITERS + 1).collect::<Vec<_>>(),
            "{db:?}: every write its own version"
        );

        let audited: Vec<Value> = events(&app, "path_prefix=data/raced")
            .await
            .into_iter()
            .filter(|e| {
                e["request_id"]
                    .as_str()
                    .is_some_and(|id| id.starts_with("race-"))
            })
            .collect();
        assert_eq!(audited.len(), WRITERS as usize, "{db:?}: {audited:?}");
        let mut audited_versions: Vec<i64> = audited
            .iter()
            .map(|e| {
                assert_eq!(e["outcome"], "ok");
                e["version"].as_i64().unwrap()
            })
            .collect();
        audited_versions.sort_unstable();
        assert_eq!(
            audited_versions, versions,
            "{db:?}: each event names its version"
        );

        let (status, body) = app
            .call(
                "POST",
                "/v1/secret/data/raced",
                Some(json!({"options": {"cas": 1}, "data": {"n": -1}})),
            )
            .await;
        assert_eq!(status, 400, "{db:?}: a stale cas: {body}");
        let (_, body) = app.call("GET", "/v1/secret/data/raced", None).await;
        assert_eq!(body["data"]["metadata"]["version"], WRITERS + 1);
    }
}
