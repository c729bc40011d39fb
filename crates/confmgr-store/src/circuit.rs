//! A circuit breaker for PostgreSQL connections, so that a database that refuses connections
//! turns into 503s at once instead of each caller waiting out the pool's acquire timeout
//! (sqlx retries a refused connect until then).
//!
//! - Closed (normal): callers acquire from the pool. One that has waited longer than
//!   [`SUSPECT_AFTER`] starts a probe (one at a time, at most every [`PROBE_SPACING`]): a
//!   fresh connection of its own. If the database refuses it (connection refused or reset,
//!   or PostgreSQL saying it is starting up or shutting down), the circuit opens. A slow or
//!   frozen database (it accepts TCP but does not answer) does not open it: the probe times
//!   out and callers keep waiting as before, bounded by the acquire and request timeouts.
//! - Open: callers fail at once with `storage unavailable`, those already waiting too; a
//!   background task connects every [`RECOVERY_INTERVAL`] and closes the circuit as soon as
//!   one connection succeeds.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use sqlx::{AnyConnection, AnyPool, Connection};
use tokio::sync::watch;

/// An acquire that takes longer than this may be a refused connect being retried.
pub(crate) const SUSPECT_AFTER: Duration = Duration::from_millis(50);
/// Probes while closed are at least this far apart (a healthy but busy pool makes callers
/// wait too; its probes succeed and cost one connection each).
const PROBE_SPACING: Duration = Duration::from_millis(250);
/// How often an open circuit tries to connect.
const RECOVERY_INTERVAL: Duration = Duration::from_millis(100);

/// How a probe's connection went.
#[derive(Debug)]
enum Probe {
    Up,
    /// Refused or reset at connect: the database is not there.
    Refused(String),
    /// Anything else (timed out, authentication, too many connections): not a refusal.
    Other,
}

#[derive(Debug)]
pub(crate) struct Circuit {
    /// The pool whose current connect options a probe uses: with a password that changes
    /// (login.rs) a probe must log in with today's, not the one the pool started with.
    pool: AnyPool,
    /// How long a probe may take; longer is "slow", not "refused".
    probe_timeout: Duration,
    open: watch::Sender<bool>,
    probing: AtomicBool,
    last_probe: Mutex<Option<Instant>>,
    opened: AtomicU64,
}

/// The circuit's state for metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CircuitStats {
    pub open: bool,
    /// Times it opened since start.
    pub opened: u64,
}

impl Circuit {
    pub(crate) fn new(pool: AnyPool, probe_timeout: Duration) -> Arc<Self> {
        Arc::new(Self {
            pool,
            probe_timeout,
            open: watch::Sender::new(false),
            probing: AtomicBool::new(false),
            last_probe: Mutex::new(None),
            opened: AtomicU64::new(0),
        })
    }

    pub(crate) fn is_open(&self) -> bool {
        *self.open.borrow()
    }

    pub(crate) fn stats(&self) -> CircuitStats {
        CircuitStats {
            open: self.is_open(),
            opened: self.opened.load(Ordering::Relaxed),
        }
    }

    /// Resolves once the circuit is open.
    pub(crate) async fn opened(&self) {
        let mut open = self.open.subscribe();
        // Err only if the sender is gone, which `self` prevents.
        let _ = open.wait_for(|open| *open).await;
    }

    /// A caller has waited long for a connection: probe in the background, unless a probe
    /// is running or ran just now.
    pub(crate) fn suspect(self: &Arc<Self>) {
        if self.is_open() {
            return;
        }
        if let Ok(mut last) = self.last_probe.lock() {
            if last.is_some_and(|at| at.elapsed() < PROBE_SPACING) {
                return;
            }
            *last = Some(Instant::now());
        }
        if self.probing.swap(true, Ordering::AcqRel) {
            return;
        }
        let circuit = Arc::clone(self);
        tokio::spawn(async move {
            let probe = circuit.probe().await;
            circuit.probing.store(false, Ordering::Release);
            if let Probe::Refused(reason) = probe {
                circuit.trip(&reason);
            }
        });
    }

    fn trip(self: &Arc<Self>, reason: &str) {
        if self.open.send_replace(true) {
            return;
        }
        self.opened.fetch_add(1, Ordering::Relaxed);
        tracing::error!(
            error = reason,
            "database refuses connections: answering 503 at once until a connection succeeds"
        );
        tokio::spawn(recover(Arc::downgrade(self)));
    }

    async fn probe(&self) -> Probe {
        let options = self.pool.connect_options();
        match tokio::time::timeout(self.probe_timeout, AnyConnection::connect_with(&options)).await
        {
            Err(_) => Probe::Other,
            Ok(Ok(conn)) => {
                let _ = conn.close().await;
                Probe::Up
            }
            Ok(Err(error)) if is_refusal(&error) => Probe::Refused(error.to_string()),
            Ok(Err(_)) => Probe::Other,
        }
    }
}

/// Connects every `RECOVERY_INTERVAL` until one connection succeeds, then closes the
/// circuit. Ends with the store.
async fn recover(circuit: Weak<Circuit>) {
    let started = Instant::now();
    loop {
        tokio::time::sleep(RECOVERY_INTERVAL).await;
        let Some(circuit) = circuit.upgrade() else {
            return;
        };
        if let Probe::Up = circuit.probe().await {
            circuit.open.send_replace(false);
            tracing::warn!(
                open_for_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                "database accepts connections again"
            );
            return;
        }
    }
}

/// A connect the database refused outright, as opposed to one that was slow or rejected
/// for a reason of its own (credentials, too many connections).
fn is_refusal(error: &sqlx::Error) -> bool {
    use std::io::ErrorKind as K;
    match error {
        sqlx::Error::Io(io) => matches!(
            io.kind(),
            K::ConnectionRefused
                | K::ConnectionReset
                | K::ConnectionAborted
                | K::NotConnected
                | K::BrokenPipe
                | K::UnexpectedEof
                | K::HostUnreachable
                | K::NetworkUnreachable
        ),
        // Starting up or shutting down (57P03), shut down under the probe (57P01, 57P02).
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|c| matches!(c.as_ref(), "57P01" | "57P02" | "57P03")),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::is_refusal;
    use std::io::{Error, ErrorKind};

    #[test]
    fn refusals() {
        for kind in [ErrorKind::ConnectionRefused, ErrorKind::ConnectionReset] {
            assert!(is_refusal(&sqlx::Error::Io(Error::from(kind))), "{kind:?}");
        }
        for kind in [ErrorKind::TimedOut, ErrorKind::PermissionDenied] {
            assert!(!is_refusal(&sqlx::Error::Io(Error::from(kind))), "{kind:?}");
        }
        assert!(!is_refusal(&sqlx::Error::PoolTimedOut));
    }
}
