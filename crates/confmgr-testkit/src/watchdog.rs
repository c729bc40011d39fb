//! Cleanup after the test process is gone.
//!
//! The shared cluster lives in a `static`, and statics are never dropped, so
//! no destructor can stop the server. Instead a small `sh` process polls our
//! pid and, once the test process has exited (normally, by panic or by a
//! signal), runs the cleanup commands.

use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use anyhow::{Context, Result};

/// Starts the watchdog; `cleanup` is a list of argv vectors run in order,
/// each allowed to fail.
pub(crate) fn spawn(cleanup: &[Vec<String>]) -> Result<()> {
    // A killed test process stays a zombie (and `kill -0` keeps succeeding)
    // until its parent reaps it, so on Linux its state in /proc counts too.
    let mut script = String::from(
        "alive() { kill -0 \"$1\" 2>/dev/null && \
           [ \"$(sed 's/.*) //' /proc/\"$1\"/stat 2>/dev/null | cut -c1)\" != Z ]; }\n\
         while alive \"$1\"; do sleep 0.5 2>/dev/null || sleep 1; done\n",
    );
    for argv in cleanup {
        let line: Vec<String> = argv.iter().map(|a| sh_quote(a)).collect();
        script.push_str(&line.join(" "));
        script.push('\n');
    }

    Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg("confmgr-testkit-watchdog")
        .arg(std::process::id().to_string())
        // Inherited stdout/stderr would keep the pipes of `cargo test` or
        // nextest open until the watchdog exits, and the runner would hang.
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        // Own process group: a Ctrl-C in the terminal must not kill the
        // watchdog together with the tests, or nothing would clean up.
        .process_group(0)
        .spawn()
        .context("starting the cleanup watchdog (sh)")?;
    // Never waited for: it outlives us by design.
    Ok(())
}

/// Quotes `arg` for POSIX sh.
pub(crate) fn sh_quote(arg: &str) -> String {
    format!("'{}'", arg.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::sh_quote;

    #[test]
    fn quotes_single_quotes() {
        assert_eq!(sh_quote("a b"), "'a b'");
        assert_eq!(sh_quote("it's"), r"'it'\''s'");
    }
}
