//! Audit (DESIGN.md section 5): every request that touches a secret, credential, policy or
//! the audit log yields an event. A change commits its event in its own transaction; every
//! other request (reads, denials, failures) waits for its event's group commit before its
//! response leaves, and answers 503 if the audit store cannot be written.

pub mod chain;
mod describe;
pub mod scope;
pub mod sealer;
mod verify;
mod writer;

pub(crate) use describe::redact_legacy_ids;
pub use verify::verify;

use crate::error::error_response;
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use chain::ChainKeys;
use confmgr_core::audit::{AuditEvent, Outcome};
use confmgr_core::audit_chain::ChainHead;
use confmgr_core::crypto::RootKey;
use confmgr_core::time::now_micros;
use confmgr_store::{Store, StoreError, StoreTx};
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use writer::GroupWriter;

#[derive(Clone, Debug, Default)]
pub struct AuditSettings {
    pub enabled: bool,
    /// Mirror of every committed event as a JSON line (for a SIEM).
    pub file: Option<PathBuf>,
    pub retention_days: u32,
    /// An event unsealed for longer than this fails verification.
    pub unsealed_max_age_secs: i64,
}

/// The longest retention and unsealed age accepted: a century, like every other duration.
pub const MAX_RETENTION_DAYS: u32 = 36_500;
pub const MAX_UNSEALED_AGE_SECS: i64 = 3_153_600_000;

impl AuditSettings {
    /// Checks `CONFMGR_AUDIT_RETENTION_DAYS` and `CONFMGR_AUDIT_UNSEALED_MAX_AGE_SECS`, one
    /// problem each: a retention large enough to overflow the purge cutoff would otherwise
    /// wrap it in a release build and purge every sealed event.
    pub fn check_bounds(
        retention_days: u32,
        unsealed_max_age_secs: i64,
        problems: &mut Vec<String>,
    ) {
        if retention_days > MAX_RETENTION_DAYS {
            problems.push(format!(
                "CONFMGR_AUDIT_RETENTION_DAYS: {retention_days} is more than {MAX_RETENTION_DAYS} (100 years); 0 keeps events forever"
            ));
        }
        if !(1..=MAX_UNSEALED_AGE_SECS).contains(&unsealed_max_age_secs) {
            problems.push(format!(
                "CONFMGR_AUDIT_UNSEALED_MAX_AGE_SECS: {unsealed_max_age_secs} is not between 1 and {MAX_UNSEALED_AGE_SECS} (100 years)"
            ));
        }
    }
}

pub struct Audit {
    settings: AuditSettings,
    writer: Option<GroupWriter>,
    file: Option<Mutex<std::fs::File>>,
    chain: ChainKeys,
}

impl Audit {
    /// Starts the group writer, the sealer and retention (when enabled). The root key opens
    /// (and at first creates) the audit chain key.
    pub fn start(
        store: &Store,
        settings: AuditSettings,
        metrics: Arc<crate::metrics::Metrics>,
        root: Arc<RootKey>,
    ) -> std::io::Result<Arc<Self>> {
        let file = match &settings.file {
            Some(path) => Some(Mutex::new(open_append(path)?)),
            None => None,
        };
        let writer = settings
            .enabled
            .then(|| GroupWriter::start(store.clone(), metrics));
        let retention_days = settings.retention_days;
        let audit = Arc::new(Self {
            settings,
            writer,
            file,
            chain: ChainKeys::new(root),
        });
        if audit.settings.enabled {
            sealer::start(Arc::clone(&audit), store.clone(), retention_days);
        }
        Ok(audit)
    }

    pub fn disabled() -> Arc<Self> {
        Arc::new(Self {
            settings: AuditSettings::default(),
            writer: None,
            file: None,
            chain: ChainKeys::without_root(),
        })
    }

    pub fn settings(&self) -> &AuditSettings {
        &self.settings
    }

    /// The audit chain key of the database.
    pub fn chain_keys(&self) -> &ChainKeys {
        &self.chain
    }

    /// One seal pass (see [`sealer::seal_once`]); when it advanced the chain, the new head is
    /// appended to `CONFMGR_AUDIT_FILE` as a `chain_head` line and logged at DEBUG.
    pub async fn seal_pass(&self, store: &Store) -> crate::error::Result<sealer::Sealed> {
        let sealed = sealer::seal_once(store, &self.chain).await?;
        if let Some(head) = &sealed.head {
            tracing::debug!(seq = head.seq, hash = %head.hash, events = sealed.events, "audit chain sealed");
            self.publish_head(head);
        }
        Ok(sealed)
    }

    fn publish_head(&self, head: &ChainHead) {
        self.append_line(&head.record_line(now_micros()));
    }

    /// Copies events a service committed itself (beside the request's own event, which the
    /// middleware copies) to `CONFMGR_AUDIT_FILE`. Call only after their commit.
    pub fn mirror_committed(&self, events: &[AuditEvent]) {
        if self.settings.enabled {
            events.iter().for_each(|event| self.mirror(event));
        }
    }

    fn mirror(&self, event: &AuditEvent) {
        self.append_line(&event.to_json_line(None));
    }

    fn append_line(&self, line: &str) {
        if let Some(file) = &self.file {
            if let Ok(mut file) = file.lock() {
                if let Err(error) = writeln!(file, "{line}") {
                    tracing::error!(%error, "cannot append to CONFMGR_AUDIT_FILE");
                }
            }
        }
    }
}

fn open_append(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
}

/// A write transaction that commits the request's audit event with the change.
pub async fn begin_write(store: &Store) -> Result<AuditedTx, StoreError> {
    Ok(AuditedTx {
        tx: store.begin_write().await?,
    })
}

/// A write transaction of an audited request: `commit` inserts the request's event (with
/// everything noted so far, such as the version written) in the same transaction.
pub struct AuditedTx {
    tx: StoreTx,
}

impl std::ops::Deref for AuditedTx {
    type Target = StoreTx;
    fn deref(&self) -> &StoreTx {
        &self.tx
    }
}

impl std::ops::DerefMut for AuditedTx {
    fn deref_mut(&mut self) -> &mut StoreTx {
        &mut self.tx
    }
}

impl AuditedTx {
    pub async fn commit(mut self) -> Result<(), StoreError> {
        if let Some(event) = scope::event_for_change() {
            self.tx.attach_audit(event);
        }
        let committed = self.tx.commit().await;
        if committed.is_err() {
            // The middleware records the failure instead.
            scope::change_not_recorded();
        }
        committed
    }
}

/// The least time an audit commit gets, even when the handler used up the request timeout.
const AUDIT_COMMIT_FLOOR: std::time::Duration = std::time::Duration::from_millis(250);

/// The middleware around every route.
pub async fn record(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let audit = Arc::clone(&state.audit);
    let Some(draft) = describe::draft(&request, &state.root_key) else {
        return next.run(request).await;
    };
    if !audit.settings.enabled {
        return next.run(request).await;
    }
    // The audit wait counts against the request timeout, so that no answer comes later
    // than the timeout (plus a short floor for the commit) even when the database stalls.
    let deadline = tokio::time::Instant::now() + state.limits.request_timeout;
    let scope: scope::Scope = Arc::new(Mutex::new(draft));
    let response = scope::run(Arc::clone(&scope), next.run(request)).await;
    let (mut event, recorded) = match scope.lock() {
        Ok(draft) => (draft.event.clone(), draft.recorded.clone()),
        Err(_) => return audit_unavailable(),
    };
    if let Some(committed) = recorded {
        // Committed with the change; the file mirror follows the commit.
        audit.mirror(&committed);
        return response;
    }
    let outcome_unknown = response
        .extensions()
        .get::<crate::error::OutcomeUnknown>()
        .is_some();
    if outcome_unknown {
        // The change's own event may have been committed with it, under the draft's id:
        // this one records what the client got.
        event.event_id = uuid::Uuid::new_v4().to_string();
    }
    event.time = now_micros();
    event.status = response.status().as_u16();
    event.outcome = match Outcome::from_status(event.status) {
        // A refused login is a denial (a SIEM watches `denied` for brute force), though Vault
        // answers it 400.
        Outcome::Invalid if event.operation == "login" => Outcome::Denied,
        other => other,
    };
    let committed = match &audit.writer {
        Some(writer) => {
            let deadline = deadline.max(tokio::time::Instant::now() + AUDIT_COMMIT_FLOOR);
            // Past the deadline the event stays queued and is written when the database
            // lets it; the answer is withheld either way.
            tokio::time::timeout_at(deadline, writer.record(event.clone()))
                .await
                .unwrap_or(Err(writer::Failure::Audit))
        }
        None => Ok(()),
    };
    if let Err(failure) = committed {
        // A change of unknown outcome keeps its answer: it discloses nothing, and its
        // client must learn that the change may have happened.
        if outcome_unknown {
            return response;
        }
        return match failure {
            writer::Failure::Storage => crate::error::storage_unavailable(),
            writer::Failure::Audit => audit_unavailable(),
        };
    }
    audit.mirror(&event);
    response
}

fn audit_unavailable() -> Response {
    error_response(
        StatusCode::SERVICE_UNAVAILABLE,
        vec!["audit log unavailable".into()],
    )
}

#[cfg(test)]
mod bounds_tests {
    use super::AuditSettings;

    #[test]
    fn retention_and_unsealed_age_are_bounded_one_problem_each() {
        let mut problems = Vec::new();
        AuditSettings::check_bounds(36_500, 3_153_600_000, &mut problems);
        AuditSettings::check_bounds(0, 1, &mut problems);
        assert!(problems.is_empty(), "{problems:?}");
        AuditSettings::check_bounds(u32::MAX, 0, &mut problems);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(
            problems[0].starts_with("CONFMGR_AUDIT_RETENTION_DAYS: 4294967295 is more than 36500")
        );
        assert!(problems[1].starts_with("CONFMGR_AUDIT_UNSEALED_MAX_AGE_SECS: 0 is not between 1"));
        problems.clear();
        AuditSettings::check_bounds(0, i64::MAX, &mut problems);
        assert_eq!(problems.len(), 1, "{problems:?}");
    }
}
