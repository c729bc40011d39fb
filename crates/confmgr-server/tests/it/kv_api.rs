use crate::harness::{send, TestApp, BOTH};
use serde_json::{json, Value};

fn data(body: &Value) -> &Value {
    &body["data"]
}

#[tokio::test]
async fn write_read_versions_and_envelope() {
    for db in BOTH {
        let app = TestApp::start(db).await;
        let (status, body) = app
            .call(
                "POST",
                "/v1/secret/data/app/db",
                Some(json!({"data": {"user": "u", "pw": "p1"}})),
            )
            .await;
        assert_eq!(status, 200, "{db:?} {body}");
        assert_eq!(data(&body)["version"], 1);
        assert_eq!(data(&body)["deletion_time"], "");
        assert_eq!(data(&body)["destroyed"], false);
        for key in [
            "request_id",
            "lease_id",
            "renewable",
            "lease_duration",
            "wrap_info",
            "warnings",
            "auth",
        ] {
            assert!(body.get(key).is_some(), "envelope lacks {key}");
        }
        let (status, body) = app
            .call(
                "PUT",
                "/v1/secret/data/app/db",
                Some(json!({"data": {"user": "u", "pw": "p2"}})),
            )
            .await;
        assert_eq!((status, data(&body)["version"].clone()), (200, json!(2)));

        let (status, body) = app.call("GET", "/v1/secret/data/app/db", None).await;
        assert_eq!(status, 200);
        assert_eq!(data(&body)["data"], json!({"user": "u", "pw": "p2"}));
        assert_eq!(data(&body)["metadata"]["version"], 2);
        let (_, body) = app
            .call("GET", "/v1/secret/data/app/db?version=1", None)
            .await;
        assert_eq!(data(&body)["data"]["pw"], "p1");
        let (status, body) = app
            .call("GET", "/v1/secret/data/app/db?version=7", None)
            .await;
        assert_eq!((status, body), (404, json!({"errors": []})));
        let (status, body) = app.call("GET", "/v1/secret/data/nothing/here", None).await;
        assert_eq!((status, body), (404, json!({"errors": []})));
        let (status, _) = app
            .call("GET", "/v1/secret/data/app/db?version=-1", None)
            .await;
        assert_eq!(status, 400);
    }
}

#[tokio::test]
async fn check_and_set() {
    for db in BOTH {
        let app = TestApp::start(db).await;
        let write = |cas: i64, v: &str| json!({"data": {"v": v}, "options": {"cas": cas}});
        assert_eq!(
            app.call("POST", "/v1/secret/data/c", Some(write(0, "a")))
                .await
                .0,
            200
        );
        let (status, body) = app
            .call("POST", "/v1/secret/data/c", Some(write(0, "b")))
            .await;
        assert_eq!(
            (status, body),
            (
                400,
                json!({"errors": ["check-and-set parameter did not match the current version"]})
            )
        );
        let (status, _) = app
            .call("POST", "/v1/secret/data/c", Some(write(5, "b")))
            .await;
        assert_eq!(status, 400);
        assert_eq!(
            app.call("POST", "/v1/secret/data/c", Some(write(1, "b")))
                .await
                .0,
            200
        );
        // The failed writes changed nothing.
        let (_, body) = app.call("GET", "/v1/secret/metadata/c", None).await;
        assert_eq!(data(&body)["current_version"], 2);
        assert_eq!(data(&body)["versions"].as_object().unwrap().len(), 2);

        // cas_required on the secret, then on the mount.
        assert_eq!(
            app.call(
                "POST",
                "/v1/secret/metadata/c",
                Some(json!({"cas_required": true}))
            )
            .await
            .0,
            204
        );
        let (status, body) = app
            .call(
                "POST",
                "/v1/secret/data/c",
                Some(json!({"data": {"v": "x"}})),
            )
            .await;
        assert_eq!(
            (status, body),
            (
                400,
                json!({"errors": ["check-and-set parameter required for this call"]})
            )
        );
        assert_eq!(
            app.call(
                "POST",
                "/v1/secret/config",
                Some(json!({"cas_required": true}))
            )
            .await
            .0,
            204
        );
        let (status, _) = app
            .call(
                "POST",
                "/v1/secret/data/other",
                Some(json!({"data": {"v": "x"}})),
            )
            .await;
        assert_eq!(status, 400);
        assert_eq!(
            app.call("POST", "/v1/secret/data/other", Some(write(0, "x")))
                .await
                .0,
            200
        );
    }
}

#[tokio::test]
async fn merge_patch() {
    for db in BOTH {
        let app = TestApp::start(db).await;
        app.call(
            "POST",
            "/v1/secret/data/p",
            Some(json!({"data": {"a": 1, "b": {"c": 2, "d": 3}}})),
        )
        .await;
        let patch = json!({"data": {"a": null, "b": {"c": 9}, "e": "new"}});
        let (status, body) = send(
            app.request("PATCH", "/v1/secret/data/p")
                .header("Content-Type", "application/merge-patch+json")
                .body(patch.to_string()),
        )
        .await;
        assert_eq!((status, data(&body)["version"].clone()), (200, json!(2)));
        let (_, body) = app.call("GET", "/v1/secret/data/p", None).await;
        assert_eq!(
            data(&body)["data"],
            json!({"b": {"c": 9, "d": 3}, "e": "new"})
        );

        // Wrong content type: 415, nothing written.
        let (status, body) = app
            .call("PATCH", "/v1/secret/data/p", Some(patch.clone()))
            .await;
        assert_eq!(status, 415, "{body}");
        assert!(body["errors"][0]
            .as_str()
            .unwrap()
            .contains("merge-patch+json"));
        // Missing path, and current version deleted: 404.
        let merge = |path: &str| {
            app.request("PATCH", path)
                .header("Content-Type", "application/merge-patch+json")
                .body(patch.to_string())
        };
        assert_eq!(
            send(merge("/v1/secret/data/absent")).await,
            (404, json!({"errors": []}))
        );
        assert_eq!(app.call("DELETE", "/v1/secret/data/p", None).await.0, 204);
        assert_eq!(send(merge("/v1/secret/data/p")).await.0, 404);
        let (_, body) = app.call("GET", "/v1/secret/metadata/p", None).await;
        assert_eq!(
            data(&body)["current_version"],
            2,
            "a failed patch writes no version"
        );
    }
}

#[tokio::test]
async fn delete_undelete_destroy() {
    for db in BOTH {
        let app = TestApp::start(db).await;
        for v in 1..=3 {
            app.call("POST", "/v1/secret/data/d", Some(json!({"data": {"v": v}})))
                .await;
        }
        // Soft delete of the latest: 404 with the usual envelope and data.data null.
        assert_eq!(app.call("DELETE", "/v1/secret/data/d", None).await.0, 204);
        let (status, body) = app.call("GET", "/v1/secret/data/d", None).await;
        assert_eq!(status, 404);
        assert_eq!(data(&body)["data"], Value::Null);
        assert_eq!(data(&body)["metadata"]["version"], 3);
        assert_ne!(data(&body)["metadata"]["deletion_time"], "");
        assert!(body.get("request_id").is_some());

        // Delete listed versions, undelete one.
        assert_eq!(
            app.call(
                "POST",
                "/v1/secret/delete/d",
                Some(json!({"versions": [1, 2]}))
            )
            .await
            .0,
            204
        );
        assert_eq!(
            app.call("GET", "/v1/secret/data/d?version=1", None).await.0,
            404
        );
        assert_eq!(
            app.call(
                "POST",
                "/v1/secret/undelete/d",
                Some(json!({"versions": [1, 3]}))
            )
            .await
            .0,
            204
        );
        let (status, body) = app.call("GET", "/v1/secret/data/d?version=1", None).await;
        assert_eq!((status, data(&body)["data"]["v"].clone()), (200, json!(1)));
        assert_eq!(app.call("GET", "/v1/secret/data/d", None).await.0, 200);

        // Destroy: gone for good, undelete cannot bring it back.
        assert_eq!(
            app.call(
                "PUT",
                "/v1/secret/destroy/d",
                Some(json!({"versions": [3]}))
            )
            .await
            .0,
            204
        );
        let (status, body) = app.call("GET", "/v1/secret/data/d", None).await;
        assert_eq!(
            (status, data(&body)["metadata"]["destroyed"].clone()),
            (404, json!(true))
        );
        assert_eq!(
            app.call(
                "POST",
                "/v1/secret/undelete/d",
                Some(json!({"versions": [3]}))
            )
            .await
            .0,
            204
        );
        assert_eq!(app.call("GET", "/v1/secret/data/d", None).await.0, 404);

        // A versions list is required.
        for route in ["delete", "undelete", "destroy"] {
            let (status, body) = app
                .call("POST", &format!("/v1/secret/{route}/d"), Some(json!({})))
                .await;
            assert_eq!(
                (status, body),
                (400, json!({"errors": ["no version number provided"]})),
                "{route}"
            );
        }
        let (_, body) = app.call("GET", "/v1/secret/metadata/d", None).await;
        assert_eq!(data(&body)["versions"]["3"]["destroyed"], true);
        assert_eq!(data(&body)["versions"]["2"]["destroyed"], false);
        assert_ne!(data(&body)["versions"]["2"]["deletion_time"], "");
    }
}

#[tokio::test]
async fn metadata_list_and_pruning() {
    for db in BOTH {
        let app = TestApp::start(db).await;
        let custom = json!({"owner": "team-a", "env": "prod"});
        let (status, _) = app
            .call("POST", "/v1/secret/metadata/app/m", Some(json!({"max_versions": 2, "custom_metadata": custom, "delete_version_after": "1h30m"})))
            .await;
        assert_eq!(status, 204);
        for v in 1..=4 {
            app.call(
                "POST",
                "/v1/secret/data/app/m",
                Some(json!({"data": {"v": v}})),
            )
            .await;
        }
        let (status, body) = app.call("GET", "/v1/secret/metadata/app/m", None).await;
        assert_eq!(status, 200);
        let meta = data(&body);
        assert_eq!(meta["current_version"], 4);
        assert_eq!(meta["oldest_version"], 3);
        assert_eq!(meta["max_versions"], 2);
        assert_eq!(meta["delete_version_after"], "1h30m0s");
        assert_eq!(meta["custom_metadata"], custom);
        let versions: Vec<&String> = meta["versions"].as_object().unwrap().keys().collect();
        assert_eq!(
            versions,
            ["3", "4"],
            "versions beyond max_versions are pruned"
        );
        assert_eq!(
            app.call("GET", "/v1/secret/data/app/m?version=1", None)
                .await
                .0,
            404
        );
        let (_, body) = app.call("GET", "/v1/secret/data/app/m", None).await;
        assert_ne!(
            data(&body)["metadata"]["deletion_time"],
            "",
            "delete_version_after schedules deletion"
        );
        assert_eq!(data(&body)["metadata"]["custom_metadata"], custom);

        app.call(
            "POST",
            "/v1/secret/data/app/sub/x",
            Some(json!({"data": {"k": 1}})),
        )
        .await;
        app.call(
            "POST",
            "/v1/secret/data/top",
            Some(json!({"data": {"k": 1}})),
        )
        .await;
        let (status, body) = app.call("LIST", "/v1/secret/metadata/app", None).await;
        assert_eq!(
            (status, data(&body)["keys"].clone()),
            (200, json!(["m", "sub/"]))
        );
        let (_, body) = app
            .call("GET", "/v1/secret/metadata/app/?list=true", None)
            .await;
        assert_eq!(data(&body)["keys"], json!(["m", "sub/"]));
        let (_, body) = app.call("LIST", "/v1/secret/metadata/", None).await;
        assert_eq!(data(&body)["keys"], json!(["app/", "top"]));
        let (_, body) = app.call("GET", "/v1/secret/metadata?list=true", None).await;
        assert_eq!(data(&body)["keys"], json!(["app/", "top"]));
        assert_eq!(
            app.call("LIST", "/v1/secret/metadata/none", None).await,
            (404, json!({"errors": []}))
        );

        assert_eq!(
            app.call("DELETE", "/v1/secret/metadata/app/m", None)
                .await
                .0,
            204
        );
        assert_eq!(
            app.call("GET", "/v1/secret/metadata/app/m", None).await,
            (404, json!({"errors": []}))
        );
        assert_eq!(app.call("GET", "/v1/secret/data/app/m", None).await.0, 404);

        let bad = [
            json!({"max_versions": -1}),
            json!({"delete_version_after": "soon"}),
            json!({"cas_required": "yes"}),
            json!({"custom_metadata": {"k": 1}}),
            json!({"unknown_field": 1}),
        ];
        for body in bad {
            let (status, answer) = app
                .call("POST", "/v1/secret/metadata/top", Some(body.clone()))
                .await;
            assert_eq!(status, 400, "{body} -> {answer}");
            assert!(answer["errors"][0].is_string());
        }
    }
}

#[tokio::test]
async fn config_subkeys_and_sys_routes() {
    for db in BOTH {
        let app = TestApp::start(db).await;
        let (status, body) = app.call("GET", "/v1/secret/config", None).await;
        assert_eq!(status, 200);
        assert_eq!(
            data(&body),
            &json!({"max_versions": 0, "cas_required": false, "delete_version_after": "0s"})
        );
        assert_eq!(
            app.call(
                "POST",
                "/v1/secret/config",
                Some(json!({"max_versions": 1}))
            )
            .await
            .0,
            204
        );
        let (_, body) = app.call("GET", "/v1/secret/config", None).await;
        assert_eq!(data(&body)["max_versions"], 1);
        app.call(
            "POST",
            "/v1/secret/data/s",
            Some(json!({"data": {"a": "1"}})),
        )
        .await;
        app.call(
            "POST",
            "/v1/secret/data/s",
            Some(json!({"data": {"a": "1", "b": {"c": {"d": 1}}}})),
        )
        .await;
        let (_, body) = app.call("GET", "/v1/secret/metadata/s", None).await;
        assert_eq!(
            data(&body)["versions"].as_object().unwrap().len(),
            1,
            "the mount's max_versions applies"
        );

        let (status, body) = app.call("GET", "/v1/secret/subkeys/s", None).await;
        assert_eq!(status, 200);
        assert_eq!(
            data(&body)["subkeys"],
            json!({"a": null, "b": {"c": {"d": null}}})
        );
        assert_eq!(data(&body)["metadata"]["version"], 2);
        let (_, body) = app.call("GET", "/v1/secret/subkeys/s?depth=1", None).await;
        assert_eq!(data(&body)["subkeys"], json!({"a": null, "b": null}));
        assert_eq!(
            app.call("GET", "/v1/secret/subkeys/none", None).await,
            (404, json!({"errors": []}))
        );

        let (status, body) = app
            .call("GET", "/v1/sys/internal/ui/mounts/secret/app/db", None)
            .await;
        assert_eq!(status, 200);
        assert_eq!(
            (
                data(&body)["type"].clone(),
                data(&body)["options"]["version"].clone()
            ),
            (json!("kv"), json!("2"))
        );
        assert_eq!(data(&body)["path"], "secret/");

        let (status, body) = send(app.client.get(format!("{}/v1/sys/health", app.base))).await;
        assert_eq!(
            (status, body["initialized"].clone(), body["sealed"].clone()),
            (200, json!(true), json!(false))
        );

        let (status, body) = app.call("GET", "/v1/auth/token/lookup-self", None).await;
        assert_eq!(status, 200);
        assert_eq!(data(&body)["policies"], json!(["root"]));
        assert!(data(&body)["accessor"]
            .as_str()
            .is_some_and(|a| !a.is_empty()));
    }
}

#[tokio::test]
async fn every_route_but_health_needs_a_valid_token() {
    let app = TestApp::start(crate::harness::Db::Sqlite).await;
    app.call(
        "POST",
        "/v1/secret/data/t",
        Some(json!({"data": {"k": "v"}})),
    )
    .await;
    let routes = [
        ("GET", "/v1/secret/data/t"),
        ("POST", "/v1/secret/data/t"),
        ("PATCH", "/v1/secret/data/t"),
        ("DELETE", "/v1/secret/data/t"),
        ("POST", "/v1/secret/delete/t"),
        ("POST", "/v1/secret/undelete/t"),
        ("POST", "/v1/secret/destroy/t"),
        ("GET", "/v1/secret/metadata/t"),
        ("POST", "/v1/secret/metadata/t"),
        ("DELETE", "/v1/secret/metadata/t"),
        ("LIST", "/v1/secret/metadata/"),
        ("GET", "/v1/secret/config"),
        ("POST", "/v1/secret/config"),
        ("GET", "/v1/secret/subkeys/t"),
        ("GET", "/v1/sys/internal/ui/mounts/secret"),
        ("GET", "/v1/auth/token/lookup-self"),
    ];
    let method = |m: &str| reqwest::Method::from_bytes(m.as_bytes()).unwrap();
    for (m, path) in routes {
        let url = format!("{}{path}", app.base);
        let (status, body) = send(
            app.client
                .request(method(m), &url)
                .json(&json!({"versions": [1]})),
        )
        .await;
        assert_eq!(
            (status, body),
            (403, json!({"errors": ["permission denied"]})),
            "{m} {path} without token"
        );
        let (status, _) = send(
            app.client
                .request(method(m), &url)
                .header("X-Vault-Token", "cmt.wrong"),
        )
        .await;
        assert_eq!(status, 403, "{m} {path} with an unknown token");
    }
    // Bearer works as well as X-Vault-Token.
    let (status, body) = send(
        app.client
            .get(format!("{}/v1/secret/data/t", app.base))
            .bearer_auth(&app.token),
    )
    .await;
    assert_eq!(
        (status, data(&body)["data"]["k"].clone()),
        (200, json!("v"))
    );
    // Nothing changed through all those refused calls.
    let (_, body) = app.call("GET", "/v1/secret/metadata/t", None).await;
    assert_eq!(data(&body)["current_version"], 1);
    assert_eq!(data(&body)["versions"]["1"]["deletion_time"], "");
}
