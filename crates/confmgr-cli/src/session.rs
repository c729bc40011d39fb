//! Which server and which token: address and token resolution, and the token file that
//! `confmgr login` writes.
//!
//! Address: `--addr` > `CONFMGR_ADDR` > `VAULT_ADDR` > `http://127.0.0.1:8200`.
//! Token: `--token` > `CONFMGR_TOKEN` > `VAULT_TOKEN` > `<config dir>/confmgr/token`, where the
//! config dir is `$CONFMGR_CONFIG_DIR`, else `$XDG_CONFIG_HOME`, else `~/.config`.

use crate::files;
use anyhow::{bail, Context, Result};
use std::fmt;
use std::path::{Path, PathBuf};

pub const DEFAULT_ADDR: &str = "http://127.0.0.1:8200";

/// Reads an environment variable; empty counts as unset. Tests pass a fake.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

pub fn process_env(key: &str) -> Option<String> {
    std::env::var(key).ok().filter(|value| !value.is_empty())
}

pub fn resolve_addr(flag: Option<&str>, env: EnvLookup) -> String {
    flag.map(str::to_owned)
        .or_else(|| env("CONFMGR_ADDR"))
        .or_else(|| env("VAULT_ADDR"))
        .unwrap_or_else(|| DEFAULT_ADDR.to_owned())
        .trim_end_matches('/')
        .to_owned()
}

/// TLS towards the server: a private CA to trust instead of the built-in roots, and a client
/// certificate to present (`confmgr login --method cert`, or a server in `required` mode).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientTls {
    pub ca_cert: Option<PathBuf>,
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
}

/// Flag > `CONFMGR_*` > Vault's variable, for each of the three files.
pub fn resolve_tls(
    ca_cert: Option<&Path>,
    client_cert: Option<&Path>,
    client_key: Option<&Path>,
    env: EnvLookup,
) -> ClientTls {
    let pick = |flag: Option<&Path>, ours: &str, vaults: &str| {
        flag.map(Path::to_path_buf)
            .or_else(|| env(ours).map(PathBuf::from))
            .or_else(|| env(vaults).map(PathBuf::from))
    };
    ClientTls {
        ca_cert: pick(ca_cert, "CONFMGR_CACERT", "VAULT_CACERT"),
        client_cert: pick(client_cert, "CONFMGR_CLIENT_CERT", "VAULT_CLIENT_CERT"),
        client_key: pick(client_key, "CONFMGR_CLIENT_KEY", "VAULT_CLIENT_KEY"),
    }
}

/// A token. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// Where the token in use came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenSource {
    Flag,
    Env(&'static str),
    File(PathBuf),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedToken {
    pub token: Token,
    pub source: TokenSource,
}

/// The token from the flag or the environment, without looking at the token file.
pub fn token_from_flag_or_env(flag: Option<&str>, env: EnvLookup) -> Option<ResolvedToken> {
    if let Some(value) = flag.filter(|v| !v.is_empty()) {
        return Some(ResolvedToken {
            token: Token::new(value),
            source: TokenSource::Flag,
        });
    }
    ["CONFMGR_TOKEN", "VAULT_TOKEN"]
        .into_iter()
        .find_map(|key| {
            env(key).map(|value| ResolvedToken {
                token: Token::new(value),
                source: TokenSource::Env(key),
            })
        })
}

/// Flag, environment, then the token file. `Ok(None)` when there is no token anywhere.
pub fn resolve_token(flag: Option<&str>, env: EnvLookup) -> Result<Option<ResolvedToken>> {
    if let Some(found) = token_from_flag_or_env(flag, env) {
        return Ok(Some(found));
    }
    let path = token_path(env)?;
    Ok(read_token_file(&path)?.map(|token| ResolvedToken {
        token,
        source: TokenSource::File(path),
    }))
}

/// `$CONFMGR_CONFIG_DIR`, else `$XDG_CONFIG_HOME`, else `$HOME/.config`.
pub fn config_dir(env: EnvLookup) -> Result<PathBuf> {
    if let Some(dir) = env("CONFMGR_CONFIG_DIR") {
        return Ok(PathBuf::from(dir));
    }
    // The XDG spec says a relative value is invalid and must be ignored.
    if let Some(dir) = env("XDG_CONFIG_HOME").filter(|d| Path::new(d).is_absolute()) {
        return Ok(PathBuf::from(dir));
    }
    match env("HOME") {
        Some(home) => Ok(PathBuf::from(home).join(".config")),
        None => bail!("cannot find a config directory: set CONFMGR_CONFIG_DIR or HOME"),
    }
}

pub fn token_path(env: EnvLookup) -> Result<PathBuf> {
    Ok(config_dir(env)?.join("confmgr").join("token"))
}

pub fn read_token_file(path: &Path) -> Result<Option<Token>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(error).with_context(|| format!("cannot read {}", path.display())),
    };
    files::warn_if_shared(path);
    let token = text.trim();
    if token.is_empty() {
        return Ok(None);
    }
    Ok(Some(Token::new(token)))
}

/// Writes the token file (directory 0700, file 0600, replaced atomically).
pub fn store_token(path: &Path, token: &Token) -> Result<()> {
    if let Some(dir) = path.parent() {
        files::create_private_dir(dir)?;
    }
    files::write_private(path, format!("{}\n", token.expose()).as_bytes())
}

pub fn remove_token_file(path: &Path) -> Result<bool> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(error) => Err(error).with_context(|| format!("cannot remove {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::os::unix::fs::PermissionsExt;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |key| map.get(key).cloned().filter(|v| !v.is_empty())
    }

    #[test]
    fn address_precedence() {
        let none = env_of(&[]);
        assert_eq!(resolve_addr(None, &none), DEFAULT_ADDR);
        let vault = env_of(&[("VAULT_ADDR", "http://vault:8200/")]);
        assert_eq!(resolve_addr(None, &vault), "http://vault:8200");
        let both = env_of(&[("VAULT_ADDR", "http://v"), ("CONFMGR_ADDR", "http://c")]);
        assert_eq!(resolve_addr(None, &both), "http://c");
        assert_eq!(resolve_addr(Some("http://flag"), &both), "http://flag");
        let empty = env_of(&[("CONFMGR_ADDR", ""), ("VAULT_ADDR", "http://v")]);
        assert_eq!(resolve_addr(None, &empty), "http://v");
    }

    #[test]
    fn config_dir_precedence() {
        let all = env_of(&[
            ("CONFMGR_CONFIG_DIR", "/c"),
            ("XDG_CONFIG_HOME", "/x"),
            ("HOME", "/h"),
        ]);
        assert_eq!(config_dir(&all).unwrap(), PathBuf::from("/c"));
        let xdg = env_of(&[("XDG_CONFIG_HOME", "/x"), ("HOME", "/h")]);
        assert_eq!(config_dir(&xdg).unwrap(), PathBuf::from("/x"));
        let relative_xdg = env_of(&[("XDG_CONFIG_HOME", "rel"), ("HOME", "/h")]);
        assert_eq!(
            config_dir(&relative_xdg).unwrap(),
            PathBuf::from("/h/.config")
        );
        assert_eq!(
            token_path(&relative_xdg).unwrap(),
            PathBuf::from("/h/.config/confmgr/token")
        );
        assert!(config_dir(&env_of(&[])).is_err());
    }

    #[test]
    fn token_precedence() {
        let dir = tempfile::tempdir().unwrap();
        let dir_str = dir.path().to_str().unwrap();
        let path = dir.path().join("confmgr/token");
        store_token(&path, &Token::new("from-file")).unwrap();

        let only_file = env_of(&[("CONFMGR_CONFIG_DIR", dir_str)]);
        let found = resolve_token(None, &only_file).unwrap().unwrap();
        assert_eq!(found.token.expose(), "from-file");
        assert_eq!(found.source, TokenSource::File(path.clone()));

        let vault = env_of(&[("CONFMGR_CONFIG_DIR", dir_str), ("VAULT_TOKEN", "v")]);
        let found = resolve_token(None, &vault).unwrap().unwrap();
        assert_eq!(
            (found.token.expose(), found.source),
            ("v", TokenSource::Env("VAULT_TOKEN"))
        );

        let both = env_of(&[
            ("CONFMGR_CONFIG_DIR", dir_str),
            ("VAULT_TOKEN", "v"),
            ("CONFMGR_TOKEN", "c"),
        ]);
        let found = resolve_token(None, &both).unwrap().unwrap();
        assert_eq!(
            (found.token.expose(), found.source),
            ("c", TokenSource::Env("CONFMGR_TOKEN"))
        );
        let found = resolve_token(Some("f"), &both).unwrap().unwrap();
        assert_eq!(
            (found.token.expose(), found.source),
            ("f", TokenSource::Flag)
        );

        let empty_dir = tempfile::tempdir().unwrap();
        let nothing = env_of(&[("CONFMGR_CONFIG_DIR", empty_dir.path().to_str().unwrap())]);
        assert!(resolve_token(None, &nothing).unwrap().is_none());
    }

    #[test]
    fn token_file_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cfg/confmgr/token");
        store_token(&path, &Token::new("secret")).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        assert_eq!(read_token_file(&path).unwrap(), Some(Token::new("secret")));
        assert!(remove_token_file(&path).unwrap());
        assert!(!remove_token_file(&path).unwrap());
    }

    #[test]
    fn token_debug_is_redacted() {
        assert_eq!(format!("{:?}", Token::new("cmt.abc")), "Token(<redacted>)");
    }
}
