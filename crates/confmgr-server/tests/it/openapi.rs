//! `/openapi.json` and `/docs`: the document is valid OpenAPI 3.1, matches the router in both
//! directions (every documented operation is served, every registered route is documented),
//! and real answers have the statuses and shapes it documents; the docs page loads only
//! assets served by the binary.

use crate::harness::{send, Db, Options, TestApp};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use confmgr_server::config::LegacyApi;
use reqwest::header::CONTENT_TYPE;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::Path;

const METHODS: [&str; 6] = ["get", "put", "post", "delete", "patch", "head"];

async fn start() -> TestApp {
    TestApp::start_options(
        Db::Sqlite,
        Options {
            legacy_api: LegacyApi::Token,
            ..Options::default()
        },
    )
    .await
}

async fn document(app: &TestApp) -> Value {
    let response = app
        .client
        .get(format!("{}/openapi.json", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()[CONTENT_TYPE], "application/json");
    response.json().await.unwrap()
}

/// (path template, method, operation) for every operation in the document.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut found = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS {
            if let Some(operation) = item.get(method) {
                found.push((path.clone(), method.to_owned(), operation.clone()));
            }
        }
    }
    found
}

fn collect_refs(value: &Value, refs: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (key, item) in map {
                match (key.as_str(), item) {
                    ("$ref", Value::String(target)) => {
                        refs.insert(target.clone());
                    }
                    _ => collect_refs(item, refs),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect_refs(item, refs)),
        _ => {}
    }
}

#[tokio::test]
async fn the_document_is_valid_openapi_3_1() {
    let app = start().await;
    let doc = document(&app).await;
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1."),
        "{}",
        doc["openapi"]
    );
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/openapi-3.1-schema.json");
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(fixture).unwrap()).unwrap();
    let validator = jsonschema::draft202012::new(&schema).unwrap();
    let problems: Vec<String> = validator
        .iter_errors(&doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(problems.is_empty(), "not OpenAPI 3.1: {problems:#?}");

    // The official schema leaves Schema Objects unchecked: check each against JSON Schema.
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for (name, schema) in schemas {
        if let Err(error) = jsonschema::meta::validate(schema) {
            panic!("components.schemas.{name} is not a valid JSON Schema: {error}");
        }
    }
    let mut refs = BTreeSet::new();
    collect_refs(&doc, &mut refs);
    for target in &refs {
        let name = target
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("unexpected $ref {target}"));
        assert!(schemas.contains_key(name), "dangling $ref {target}");
    }

    let operations = operations(&doc);
    assert!(
        operations.len() > 90,
        "only {} operations",
        operations.len()
    );
    let mut ids = BTreeSet::new();
    for (path, method, operation) in &operations {
        let id = operation["operationId"].as_str().unwrap_or_default();
        assert!(!id.is_empty(), "{method} {path} has no operationId");
        assert!(ids.insert(id.to_owned()), "operationId {id} is used twice");
        assert!(
            operation["summary"].is_string(),
            "{method} {path}: no summary"
        );
        assert!(operation["tags"].is_array(), "{method} {path}: no tag");
        let responses = operation["responses"].as_object().unwrap();
        assert!(
            responses.keys().any(|status| status.starts_with('2')),
            "{method} {path}: no success answer"
        );
        for (status, response) in responses {
            // Every error is documented with the `{"errors": [...]}` body.
            if status.as_str() >= "400" && path != "/docs" {
                let content = response["content"].to_string();
                assert!(
                    content.contains("ErrorBody") || content.contains("NotFound"),
                    "{method} {path} {status}: error without the errors body"
                );
            }
        }
        let security = operation["security"].as_array().unwrap();
        let open = security.is_empty() || security.iter().any(|r| r == &json!({}));
        let public = [
            "/healthz",
            "/readyz",
            "/metrics",
            "/openapi.json",
            "/v1/sys/health",
        ]
        .contains(&path.as_str())
            || path.starts_with("/docs")
            || path.starts_with("/vault/")
            || path.ends_with("/login");
        assert_eq!(open, public, "{method} {path}: security {security:?}");
    }
}

/// A concrete URL path for a template.
fn concrete(template: &str) -> String {
    template
        .replace("{path}", "openapi-probe/item")
        .replace("{name}", "probe")
        .replace("{asset}", "init.js")
}

fn is_fallback(status: u16, body: &Value) -> bool {
    status == 405 || (status == 404 && body["errors"] == json!(["no handler for route"]))
}

#[tokio::test]
async fn every_documented_operation_is_served() {
    let app = start().await;
    let doc = document(&app).await;
    let mut operations = operations(&doc);
    // Revoking the caller's own token goes last; a 403 still proves the route exists.
    operations.sort_by_key(|(path, _, _)| path.ends_with("/revoke-self"));
    for (path, method, operation) in operations {
        let mut request = app.request(&method.to_uppercase(), &concrete(&path));
        if operation.get("requestBody").is_some() {
            let merge = operation["requestBody"]["content"]
                .get("application/merge-patch+json")
                .is_some();
            request = request
                .header(
                    CONTENT_TYPE,
                    if merge {
                        "application/merge-patch+json"
                    } else {
                        "application/json"
                    },
                )
                .body("{}");
        }
        let (status, body) = send(request).await;
        assert!(
            !is_fallback(status, &body),
            "{method} {path} is documented but not served: {status} {body}"
        );
    }
}

/// Every `.route("...", get(..).post(..))` in the HTTP sources, as (OpenAPI path, method).
fn registered_routes() -> BTreeSet<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http");
    let mut routes = BTreeSet::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        let mut rest = text.as_str();
        while let Some(start) = rest.find(".route(") {
            rest = &rest[start + ".route(".len()..];
            let args = balanced(rest);
            let literal_start = args.find('"').unwrap() + 1;
            let literal_end = literal_start + args[literal_start..].find('"').unwrap();
            let path = args[literal_start..literal_end].replace("{*path}", "{path}");
            let mut handlers = args[literal_end + 1..]
                .trim()
                .trim_start_matches(',')
                .trim()
                .to_owned();
            // A route built by a helper (`create_route()`): read the helper's body.
            if let Some(helper) = handlers.strip_suffix("()") {
                let signature = format!("fn {helper}()");
                let at = text
                    .find(&signature)
                    .unwrap_or_else(|| panic!("{signature} not found"));
                let body = &text[at..];
                handlers = body[..body.find('}').unwrap()].to_owned();
            }
            for method in METHODS {
                let call = format!("{method}(");
                let mut search = handlers.as_str();
                while let Some(at) = search.find(&call) {
                    let before = search[..at].chars().last();
                    if !before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                        routes.insert((path.clone(), method.to_owned()));
                    }
                    search = &search[at + call.len()..];
                }
            }
        }
    }
    routes
}

/// The text up to the `)` that closes the call whose arguments start `text`.
fn balanced(text: &str) -> &str {
    let mut depth = 1;
    for (at, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return &text[..at];
                }
            }
            _ => {}
        }
    }
    panic!("unbalanced .route( call");
}

#[tokio::test]
async fn every_registered_route_is_documented() {
    let app = start().await;
    let doc = document(&app).await;
    let documented: BTreeSet<(String, String)> = operations(&doc)
        .into_iter()
        .map(|(path, method, _)| (path, method))
        .collect();
    let registered = registered_routes();
    assert!(
        registered.len() > 90,
        "found only {} routes: {registered:?}",
        registered.len()
    );
    let undocumented: Vec<_> = registered.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "served but not in /openapi.json: {undocumented:?}"
    );
    let unregistered: Vec<_> = documented.difference(&registered).collect();
    assert!(
        unregistered.is_empty(),
        "documented but not registered: {unregistered:?}"
    );
}

#[tokio::test]
async fn the_docs_page_loads_only_assets_from_the_binary() {
    let app = start().await;
    let response = app
        .client
        .get(format!("{}/docs", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert!(headers[CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let policy = headers["content-security-policy"].to_str().unwrap();
    assert!(
        policy.contains("default-src 'none'") && policy.contains("script-src 'self'"),
        "{policy}"
    );
    let html = response.text().await.unwrap();
    let mut assets = Vec::new();
    for attribute in ["src=\"", "href=\""] {
        for piece in html.split(attribute).skip(1) {
            assets.push(piece[..piece.find('"').unwrap()].to_owned());
        }
    }
    assert!(assets.len() >= 3, "{assets:?}");
    for asset in &assets {
        assert!(
            !asset.contains("//"),
            "the page loads {asset} from elsewhere"
        );
        let response = app
            .client
            .get(format!("{}/{asset}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{asset}");
        let content_type = response.headers()[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .to_owned();
        let expected = match asset.rsplit('.').next().unwrap() {
            "js" => "text/javascript",
            "css" => "text/css",
            "png" => "image/png",
            other => panic!("unexpected asset type {other}"),
        };
        assert!(
            content_type.starts_with(expected),
            "{asset}: {content_type}"
        );
        let bytes = response.bytes().await.unwrap();
        assert!(bytes.len() > 100, "{asset} is nearly empty");
        if asset.ends_with("init.js") {
            let script = String::from_utf8(bytes.to_vec()).unwrap();
            assert!(script.contains("\"openapi.json\""), "{script}");
            // Swagger UI would otherwise post the document to an online validator.
            assert!(script.contains("validatorUrl: null"), "{script}");
        }
    }
    let (status, body) = send(app.client.get(format!("{}/docs/nothing.js", app.base))).await;
    assert_eq!((status, body), (404, json!({"errors": ["no such asset"]})));
}

/// Sends requests and checks each against the document: the operation exists, the status
/// is documented for it, the request body matches the documented request schema and the
/// answer the documented response schema.
struct Checked<'a> {
    app: &'a TestApp,
    doc: Value,
}

enum Auth<'a> {
    Root,
    Token(&'a str),
    None,
}

impl Checked<'_> {
    fn validate(&self, schema: &Value, instance: &Value, what: &str) {
        let mut wrapper = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "components": self.doc["components"],
        });
        match schema.get("$ref") {
            Some(target) => wrapper["$ref"] = target.clone(),
            None => wrapper["allOf"] = json!([schema]),
        }
        let validator = jsonschema::draft202012::new(&wrapper).unwrap();
        let problems: Vec<String> = validator
            .iter_errors(instance)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        assert!(
            problems.is_empty(),
            "{what}: {instance}\ndoes not match its schema: {problems:#?}"
        );
    }

    async fn call(
        &self,
        method: &str,
        template: &str,
        url: &str,
        auth: Auth<'_>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let key = method.to_lowercase();
        let operation = &self.doc["paths"][template][key.as_str()];
        assert!(
            operation.is_object(),
            "{method} {template} is not documented"
        );
        let what = format!("{method} {url}");
        let mut request = self
            .app
            .client
            .request(method.parse().unwrap(), format!("{}{url}", self.app.base));
        request = match auth {
            Auth::Root => request.header("X-Vault-Token", &self.app.token),
            Auth::Token(token) => request.header("Authorization", format!("Bearer {token}")),
            Auth::None => request,
        };
        if let Some(body) = &body {
            let content = operation["requestBody"]["content"]
                .as_object()
                .unwrap_or_else(|| panic!("{what}: no request body documented"));
            let (content_type, _) = content.iter().next().unwrap();
            request = request
                .header(CONTENT_TYPE, content_type.as_str())
                .body(body.to_string());
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        // A body the server accepted must match the documented request schema.
        if let (Some(body), true) = (&body, status < 300) {
            let media = operation["requestBody"]["content"]
                .as_object()
                .unwrap()
                .values()
                .next()
                .unwrap();
            self.validate(&media["schema"], body, &format!("{what} request"));
        }
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let text = response.text().await.unwrap();
        let documented = &operation["responses"][status.to_string()];
        assert!(
            documented.is_object(),
            "{what} answered {status}, not documented: {text}"
        );
        match documented["content"]
            .as_object()
            .and_then(|c| c.iter().next())
        {
            Some((media_type, media)) if media_type == "application/json" => {
                assert!(
                    content_type.starts_with("application/json"),
                    "{what}: {content_type}"
                );
                let answer: Value = serde_json::from_str(&text).unwrap();
                if let Some(schema) = media.get("schema") {
                    self.validate(schema, &answer, &format!("{what} answer {status}"));
                }
                (status, answer)
            }
            Some((media_type, _)) => {
                assert!(
                    content_type.starts_with(media_type.as_str()),
                    "{what}: {content_type} is not {media_type}"
                );
                (status, Value::String(text))
            }
            None => {
                assert!(
                    text.is_empty(),
                    "{what} answered {status} with an undocumented body: {text}"
                );
                (status, Value::Null)
            }
        }
    }
}

#[tokio::test]
async fn answers_match_their_documented_statuses_and_schemas() {
    let app = start().await;
    let doc = document(&app).await;
    let api = Checked { app: &app, doc };
    use Auth::{None as Anonymous, Root};

    // KV: write, conflicts, reads, patch, rollback, delete, undelete, metadata, config.
    let data = "/v1/secret/data/{path}";
    let secret = json!({"data": {"user": "app", "password": "s3cret", "nested": {"a": 1}}});
    assert_eq!(
        api.call(
            "POST",
            data,
            "/v1/secret/data/app/db",
            Root,
            Some(secret.clone())
        )
        .await
        .0,
        200
    );
    assert_eq!(
        api.call(
            "PUT",
            data,
            "/v1/secret/data/app/db",
            Root,
            Some(json!({"data": {"x": "y"}, "options": {"cas": 0}}))
        )
        .await
        .0,
        400
    );
    assert_eq!(
        api.call(
            "PUT",
            data,
            "/v1/secret/data/app/db",
            Root,
            Some(json!({"data": "not an object"}))
        )
        .await
        .0,
        400
    );
    assert_eq!(
        api.call("GET", data, "/v1/secret/data/app/db", Root, None)
            .await
            .0,
        200
    );
    assert_eq!(
        api.call("GET", data, "/v1/secret/data/app/db?version=7", Root, None)
            .await
            .0,
        404
    );
    assert_eq!(
        api.call("GET", data, "/v1/secret/data/nothing/here", Root, None)
            .await
            .0,
        404
    );
    assert_eq!(
        api.call(
            "PATCH",
            data,
            "/v1/secret/data/app/db",
            Root,
            Some(json!({"data": {"password": "n3w", "nested": null}}))
        )
        .await
        .0,
        200
    );
    assert_eq!(
        api.call(
            "POST",
            "/v1/secret/rollback/{path}",
            "/v1/secret/rollback/app/db",
            Root,
            Some(json!({"version": 1}))
        )
        .await
        .0,
        200
    );
    assert_eq!(
        api.call(
            "GET",
            "/v1/secret/subkeys/{path}",
            "/v1/secret/subkeys/app/db?depth=1",
            Root,
            None
        )
        .await
        .0,
        200
    );
    assert_eq!(
        api.call("DELETE", data, "/v1/secret/data/app/db", Root, None)
            .await
            .0,
        204
    );
    let (status, gone) = api
        .call("GET", data, "/v1/secret/data/app/db", Root, None)
        .await;
    assert_eq!((status, &gone["data"]["data"]), (404, &Value::Null));
    assert_eq!(
        api.call(
            "GET",
            "/v1/secret/subkeys/{path}",
            "/v1/secret/subkeys/app/db",
            Root,
            None
        )
        .await
        .0,
        404
    );
    assert_eq!(
        api.call(
            "POST",
            "/v1/secret/undelete/{path}",
            "/v1/secret/undelete/app/db",
            Root,
            Some(json!({"versions": [3]}))
        )
        .await
        .0,
        204
    );
    assert_eq!(
        api.call(
            "POST",
            "/v1/secret/delete/{path}",
            "/v1/secret/delete/app/db",
            Root,
            Some(json!({"versions": [1]}))
        )
        .await
        .0,
        204
    );
    assert_eq!(
        api.call(
            "PUT",
            "/v1/secret/destroy/{path}",
            "/v1/secret/destroy/app/db",
            Root,
            Some(json!({"versions": [1]}))
        )
        .await
        .0,
        204
    );
    let metadata = "/v1/secret/metadata/{path}";
    assert_eq!(api.call("POST", metadata, "/v1/secret/metadata/app/db", Root, Some(json!({"max_versions": 5, "delete_version_after": "720h", "custom_metadata": {"team": "payments"}}))).await.0, 204);
    assert_eq!(
        api.call(
            "PATCH",
            metadata,
            "/v1/secret/metadata/app/db",
            Root,
            Some(json!({"custom_metadata": {"team": null, "owner": "ops"}}))
        )
        .await
        .0,
        204
    );
    assert_eq!(
        api.call(
            "POST",
            metadata,
            "/v1/secret/metadata/app/db",
            Root,
            Some(json!({"max_versions": -1}))
        )
        .await
        .0,
        400
    );
    let (_, described) = api
        .call("GET", metadata, "/v1/secret/metadata/app/db", Root, None)
        .await;
    assert_eq!(
        described["data"]["custom_metadata"],
        json!({"owner": "ops"})
    );
    let (_, listed) = api
        .call(
            "GET",
            metadata,
            "/v1/secret/metadata/app?list=true",
            Root,
            None,
        )
        .await;
    assert_eq!(listed["data"]["keys"], json!(["db"]));
    let (_, top) = api
        .call(
            "GET",
            "/v1/secret/metadata",
            "/v1/secret/metadata?list=true",
            Root,
            None,
        )
        .await;
    assert_eq!(top["data"]["keys"], json!(["app/"]));
    assert_eq!(
        api.call("GET", "/v1/secret/config", "/v1/secret/config", Root, None)
            .await
            .0,
        200
    );
    assert_eq!(
        api.call(
            "POST",
            "/v1/secret/config",
            "/v1/secret/config",
            Root,
            Some(json!({"max_versions": 20, "cas_required": false}))
        )
        .await
        .0,
        204
    );
    assert_eq!(
        api.call(
            "GET",
            "/v1/sys/internal/ui/mounts/{path}",
            "/v1/sys/internal/ui/mounts/secret/app",
            Root,
            None
        )
        .await
        .0,
        200
    );
    assert_eq!(
        api.call(
            "GET",
            "/v1/sys/internal/ui/mounts/{path}",
            "/v1/sys/internal/ui/mounts/other/app",
            Root,
            None
        )
        .await
        .0,
        404
    );

    // Policies, both APIs.
    let policy = "path \"secret/data/app/*\" { capabilities = [\"read\"] }";
    assert_eq!(
        api.call(
            "PUT",
            "/v1/sys/policies/acl/{name}",
            "/v1/sys/policies/acl/app-read",
            Root,
            Some(json!({"policy": policy}))
        )
        .await
        .0,
        204
    );
    assert_eq!(
        api.call(
            "PUT",
            "/v1/sys/policies/acl/{name}",
            "/v1/sys/policies/acl/broken",
            Root,
            Some(json!({"policy": "path {"}))
        )
        .await
        .0,
        400
    );
    assert_eq!(
        api.call(
            "GET",
            "/v1/sys/policies/acl/{name}",
            "/v1/sys/policies/acl/app-read",
            Root,
            None
        )
        .await
        .0,
        200
    );
    let (_, legacy) = api
        .call(
            "GET",
            "/v1/sys/policy/{name}",
            "/v1/sys/policy/app-read",
            Root,
            None,
        )
        .await;
    assert_eq!(legacy["data"]["rules"], policy);
    assert_eq!(
        api.call(
            "GET",
            "/v1/sys/policies/acl",
            "/v1/sys/policies/acl?list=true",
            Root,
            None
        )
        .await
        .0,
        200
    );
    assert_eq!(
        api.call("GET", "/v1/sys/policy", "/v1/sys/policy", Root, None)
            .await
            .0,
        200
    );
    assert_eq!(
        api.call(
            "GET",
            "/v1/sys/policies/acl/{name}",
            "/v1/sys/policies/acl/missing",
            Root,
            None
        )
        .await
        .0,
        404
    );

    // Tokens.
    let (status, created) = api
        .call(
            "POST",
            "/v1/auth/token/create",
            "/v1/auth/token/create",
            Root,
            Some(json!({"policies": ["app-read"], "ttl": "1h", "meta": {"purpose": "test"}})),
        )
        .await;
    assert_eq!(status, 200);
    let child = created["auth"]["client_token"].as_str().unwrap().to_owned();
    let accessor = created["auth"]["accessor"].as_str().unwrap().to_owned();
    assert_eq!(
        api.call(
            "GET",
            "/v1/auth/token/lookup-self",
            "/v1/auth/token/lookup-self",
            Auth::Token(&child),
            None
        )
        .await
        .0,
        200
    );
    assert_eq!(
        api.call(
            "POST",
            "/v1/auth/token/renew-self",
            "/v1/auth/token/renew-self",
            Auth::Token(&child),
            Some(json!({"increment": "30m"}))
        )
        .await
        .0,
        200
    );
    assert_eq!(
        api.call(
            "POST",
            "/v1/auth/token/lookup",
            "/v1/auth/token/lookup",
            Root,
            Some(json!({"token": child}))
        )
        .await
        .0,
        200
    );
    assert_eq!(
        api.call(
            "POST",
            "/v1/auth/token/lookup-accessor",
            "/v1/auth/token/lookup-accessor",
            Root,
            Some(json!({"accessor": accessor}))
        )
        .await
        .0,
        200
    );
    assert_eq!(
        api.call(
            "POST",
            "/v1/auth/token/create-orphan",
            "/v1/auth/token/create-orphan",
            Root,
            Some(json!({"policies": "app-read"}))
        )
        .await
        .0,
        200
    );
    // The child may read app/* and nothing else; no token at all is refused the same way.
    assert_eq!(
        api.call(
            "GET",
            data,
            "/v1/secret/data/app/db",
            Auth::Token(&child),
            None
        )
        .await
        .0,
        200
    );
    assert_eq!(
        api.call(
            "GET",
            data,
            "/v1/secret/data/other",
            Auth::Token(&child),
            None
        )
        .await
        .0,
        403
    );
    assert_eq!(
        api.call("GET", data, "/v1/secret/data/app/db", Anonymous, None)
            .await
            .0,
        403
    );
    assert_eq!(
        api.call(
            "POST",
            "/v1/auth/token/create",
            "/v1/auth/token/create",
            Auth::Token(&child),
            Some(json!({}))
        )
        .await
        .0,
        403
    );

    // AppRole.
    let role = "/v1/auth/approle/role/{name}";
    assert_eq!(
        api.call(
            "POST",
            role,
            "/v1/auth/approle/role/web",
            Root,
            Some(json!({"token_policies": "app-read", "token_ttl": "1h", "secret_id_num_uses": 5}))
        )
        .await
        .0,
        204
    );
    assert_eq!(
        api.call(
            "POST",
            role,
            "/v1/auth/approle/role/web",
            Root,
            Some(json!({"bind_secret_id": false}))
        )
        .await
        .0,
        400
    );
    assert_eq!(
        api.call("GET", role, "/v1/auth/approle/role/web", Root, None)
            .await
            .0,
        200
    );
    assert_eq!(
        api.call(
            "GET",
            "/v1/auth/approle/role",
            "/v1/auth/approle/role?list=true",
            Root,
            None
        )
        .await
        .0,
        200
    );
    let (_, role_id) = api
        .call(
            "GET",
            "/v1/auth/approle/role/{name}/role-id",
            "/v1/auth/approle/role/web/role-id",
            Root,
            None,
        )
        .await;
    let role_id = role_id["data"]["role_id"].as_str().unwrap().to_owned();
    let secret_ids = "/v1/auth/approle/role/{name}/secret-id";
    let (_, generated) = api
        .call(
            "POST",
            secret_ids,
            "/v1/auth/approle/role/web/secret-id",
            Root,
            Some(json!({"metadata": "{\"host\": \"web-1\"}"})),
        )
        .await;
    let secret_id = generated["data"]["secret_id"].as_str().unwrap().to_owned();
    let secret_accessor = generated["data"]["secret_id_accessor"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        api.call(
            "GET",
            secret_ids,
            "/v1/auth/approle/role/web/secret-id?list=true",
            Root,
            None
        )
        .await
        .0,
        200
    );
    assert_eq!(
        api.call(
            "POST",
            "/v1/auth/approle/role/{name}/secret-id/lookup",
            "/v1/auth/approle/role/web/secret-id/lookup",
            Root,
            Some(json!({"secret_id": secret_id}))
        )
        .await
        .0,
        200
    );
    assert_eq!(
        api.call(
            "POST",
            "/v1/auth/approle/role/{name}/secret-id-accessor/lookup",
            "/v1/auth/approle/role/web/secret-id-accessor/lookup",
            Root,
            Some(json!({"secret_id_accessor": secret_accessor}))
        )
        .await
        .0,
        200
    );
    let login = "/v1/auth/approle/login";
    assert_eq!(
        api.call(
            "POST",
            login,
            login,
            Anonymous,
            Some(json!({"role_id": role_id, "secret_id": secret_id}))
        )
        .await
        .0,
        200
    );
    assert_eq!(
        api.call(
            "POST",
            login,
            login,
            Anonymous,
            Some(json!({"role_id": role_id, "secret_id": "wrong"}))
        )
        .await
        .0,
        400
    );
    assert_eq!(
        api.call(
            "POST",
            "/v1/auth/approle/role/{name}/secret-id/destroy",
            "/v1/auth/approle/role/web/secret-id/destroy",
            Root,
            Some(json!({"secret_id": secret_id}))
        )
        .await
        .0,
        204
    );
    assert_eq!(
        api.call("DELETE", role, "/v1/auth/approle/role/web", Root, None)
            .await
            .0,
        204
    );

    // Keys, audit, health.
    assert_eq!(
        api.call(
            "GET",
            "/v1/sys/keys/status",
            "/v1/sys/keys/status",
            Root,
            None
        )
        .await
        .0,
        200
    );
    assert_eq!(
        api.call(
            "POST",
            "/v1/sys/keys/rotate",
            "/v1/sys/keys/rotate",
            Root,
            None
        )
        .await
        .0,
        200
    );
    assert_eq!(
        api.call(
            "POST",
            "/v1/sys/keys/rewrap",
            "/v1/sys/keys/rewrap",
            Root,
            None
        )
        .await
        .0,
        204
    );
    assert_eq!(
        api.call(
            "POST",
            "/v1/sys/keys/retire",
            "/v1/sys/keys/retire",
            Root,
            Some(json!({}))
        )
        .await
        .0,
        400
    );
    assert_eq!(
        api.call(
            "GET",
            "/v1/sys/audit/events",
            "/v1/sys/audit/events?limit=5&outcome=denied",
            Root,
            None
        )
        .await
        .0,
        200
    );
    assert_eq!(
        api.call(
            "GET",
            "/v1/sys/audit/events",
            "/v1/sys/audit/events?since=yesterday",
            Root,
            None
        )
        .await
        .0,
        400
    );
    assert_eq!(
        api.call(
            "POST",
            "/v1/sys/audit/verify",
            "/v1/sys/audit/verify",
            Root,
            None
        )
        .await
        .0,
        200
    );
    assert_eq!(
        api.call("GET", "/v1/sys/health", "/v1/sys/health", Anonymous, None)
            .await
            .0,
        200
    );
    assert_eq!(
        api.call("GET", "/healthz", "/healthz", Anonymous, None)
            .await
            .0,
        200
    );
    assert_eq!(
        api.call("GET", "/readyz", "/readyz", Anonymous, None)
            .await
            .0,
        200
    );
    assert_eq!(
        api.call("GET", "/metrics", "/metrics", Anonymous, None)
            .await
            .0,
        200
    );

    // The legacy API (token mode).
    let create = "/vault/secret/create/";
    let (status, stored) = api
        .call(
            "POST",
            create,
            create,
            Root,
            Some(json!({"secret": STANDARD.encode(b"legacy bytes")})),
        )
        .await;
    assert_eq!(status, 200);
    let fetch = "/vault/secret/fetch";
    assert_eq!(
        api.call(
            "POST",
            fetch,
            fetch,
            Root,
            Some(json!({"secret_id": stored["secret_id"]}))
        )
        .await
        .0,
        200
    );
    assert_eq!(
        api.call(
            "POST",
            fetch,
            fetch,
            Root,
            Some(json!({"secret_id": uuid::Uuid::new_v4().to_string()}))
        )
        .await
        .0,
        404
    );
    assert_eq!(
        api.call("POST", create, create, Root, Some(json!({"secret": "***"})))
            .await
            .0,
        400
    );

    // Revocation last: the child token, then the root token itself.
    assert_eq!(
        api.call(
            "POST",
            "/v1/auth/token/revoke-accessor",
            "/v1/auth/token/revoke-accessor",
            Root,
            Some(json!({"accessor": accessor}))
        )
        .await
        .0,
        204
    );
    assert_eq!(
        api.call(
            "GET",
            "/v1/auth/token/lookup-self",
            "/v1/auth/token/lookup-self",
            Auth::Token(&child),
            None
        )
        .await
        .0,
        403
    );
    assert_eq!(
        api.call(
            "POST",
            "/v1/auth/token/revoke-self",
            "/v1/auth/token/revoke-self",
            Root,
            None
        )
        .await
        .0,
        204
    );
}
