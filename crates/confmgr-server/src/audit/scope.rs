//! The audit draft of the request being served, reachable from extractors and services
//! through a task-local: the middleware opens it, the caller's identity and the version
//! touched are noted into it, and a write transaction takes it to commit with the change.

use confmgr_core::audit::{AuditEvent, Outcome};
use confmgr_core::time::now_micros;
use std::sync::{Arc, Mutex};

#[derive(Clone, Debug, Default)]
pub struct Draft {
    pub event: AuditEvent,
    /// The status a successful change answers, recorded with the in-transaction event.
    pub success_status: u16,
    /// The event committed with a change, once there is one.
    pub recorded: Option<AuditEvent>,
}

pub type Scope = Arc<Mutex<Draft>>;

tokio::task_local! {
    static CURRENT: Scope;
}

pub async fn run<F: std::future::Future>(scope: Scope, future: F) -> F::Output {
    CURRENT.scope(scope, future).await
}

fn with_draft(f: impl FnOnce(&mut Draft)) {
    let _ = CURRENT.try_with(|scope| {
        if let Ok(mut draft) = scope.lock() {
            f(&mut draft);
        }
    });
}

/// Who is calling (never the token itself: its accessor).
pub fn note_actor(name: &str, accessor: &str, issuer: &str, client_id: &str) {
    with_draft(|draft| {
        draft.event.actor_name = name.to_owned();
        draft.event.actor_accessor = accessor.to_owned();
        draft.event.issuer = issuer.to_owned();
        draft.event.client_id = client_id.to_owned();
    });
}

/// The secret a request touches when its URL does not say (the legacy API takes the id in
/// the body).
pub fn note_path(mount: &str, path: &str) {
    with_draft(|draft| {
        draft.event.mount = mount.to_owned();
        draft.event.path = path.to_owned();
    });
}

pub fn note_version(version: i64) {
    with_draft(|draft| draft.event.version = Some(version));
}

/// The event to commit together with a successful change, if this request is audited.
/// Marks the request recorded: the middleware will not record it again.
pub fn event_for_change() -> Option<AuditEvent> {
    let mut out = None;
    with_draft(|draft| {
        let mut event = draft.event.clone();
        event.time = now_micros();
        event.outcome = Outcome::Ok;
        event.status = draft.success_status;
        draft.recorded = Some(event.clone());
        out = Some(event);
    });
    out
}

/// Undo `event_for_change` when the transaction that carried it did not commit.
pub fn change_not_recorded() {
    with_draft(|draft| draft.recorded = None);
}
