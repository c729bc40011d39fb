//! Steps and the references around them: a service step counts only when its first
//! reference measured the same (within 10 %) before and after it. Further references are
//! context: a target computed from one that moved is reported as not decided.

use crate::pgbench::{Pgbench, Workload};
use crate::step::{drift, StepResult};
use crate::system;
use crate::wrk::{self, WrkFiles, WrkLoad};
use anyhow::Result;
use serde::Serialize;
use std::time::Duration;

pub const MAX_DRIFT: f64 = 0.10;
/// A step whose references moved is measured once more before it is discarded.
const ATTEMPTS: u32 = 2;

pub enum Probe {
    /// wrk against the server.
    Wrk(WrkLoad),
    /// pgbench against the database: scripts run on the server's database, built-in
    /// workloads on their own `pgbench -i` database.
    Pg(Workload),
}

#[derive(Clone, Debug, Serialize)]
pub struct Measured {
    pub name: String,
    pub result: StepResult,
}

#[derive(Clone, Debug, Serialize)]
pub struct ReferencePair {
    pub name: String,
    pub before: StepResult,
    pub after: StepResult,
    pub drift: f64,
    /// Whether this reference decides if its group is kept.
    pub gates: bool,
}

impl ReferencePair {
    pub fn throughput(&self) -> f64 {
        (self.before.throughput + self.after.throughput) / 2.0
    }

    pub fn p50_ms(&self) -> f64 {
        (self.before.p50_ms + self.after.p50_ms) / 2.0
    }

    pub fn p99_ms(&self) -> f64 {
        (self.before.p99_ms + self.after.p99_ms) / 2.0
    }
}

/// One bracketed (or free-standing) group of steps, as last measured.
#[derive(Clone, Debug, Serialize)]
pub struct Group {
    pub name: String,
    pub attempts: u32,
    pub discarded: bool,
    pub services: Vec<Measured>,
    pub references: Vec<ReferencePair>,
}

pub struct Bench {
    files: WrkFiles,
    database: Pgbench,
    builtin: Pgbench,
    duration: Duration,
    groups: Vec<Group>,
    /// The server whose memory each step line shows.
    server_pid: Option<u32>,
}

impl Bench {
    pub fn new(files: WrkFiles, database: Pgbench, builtin: Pgbench, duration: Duration) -> Self {
        Self {
            files,
            database,
            builtin,
            duration,
            groups: Vec::new(),
            server_pid: None,
        }
    }

    pub fn watch_memory_of(&mut self, pid: u32) {
        self.server_pid = Some(pid);
    }

    fn log_step(&self, name: &str, result: &StepResult) {
        let rss = self
            .server_pid
            .and_then(system::rss_kib)
            .map_or(String::new(), |kib| {
                format!(", server RSS {} MiB", kib / 1024)
            });
        eprintln!("bench: {name:<28} {}{rss}", result.summary());
    }

    pub fn records(&self) -> &[Group] {
        &self.groups
    }

    pub fn any_discarded(&self) -> bool {
        self.groups.iter().any(|group| group.discarded)
    }

    pub async fn measure_once(
        &self,
        name: &str,
        probe: &Probe,
        duration: Duration,
    ) -> Result<StepResult> {
        let result = match probe {
            Probe::Wrk(load) => wrk::run(load, &self.files, duration).await?,
            Probe::Pg(workload @ Workload::Script(_)) => {
                self.database.run(name, workload, duration).await?
            }
            Probe::Pg(workload @ Workload::Builtin(_)) => {
                self.builtin.run(name, workload, duration).await?
            }
        };
        self.log_step(name, &result);
        Ok(result)
    }

    async fn measure(&self, name: &str, probe: &Probe) -> Result<StepResult> {
        self.measure_once(name, probe, self.duration).await
    }

    /// References, then the service steps, then the references again.
    pub async fn bracketed(
        &mut self,
        services: &[(&str, Probe)],
        references: &[(&str, Probe)],
    ) -> Result<()> {
        let mut group = None;
        for attempt in 1..=ATTEMPTS {
            // Before in reverse order, so that the deciding reference runs right next to
            // the steps on both sides: the less time between its two runs, the less the
            // machine drifts in between.
            let mut before = Vec::new();
            for (name, probe) in references.iter().rev() {
                before.push(self.measure(name, probe).await?);
            }
            before.reverse();
            let mut measured = Vec::new();
            for (name, probe) in services {
                measured.push(Measured {
                    name: (*name).to_owned(),
                    result: self.measure(name, probe).await?,
                });
            }
            let mut pairs = Vec::new();
            for (index, ((name, probe), before)) in references.iter().zip(before).enumerate() {
                let after = self.measure(name, probe).await?;
                pairs.push(ReferencePair {
                    name: (*name).to_owned(),
                    drift: drift(before.throughput, after.throughput),
                    before,
                    after,
                    gates: index == 0,
                });
            }
            let discarded = pairs
                .iter()
                .any(|pair| pair.gates && pair.drift > MAX_DRIFT);
            if discarded {
                eprintln!("bench: a reference moved more than {:.0} % around {}: attempt {attempt} of {ATTEMPTS} discarded", MAX_DRIFT * 100.0, services[0].0);
            }
            group = Some(Group {
                name: services[0].0.to_owned(),
                attempts: attempt,
                discarded,
                services: measured,
                references: pairs,
            });
            if !discarded {
                break;
            }
        }
        self.groups.extend(group);
        Ok(())
    }

    /// Steps with no reference of their own; several run at the same time.
    pub async fn unbracketed(&mut self, name: &str, concurrent: &[WrkLoad]) -> Result<()> {
        let mut tasks = Vec::new();
        for load in concurrent {
            let (load, files, duration) = (load.clone(), self.files.clone(), self.duration);
            tasks.push(tokio::spawn(async move {
                wrk::run(&load, &files, duration).await
            }));
        }
        let mut services = Vec::new();
        for (task, load) in tasks.into_iter().zip(concurrent) {
            let result = task.await??;
            let step = if concurrent.len() == 1 {
                name.to_owned()
            } else {
                format!("{name}: {}", load.mode)
            };
            self.log_step(&step, &result);
            services.push(Measured { name: step, result });
        }
        self.groups.push(Group {
            name: name.to_owned(),
            attempts: 1,
            discarded: false,
            services,
            references: Vec::new(),
        });
        Ok(())
    }
}
