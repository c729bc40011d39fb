//! Group commit: read events (and failed requests) go to one writer task that inserts
//! whatever has queued up in one transaction; each caller waits for the commit holding
//! its event before its response leaves.

use crate::metrics::Metrics;
use confmgr_core::audit::AuditEvent;
use confmgr_store::Store;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

const MAX_BATCH: usize = 512;
const QUEUE: usize = 8192;

type Job = (AuditEvent, oneshot::Sender<bool>);

#[derive(Clone)]
pub struct GroupWriter {
    jobs: mpsc::Sender<Job>,
}

impl GroupWriter {
    pub fn start(store: Store, metrics: Arc<Metrics>) -> Self {
        let (jobs, queue) = mpsc::channel(QUEUE);
        tokio::spawn(run(store, queue, metrics));
        Self { jobs }
    }

    /// True once the event is committed; false if the audit store could not take it.
    pub async fn record(&self, event: AuditEvent) -> bool {
        let (done, committed) = oneshot::channel();
        if self.jobs.send((event, done)).await.is_err() {
            return false;
        }
        committed.await.unwrap_or(false)
    }
}

async fn run(store: Store, mut queue: mpsc::Receiver<Job>, metrics: Arc<Metrics>) {
    while let Some(first) = queue.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
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
        for (_, done) in batch {
            let _ = done.send(committed.is_ok());
        }
    }
}

async fn commit(store: &Store, batch: &[Job]) -> Result<(), confmgr_store::StoreError> {
    let events: Vec<AuditEvent> = batch.iter().map(|(event, _)| event.clone()).collect();
    let mut tx = store.begin_write().await?;
    tx.insert_audit_events(&events).await?;
    tx.commit().await
}
