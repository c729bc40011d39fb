//! bench/results/<timestamp>.json, .md and .svg: every step, and each target as a ratio.

use crate::bracket::{Group, Measured, ReferencePair, MAX_DRIFT};
use crate::chart::{write_latency_chart, ChartStep};
use crate::step::StepResult;
use crate::{CLIENTS, CONNECTIONS, SECRETS_PER_CLIENT, THREADS};
use anyhow::Result;
use serde::Serialize;
use serde_json::json;
use std::path::Path;

#[derive(Serialize)]
pub struct Context {
    pub load_average_at_start: f64,
    pub cores: usize,
    pub step_secs: u64,
    pub seeding_secs: u64,
    pub total_secs: u64,
    pub server_binary: String,
    pub peak_rss_mib: f64,
}

/// One target of issue 9, checked against this run.
#[derive(Serialize)]
pub struct Target {
    pub what: String,
    pub measured: String,
    pub goal: String,
    /// None: not measured (its step was discarded) or informative only.
    pub met: Option<bool>,
}

pub struct Written {
    pub files: Vec<String>,
    pub summary: String,
}

fn service<'a>(groups: &'a [Group], name: &str) -> Option<(&'a Group, &'a StepResult)> {
    groups.iter().find_map(|group| {
        group
            .services
            .iter()
            .find(|m| m.name == name)
            .map(|m| (group, &m.result))
    })
}

/// A step and a reference of its group, unless the group was discarded.
fn kept<'a>(
    groups: &'a [Group],
    step: &str,
    reference: &str,
) -> Option<(&'a StepResult, &'a ReferencePair)> {
    let (group, result) = service(groups, step)?;
    let pair = group
        .references
        .iter()
        .find(|pair| pair.name == reference)?;
    (!group.discarded).then_some((result, pair))
}

/// `service / reference` throughput against a minimum share.
fn ratio_target(
    groups: &[Group],
    what: &str,
    step: &str,
    reference_name: &str,
    minimum: f64,
) -> Target {
    let goal = format!("≥ {:.0} % of {reference_name}", minimum * 100.0);
    match kept(groups, step, reference_name) {
        Some((result, pair)) => {
            let ratio = result.throughput / pair.throughput().max(1e-9);
            let steady = pair.drift <= MAX_DRIFT;
            let caveat = if steady {
                String::new()
            } else {
                format!("; reference moved {:.0} %, undecided", pair.drift * 100.0)
            };
            Target {
                what: what.to_owned(),
                measured: format!(
                    "{:.0} % ({:.0}/s vs {:.0}/s{caveat})",
                    ratio * 100.0,
                    result.throughput,
                    pair.throughput()
                ),
                goal,
                met: steady.then_some(ratio >= minimum),
            }
        }
        _ => not_measured(what, goal),
    }
}

/// `service p99 ≤ reference p99 + slack`.
fn p99_target(
    groups: &[Group],
    what: &str,
    step: &str,
    reference_name: &str,
    slack_ms: f64,
) -> Target {
    let goal = format!("≤ p99 of {reference_name} + {slack_ms:.0} ms");
    match kept(groups, step, reference_name) {
        Some((result, pair)) => Target {
            what: what.to_owned(),
            measured: format!(
                "{:.2} ms (reference {:.2} ms)",
                result.p99_ms,
                pair.p99_ms()
            ),
            goal,
            met: Some(result.p99_ms <= pair.p99_ms() + slack_ms),
        },
        _ => not_measured(what, goal),
    }
}

fn not_measured(what: &str, goal: String) -> Target {
    Target {
        what: what.to_owned(),
        measured: "discarded".to_owned(),
        goal,
        met: None,
    }
}

pub fn targets(groups: &[Group], context: &Context) -> Vec<Target> {
    let mut targets = vec![
        ratio_target(groups, "audited reads", "reads", "ref: read", 1.0),
        ratio_target(
            groups,
            "audited reads (stretch)",
            "reads",
            "ref: read without audit",
            0.7,
        ),
        ratio_target(
            groups,
            "audited reads, auth cache off",
            "reads, auth cache off",
            "ref: read",
            1.0,
        ),
        ratio_target(groups, "audited writes", "writes", "ref: write", 0.85),
        p99_target(groups, "read p99", "reads", "ref: read", 5.0),
        p99_target(groups, "write p99", "writes", "ref: write", 5.0),
        ratio_target(
            groups,
            "authenticated, no database (sys/internal/ui/mounts)",
            "mount info",
            "healthz",
            0.6,
        ),
        // DESIGN.md section 5: lookup-self is audited, so it answers after its audit commit
        ratio_target(
            groups,
            "authenticated and audited (lookup-self)",
            "lookup-self",
            "healthz",
            0.6,
        ),
    ];
    if let Some((_, logins)) = service(groups, "logins") {
        targets.push(Target {
            what: "AppRole logins (argon2id)".to_owned(),
            measured: format!(
                "{:.1}/s, p99 {:.0} ms, {} refused or failed",
                logins.throughput, logins.p99_ms, logins.errors
            ),
            goal: "bounded by argon2id".to_owned(),
            met: None,
        });
    }
    if let Some((_, reads)) = service(groups, "reads during a login flood: read") {
        targets.push(Target {
            what: "reads during a login flood".to_owned(),
            measured: format!(
                "{:.0}/s, p99 {:.2} ms, {} errors",
                reads.throughput, reads.p99_ms, reads.errors
            ),
            goal: "still served, no errors".to_owned(),
            met: Some(reads.errors == 0 && reads.throughput > 0.0),
        });
    }
    targets.push(Target {
        what: "server resident memory, peak".to_owned(),
        measured: format!("{:.0} MiB", context.peak_rss_mib),
        goal: "< 150 MiB".to_owned(),
        met: Some(context.peak_rss_mib < 150.0),
    });
    targets
}

fn row(md: &mut String, group: &str, name: &str, result: &StepResult) {
    md.push_str(&format!(
        "| {group} | {name} | {:.0} | {:.2} | {:.2} | {}{} |\n",
        result.throughput,
        result.p50_ms,
        result.p99_ms,
        result.errors,
        result.statuses(", ")
    ));
}

pub fn write(dir: &Path, context: &Context, groups: &[Group]) -> Result<Written> {
    std::fs::create_dir_all(dir)?;
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
    let targets = targets(groups, context);

    let json = json!({
        "time": stamp,
        "clients": CLIENTS,
        "secrets": CLIENTS * SECRETS_PER_CLIENT,
        "connections": CONNECTIONS,
        "threads": THREADS,
        "context": context,
        "groups": groups,
        "targets": targets,
    });
    let json_path = dir.join(format!("{stamp}.json"));
    std::fs::write(&json_path, serde_json::to_string_pretty(&json)?)?;

    let mut md = format!(
        "# Benchmark {stamp}\n\n{CLIENTS} clients, {} secrets; wrk and pgbench at {CONNECTIONS} connections on {THREADS} threads, {} s per step; PostgreSQL over mutual TLS with fsync and synchronous commit on; audit on. Load average at start {:.2} on {} cores. Server: `{}`.\n\n",
        CLIENTS * SECRETS_PER_CLIENT,
        context.step_secs,
        context.load_average_at_start,
        context.cores,
        context.server_binary
    );
    md.push_str("## Targets\n\n| what | measured | target | met |\n|---|---|---|---|\n");
    for target in &targets {
        let met = match target.met {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "-",
        };
        md.push_str(&format!(
            "| {} | {} | {} | {met} |\n",
            target.what, target.measured, target.goal
        ));
    }
    md.push_str("\n## Steps\n\nReferences are measured before and after the steps of their group; a group is discarded when its first reference moved more than 10 % (each group gets a second attempt first).\n\n| group | step | per s | p50 ms | p99 ms | errors |\n|---|---|---|---|---|---|\n");
    let mut chart = Vec::new();
    for group in groups {
        let label = if group.discarded {
            format!(
                "{} (discarded after {} attempts)",
                group.name, group.attempts
            )
        } else {
            group.name.clone()
        };
        for pair in &group.references {
            row(
                &mut md,
                &label,
                &format!("{} (before)", pair.name),
                &pair.before,
            );
        }
        for Measured { name, result } in &group.services {
            row(&mut md, &label, name, result);
            chart.push(ChartStep {
                name: name.clone(),
                p50_ms: result.p50_ms,
                p99_ms: result.p99_ms,
            });
        }
        for pair in &group.references {
            row(
                &mut md,
                &label,
                &format!("{} (after, drift {:.1} %)", pair.name, pair.drift * 100.0),
                &pair.after,
            );
            chart.push(ChartStep {
                name: pair.name.clone(),
                p50_ms: pair.p50_ms(),
                p99_ms: pair.p99_ms(),
            });
        }
    }
    md.push_str(&format!(
        "\nPeak server RSS {:.0} MiB. Seeding took {} s, the whole run {} s.\n",
        context.peak_rss_mib, context.seeding_secs, context.total_secs
    ));
    let md_path = dir.join(format!("{stamp}.md"));
    std::fs::write(&md_path, &md)?;
    let svg_path = dir.join(format!("{stamp}.svg"));
    write_latency_chart(
        &svg_path,
        &format!("confmgr bench {stamp}: latency per step"),
        &chart,
    )?;

    let summary = targets
        .iter()
        .map(|t| {
            format!(
                "{:<34} {:<44} target {} {}",
                t.what,
                t.measured,
                t.goal,
                match t.met {
                    Some(true) => "met",
                    Some(false) => "NOT MET",
                    None => "",
                }
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    Ok(Written {
        files: [json_path, md_path, svg_path]
            .iter()
            .map(|p| p.display().to_string())
            .collect(),
        summary,
    })
}
