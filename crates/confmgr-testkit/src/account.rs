//! Which account runs the PostgreSQL server binaries.
//!
//! `initdb` and `postgres` refuse to run as root, and CI runs as root
//! (DESIGN.md 7). As root we hand the cluster to the `postgres` system user
//! via `runuser`; as anyone else we run the binaries directly. Everything is
//! done without libc (the workspace forbids `unsafe`).

use std::ffi::OsStr;
use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};

const SERVER_USER: &str = "postgres";

/// An unprivileged system account looked up in /etc/passwd.
#[derive(Debug, Clone)]
pub(crate) struct SystemUser {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
}

/// Runs server binaries either as ourselves or, when we are root, as the
/// `postgres` system user.
#[derive(Debug, Clone)]
pub(crate) struct ServerAccount {
    user: Option<SystemUser>,
}

impl ServerAccount {
    pub fn detect() -> Result<Self> {
        if effective_uid()? != 0 {
            return Ok(Self { user: None });
        }
        let user = lookup_user(SERVER_USER)?.with_context(|| {
            format!(
                "running as root, and initdb/postgres refuse to run as root, but there is no \
                 `{SERVER_USER}` system user to run them as. Create it (the Debian/Ubuntu \
                 `postgresql` package does: `apt-get install -y postgresql`; or \
                 `useradd --system --user-group --home-dir /var/lib/postgresql {SERVER_USER}`), \
                 or run the tests as an ordinary user"
            )
        })?;
        if which("runuser").is_none() {
            bail!(
                "running as root, so initdb/postgres must run as `{SERVER_USER}` via `runuser`, \
                 but `runuser` is not on PATH (it is in util-linux)"
            );
        }
        Ok(Self { user: Some(user) })
    }

    /// A command that runs `program` as the server's account.
    pub fn command(&self, program: &Path) -> Command {
        match &self.user {
            None => Command::new(program),
            Some(user) => {
                let mut cmd = Command::new("runuser");
                cmd.arg("-u").arg(&user.name).arg("--").arg(program);
                cmd
            }
        }
    }

    /// The same as [`Self::command`] as an argv, for the watchdog script.
    pub fn argv(&self, program: &Path) -> Vec<String> {
        let mut argv = Vec::new();
        if let Some(user) = &self.user {
            argv.extend([
                "runuser".into(),
                "-u".into(),
                user.name.clone(),
                "--".into(),
            ]);
        }
        argv.push(program.to_string_lossy().into_owned());
        argv
    }

    /// Hands `path` to the server's account; a no-op when we are that account.
    pub fn give(&self, path: &Path) -> Result<()> {
        if let Some(user) = &self.user {
            std::os::unix::fs::chown(path, Some(user.uid), Some(user.gid))
                .with_context(|| format!("chown {} to {}", path.display(), user.name))?;
        }
        Ok(())
    }
}

fn effective_uid() -> Result<u32> {
    // Linux: the second field of `Uid:` is the effective uid.
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        let euid = status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|rest| rest.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok());
        if let Some(euid) = euid {
            return Ok(euid);
        }
    }
    // Elsewhere (macOS) there is no /proc; `id -u` prints the effective uid.
    let out = Command::new("id")
        .arg("-u")
        .output()
        .context("running `id -u` to find the effective uid")?;
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .context("parsing the output of `id -u`")
}

fn lookup_user(name: &str) -> Result<Option<SystemUser>> {
    let passwd = std::fs::read_to_string("/etc/passwd").context("reading /etc/passwd")?;
    Ok(parse_passwd(&passwd, name))
}

fn parse_passwd(passwd: &str, name: &str) -> Option<SystemUser> {
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        if fields.next()? != name {
            return None;
        }
        let _password = fields.next()?;
        let uid = fields.next()?.parse().ok()?;
        let gid = fields.next()?.parse().ok()?;
        Some(SystemUser {
            name: name.to_owned(),
            uid,
            gid,
        })
    })
}

/// First `program` on PATH, like the shell's `command -v`.
pub(crate) fn which(program: impl AsRef<OsStr>) -> Option<std::path::PathBuf> {
    let program = program.as_ref();
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
}

pub(crate) fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::parse_passwd;

    #[test]
    fn finds_uid_and_gid() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\n\
                      postgres:x:101:104:PostgreSQL administrator,,,:/var/lib/postgresql:/bin/bash\n";
        let user = parse_passwd(passwd, "postgres");
        assert!(matches!(user, Some(u) if u.uid == 101 && u.gid == 104));
        assert!(parse_passwd(passwd, "postgre").is_none());
    }
}
