//! Token self-service (the rest of the token API comes with clients and policies).

use super::render::{envelope, RequestId};
use crate::auth::Caller;
use crate::state::AppState;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use confmgr_api::sys::TokenLookup;
use confmgr_core::time::{now_micros, rfc3339};

pub fn router() -> Router<AppState> {
    Router::new().route(
        "/v1/auth/token/lookup-self",
        get(lookup_self).post(lookup_self),
    )
}

async fn lookup_self(caller: Caller, id: RequestId) -> Response {
    let token = caller.token;
    let ttl = token
        .expires_at
        .map(|at| ((at - now_micros()) / 1_000_000).max(0))
        .unwrap_or(0);
    envelope(
        id,
        TokenLookup {
            accessor: token.accessor,
            creation_time: token.created_at / 1_000_000,
            creation_ttl: token
                .expires_at
                .map(|at| (at - token.created_at) / 1_000_000)
                .unwrap_or(0),
            display_name: token.display_name,
            entity_id: String::new(),
            expire_time: token.expires_at.map(rfc3339),
            explicit_max_ttl: 0,
            id: caller.presented,
            meta: None,
            num_uses: 0,
            orphan: token.parent_accessor.is_none(),
            path: "auth/token/create".into(),
            policies: token.policies,
            renewable: false,
            ttl,
            token_type: "service".into(),
        },
    )
}
