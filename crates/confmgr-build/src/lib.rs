//! Build-script helper shared by `confmgr-server` and `confmgr`: the version string they
//! print for `--version`, `VERSION (commit SHORTSHA)`.
//!
//! Release and Nix builds set `CONFMGR_GIT_COMMIT` (their sources carry no `.git`, and a
//! reproducible build must not depend on one); elsewhere git is asked, and cargo reruns the
//! build script when HEAD moves. No time or path goes into the string, so two builds of one
//! commit print the same thing.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The environment variable the binaries read with `env!`.
pub const VERSION_VAR: &str = "CONFMGR_VERSION_LONG";

/// Call from a build script: sets `CONFMGR_VERSION_LONG` for the crate being built.
pub fn emit_version() {
    println!("cargo:rerun-if-env-changed=CONFMGR_GIT_COMMIT");
    let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_else(|_| "0.0.0".into());
    let commit = match std::env::var("CONFMGR_GIT_COMMIT") {
        Ok(commit) if !commit.trim().is_empty() => commit,
        _ => git_commit().unwrap_or_default(),
    };
    println!(
        "cargo:rustc-env={VERSION_VAR}={}",
        long_version(&version, &commit)
    );
}

/// `VERSION (commit SHORTSHA)`: twelve characters of the commit, `unknown` when there is
/// none, anything but letters, digits and `-` dropped (the value reaches a terminal).
pub fn long_version(version: &str, commit: &str) -> String {
    let short: String = commit
        .trim()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(12)
        .collect();
    let short = if short.is_empty() {
        "unknown".to_owned()
    } else {
        short
    };
    format!("{version} (commit {short})")
}

/// HEAD's commit, and the files whose change moves it, watched so the string stays current.
fn git_commit() -> Option<String> {
    let dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR")?);
    let git = |args: &[&str]| -> Option<String> {
        let out = Command::new("git")
            .args(args)
            .current_dir(&dir)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    };
    let git_dir = PathBuf::from(git(&["rev-parse", "--absolute-git-dir"])?);
    let common_dir = git(&["rev-parse", "--git-common-dir"])
        .map(|d| dir.join(d))
        .unwrap_or_else(|| git_dir.clone());
    watch(&git_dir.join("HEAD"));
    watch(&common_dir.join("packed-refs"));
    if let Some(reference) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watch(&common_dir.join(reference));
    }
    git(&["rev-parse", "HEAD"])
}

/// A missing file would make cargo rerun the script on every build: watch only what exists.
fn watch(path: &Path) {
    if path.exists() {
        println!("cargo:rerun-if-changed={}", path.display());
    }
}

#[cfg(test)]
mod tests {
    use super::long_version;

    #[test]
    fn long_version_shortens_and_sanitises_the_commit() {
        assert_eq!(
            long_version("1.2.3", "567533c1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7\n"),
            "1.2.3 (commit 567533c1a2b3)"
        );
        assert_eq!(long_version("1.2.3", ""), "1.2.3 (commit unknown)");
        assert_eq!(
            long_version("1.2.3", "\u{1b}[31m;rm"),
            "1.2.3 (commit 31mrm)"
        );
        assert_eq!(long_version("0.1.0", "dirty"), "0.1.0 (commit dirty)");
    }
}
