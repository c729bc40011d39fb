//! A `confmgr-server` process on a free loopback port, stopped when dropped.

use anyhow::{bail, Context, Result};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};

const START_DEADLINE: Duration = Duration::from_secs(60);

pub struct ServerProcess {
    child: Child,
    addr: SocketAddr,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
}

/// A port that was free a moment ago; the server binds it right after.
pub fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn collect(stream: impl AsyncRead + Unpin + Send + 'static, into: Arc<Mutex<String>>) {
    tokio::spawn(async move {
        let mut lines = BufReader::new(stream).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if let Ok(mut text) = into.lock() {
                text.push_str(&line);
                text.push('\n');
            }
        }
    });
}

impl ServerProcess {
    /// Starts `binary` with `args` plus `--listen 127.0.0.1:<free port>`, with no inherited
    /// `CONFMGR_*` variables but those in `env`, and waits until it accepts connections.
    pub async fn start(binary: &Path, args: &[&str], env: &[(&str, &str)]) -> Result<Self> {
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()?).parse()?;
        let mut command = Command::new(binary);
        for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("CONFMGR_")) {
            command.env_remove(key);
        }
        command
            .args(args)
            .arg("--listen")
            .arg(addr.to_string())
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        let (stdout, stderr) = (Arc::default(), Arc::default());
        if let Some(out) = child.stdout.take() {
            collect(out, Arc::clone(&stdout));
        }
        if let Some(err) = child.stderr.take() {
            collect(err, Arc::clone(&stderr));
        }
        let mut server = Self {
            child,
            addr,
            stdout,
            stderr,
        };
        server.wait_until_listening().await?;
        Ok(server)
    }

    async fn wait_until_listening(&mut self) -> Result<()> {
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            if tokio::net::TcpStream::connect(self.addr).await.is_ok() {
                return Ok(());
            }
            if let Some(status) = self.child.try_wait()? {
                // Let the readers drain what the process said before it died.
                tokio::time::sleep(Duration::from_millis(100)).await;
                bail!(
                    "confmgr-server exited with {status} before listening:\n{}",
                    self.stderr()
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "confmgr-server did not listen within {START_DEADLINE:?}:\n{}",
                    self.stderr()
                );
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn stdout(&self) -> String {
        self.stdout.lock().map(|s| s.clone()).unwrap_or_default()
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// The process id, for sending signals (`kill -TERM`).
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Waits up to `limit` for the process to exit on its own; `None` if it is still running.
    pub async fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        tokio::time::timeout(limit, self.child.wait())
            .await
            .ok()
            .and_then(Result::ok)
    }

    /// Stops the server (SIGKILL: tests that need a graceful stop send their own signal).
    pub async fn stop(mut self) -> Result<()> {
        self.child.kill().await?;
        Ok(())
    }
}
