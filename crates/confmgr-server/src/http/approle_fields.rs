//! Vault's per-field AppRole routes (`auth/approle/role/:name/policies`, `…/token-ttl`, …):
//! read, set or reset one setting of an existing role. Writes go through the role write's
//! own checks (`approle::role_settings`), so a field is enforced or refused the same way
//! whichever route sets it.

use super::approle::{role_json, role_path, role_settings, RoleRequest};
use super::flex::NotList;
use super::render::{envelope, no_content, RequestId};
use crate::auth::Caller;
use crate::body::JsonBody;
use crate::error::{Error, Result};
use crate::services::approle;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use confmgr_api::ErrorBody;
use confmgr_core::policy::Capability;
use serde_json::{json, Map, Value};

pub fn router() -> Router<AppState> {
    Router::new().route(
        "/v1/auth/approle/role/{name}/{field}",
        get(read_field)
            .post(write_field)
            .put(write_field)
            .delete(reset_field),
    )
}

/// One per-field route: its path segment, the body keys a write takes (the first is the
/// one Vault requires), the keys a read answers, and the value a reset writes.
struct Field {
    segment: &'static str,
    writes: &'static [&'static str],
    reads: &'static [&'static str],
    reset: Option<fn() -> Value>,
}

const FIELDS: [Field; 12] = [
    Field {
        segment: "policies",
        writes: &["token_policies", "policies"],
        reads: &["policies", "token_policies"],
        reset: Some(|| json!([])),
    },
    Field {
        segment: "secret-id-num-uses",
        writes: &["secret_id_num_uses"],
        reads: &["secret_id_num_uses"],
        reset: Some(|| json!(0)),
    },
    Field {
        segment: "secret-id-ttl",
        writes: &["secret_id_ttl"],
        reads: &["secret_id_ttl"],
        reset: Some(|| json!(0)),
    },
    Field {
        segment: "token-ttl",
        writes: &["token_ttl"],
        reads: &["token_ttl"],
        reset: Some(|| json!(0)),
    },
    Field {
        segment: "token-max-ttl",
        writes: &["token_max_ttl"],
        reads: &["token_max_ttl"],
        reset: Some(|| json!(0)),
    },
    Field {
        segment: "token-num-uses",
        writes: &["token_num_uses"],
        reads: &["token_num_uses"],
        reset: Some(|| json!(0)),
    },
    Field {
        segment: "bind-secret-id",
        writes: &["bind_secret_id"],
        reads: &["bind_secret_id"],
        reset: Some(|| json!(true)),
    },
    Field {
        segment: "secret-id-bound-cidrs",
        writes: &["secret_id_bound_cidrs"],
        reads: &["secret_id_bound_cidrs"],
        reset: Some(|| json!([])),
    },
    Field {
        segment: "bound-cidr-list",
        writes: &["bound_cidr_list"],
        reads: &["secret_id_bound_cidrs"],
        reset: None,
    },
    Field {
        segment: "token-bound-cidrs",
        writes: &["token_bound_cidrs"],
        reads: &["token_bound_cidrs"],
        reset: Some(|| json!([])),
    },
    Field {
        segment: "period",
        writes: &["token_period", "period"],
        reads: &["period", "token_period"],
        reset: Some(|| json!(0)),
    },
    Field {
        segment: "local-secret-ids",
        writes: &[],
        reads: &["local_secret_ids"],
        reset: None,
    },
];

/// The field of this route; any other segment is not a route (404, as Vault).
fn field(segment: &str) -> Result<&'static Field> {
    FIELDS
        .iter()
        .find(|f| f.segment == segment)
        .ok_or(Error::NotFound)
}

fn field_path(name: &str, segment: &str) -> String {
    format!("{}/{segment}", role_path(name))
}

#[utoipa::path(
    get,
    path = "/v1/auth/approle/role/{name}/{field}",
    tag = "auth/approle",
    operation_id = "approle_read_role_field",
    summary = "Read one setting of a role",
    description = "Vault's per-field routes: `field` is one of `policies`, `secret-id-num-uses`, `secret-id-ttl`, `token-ttl`, `token-max-ttl`, `token-num-uses`, `bind-secret-id`, `secret-id-bound-cidrs`, `bound-cidr-list`, `token-bound-cidrs`, `period`, `local-secret-ids` (any other answers 404). Needs `read` on `auth/approle/role/<name>/<field>`.",
    params(("name" = String, Path, description = "The API client's (role's) name"), ("field" = String, Path, description = "The setting")),
    responses((status = 200, description = "The setting, under Vault's key(s)", body = VaultResponse<Object>), (status = 404, description = "No such role or field", body = ErrorBody))
)]
async fn read_field(
    State(state): State<AppState>,
    caller: Caller,
    _: NotList,
    id: RequestId,
    Path((name, segment)): Path<(String, String)>,
) -> Result<Response> {
    let field = field(&segment)?;
    caller.authorize(&field_path(&name, &segment), Capability::Read)?;
    let role = role_json(&approle::read_role(&state.store, &name).await?);
    let data: Map<String, Value> = field
        .reads
        .iter()
        .map(|key| ((*key).to_owned(), role[*key].clone()))
        .collect();
    Ok(envelope(id, Value::Object(data)))
}

/// Writes `body` (only this field's keys) to an existing role through the role write.
async fn write(
    state: &AppState,
    name: &str,
    field: &Field,
    body: Map<String, Value>,
) -> Result<()> {
    let Some(required) = field.writes.first() else {
        return Err(Error::Invalid(format!(
            "{} cannot be changed",
            field.reads.join(", ")
        )));
    };
    if let Some(other) = body.keys().find(|k| !field.writes.contains(&k.as_str())) {
        return Err(Error::Invalid(format!(
            "unknown field `{other}` (this route sets {})",
            field.writes.join(" or ")
        )));
    }
    if body.is_empty() {
        return Err(Error::Invalid(format!("missing {required}")));
    }
    // Vault answers an unknown role here with 404; the role write would create it.
    approle::read_role(&state.store, name).await?;
    let request: RoleRequest =
        serde_json::from_value(Value::Object(body)).map_err(|e| Error::Invalid(e.to_string()))?;
    let settings = role_settings(request)?;
    approle::write_role(&state.store, &state.access.auth_cache, name, settings).await?;
    Ok(())
}

#[utoipa::path(
    method(post, put),
    path = "/v1/auth/approle/role/{name}/{field}",
    tag = "auth/approle",
    operation_id = "approle_write_role_field",
    summary = "Set one setting of a role",
    description = "Needs `create` or `update` on `auth/approle/role/<name>/<field>`. The body holds the setting under its role key (`token_policies` or `policies`, `token_ttl`, `bind_secret_id`, `token_period` or `period`, …), checked as a role write checks it. 400 `missing <key>` without it, 400 for any other key; 404 for an unknown role or field.",
    params(("name" = String, Path, description = "The API client's (role's) name"), ("field" = String, Path, description = "The setting")),
    request_body = Object,
    responses((status = 204, description = "Set"), (status = 400, description = "Missing, unknown or refused value", body = ErrorBody), (status = 404, description = "No such role or field", body = ErrorBody))
)]
async fn write_field(
    State(state): State<AppState>,
    caller: Caller,
    Path((name, segment)): Path<(String, String)>,
    JsonBody(body): JsonBody<Map<String, Value>>,
) -> Result<Response> {
    let field = field(&segment)?;
    caller.authorize_any(
        &field_path(&name, &segment),
        &[Capability::Create, Capability::Update],
    )?;
    write(&state, &name, field, body).await?;
    Ok(no_content())
}

#[utoipa::path(
    delete,
    path = "/v1/auth/approle/role/{name}/{field}",
    tag = "auth/approle",
    operation_id = "approle_reset_role_field",
    summary = "Reset one setting of a role to its default",
    description = "Needs `delete` on `auth/approle/role/<name>/<field>`. `bound-cidr-list` and `local-secret-ids` cannot be reset (400).",
    params(("name" = String, Path, description = "The API client's (role's) name"), ("field" = String, Path, description = "The setting")),
    responses((status = 204, description = "Reset"), (status = 404, description = "No such role or field", body = ErrorBody))
)]
async fn reset_field(
    State(state): State<AppState>,
    caller: Caller,
    Path((name, segment)): Path<(String, String)>,
) -> Result<Response> {
    let field = field(&segment)?;
    caller.authorize(&field_path(&name, &segment), Capability::Delete)?;
    let (Some(reset), Some(key)) = (field.reset, field.writes.first()) else {
        return Err(Error::Invalid(format!("{segment} cannot be reset")));
    };
    let body = Map::from_iter([((*key).to_owned(), reset())]);
    write(&state, &name, field, body).await?;
    Ok(no_content())
}
