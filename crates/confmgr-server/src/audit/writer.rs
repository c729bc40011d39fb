//! Group commit: read events (and failed requests) go to writer tasks that insert whatever
//! has queued up as one multi-row statement; each caller waits for the commit holding its
//! event before its response leaves.
//!
//! On PostgreSQL two writers take turns at the queue, so one batch fills while the other
//! commits (PostgreSQL makes concurrent commits share their WAL flush). SQLite has one
//! writer at a time anyway, so it gets one.

use crate::metrics::Metrics;
use confmgr_core::audit::AuditEvent;
use confmgr_store::{Backend, Store, StoreError, AUDIT_ROWS_PER_STATEMENT};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, Mutex};

/// One statement's worth, so a batch commits atomically without `begin` and `commit`.
const MAX_BATCH: usize = AUDIT_ROWS_PER_STATEMENT;
const QUEUE: usize = 8192;

type Job = (AuditEvent, oneshot::Sender<Result<(), Failure>>);

/// Why an event could not be committed, for the answer its request gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The database could not be reached (refused, connection lost, no connection in time,
    /// or the circuit is open and nothing was tried): `storage unavailable`.
    Storage,
    /// The database took the statement and refused it, or the writer is gone:
    /// `audit log unavailable`.
    Audit,
}

#[derive(Clone)]
pub struct GroupWriter {
    jobs: mpsc::Sender<Job>,
}

impl GroupWriter {
    pub fn start(store: Store, metrics: Arc<Metrics>) -> Self {
        let (jobs, queue) = mpsc::channel(QUEUE);
        let queue = Arc::new(Mutex::new(queue));
        let writers = match store.backend() {
            Backend::Postgres => 2,
            Backend::Sqlite => 1,
        };
        for _ in 0..writers {
            tokio::spawn(run(store.clone(), Arc::clone(&queue), Arc::clone(&metrics)));
        }
        Self { jobs }
    }

    /// Ok once the event is committed; why not if the audit store could not take it.
    pub async fn record(&self, event: AuditEvent) -> Result<(), Failure> {
        let (done, committed) = oneshot::channel();
        if self.jobs.send((event, done)).await.is_err() {
            return Err(Failure::Audit);
        }
        committed.await.unwrap_or(Err(Failure::Audit))
    }
}

async fn run(store: Store, queue: Arc<Mutex<mpsc::Receiver<Job>>>, metrics: Arc<Metrics>) {
    while let Some(batch) = next_batch(&queue).await {
        let started = std::time::Instant::now();
        let committed = commit(&store, &batch).await;
        metrics.observe_audit_batch(
            batch.len(),
            started.elapsed().as_secs_f64(),
            committed.is_ok(),
        );
        if let Err(error) = &committed {
            tracing::error!(%error, events = batch.len(), "audit log unwritable: failing the requests");
        } else {
            tracing::debug!(events = batch.len(), "audit batch committed");
        }
        let outcome = match committed {
            Ok(()) => Ok(()),
            Err(StoreError::Unavailable(_)) => Err(Failure::Storage),
            Err(_) => Err(Failure::Audit),
        };
        for (_, done) in batch {
            let _ = done.send(outcome);
        }
    }
}

/// Whatever has queued up, at most `MAX_BATCH`; `None` once the queue is closed. The queue is
/// held only while the batch is taken, so the other writer can take the next one meanwhile.
async fn next_batch(queue: &Mutex<mpsc::Receiver<Job>>) -> Option<Vec<Job>> {
    let mut queue = queue.lock().await;
    let first = queue.recv().await?;
    let mut batch = vec![first];
    while batch.len() < MAX_BATCH {
        match queue.try_recv() {
            Ok(job) => batch.push(job),
            Err(_) => break,
        }
    }
    Some(batch)
}

async fn commit(store: &Store, batch: &[Job]) -> Result<(), StoreError> {
    let events: Vec<AuditEvent> = batch.iter().map(|(event, _)| event.clone()).collect();
    let mut tx = store.autocommit().await?;
    tx.insert_audit_events(&events).await?;
    tx.commit().await
}
