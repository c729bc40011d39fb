//! One measured step and how its numbers are compared.

use serde::Serialize;
use std::collections::BTreeMap;

/// What one load step (wrk against the server, or pgbench against PostgreSQL) measured.
#[derive(Clone, Debug, Serialize)]
pub struct StepResult {
    pub requests: u64,
    /// Answers other than 2xx plus socket errors and timeouts (wrk); failed transactions (pgbench).
    pub errors: u64,
    /// Successful requests (or transactions) per second.
    pub throughput: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Non-2xx answers by status (wrk steps).
    pub error_statuses: BTreeMap<String, u64>,
}

impl StepResult {
    pub fn summary(&self) -> String {
        format!(
            "{:.0}/s, p50 {:.2} ms, p99 {:.2} ms, {} errors of {}{}",
            self.throughput,
            self.p50_ms,
            self.p99_ms,
            self.errors,
            self.requests,
            self.statuses(" ")
        )
    }

    /// The non-2xx answers as `<separator><count>×<status>` each, e.g. ` 3×429`.
    pub fn statuses(&self, separator: &str) -> String {
        self.error_statuses
            .iter()
            .map(|(status, count)| format!("{separator}{count}×{status}"))
            .collect()
    }
}

/// Relative difference of two throughputs, against the larger.
pub fn drift(before: f64, after: f64) -> f64 {
    (before - after).abs() / before.max(after).max(1.0)
}

/// The value at quantile `q` (0..=1) of ascending `sorted`, nearest rank.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_use_the_nearest_rank() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&values, 0.5), 50.0);
        assert_eq!(quantile(&values, 0.99), 99.0);
        assert_eq!(quantile(&values, 1.0), 100.0);
        assert_eq!(quantile(&[], 0.5), 0.0);
    }

    #[test]
    fn drift_is_relative_to_the_larger() {
        assert!((drift(100.0, 90.0) - 0.10).abs() < 1e-9);
        assert!((drift(90.0, 100.0) - 0.10).abs() < 1e-9);
        assert_eq!(drift(0.0, 0.0), 0.0);
    }
}
