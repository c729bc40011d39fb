//! `/openapi.json`: the OpenAPI 3.1 document, generated from the handlers' `utoipa::path`
//! annotations. What the annotations cannot say once for all is added here: routes served
//! by one handler at several paths, the token security schemes, the request-id header and
//! the error answers every route shares.

use super::{
    approle, approle_fields, approle_secret_ids, audit, capabilities, cert, docs, keys, kv, legacy,
    policies, sys, token, token_roles, wrapping,
};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use confmgr_api::ErrorBody;
use std::sync::OnceLock;
use utoipa::openapi::path::{Operation, Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::security::SecurityRequirement;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi as Document, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi, PartialSchema};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "ConfMgr API",
        description = include_str!("openapi-intro.md"),
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    paths(
        kv::read, kv::write, kv::patch, kv::delete_latest, kv::change_versions,
        kv::metadata_or_list, kv::list_root, kv::write_metadata, kv::patch_metadata,
        kv::delete_metadata, kv::read_config, kv::write_config, kv::subkeys, kv::rollback,
        token::lookup_self, token::renew_self, token::revoke_self, token::create,
        token::create_orphan, token::lookup, token::lookup_accessor, token::revoke,
        token::revoke_accessor, token::create_with_role, token::renew, token::renew_accessor,
        token::revoke_orphan, token::list_accessors, token::tidy,
        token_roles::write, token_roles::read, token_roles::list, token_roles::delete,
        capabilities::capabilities_self, capabilities::capabilities,
        capabilities::capabilities_accessor,
        approle::login, approle::list_roles, approle::read_role, approle::write_role,
        approle::delete_role, approle::role_id, approle_secret_ids::generate_secret, approle_secret_ids::list_secrets,
        approle_secret_ids::lookup_secret, approle_secret_ids::destroy_secret,
        approle_secret_ids::lookup_accessor, approle_secret_ids::destroy_accessor, approle::set_role_id, approle_secret_ids::custom_secret,
        approle_secret_ids::tidy, approle_fields::read_field, approle_fields::write_field,
        approle_fields::reset_field,
        cert::login,
        policies::list, policies::list_legacy, policies::read, policies::write, policies::delete,
        keys::rotate, keys::status, keys::rewrap, keys::retire,
        audit::events, audit::verify,
        sys::health, sys::mount_info, sys::healthz, sys::readyz,
        crate::metrics::serve, serve, docs::page, docs::asset,
        legacy::create, legacy::fetch,
        wrapping::wrap, wrapping::unwrap, wrapping::lookup, wrapping::rewrap,
    ),
    components(schemas(ErrorBody, super::schemas::LegacyPolicy)),
    modifiers(&Aliases, &Shared),
    tags(
        (name = "kv", description = "Vault KV v2 on the mount `secret`"),
        (name = "auth/token", description = "Vault's token API"),
        (name = "auth/approle", description = "API clients, in Vault's AppRole shapes"),
        (name = "auth/cert", description = "Login with a TLS client certificate"),
        (name = "sys/policies", description = "ACL policies"),
        (name = "sys/capabilities", description = "What a token may do at given paths"),
        (name = "sys/wrapping", description = "Response wrapping: single-use wrapping tokens"),
        (name = "sys/keys", description = "Keyring rotation, rewrap and retirement"),
        (name = "sys/audit", description = "The audit log"),
        (name = "sys", description = "Vault's health and mount discovery"),
        (name = "operations", description = "Probes, metrics and this document"),
        (name = "legacy", description = "The earlier secret manager's API (CONFMGR_LEGACY_API)"),
    ),
)]
struct ApiDoc;

/// The document, built once.
pub fn document() -> &'static str {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        ApiDoc::openapi()
            .to_pretty_json()
            .unwrap_or_else(|e| format!("{{\"errors\":[\"openapi: {e}\"]}}"))
    })
}

#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    operation_id = "openapi_document",
    summary = "This OpenAPI 3.1 document",
    description = "Unauthenticated.",
    responses((status = 200, description = "The document", content_type = "application/json", body = Object))
)]
pub(super) async fn serve() -> Response {
    let mut response = document().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// A path served by the same handler as another (Vault's older names, trailing slashes):
/// (documented path, alias, operation id suffix, summary of the alias or "" to keep it).
const ALIASES: [(&str, &str, &str, &str); 11] = [
    ("/v1/secret/metadata", "/v1/secret/metadata/", "slash", ""),
    ("/v1/auth/token/roles", "/v1/auth/token/roles/", "slash", ""),
    ("/v1/auth/token/accessors", "/v1/auth/token/accessors/", "slash", ""),
    ("/v1/auth/approle/role", "/v1/auth/approle/role/", "slash", ""),
    ("/v1/sys/policies/acl", "/v1/sys/policies/acl/", "slash", ""),
    ("/v1/sys/keys/rotate", "/v1/sys/rotate", "vault", ""),
    ("/v1/sys/keys/status", "/v1/sys/key-status", "vault", ""),
    ("/vault/secret/create/", "/vault/secret/create", "no_slash", ""),
    ("/vault/secret/fetch", "/vault/secret/fetch/", "slash", ""),
    (
        "/v1/secret/delete/{path}",
        "/v1/secret/undelete/{path}",
        "undelete",
        "Restore soft-deleted versions (needs `update` on `secret/undelete/<path>`)",
    ),
    (
        "/v1/secret/delete/{path}",
        "/v1/secret/destroy/{path}",
        "destroy",
        "Destroy versions for good, by erasing their data keys (needs `update` on `secret/destroy/<path>`)",
    ),
];

struct Aliases;

impl Modify for Aliases {
    fn modify(&self, openapi: &mut Document) {
        for (original, alias, suffix, summary) in ALIASES {
            let Some(mut item) = openapi.paths.paths.get(original).cloned() else {
                continue;
            };
            for operation in operations_mut(&mut item) {
                if let Some(id) = &operation.operation_id {
                    operation.operation_id = Some(format!("{id}_{suffix}"));
                }
                if !summary.is_empty() {
                    operation.summary = Some(summary.to_owned());
                }
            }
            openapi.paths.paths.insert(alias.to_owned(), item);
        }
        // The older policy API names the policy text `rules`.
        for (original, alias) in [
            ("/v1/sys/policies/acl/{name}", "/v1/sys/policy/{name}"),
            ("/v1/sys/policies/acl", "/v1/sys/policy"),
        ] {
            if openapi.paths.paths.contains_key(alias) {
                continue;
            }
            let Some(mut item) = openapi.paths.paths.get(original).cloned() else {
                continue;
            };
            for operation in operations_mut(&mut item) {
                if let Some(id) = &operation.operation_id {
                    operation.operation_id = Some(format!("{id}_legacy"));
                }
            }
            if let Some(get) = item.get.as_mut() {
                if let Some(RefOr::T(ok)) = get.responses.responses.get_mut("200") {
                    *ok = ResponseBuilder::new()
                        .description("The policy, its text in `rules`")
                        .content(
                            "application/json",
                            ContentBuilder::new()
                                .schema(Some(confmgr_api::VaultResponse::<
                                    super::schemas::LegacyPolicy,
                                >::schema()))
                                .build(),
                        )
                        .build();
                }
            }
            openapi.paths.paths.insert(alias.to_owned(), item);
        }
    }
}

fn operations_mut(item: &mut utoipa::openapi::PathItem) -> Vec<&mut Operation> {
    methods_mut(item).into_iter().map(|(_, op)| op).collect()
}

fn methods_mut(item: &mut utoipa::openapi::PathItem) -> Vec<(&'static str, &mut Operation)> {
    [
        ("get", item.get.as_mut()),
        ("put", item.put.as_mut()),
        ("post", item.post.as_mut()),
        ("delete", item.delete.as_mut()),
        ("options", item.options.as_mut()),
        ("head", item.head.as_mut()),
        ("patch", item.patch.as_mut()),
        ("trace", item.trace.as_mut()),
    ]
    .into_iter()
    .filter_map(|(method, op)| op.map(|op| (method, op)))
    .collect()
}

/// One handler annotated for several methods shares one operation id; ids must be unique,
/// so every method after the first gets its name appended (`kv_write`, `kv_write_put`).
fn unique_operation_ids(openapi: &mut Document) {
    let mut seen = std::collections::HashSet::new();
    for item in openapi.paths.paths.values_mut() {
        for (method, operation) in methods_mut(item) {
            if let Some(id) = operation.operation_id.clone() {
                if !seen.insert(id.clone()) {
                    let unique = format!("{id}_{method}");
                    seen.insert(unique.clone());
                    operation.operation_id = Some(unique);
                }
            }
        }
    }
}

/// Operations anyone may call. The legacy API's are open or need a token depending on
/// `CONFMGR_LEGACY_API`, so a token is optional in the document.
const UNAUTHENTICATED: [&str; 10] = [
    "sys_health",
    "healthz",
    "readyz",
    "metrics",
    "openapi_document",
    "docs_page",
    "docs_asset",
    "approle_login",
    "cert_login",
    "legacy",
];

/// Routes that take no input a caller could get wrong.
const NO_INPUT: [&str; 6] = [
    "healthz",
    "readyz",
    "metrics",
    "openapi_document",
    "docs_page",
    "docs_asset",
];

/// Routes that answer from the process alone: no storage error is possible.
const NO_STORAGE: [&str; 5] = [
    "sys_health",
    "healthz",
    "openapi_document",
    "docs_page",
    "docs_asset",
];

struct Shared;

impl Modify for Shared {
    fn modify(&self, openapi: &mut Document) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "vault_token",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Vault-Token",
                "A ConfMgr token (`cmt.` ...), as Vault clients send it",
            ))),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("The same token as `Authorization: Bearer <token>`"))
                    .build(),
            ),
        );
        for item in openapi.paths.paths.values_mut() {
            let has_path_parameter = item
                .parameters
                .iter()
                .flatten()
                .any(|p| p.parameter_in == ParameterIn::Path);
            for operation in operations_mut(item) {
                let id = operation.operation_id.clone().unwrap_or_default();
                let open = UNAUTHENTICATED
                    .iter()
                    .any(|prefix| id == *prefix || id.starts_with(&format!("{prefix}_")));
                let tokens = vec![
                    SecurityRequirement::new("vault_token", Vec::<String>::new()),
                    SecurityRequirement::new("bearer", Vec::<String>::new()),
                ];
                operation.security = Some(if id.starts_with("legacy_") {
                    [vec![SecurityRequirement::default()], tokens].concat()
                } else if open {
                    Vec::new()
                } else {
                    tokens
                });
                operation
                    .parameters
                    .get_or_insert_with(Vec::new)
                    .push(request_id_parameter());
                let path_parameter = has_path_parameter
                    || operation
                        .parameters
                        .iter()
                        .flatten()
                        .any(|p| p.parameter_in == ParameterIn::Path);
                let mut errors: Vec<(&str, &str)> = Vec::new();
                if !NO_INPUT.contains(&id.as_str()) {
                    errors.push(("400", "Invalid input: `errors` names the problem"));
                }
                if !open || id.starts_with("legacy_") {
                    errors.push((
                        "403",
                        "Permission denied: no token, an invalid or expired one, or a policy that does not allow this (the denial is audited)",
                    ));
                }
                if path_parameter {
                    errors.push(("404", "Not found (`errors` is empty, as in Vault)"));
                }
                if operation.request_body.is_some() {
                    errors.push(("413", "The body is larger than CONFMGR_MAX_BODY_BYTES"));
                }
                if !NO_STORAGE.contains(&id.as_str()) {
                    errors.push(("500", "Internal error (details in the server log only)"));
                    errors.push((
                        "503",
                        "Storage or the audit log is unavailable, or the request ran past CONFMGR_REQUEST_TIMEOUT_SECS; nothing was changed without its audit event",
                    ));
                }
                for (status, description) in errors {
                    operation
                        .responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert_with(|| error_response(description));
                }
            }
        }
        unique_operation_ids(openapi);
    }
}

fn error_response(description: &str) -> RefOr<utoipa::openapi::Response> {
    RefOr::T(
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build(),
    )
}

fn request_id_parameter() -> Parameter {
    ParameterBuilder::new()
        .name("X-Request-Id")
        .parameter_in(ParameterIn::Header)
        .description(Some(
            "Correlates the request in logs and the audit log; echoed in the answer (generated when absent)",
        ))
        .schema(Some(String::schema()))
        .build()
}
