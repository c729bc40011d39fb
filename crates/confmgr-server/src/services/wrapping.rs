//! Response wrapping (Vault's `X-Vault-Wrap-TTL` and `sys/wrapping/*`): a response is sealed
//! under the keyring like a secret version and handed out as a single-use wrapping token,
//! kept only as its SHA-256 digest. Each function owns its one transaction; the ones that
//! make or spend a wrapping commit their audit event (`wrap`, `unwrap`, `rewrap`) with it,
//! naming the wrapping token's accessor, never the token or the payload.

use crate::audit::AuditedTx;
use crate::error::{Error, Result};
use crate::state::AppState;
use confmgr_core::audit::{AuditEvent, Outcome};
use confmgr_core::crypto::VersionAddress;
use confmgr_core::duration::micros_after;
use confmgr_core::time::now_micros;
use confmgr_core::token::{self, Token};
use confmgr_store::{StoreTx, WrapRecord};
use zeroize::Zeroizing;

/// Vault's answer (400) to a wrapping token that is unknown, spent or expired.
pub const INVALID_TOKEN: &str = "wrapping token is not valid or does not exist";

/// The "mount" bound into a wrapped response's associated data: no KV mount can live
/// under `sys/`, so no secret version shares an address with a wrapping.
const WRAP_MOUNT: &str = "sys/wrapping";

/// The audit events' mount; their path is the wrapping token's accessor.
const AUDIT_MOUNT: &str = "sys/wrapping";

/// A new wrapping, as `wrap_info` shows it. The token is shown once, to the caller.
#[derive(Debug)]
pub struct Wrapped {
    pub token: Token,
    pub accessor: String,
    pub ttl: i64,
    /// Microseconds since the epoch.
    pub creation_time: i64,
    pub creation_path: String,
    pub wrapped_accessor: String,
}

/// What `sys/wrapping/lookup` tells about a wrapping.
#[derive(Debug)]
pub struct Lookup {
    pub creation_path: String,
    pub creation_time: i64,
    pub ttl: i64,
}

/// The fields of a wrapping that its ciphertext is bound to (besides its key): its row's
/// accessor, when it was made, for how long, and from where. An edited row fails to open.
fn bound_path(
    accessor: &str,
    creation_time: i64,
    ttl: i64,
    wrapped_accessor: &str,
    creation_path: &str,
) -> String {
    format!("{accessor}|{creation_time}|{ttl}|{wrapped_accessor}|{creation_path}")
}

fn address(path: &str) -> VersionAddress<'_> {
    VersionAddress {
        mount: WRAP_MOUNT,
        path,
        version: 1,
    }
}

fn invalid() -> Error {
    Error::Invalid(INVALID_TOKEN.into())
}

/// The audit event of one wrapping operation, from the request's (`template`: request id,
/// actor, address, user agent).
pub fn audit_event(template: &AuditEvent, operation: &str, accessor: &str) -> AuditEvent {
    AuditEvent {
        event_id: uuid::Uuid::new_v4().to_string(),
        time: now_micros(),
        operation: operation.to_owned(),
        mount: AUDIT_MOUNT.to_owned(),
        path: accessor.to_owned(),
        version: None,
        outcome: Outcome::Ok,
        status: 200,
        ..template.clone()
    }
}

async fn record_audit(state: &AppState, tx: &mut StoreTx, events: &[AuditEvent]) -> Result<()> {
    if state.audit.settings().enabled {
        tx.insert_audit_events(events).await?;
    }
    Ok(())
}

/// Seals `response` (the JSON answer of `creation_path`) under a new wrapping token that
/// lives `ttl` seconds. `wrapped_accessor` names a token inside the response (`""`: none).
/// For the wrapping layer: the wrapped request's own audit event is the audit layer's to
/// record (a change of that request committed it already), so only the `wrap` event
/// commits here.
pub async fn wrap(
    state: &AppState,
    response: &[u8],
    ttl: i64,
    creation_path: &str,
    wrapped_accessor: &str,
    audit: &AuditEvent,
) -> Result<Wrapped> {
    let mut tx = state.store.begin_write().await?;
    let (wrapped, event) = store_new(
        state,
        &mut tx,
        response,
        ttl,
        creation_path,
        wrapped_accessor,
        audit,
    )
    .await?;
    tx.commit().await?;
    state.audit.mirror_committed(&[event]);
    Ok(wrapped)
}

/// [`wrap`] for `sys/wrapping/wrap`: the request's own audit event commits with the
/// wrapping, in the same transaction.
pub async fn wrap_data(
    state: &AppState,
    response: &[u8],
    ttl: i64,
    audit: &AuditEvent,
) -> Result<Wrapped> {
    let mut tx = crate::audit::begin_write(&state.store).await?;
    let (wrapped, event) = store_new(
        state,
        &mut tx,
        response,
        ttl,
        "sys/wrapping/wrap",
        "",
        audit,
    )
    .await?;
    tx.commit().await?;
    state.audit.mirror_committed(&[event]);
    Ok(wrapped)
}

async fn store_new(
    state: &AppState,
    tx: &mut StoreTx,
    response: &[u8],
    ttl: i64,
    creation_path: &str,
    wrapped_accessor: &str,
    audit: &AuditEvent,
) -> Result<(Wrapped, AuditEvent)> {
    tx.purge_expired_wraps(now_micros()).await?;
    let wrapped = new_wrapping(ttl, creation_path, wrapped_accessor);
    insert(tx, state, &wrapped, response).await?;
    let event = audit_event(audit, "wrap", &wrapped.accessor);
    record_audit(state, tx, std::slice::from_ref(&event)).await?;
    Ok((wrapped, event))
}

/// A new wrapping token and its `wrap_info`, made now.
fn new_wrapping(ttl: i64, creation_path: &str, wrapped_accessor: &str) -> Wrapped {
    Wrapped {
        token: Token::generate(),
        accessor: token::new_accessor(),
        ttl,
        creation_time: now_micros(),
        creation_path: creation_path.to_owned(),
        wrapped_accessor: wrapped_accessor.to_owned(),
    }
}

async fn insert(
    tx: &mut StoreTx,
    state: &AppState,
    wrapped: &Wrapped,
    response: &[u8],
) -> Result<()> {
    let expires_at = micros_after(wrapped.creation_time, wrapped.ttl)
        .ok_or_else(|| Error::Invalid("requested wrap ttl is too long".into()))?;
    let bound = bound_path(
        &wrapped.accessor,
        wrapped.creation_time,
        wrapped.ttl,
        &wrapped.wrapped_accessor,
        &wrapped.creation_path,
    );
    let sealed = state.keyring.seal(address(&bound), response)?;
    tx.insert_wrap(&WrapRecord {
        accessor: wrapped.accessor.clone(),
        digest: wrapped.token.digest(),
        creation_path: wrapped.creation_path.clone(),
        creation_time: wrapped.creation_time,
        ttl: wrapped.ttl,
        expires_at,
        wrapped_accessor: wrapped.wrapped_accessor.clone(),
        sealed,
    })
    .await?;
    Ok(())
}

/// Opens a stored wrapping: fails loudly (a crypto error, logged, 500) when its row or
/// ciphertext was edited, rather than returning anything.
fn open(state: &AppState, record: &WrapRecord) -> Result<Zeroizing<Vec<u8>>> {
    let bound = bound_path(
        &record.accessor,
        record.creation_time,
        record.ttl,
        &record.wrapped_accessor,
        &record.creation_path,
    );
    Ok(state.keyring.open(address(&bound), &record.sealed)?)
}

/// Expired by the times the ciphertext is bound to (and by the stored expiry).
fn expired(record: &WrapRecord, now: i64) -> bool {
    let bound_expiry = micros_after(record.creation_time, record.ttl).unwrap_or(i64::MIN);
    bound_expiry <= now || record.expires_at <= now
}

/// Spends the wrapping of `token` and returns the response inside. Unknown, spent or
/// expired tokens answer 400 `wrapping token is not valid or does not exist`; an expired
/// one is deleted on the way. Of two concurrent unwraps exactly one gets the response.
/// `on_found` is told the wrapping's accessor (for the request's audit actor).
pub async fn unwrap(
    state: &AppState,
    token: &str,
    audit: &AuditEvent,
    on_found: impl FnOnce(&str),
) -> Result<Zeroizing<Vec<u8>>> {
    let (mut tx, record) = take(state, token).await?;
    on_found(&record.accessor);
    let response = open(state, &record)?;
    let event = audit_event(audit, "unwrap", &record.accessor);
    record_audit(state, &mut tx, std::slice::from_ref(&event)).await?;
    tx.commit().await?;
    state.audit.mirror_committed(&[event]);
    Ok(response)
}

/// Takes (deletes) the live wrapping of `token` in a new write transaction that will
/// commit the request's audit event with the change. An expired one is deleted for good on
/// its own (the request's event then records the refusal) and refused.
async fn take(state: &AppState, token: &str) -> Result<(AuditedTx, WrapRecord)> {
    let digest = token::digest(token);
    let mut tx = crate::audit::begin_write(&state.store).await?;
    let Some(record) = tx.take_wrap(&digest).await? else {
        return Err(invalid());
    };
    if expired(&record, now_micros()) {
        drop(tx);
        purge(state, &digest).await?;
        return Err(invalid());
    }
    Ok((tx, record))
}

async fn purge(state: &AppState, digest: &[u8]) -> Result<()> {
    let mut tx = state.store.autocommit().await?;
    tx.take_wrap(digest).await?;
    tx.commit().await?;
    Ok(())
}

/// What a live wrapping holds, without spending it. The ciphertext is checked (opened and
/// dropped), so an edited row fails here too. An expired one is deleted and refused.
pub async fn lookup(state: &AppState, token: &str) -> Result<Lookup> {
    let digest = token::digest(token);
    let mut reads = state.store.reads().await?;
    let found = reads.wrap_by_digest(&digest).await?;
    reads.commit().await?;
    let Some(record) = found else {
        return Err(invalid());
    };
    if expired(&record, now_micros()) {
        purge(state, &digest).await?;
        return Err(invalid());
    }
    drop(open(state, &record)?);
    Ok(Lookup {
        creation_path: record.creation_path,
        creation_time: record.creation_time,
        ttl: record.ttl,
    })
}

/// Moves the response of `token` under a new wrapping token with the same creation TTL and
/// path; the old token is dead once this commits.
pub async fn rewrap(state: &AppState, token: &str, audit: &AuditEvent) -> Result<Wrapped> {
    let (mut tx, old) = take(state, token).await?;
    let response = open(state, &old)?;
    let wrapped = new_wrapping(old.ttl, &old.creation_path, &old.wrapped_accessor);
    insert(&mut tx, state, &wrapped, &response).await?;
    let events = [
        audit_event(audit, "rewrap", &old.accessor),
        audit_event(audit, "wrap", &wrapped.accessor),
    ];
    record_audit(state, &mut tx, &events).await?;
    tx.commit().await?;
    state.audit.mirror_committed(&events);
    Ok(wrapped)
}
