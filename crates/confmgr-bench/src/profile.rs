//! `CONFMGR_BENCH_PROFILE=1`: perf samples the server during extra passes that are not
//! measured (perf itself costs CPU the server would otherwise have), and inferno turns the
//! samples into a flame graph plus a plain-text list of where the time went.

use anyhow::{bail, Context, Result};
use inferno::collapse::Collapse;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;

/// Samples per second per CPU: enough for a 15 s pass, few enough for `perf script` to stay quick.
const FREQUENCY: &str = "199";

pub fn requested() -> bool {
    std::env::var_os("CONFMGR_BENCH_PROFILE").is_some()
}

pub fn check_installed() -> Result<()> {
    match std::process::Command::new("perf").arg("--version").output() {
        Ok(output) if output.status.success() => Ok(()),
        _ => bail!(
            "CONFMGR_BENCH_PROFILE needs perf: `apt-get install -y linux-perf` (Debian's package)"
        ),
    }
}

pub struct Recording {
    perf: tokio::process::Child,
    data: PathBuf,
}

impl Recording {
    /// Starts `perf record` on a running process, with DWARF unwinding (release builds keep no
    /// frame pointers; `just profile` builds with line tables so the frames have names).
    pub async fn start(pid: u32, data: &Path) -> Result<Self> {
        let perf = tokio::process::Command::new("perf")
            .args([
                "record",
                "--quiet",
                "-F",
                FREQUENCY,
                "--call-graph",
                "dwarf,16384",
            ])
            .arg("-p")
            .arg(pid.to_string())
            .arg("-o")
            .arg(data)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("starting perf record")?;
        // perf attaches asynchronously; give it a moment so the pass is sampled from its start
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        Ok(Self {
            perf,
            data: data.to_owned(),
        })
    }

    /// Stops the recording and writes `<stem>.svg` (the flame graph) and `<stem>.txt` (the
    /// hottest frames); answers the text.
    pub async fn finish(self, stem: &Path, title: &str) -> Result<String> {
        let pid = self.perf.id().context("perf exited early")?;
        // SIGINT, not a kill: perf finishes writing its data file on SIGINT
        std::process::Command::new("kill")
            .args(["-INT", &pid.to_string()])
            .status()
            .context("stopping perf record")?;
        let output = self.perf.wait_with_output().await?;
        if !output.status.success() && !self.data.exists() {
            bail!(
                "perf record failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let script = crate::system::stdout_of(
            tokio::process::Command::new("perf")
                .args(["script", "--no-inline", "-i"])
                .arg(&self.data),
            "perf script",
        )
        .await?;
        let _ = std::fs::remove_file(&self.data);

        let mut folded = Vec::new();
        inferno::collapse::perf::Folder::from(inferno::collapse::perf::Options::default())
            .collapse(script.as_bytes(), &mut folded)
            .context("folding the perf stacks")?;
        let mut options = inferno::flamegraph::Options::default();
        options.title = title.to_owned();
        let svg = std::fs::File::create(stem.with_extension("svg"))?;
        inferno::flamegraph::from_reader(&mut options, folded.as_slice(), svg)
            .context("drawing the flame graph")?;
        let text = hot_frames(&String::from_utf8_lossy(&folded), title);
        std::fs::write(stem.with_extension("txt"), &text)?;
        Ok(text)
    }
}

/// The share of samples each crate spends on its own (the stack's last frame), and the
/// functions present in the most stacks. Folded lines are `frame;frame;frame count`.
fn hot_frames(folded: &str, title: &str) -> String {
    let mut total = 0u64;
    let mut by_crate: HashMap<String, u64> = HashMap::new();
    let mut inclusive: HashMap<&str, u64> = HashMap::new();
    for line in folded.lines() {
        let Some((stack, count)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(count) = count.parse::<u64>() else {
            continue;
        };
        total += count;
        let frames: Vec<&str> = stack.split(';').collect();
        if let Some(leaf) = frames.last() {
            *by_crate.entry(crate_of(leaf)).or_default() += count;
        }
        let mut seen = std::collections::HashSet::new();
        for frame in frames {
            if seen.insert(frame) {
                *inclusive.entry(frame).or_default() += count;
            }
        }
    }
    let share = |count: u64| 100.0 * count as f64 / total.max(1) as f64;
    let mut text = format!("# {title}: {total} samples\n\n## Own time by crate\n");
    for (name, count) in top(by_crate.iter().map(|(k, v)| (k.as_str(), *v)), 15) {
        text.push_str(&format!("{:>5.1} %  {name}\n", share(count)));
    }
    text.push_str("\n## Frames in the most stacks (ConfMgr's own)\n");
    let ours = inclusive
        .iter()
        .filter(|(frame, _)| frame.contains("confmgr"))
        .map(|(k, v)| (*k, *v));
    for (name, count) in top(ours, 25) {
        text.push_str(&format!("{:>5.1} %  {name}\n", share(count)));
    }
    text
}

fn top<'a>(counts: impl Iterator<Item = (&'a str, u64)>, n: usize) -> Vec<(&'a str, u64)> {
    let mut counts: Vec<_> = counts.collect();
    counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    counts.truncate(n);
    counts
}

/// `sqlx_postgres::connection::PgConnection::run` → `sqlx_postgres`; a frame without a path
/// (libc, the kernel) stays whole, e.g. `[unknown]`, `__memmove_avx_unaligned`.
fn crate_of(frame: &str) -> String {
    let frame = frame.trim_start_matches('<').trim_start_matches('_');
    match frame.split_once("::") {
        Some((name, _)) if !name.contains(' ') => name.to_owned(),
        _ => frame.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_own_time_by_crate_and_frames_once_per_stack() {
        let folded = "confmgr_server::main;sqlx_core::run;sqlx_core::run;libc_send 6\n\
                      confmgr_server::main;confmgr_server::audit::commit;aes_gcm::seal 4\n";
        let text = hot_frames(folded, "reads");
        assert!(text.starts_with("# reads: 10 samples"), "{text}");
        assert!(text.contains(" 60.0 %  libc_send"), "{text}");
        assert!(text.contains(" 40.0 %  aes_gcm"), "{text}");
        // main is in every stack; the recursive frame counts once per stack, not twice
        assert!(text.contains("100.0 %  confmgr_server::main"), "{text}");
        assert!(
            text.contains(" 40.0 %  confmgr_server::audit::commit"),
            "{text}"
        );
        assert!(
            !text.contains("sqlx_core::run"),
            "only ConfMgr's frames: {text}"
        );
    }

    #[test]
    fn crate_of_strips_generic_brackets() {
        assert_eq!(
            crate_of("<sqlx_postgres::PgConnection as Foo>::run"),
            "sqlx_postgres"
        );
        assert_eq!(crate_of("[unknown]"), "[unknown]");
    }
}
