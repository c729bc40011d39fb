//! The audit log: unsealed inserts, sealing in chain order, verification reads, retention.

use crate::{Backend, StoreError, StoreTx};
use confmgr_core::audit::{AuditEvent, Outcome, Seal};
use confmgr_core::audit_chain::{Chain, WrappedChainKey};
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, Row};

pub(crate) const EVENT_COLUMNS: &str = "event_id, time, request_id, actor_name, actor_accessor, issuer, client_id, remote_addr, user_agent, operation, mount, path, version, outcome, status, cert_subject, cert_fingerprint";
const EVENT_COLUMN_COUNT: usize = 17;
/// Advisory lock key that makes one sealer at a time across replicas ("confmgr" in ASCII).
const SEALER_LOCK: i64 = 0x0063_6f6e_666d_6772;

/// Filters of the events API; all optional, combined with AND.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub actor: Option<String>,
    pub path_prefix: Option<String>,
    pub operation: Option<String>,
    pub outcome: Option<String>,
}

/// Events per multi-row insert: well under both backends' bound-parameter limits (SQLite
/// 32766, PostgreSQL 65535) at 17 columns. A batch of at most this many is one statement,
/// atomic without a transaction around it.
pub const AUDIT_ROWS_PER_STATEMENT: usize = 500;

/// Multi-row inserts up to this many rows stay prepared on their connection.
const PREPARED_UP_TO_ROWS: usize = 16;

/// Where retention cut the chain: the seq and hash of the last purged event, and the MAC
/// under the chain key (`None` when made before the key existed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    pub seq: i64,
    pub hash: Vec<u8>,
    pub mac: Option<Vec<u8>>,
}

/// An event as stored: its row id (paging cursor) and its seal once sealed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredEvent {
    pub id: i64,
    pub event: AuditEvent,
    pub seal: Option<Seal>,
}

impl StoreTx {
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn insert_audit_event(&mut self, event: &AuditEvent) -> Result<(), StoreError> {
        self.insert_audit_events(std::slice::from_ref(event)).await
    }

    /// Inserts events with multi-row statements: a group commit is a few round trips, not
    /// one per event.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn insert_audit_events(&mut self, events: &[AuditEvent]) -> Result<(), StoreError> {
        for chunk in events.chunks(AUDIT_ROWS_PER_STATEMENT) {
            let rows: Vec<String> = (0..chunk.len())
                .map(|row| format!("({})", event_params(row * EVENT_COLUMN_COUNT + 1)))
                .collect();
            let sql = format!(
                "insert into audit_events ({EVENT_COLUMNS}) values {}",
                rows.join(", ")
            );
            // Each batch size is its own statement text: keeping every one prepared on every
            // pooled connection would grow the server by megabytes per size seen. Small ones
            // (the usual case, and a change's single event) stay prepared, saving a round trip.
            let mut query = sqlx::query(&sql).persistent(chunk.len() <= PREPARED_UP_TO_ROWS);
            for event in chunk {
                query = bind_event(query, event);
            }
            query.execute(&mut *self.tx).await?;
        }
        Ok(())
    }

    /// True when this transaction may seal: on PostgreSQL it holds the sealer advisory lock
    /// until it ends; SQLite has one writer anyway.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn try_sealer_lock(&mut self) -> Result<bool, StoreError> {
        match self.backend {
            Backend::Sqlite => Ok(true),
            Backend::Postgres => {
                let row = sqlx::query("select pg_try_advisory_xact_lock($1) as locked")
                    .bind(SEALER_LOCK)
                    .fetch_one(&mut *self.tx)
                    .await?;
                Ok(row.try_get::<bool, _>("locked")?)
            }
        }
    }

    /// The chain's last link: the highest sealed event, else the latest checkpoint, else genesis.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn last_seal(&mut self) -> Result<Option<(i64, Vec<u8>)>, StoreError> {
        let row = sqlx::query(
            "select seq, hash from audit_events where seq = (select max(seq) from audit_events)",
        )
        .fetch_optional(&mut *self.tx)
        .await?;
        if let Some(row) = row {
            return Ok(Some((row.try_get("seq")?, row.try_get("hash")?)));
        }
        self.latest_checkpoint().await
    }

    /// The database's audit chain key, wrapped by the root key; `None` until the first seal
    /// pass after migration 0008 creates it.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn audit_chain_key(&mut self) -> Result<Option<WrappedChainKey>, StoreError> {
        let row =
            sqlx::query("select keyed_from, nonce, wrapped_key from audit_chain_key where id = 1")
                .fetch_optional(&mut *self.tx)
                .await?;
        row.map(|row| {
            Ok(WrappedChainKey {
                keyed_from: row.try_get("keyed_from")?,
                nonce: row.try_get("nonce")?,
                wrapped_key: row.try_get("wrapped_key")?,
            })
        })
        .transpose()
    }

    /// Stores the chain key (there is one per database: a second insert is a conflict).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn insert_audit_chain_key(
        &mut self,
        key: &WrappedChainKey,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "insert into audit_chain_key (id, keyed_from, nonce, wrapped_key, created_at) values (1, $1, $2, $3, $4)",
        )
        .bind(key.keyed_from)
        .bind(key.nonce.clone())
        .bind(key.wrapped_key.clone())
        .bind(now)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Rekey: the same chain key, wrapped under another root key.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn replace_audit_chain_key_wrapping(
        &mut self,
        key: &WrappedChainKey,
    ) -> Result<(), StoreError> {
        let done = sqlx::query(
            "update audit_chain_key set nonce = $1, wrapped_key = $2 where id = 1 and keyed_from = $3",
        )
        .bind(key.nonce.clone())
        .bind(key.wrapped_key.clone())
        .bind(key.keyed_from)
        .execute(&mut *self.tx)
        .await?;
        if done.rows_affected() != 1 {
            return Err(StoreError::Corrupt(
                "the audit chain key changed while it was rewrapped".into(),
            ));
        }
        Ok(())
    }

    /// The latest checkpoint with its MAC.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn latest_checkpoint_mac(&mut self) -> Result<Option<Checkpoint>, StoreError> {
        let row =
            sqlx::query("select seq, hash, mac from audit_checkpoints order by seq desc limit 1")
                .fetch_optional(&mut *self.tx)
                .await?;
        row.map(|row| {
            Ok(Checkpoint {
                seq: row.try_get("seq")?,
                hash: row.try_get("hash")?,
                mac: row.try_get("mac")?,
            })
        })
        .transpose()
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn latest_checkpoint(&mut self) -> Result<Option<(i64, Vec<u8>)>, StoreError> {
        Ok(self
            .latest_checkpoint_mac()
            .await?
            .map(|checkpoint| (checkpoint.seq, checkpoint.hash)))
    }

    /// How many events wait to be sealed, and the time of the oldest (for metrics).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn unsealed_summary(&mut self) -> Result<(i64, Option<i64>), StoreError> {
        let row = sqlx::query(
            "select count(*) as n, min(time) as oldest from audit_events where seq is null",
        )
        .fetch_one(&mut *self.tx)
        .await?;
        Ok((row.try_get("n")?, row.try_get("oldest")?))
    }

    /// The oldest unsealed events, in insertion order.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn unsealed_events(&mut self, limit: i64) -> Result<Vec<StoredEvent>, StoreError> {
        let rows = sqlx::query(&format!(
            "select id, {EVENT_COLUMNS}, seq, prev_hash, hash from audit_events where seq is null order by id limit $1"
        ))
        .bind(limit)
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter().map(stored_from_row).collect()
    }

    /// Writes the seals of a pass with one `update … from (values …)` per 1,000 events: one
    /// statement per event made sealing cost the database as many statements as the requests
    /// it recorded.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn apply_seals(&mut self, seals: &[(i64, Seal)], now: i64) -> Result<(), StoreError> {
        const ROWS_PER_STATEMENT: usize = 1000;
        // PostgreSQL types a VALUES list from its first row, so that row's parameters say
        // what they are; SQLite has no such syntax and needs none.
        let (int, bytes) = match self.backend {
            Backend::Postgres => ("::bigint", "::bytea"),
            Backend::Sqlite => ("", ""),
        };
        for chunk in seals.chunks(ROWS_PER_STATEMENT) {
            let rows: Vec<String> = (0..chunk.len())
                .map(|row| {
                    let first = 2 + row * 4;
                    format!(
                        "(${first}{int}, ${}{int}, ${}{bytes}, ${}{bytes})",
                        first + 1,
                        first + 2,
                        first + 3
                    )
                })
                .collect();
            // VALUES columns are column1, column2, … on both backends
            let sql = format!(
                "update audit_events set seq = v.column2, prev_hash = v.column3, hash = v.column4, sealed_at = $1
                 from (values {}) as v where audit_events.id = v.column1 and audit_events.seq is null",
                rows.join(", ")
            );
            // not prepared for reuse: a pass's size varies, and a kept statement of thousands of
            // parameters per size would grow every pooled connection (and its backend)
            let mut query = sqlx::query(&sql).persistent(false).bind(now);
            for (id, seal) in chunk {
                query = query
                    .bind(*id)
                    .bind(seal.seq)
                    .bind(seal.prev_hash.clone())
                    .bind(seal.hash.clone());
            }
            let applied = query.execute(&mut *self.tx).await?.rows_affected();
            if applied != chunk.len() as u64 {
                // Only one sealer runs (advisory lock), so every listed event is still unsealed.
                return Err(StoreError::Corrupt(format!(
                    "sealing matched {applied} of {} unsealed events",
                    chunk.len()
                )));
            }
        }
        Ok(())
    }

    /// Sealed events with `seq > after`, in chain order.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn sealed_events_after(
        &mut self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let rows = sqlx::query(&format!(
            "select id, {EVENT_COLUMNS}, seq, prev_hash, hash from audit_events where seq > $1 order by seq limit $2"
        ))
        .bind(after)
        .bind(limit)
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter().map(stored_from_row).collect()
    }

    /// Events for the events API, newest filters applied, paged by row id.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn query_audit_events(
        &mut self,
        filter: &AuditFilter,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let mut sql = format!(
            "select id, {EVENT_COLUMNS}, seq, prev_hash, hash from audit_events where id > $1"
        );
        let mut texts: Vec<String> = Vec::new();
        let mut numbers: Vec<i64> = vec![after_id];
        // Placeholders are numbered in bind order: numbers first ($1..), then texts.
        let mut number_clauses = Vec::new();
        if let Some(since) = filter.since {
            numbers.push(since);
            number_clauses.push(format!("time >= ${}", numbers.len()));
        }
        if let Some(until) = filter.until {
            numbers.push(until);
            number_clauses.push(format!("time < ${}", numbers.len()));
        }
        numbers.push(limit);
        let limit_placeholder = numbers.len();
        let mut text_clauses = Vec::new();
        for (column, value) in [
            ("actor_name", &filter.actor),
            ("operation", &filter.operation),
            ("outcome", &filter.outcome),
        ] {
            if let Some(value) = value {
                texts.push(value.clone());
                text_clauses.push(format!("{column} = ${}", numbers.len() + texts.len()));
            }
        }
        if let Some(prefix) = &filter.path_prefix {
            texts.push(prefix.clone());
            let n = numbers.len() + texts.len();
            text_clauses.push(format!("substr(path, 1, length(${n})) = ${n}"));
        }
        for clause in number_clauses.iter().chain(text_clauses.iter()) {
            sql.push_str(" and ");
            sql.push_str(clause);
        }
        sql.push_str(&format!(" order by id limit ${limit_placeholder}"));
        let mut query = sqlx::query(&sql);
        for number in numbers {
            query = query.bind(number);
        }
        for text in texts {
            query = query.bind(text);
        }
        let rows = query.fetch_all(&mut *self.tx).await?;
        rows.iter().map(stored_from_row).collect()
    }

    /// (event_id, time) of the oldest unsealed events.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn oldest_unsealed(&mut self, limit: i64) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = sqlx::query(
            "select event_id, time from audit_events where seq is null order by id limit $1",
        )
        .bind(limit)
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("event_id")?, r.try_get("time")?)))
            .collect()
    }

    /// Deletes the sealed prefix of the chain older than `cutoff` and records a checkpoint at
    /// its last link, keyed by `chain` (see `Chain::checkpoint_mac`), so verification starts
    /// there. Returns (checkpoint seq, events purged).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn purge_sealed_before(
        &mut self,
        cutoff: i64,
        now: i64,
        chain: &Chain,
    ) -> Result<Option<(i64, i64)>, StoreError> {
        // The purge must be a prefix of the chain: stop before the first sealed event that is
        // still young, even if later ones are older (seal order is not strictly time order).
        let row = sqlx::query(
            "select min(seq) as first_young from audit_events where seq is not null and time >= $1",
        )
        .bind(cutoff)
        .fetch_one(&mut *self.tx)
        .await?;
        let first_young: Option<i64> = row.try_get("first_young")?;
        let row = sqlx::query("select max(seq) as last from audit_events where seq is not null")
            .fetch_one(&mut *self.tx)
            .await?;
        let Some(last_sealed) = row.try_get::<Option<i64>, _>("last")? else {
            return Ok(None);
        };
        let upto = first_young.map_or(last_sealed, |young| young - 1);
        let row = sqlx::query("select hash from audit_events where seq = $1")
            .bind(upto)
            .fetch_optional(&mut *self.tx)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let hash: Vec<u8> = row.try_get("hash")?;
        let purged = sqlx::query("delete from audit_events where seq is not null and seq <= $1")
            .bind(upto)
            .execute(&mut *self.tx)
            .await?
            .rows_affected();
        let mac = chain.checkpoint_mac(upto, &hash);
        sqlx::query(
            "insert into audit_checkpoints (seq, hash, purged, created_at, mac) values ($1, $2, $3, $4, $5)",
        )
        .bind(upto)
        .bind(hash)
        .bind(i64::try_from(purged).unwrap_or(i64::MAX))
        .bind(now)
        .bind(mac)
        .execute(&mut *self.tx)
        .await?;
        Ok(Some((upto, i64::try_from(purged).unwrap_or(i64::MAX))))
    }
}

fn stored_from_row(row: &AnyRow) -> Result<StoredEvent, StoreError> {
    let outcome: String = row.try_get("outcome")?;
    let status: i64 = row.try_get("status")?;
    let event = AuditEvent {
        event_id: row.try_get("event_id")?,
        time: row.try_get("time")?,
        request_id: row.try_get("request_id")?,
        actor_name: row.try_get("actor_name")?,
        actor_accessor: row.try_get("actor_accessor")?,
        issuer: row.try_get("issuer")?,
        client_id: row.try_get("client_id")?,
        remote_addr: row.try_get("remote_addr")?,
        user_agent: row.try_get("user_agent")?,
        operation: row.try_get("operation")?,
        mount: row.try_get("mount")?,
        path: row.try_get("path")?,
        version: row.try_get("version")?,
        outcome: Outcome::parse(&outcome)
            .ok_or_else(|| StoreError::Corrupt(format!("audit outcome {outcome:?}")))?,
        status: u16::try_from(status)
            .map_err(|_| StoreError::Corrupt(format!("audit status {status}")))?,
        cert_subject: row.try_get("cert_subject")?,
        cert_fingerprint: row.try_get("cert_fingerprint")?,
    };
    let seal = match row.try_get::<Option<i64>, _>("seq")? {
        Some(seq) => Some(Seal {
            seq,
            prev_hash: row
                .try_get::<Option<Vec<u8>>, _>("prev_hash")?
                .unwrap_or_default(),
            hash: row
                .try_get::<Option<Vec<u8>>, _>("hash")?
                .unwrap_or_default(),
        }),
        None => None,
    };
    Ok(StoredEvent {
        id: row.try_get("id")?,
        event,
        seal,
    })
}

/// `$first, …` for one event's columns, in `EVENT_COLUMNS` order.
pub(crate) fn event_params(first: usize) -> String {
    crate::rows::numbered_params(first, EVENT_COLUMN_COUNT)
}

/// Binds one event's columns, in `EVENT_COLUMNS` order.
pub(crate) fn bind_event<'q>(
    query: Query<'q, Any, AnyArguments<'q>>,
    event: &AuditEvent,
) -> Query<'q, Any, AnyArguments<'q>> {
    query
        .bind(event.event_id.clone())
        .bind(event.time)
        .bind(event.request_id.clone())
        .bind(event.actor_name.clone())
        .bind(event.actor_accessor.clone())
        .bind(event.issuer.clone())
        .bind(event.client_id.clone())
        .bind(event.remote_addr.clone())
        .bind(event.user_agent.clone())
        .bind(event.operation.clone())
        .bind(event.mount.clone())
        .bind(event.path.clone())
        .bind(event.version)
        .bind(event.outcome.as_str().to_owned())
        .bind(i64::from(event.status))
        .bind(event.cert_subject.clone())
        .bind(event.cert_fingerprint.clone())
}
