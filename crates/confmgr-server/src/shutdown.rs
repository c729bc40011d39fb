//! SIGTERM and SIGINT: the first starts the drain (`CONFMGR_SHUTDOWN_DRAIN_SECS`): every
//! request is still served, but `/readyz` answers 503 so load balancers and Kubernetes
//! endpoints stop sending new traffic before the listener closes (the image has no shell for
//! a preStop `sleep`). Then the server stops accepting and lets in-flight requests finish
//! (each already bounded by the request timeout) for up to the grace period
//! (`CONFMGR_SHUTDOWN_GRACE_SECS`). A second signal, at any point, or the grace running out
//! ends the process at once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::signal::unix::{signal, Signal, SignalKind};

/// Upper bounds, so a typo cannot keep a pod half-alive for hours.
pub const MAX_DRAIN_SECS: u64 = 600;
pub const MAX_GRACE_SECS: u64 = 3600;

/// How the server stops after SIGTERM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShutdownSettings {
    /// Serving on, `/readyz` failing, before the listener closes.
    pub drain: Duration,
    /// In-flight requests finishing after the listener closed.
    pub grace: Duration,
}

impl Default for ShutdownSettings {
    fn default() -> Self {
        Self {
            drain: Duration::ZERO,
            grace: Duration::from_secs(30),
        }
    }
}

impl ShutdownSettings {
    /// Checks `CONFMGR_SHUTDOWN_DRAIN_SECS` and `CONFMGR_SHUTDOWN_GRACE_SECS`, one problem
    /// per setting.
    pub fn parse(drain_secs: u64, grace_secs: u64, problems: &mut Vec<String>) -> Self {
        if drain_secs > MAX_DRAIN_SECS {
            problems.push(format!(
                "CONFMGR_SHUTDOWN_DRAIN_SECS: {drain_secs} is more than {MAX_DRAIN_SECS}; a drain only needs to outlast the load balancer's health-check interval (Kubernetes: a few seconds)"
            ));
        }
        if grace_secs == 0 || grace_secs > MAX_GRACE_SECS {
            problems.push(format!(
                "CONFMGR_SHUTDOWN_GRACE_SECS: {grace_secs} is not between 1 and {MAX_GRACE_SECS}"
            ));
        }
        Self {
            drain: Duration::from_secs(drain_secs.min(MAX_DRAIN_SECS)),
            grace: Duration::from_secs(grace_secs.clamp(1, MAX_GRACE_SECS)),
        }
    }
}

/// Set once the drain began; `/readyz` reads it. Shared by the signal task and the handlers.
#[derive(Clone, Debug, Default)]
pub struct Draining(Arc<AtomicBool>);

impl Draining {
    pub fn is_draining(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    pub fn begin(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

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

/// Completes when the listener should close: after the first signal and the drain. From the
/// first signal on, a second one exits at once; from the end of the drain, so does the end of
/// the grace period. The handlers are installed by this call, not at the first poll, so a
/// SIGTERM that arrives as soon as the port is open is already handled, not fatal.
pub fn on_signal(
    settings: ShutdownSettings,
    draining: Draining,
) -> impl std::future::Future<Output = ()> + Send + 'static {
    let signals = Signals::new();
    after_signal(signals, settings, draining)
}

async fn after_signal(mut signals: Signals, settings: ShutdownSettings, draining: Draining) {
    signals.next().await;
    draining.begin();
    if !settings.drain.is_zero() {
        tracing::info!(
            drain_secs = settings.drain.as_secs(),
            "shutting down: draining (still serving; /readyz answers 503; a second signal exits at once)"
        );
        tokio::select! {
            _ = signals.next() => second_signal(),
            _ = tokio::time::sleep(settings.drain) => {}
        }
    }
    tracing::info!(
        grace_secs = settings.grace.as_secs(),
        "shutting down: finishing in-flight requests (a second signal exits at once)"
    );
    tokio::spawn(async move {
        tokio::select! {
            _ = signals.next() => second_signal(),
            _ = tokio::time::sleep(settings.grace) => {
                tracing::error!("shutdown grace period over: exiting with requests still running");
                std::process::exit(1);
            }
        }
    });
}

fn second_signal() {
    tracing::warn!("second signal: exiting now");
    std::process::exit(130);
}
