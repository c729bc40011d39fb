//! `confmgr run --path P [--path Q] -- COMMAND ARGS...`: the secrets as environment
//! variables of a child process, which confmgr supervises.
//!
//! - Each key of each secret (KV v2 on mount `secret`) becomes a variable; a later `--path`
//!   overrides an earlier one. Keys must be POSIX names (`[A-Za-z_][A-Za-z0-9_]*`): another
//!   key is an error, or skipped with a warning under `--skip-invalid`. A secret wins over a
//!   variable already in the environment, unless `--no-override`.
//! - CONFMGR_TOKEN and VAULT_TOKEN are removed from the child's environment unless
//!   `--pass-token`.
//! - SIGINT, SIGTERM, SIGHUP and SIGQUIT sent to confmgr by another process are forwarded to
//!   the child. The same signals from the terminal (Ctrl-C, Ctrl-\, hangup) are not: the
//!   terminal already sends them to the child, which shares confmgr's process group.
//! - confmgr exits with the child's exit code, or 128 + N when signal N ended it.
//! - `--watch` polls the secrets' current versions and restarts the child (SIGTERM, then
//!   SIGKILL after `--grace-period`) when one changes.
//! - `--fallback FILE` keeps an encrypted copy of each successful fetch (see `fallback`) and
//!   starts from it when the server cannot be reached (never on 403, 404 or other answers).

use super::kv::encode_path;
use super::Ctx;
use crate::clock;
use crate::fallback::{self, Fetched, Snapshot};
use crate::http::{Api, ApiError};
use crate::session::{self, TokenSource};
use crate::ttl;
use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;
use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};
use signal_hook::iterator::exfiltrator::WithOrigin;
use signal_hook::iterator::SignalsInfo;
use signal_hook::low_level::siginfo::Cause;
use std::collections::{BTreeMap, HashSet};
use std::ffi::OsString;
use std::io::ErrorKind;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Variables that hold the CLI's token: never inherited by the child without `--pass-token`.
const TOKEN_VARIABLES: [&str; 2] = ["CONFMGR_TOKEN", "VAULT_TOKEN"];

/// Exit code when the command cannot be found (as shells do).
const NOT_FOUND_CODE: i32 = 127;
/// Exit code when the command cannot be executed (as shells do).
const CANNOT_EXECUTE_CODE: i32 = 126;

#[derive(Debug, Args)]
#[command(override_usage = "confmgr run [OPTIONS] --path <PATH>... -- <COMMAND> [ARGS]...")]
pub struct RunArgs {
    /// A secret on mount `secret` whose keys become environment variables (repeat; a later
    /// path overrides an earlier one).
    #[arg(long = "path", value_name = "PATH", required = true)]
    pub paths: Vec<String>,
    /// Keep a variable that is already in the environment when a secret has the same name
    /// (without it, the secret wins).
    #[arg(long)]
    pub no_override: bool,
    /// Leave out, with a warning, secret keys that are not valid variable names
    /// ([A-Za-z_][A-Za-z0-9_]*), instead of refusing to start.
    #[arg(long)]
    pub skip_invalid: bool,
    /// Let the command see the token: keep CONFMGR_TOKEN and VAULT_TOKEN, and set
    /// CONFMGR_TOKEN when the token came from --token or the token file.
    #[arg(long)]
    pub pass_token: bool,
    /// Restart the command when a secret gets a new version.
    #[arg(long)]
    pub watch: bool,
    /// Time between version checks with --watch (`10s`, `1m`).
    #[arg(
        long,
        default_value = "10s",
        value_name = "DURATION",
        requires = "watch"
    )]
    pub watch_interval: String,
    /// How long the command may take to exit after SIGTERM on a restart before it is killed
    /// (SIGKILL).
    #[arg(
        long,
        default_value = "10s",
        value_name = "DURATION",
        requires = "watch"
    )]
    pub grace_period: String,
    /// Keep an encrypted copy of the secrets in FILE after each successful fetch, and start
    /// from it when the server cannot be reached.
    #[arg(long, value_name = "FILE")]
    pub fallback: Option<PathBuf>,
    /// The command and its arguments (after `--`).
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND"
    )]
    pub command: Vec<OsString>,
}

pub async fn run(ctx: &Ctx, args: RunArgs) -> Result<()> {
    let code = supervise(ctx, args).await?;
    // The command's own exit code is confmgr's: nothing is left to clean up at this point.
    std::process::exit(code)
}

/// Everything that shapes the child's environment, fixed at start.
#[derive(Clone)]
struct EnvSettings {
    inherited: Vec<(OsString, OsString)>,
    no_override: bool,
    skip_invalid: bool,
    pass_token: bool,
    /// The token to export as CONFMGR_TOKEN with --pass-token when it did not come from the
    /// environment.
    token: Option<String>,
}

/// Where the fallback copy lives.
#[derive(Clone)]
struct FallbackFiles {
    file: PathBuf,
    key_file: PathBuf,
}

async fn supervise(ctx: &Ctx, args: RunArgs) -> Result<i32> {
    for path in &args.paths {
        encode_path(path)?;
    }
    let interval = positive_duration("--watch-interval", &args.watch_interval)?;
    let grace = Duration::from_secs(ttl::parse_seconds(&args.grace_period)?);
    let resolved = ctx.token()?;
    let api = Api::new(&ctx.addr, Some(resolved.token.clone()), &ctx.tls)?;
    let settings = EnvSettings {
        inherited: std::env::vars_os().collect(),
        no_override: args.no_override,
        skip_invalid: args.skip_invalid,
        pass_token: args.pass_token,
        token: match resolved.source {
            TokenSource::Env(_) => None,
            TokenSource::Flag | TokenSource::File(_) => Some(resolved.token.expose().to_owned()),
        },
    };
    let fallback = match &args.fallback {
        Some(file) => Some(FallbackFiles {
            file: file.clone(),
            key_file: fallback::key_path(&session::config_dir(&session::process_env)?),
        }),
        None => None,
    };

    let secrets = initial_fetch(&api, &args.paths, fallback.as_ref()).await?;
    let plan = build_env(&settings, &secrets)?;
    plan.print_warnings();

    // Listen before the child exists, so no signal meant for it can end confmgr instead.
    let mut signals = SignalForwarder::listen()?;
    let mut child = spawn(&args.command, &plan.vars)?;
    let mut watch_events = if args.watch {
        let versions = secrets.iter().map(|s| s.version).collect();
        Some(spawn_watcher(Watcher {
            api,
            paths: args.paths.clone(),
            versions,
            interval,
            settings,
            fallback,
            denied_metadata: HashSet::new(),
            unreachable: false,
        }))
    } else {
        None
    };

    // The environment to restart with once the current child has exited.
    let mut pending: Option<Vec<(OsString, OsString)>> = None;
    let mut kill_at: Option<Instant> = None;
    loop {
        tokio::select! {
            status = child.wait() => {
                let status = status.context("cannot wait for the command")?;
                kill_at = None;
                if let Some(vars) = pending.take() {
                    child = spawn(&args.command, &vars)?;
                    continue;
                }
                signals.close();
                return Ok(exit_code(status));
            }
            Some(received) = signals.next() => {
                if !received.from_terminal {
                    forward(&child, received.signal);
                }
                if pending.take().is_some() {
                    eprintln!(
                        "confmgr run: {} received during a restart; not starting the command again",
                        signal_name(received.signal)
                    );
                }
            }
            Some(event) = next_event(&mut watch_events) => {
                eprintln!("confmgr run: {}; restarting the command", event.changes.join(", "));
                if pending.is_none() {
                    forward(&child, SIGTERM);
                    kill_at = Some(Instant::now() + grace);
                }
                pending = Some(event.vars);
            }
            () = tokio::time::sleep_until(kill_at.unwrap_or_else(Instant::now)), if kill_at.is_some() => {
                kill_at = None;
                eprintln!(
                    "confmgr run: the command did not exit within {} of SIGTERM; killing it",
                    ttl::format_seconds(grace.as_secs())
                );
                forward(&child, nix::libc::SIGKILL);
            }
        }
    }
}

fn positive_duration(flag: &str, raw: &str) -> Result<Duration> {
    match ttl::parse_seconds(raw)? {
        0 => bail!("{flag} must be at least 1s"),
        seconds => Ok(Duration::from_secs(seconds)),
    }
}

/// 128 + N for a child ended by signal N, as shells report it.
fn exit_code(status: ExitStatus) -> i32 {
    status
        .code()
        .or_else(|| status.signal().map(|signal| 128 + signal))
        .unwrap_or(1)
}

fn signal_name(signal: i32) -> &'static str {
    Signal::try_from(signal)
        .map(Signal::as_str)
        .unwrap_or("a signal")
}

fn forward(child: &Child, signal: i32) {
    let (Some(id), Ok(signal)) = (child.id(), Signal::try_from(signal)) else {
        return;
    };
    if let Ok(pid) = i32::try_from(id) {
        // The child may have exited a moment ago: nothing to do then.
        let _ = kill(Pid::from_raw(pid), signal);
    }
}

fn spawn(command: &[OsString], vars: &[(OsString, OsString)]) -> Result<Child> {
    let Some((program, rest)) = command.split_first() else {
        bail!("no command given: confmgr run --path PATH -- COMMAND [ARGS...]");
    };
    let mut builder = Command::new(program);
    builder.args(rest).env_clear().envs(vars.iter().cloned());
    match builder.spawn() {
        Ok(child) => Ok(child),
        Err(error) => {
            let shown = program.to_string_lossy();
            let code = match error.kind() {
                ErrorKind::NotFound => {
                    eprintln!("error: cannot run {shown}: command not found");
                    NOT_FOUND_CODE
                }
                ErrorKind::PermissionDenied => {
                    eprintln!("error: cannot run {shown}: permission denied");
                    CANNOT_EXECUTE_CODE
                }
                _ => {
                    eprintln!("error: cannot run {shown}: {error}");
                    CANNOT_EXECUTE_CODE
                }
            };
            std::process::exit(code)
        }
    }
}

// ---------------------------------------------------------------------------------------
// Fetching

/// Reads one secret's current version.
async fn fetch(api: &Api, path: &str) -> Result<Fetched> {
    let url = format!("secret/data/{}", encode_path(path)?);
    let body = api
        .get(&url)
        .await
        .with_context(|| format!("cannot read secret/{path}"))?;
    let data = body["data"]["data"]
        .as_object()
        .cloned()
        .ok_or_else(|| anyhow!("cannot read secret/{path}: the answer holds no data"))?;
    let version = body["data"]["metadata"]["version"].as_u64().unwrap_or(0);
    Ok(Fetched {
        path: path.to_owned(),
        version,
        data,
    })
}

async fn fetch_all(api: &Api, paths: &[String]) -> Result<Vec<Fetched>> {
    let mut secrets = Vec::with_capacity(paths.len());
    for path in paths {
        secrets.push(fetch(api, path).await?);
    }
    Ok(secrets)
}

/// The request got no answer at all (refused, DNS, TLS, timeout).
fn unreachable(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        matches!(
            cause.downcast_ref::<ApiError>(),
            Some(ApiError::Unreachable { .. })
        )
    })
}

fn save_fallback(files: &FallbackFiles, paths: &[String], secrets: &[Fetched]) {
    let saved = fallback::load_or_create_key(&files.key_file).and_then(|key| {
        let snapshot = Snapshot {
            saved_at: clock::now_seconds(),
            secrets: secrets.to_vec(),
        };
        fallback::save(&files.file, &key, paths, &snapshot)
    });
    if let Err(error) = saved {
        eprintln!(
            "warning: cannot update the fallback copy {}: {error:#}",
            files.file.display()
        );
    }
}

async fn initial_fetch(
    api: &Api,
    paths: &[String],
    files: Option<&FallbackFiles>,
) -> Result<Vec<Fetched>> {
    let error = match fetch_all(api, paths).await {
        Ok(secrets) => {
            if let Some(files) = files {
                save_fallback(files, paths, &secrets);
            }
            return Ok(secrets);
        }
        Err(error) => error,
    };
    let Some(files) = files.filter(|_| unreachable(&error)) else {
        return Err(error);
    };
    let shown = files.file.display();
    if !files.file.exists() {
        return Err(error.context(format!(
            "no fallback copy at {shown} yet (it is written after each successful fetch)"
        )));
    }
    let key = fallback::read_key(&files.key_file)?.ok_or_else(|| {
        anyhow!(
            "cannot open the fallback copy {shown}: the key {} is missing",
            files.key_file.display()
        )
    })?;
    let snapshot = fallback::load(&files.file, &key, paths)
        .context("the server is unreachable and the fallback copy cannot be used")?;
    let age = u64::try_from(clock::now_seconds() - snapshot.saved_at).unwrap_or(0);
    eprintln!(
        "warning: {error:#}; starting with the fallback copy {shown} saved at {} ({} ago)",
        clock::rfc3339(snapshot.saved_at),
        ttl::format_seconds(age)
    );
    Ok(snapshot.secrets)
}

// ---------------------------------------------------------------------------------------
// The environment

/// The child's environment, and what to say about it.
#[derive(Debug)]
struct EnvPlan {
    vars: Vec<(OsString, OsString)>,
    warnings: Vec<String>,
}

impl EnvPlan {
    fn print_warnings(&self) {
        for warning in &self.warnings {
            eprintln!("warning: {warning}");
        }
    }
}

/// `[A-Za-z_][A-Za-z0-9_]*`.
pub fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A secret's value as a variable: strings as they are, anything else as JSON text.
fn env_value(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn build_env(settings: &EnvSettings, secrets: &[Fetched]) -> Result<EnvPlan> {
    let mut warnings = Vec::new();
    let mut from_secrets: BTreeMap<String, String> = BTreeMap::new();
    for secret in secrets {
        for (key, value) in &secret.data {
            if !is_env_name(key) {
                if settings.skip_invalid {
                    warnings.push(format!(
                        "skipping key {key:?} of secret/{}: not a valid environment variable name",
                        secret.path
                    ));
                    continue;
                }
                bail!(
                    "key {key:?} of secret/{} is not a valid environment variable name \
                     ([A-Za-z_][A-Za-z0-9_]*): rename it, or pass --skip-invalid to leave it out",
                    secret.path
                );
            }
            let value = env_value(value);
            if value.contains('\0') {
                bail!(
                    "the value of {key} in secret/{} contains a NUL byte, which an environment \
                     variable cannot hold",
                    secret.path
                );
            }
            from_secrets.insert(key.clone(), value);
        }
    }

    let mut vars: BTreeMap<OsString, OsString> = settings.inherited.iter().cloned().collect();
    if settings.pass_token {
        if let Some(token) = &settings.token {
            vars.entry("CONFMGR_TOKEN".into())
                .or_insert_with(|| token.into());
        }
    } else {
        for name in TOKEN_VARIABLES {
            vars.remove(&OsString::from(name));
        }
    }
    for (key, value) in from_secrets {
        let key = OsString::from(key);
        if settings.no_override && vars.contains_key(&key) {
            continue;
        }
        vars.insert(key, value.into());
    }
    Ok(EnvPlan {
        vars: vars.into_iter().collect(),
        warnings,
    })
}

// ---------------------------------------------------------------------------------------
// Signals

struct Received {
    signal: i32,
    /// Sent by the kernel: the terminal's Ctrl-C, Ctrl-\ or hangup, which the child (in the
    /// same foreground process group) receives too.
    from_terminal: bool,
}

struct SignalForwarder {
    events: mpsc::UnboundedReceiver<Received>,
    handle: signal_hook::iterator::Handle,
}

impl SignalForwarder {
    fn listen() -> Result<Self> {
        let mut signals = SignalsInfo::<WithOrigin>::new([SIGINT, SIGTERM, SIGHUP, SIGQUIT])
            .context("cannot install signal handlers")?;
        let handle = signals.handle();
        let (sender, events) = mpsc::unbounded_channel();
        std::thread::Builder::new()
            .name("signals".into())
            .spawn(move || {
                for origin in signals.forever() {
                    let received = Received {
                        signal: origin.signal,
                        from_terminal: origin.cause == Cause::Kernel,
                    };
                    if sender.send(received).is_err() {
                        break;
                    }
                }
            })
            .context("cannot start the signal thread")?;
        Ok(Self { events, handle })
    }

    async fn next(&mut self) -> Option<Received> {
        self.events.recv().await
    }

    fn close(&self) {
        self.handle.close();
    }
}

// ---------------------------------------------------------------------------------------
// Watching

/// A change seen by the watcher, with the environment to restart with.
struct Restart {
    changes: Vec<String>,
    vars: Vec<(OsString, OsString)>,
}

struct Watcher {
    api: Api,
    paths: Vec<String>,
    versions: Vec<u64>,
    interval: Duration,
    settings: EnvSettings,
    fallback: Option<FallbackFiles>,
    /// Paths whose metadata the token may not read: polled through their data instead.
    denied_metadata: HashSet<String>,
    /// The last poll could not reach the server (warned once until it answers again).
    unreachable: bool,
}

async fn next_event(events: &mut Option<mpsc::Receiver<Restart>>) -> Option<Restart> {
    match events {
        Some(events) => events.recv().await,
        None => std::future::pending().await,
    }
}

fn spawn_watcher(mut watcher: Watcher) -> mpsc::Receiver<Restart> {
    let (sender, events) = mpsc::channel(1);
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(watcher.interval).await;
            if let Some(restart) = watcher.poll().await {
                if sender.send(restart).await.is_err() {
                    return;
                }
            }
        }
    });
    events
}

impl Watcher {
    /// The current version of `path`: from its metadata, or from a read of its data when
    /// the token may read the data but not the metadata.
    async fn current_version(&mut self, path: &str) -> Result<u64> {
        if !self.denied_metadata.contains(path) {
            let url = format!("secret/metadata/{}", encode_path(path)?);
            match self.api.get(&url).await {
                Ok(body) => return Ok(body["data"]["current_version"].as_u64().unwrap_or(0)),
                Err(error) if error.status() == Some(reqwest::StatusCode::FORBIDDEN) => {
                    eprintln!(
                        "confmgr run: no read access to secret/metadata/{path}; watching \
                         secret/{path} through its data instead"
                    );
                    self.denied_metadata.insert(path.to_owned());
                }
                Err(error) => {
                    return Err(error).with_context(|| format!("cannot check secret/{path}"))
                }
            }
        }
        Ok(fetch(&self.api, path).await?.version)
    }

    async fn poll(&mut self) -> Option<Restart> {
        let mut changes = Vec::new();
        let paths = self.paths.clone();
        for (path, known) in paths.iter().zip(self.versions.clone()) {
            match self.current_version(path).await {
                Ok(current) => {
                    if self.unreachable {
                        self.unreachable = false;
                        eprintln!("confmgr run: the server answers again");
                    }
                    if current != known {
                        changes.push(format!(
                            "secret/{path} changed (version {known} → {current})"
                        ));
                    }
                }
                Err(error) => {
                    self.warn_poll_failure(&error);
                    return None;
                }
            }
        }
        if changes.is_empty() {
            return None;
        }
        let secrets = match fetch_all(&self.api, &self.paths).await {
            Ok(secrets) => secrets,
            Err(error) => {
                eprintln!("warning: {error:#}; keeping the command running");
                return None;
            }
        };
        let plan = match build_env(&self.settings, &secrets) {
            Ok(plan) => plan,
            Err(error) => {
                eprintln!("warning: {error:#}; keeping the command running");
                return None;
            }
        };
        plan.print_warnings();
        if let Some(files) = &self.fallback {
            save_fallback(files, &self.paths, &secrets);
        }
        self.versions = secrets.iter().map(|s| s.version).collect();
        Some(Restart {
            changes,
            vars: plan.vars,
        })
    }

    fn warn_poll_failure(&mut self, error: &anyhow::Error) {
        if !unreachable(error) {
            eprintln!("warning: {error:#}; keeping the command running");
        } else if !self.unreachable {
            self.unreachable = true;
            eprintln!("warning: {error:#}; keeping the command running and checking again");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fetched(path: &str, data: Value) -> Fetched {
        Fetched {
            path: path.into(),
            version: 1,
            data: data.as_object().unwrap().clone(),
        }
    }

    fn settings(inherited: &[(&str, &str)]) -> EnvSettings {
        EnvSettings {
            inherited: inherited
                .iter()
                .map(|(k, v)| (OsString::from(k), OsString::from(v)))
                .collect(),
            no_override: false,
            skip_invalid: false,
            pass_token: false,
            token: None,
        }
    }

    fn lookup(plan: &EnvPlan, name: &str) -> Option<String> {
        plan.vars
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.to_string_lossy().into_owned())
    }

    #[test]
    fn env_names() {
        for good in ["A", "_", "DB_PASSWORD", "a1", "_x_9"] {
            assert!(is_env_name(good), "{good}");
        }
        for bad in ["", "1A", "tls.crt", "api-key", "A B", "Ä", "A=B"] {
            assert!(!is_env_name(bad), "{bad}");
        }
    }

    #[test]
    fn later_paths_override_and_secrets_win() {
        let secrets = [
            fetched("app/prod", json!({"A": "prod", "B": "prod", "N": 5})),
            fetched(
                "app/shared",
                json!({"B": "shared", "C": true, "O": {"k": 1}}),
            ),
        ];
        let base = settings(&[("A", "env"), ("HOME", "/h")]);
        let plan = build_env(&base, &secrets).unwrap();
        assert_eq!(lookup(&plan, "A").as_deref(), Some("prod"));
        assert_eq!(lookup(&plan, "B").as_deref(), Some("shared"));
        assert_eq!(lookup(&plan, "N").as_deref(), Some("5"));
        assert_eq!(lookup(&plan, "C").as_deref(), Some("true"));
        assert_eq!(lookup(&plan, "O").as_deref(), Some(r#"{"k":1}"#));
        assert_eq!(lookup(&plan, "HOME").as_deref(), Some("/h"));

        let keep = EnvSettings {
            no_override: true,
            ..base
        };
        let plan = build_env(&keep, &secrets).unwrap();
        assert_eq!(lookup(&plan, "A").as_deref(), Some("env"));
        assert_eq!(lookup(&plan, "B").as_deref(), Some("shared"));
    }

    #[test]
    fn token_variables() {
        let inherited = [("CONFMGR_TOKEN", "c"), ("VAULT_TOKEN", "v"), ("X", "x")];
        let plan = build_env(&settings(&inherited), &[]).unwrap();
        assert_eq!(lookup(&plan, "CONFMGR_TOKEN"), None);
        assert_eq!(lookup(&plan, "VAULT_TOKEN"), None);
        assert_eq!(lookup(&plan, "X").as_deref(), Some("x"));

        let pass = EnvSettings {
            pass_token: true,
            token: Some("from-file".into()),
            ..settings(&inherited)
        };
        let plan = build_env(&pass, &[]).unwrap();
        assert_eq!(lookup(&plan, "CONFMGR_TOKEN").as_deref(), Some("c"));
        assert_eq!(lookup(&plan, "VAULT_TOKEN").as_deref(), Some("v"));
        let pass_file = EnvSettings {
            pass_token: true,
            token: Some("from-file".into()),
            ..settings(&[])
        };
        let plan = build_env(&pass_file, &[]).unwrap();
        assert_eq!(lookup(&plan, "CONFMGR_TOKEN").as_deref(), Some("from-file"));

        // A secret may still deliberately define one of them.
        let secrets = [fetched("app/vault", json!({"VAULT_TOKEN": "for-the-app"}))];
        let plan = build_env(&settings(&inherited), &secrets).unwrap();
        assert_eq!(lookup(&plan, "VAULT_TOKEN").as_deref(), Some("for-the-app"));
    }

    #[test]
    fn invalid_keys_and_values() {
        let secrets = [fetched("app/tls", json!({"tls.crt": "PEM", "OK": "1"}))];
        let error = build_env(&settings(&[]), &secrets).unwrap_err().to_string();
        assert!(error.contains("\"tls.crt\" of secret/app/tls"), "{error}");
        assert!(!error.contains("PEM"), "{error}");
        let skip = EnvSettings {
            skip_invalid: true,
            ..settings(&[])
        };
        let plan = build_env(&skip, &secrets).unwrap();
        assert_eq!(lookup(&plan, "OK").as_deref(), Some("1"));
        assert_eq!(lookup(&plan, "tls.crt"), None);
        assert_eq!(plan.warnings.len(), 1);

        let nul = [fetched("app/x", json!({"K": "a\u{0}b"}))];
        let error = build_env(&settings(&[]), &nul).unwrap_err().to_string();
        assert!(error.contains("NUL"), "{error}");
    }

    fn parse(args: &[&str]) -> RunArgs {
        use clap::Parser;
        let cli =
            crate::cli::Cli::try_parse_from(["confmgr", "run"].iter().chain(args.iter()).copied())
                .unwrap();
        let crate::cli::Command::Run(args) = cli.command else {
            panic!("not run");
        };
        args
    }

    #[test]
    fn command_line() {
        // Everything after `--` belongs to the command, flags included.
        let args = parse(&[
            "--path", "a", "--path", "b", "--", "sh", "-c", "x", "--path", "y",
        ]);
        assert_eq!(args.paths, ["a", "b"]);
        assert_eq!(args.command, ["sh", "-c", "x", "--path", "y"]);
        assert_eq!((args.watch_interval.as_str(), args.watch), ("10s", false));
        // `--` may be left out when the command does not start with `-`.
        let args = parse(&["--watch", "--path", "a", "env", "-i"]);
        assert_eq!(args.command, ["env", "-i"]);
        assert!(args.watch);
    }

    #[test]
    fn exit_codes() {
        assert_eq!(exit_code(ExitStatus::from_raw(7 << 8)), 7);
        assert_eq!(exit_code(ExitStatus::from_raw(15)), 128 + 15);
        assert_eq!(signal_name(SIGTERM), "SIGTERM");
    }
}
