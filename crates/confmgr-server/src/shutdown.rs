//! SIGTERM and SIGINT: the first stops accepting and lets in-flight requests finish (each
//! already bounded by the request timeout); a second signal, or the grace period running
//! out, ends the process at once.

use std::time::Duration;
use tokio::signal::unix::{signal, Signal, SignalKind};

struct Signals {
    terminate: Option<Signal>,
    interrupt: Option<Signal>,
}

impl Signals {
    fn new() -> Self {
        Self {
            terminate: signal(SignalKind::terminate()).ok(),
            interrupt: signal(SignalKind::interrupt()).ok(),
        }
    }

    async fn next(&mut self) {
        tokio::select! {
            _ = recv(self.terminate.as_mut()) => {},
            _ = recv(self.interrupt.as_mut()) => {},
        }
    }
}

async fn recv(signal: Option<&mut Signal>) {
    match signal {
        Some(signal) => {
            signal.recv().await;
        }
        None => std::future::pending::<()>().await,
    }
}

/// Completes on the first signal, and from then on watches for a second one and for the
/// end of `grace`, either of which exits the process.
pub async fn on_signal(grace: Duration) {
    let mut signals = Signals::new();
    signals.next().await;
    tracing::info!(
        grace_secs = grace.as_secs(),
        "shutting down: finishing in-flight requests (a second signal exits at once)"
    );
    tokio::spawn(async move {
        tokio::select! {
            _ = signals.next() => {
                tracing::warn!("second signal: exiting now");
                std::process::exit(130);
            }
            _ = tokio::time::sleep(grace) => {
                tracing::error!("shutdown grace period over: exiting with requests still running");
                std::process::exit(1);
            }
        }
    });
}
