//! `confmgr kv ...` on mount `secret` (KV v2): get, put, patch, list, metadata, history,
//! rollback, delete, undelete, destroy.
//!
//! Errors name the secret and what to do next, never a value. Exit codes come from the
//! classification in `exit`: a missing secret or version is "not found", a check-and-set
//! mismatch is a "conflict".

use super::Ctx;
use crate::cli::KvCommand;
use crate::dotenv;
use crate::exit;
use crate::http::{segment, Api, ApiError};
use crate::output::{columns, fields, scalar, Report};
use anyhow::{bail, Context, Result};
use serde_json::{json, Map, Value};
use std::io::{IsTerminal, Read};

pub async fn run(ctx: &Ctx, command: KvCommand) -> Result<Report> {
    match command {
        KvCommand::Get {
            path,
            version,
            field,
        } => get(ctx, &path, version, field.as_deref()).await,
        KvCommand::Put { path, pairs, cas } => put(ctx, &path, &pairs, cas).await,
        KvCommand::Patch {
            path,
            pairs,
            unset,
            cas,
        } => patch(ctx, &path, &pairs, &unset, cas).await,
        KvCommand::List { path, recursive } => list(ctx, path.as_deref(), recursive).await,
        KvCommand::Metadata {
            path,
            max_versions,
            cas_required,
            delete_version_after,
            custom_metadata,
        } => {
            let settings = MetadataSettings {
                max_versions,
                cas_required,
                delete_version_after,
                custom_metadata,
            };
            metadata(ctx, &path, settings).await
        }
        KvCommand::History { path } => history(ctx, &path).await,
        KvCommand::Rollback { path, version, cas } => rollback(ctx, &path, version, cas).await,
        KvCommand::Delete {
            path,
            versions,
            all_versions,
        } => delete(ctx, &path, &versions, all_versions).await,
        KvCommand::Undelete { path, versions } => {
            change_versions(ctx, &path, &versions, Change::Undelete).await
        }
        KvCommand::Destroy { path, versions } => {
            change_versions(ctx, &path, &versions, Change::Destroy).await
        }
    }
}

/// `app/prod/db` → `app/prod/db` with each segment encoded; no empty, `.` or `..` segments.
pub fn encode_path(path: &str) -> Result<String> {
    let trimmed = path.trim_matches('/');
    let segments: Vec<&str> = trimmed.split('/').collect();
    if trimmed.is_empty()
        || segments
            .iter()
            .any(|s| s.is_empty() || *s == "." || *s == "..")
    {
        bail!("invalid secret path {path:?}: use segments separated by / such as app/prod/db");
    }
    Ok(segments
        .iter()
        .map(|s| segment(s))
        .collect::<Vec<_>>()
        .join("/"))
}

/// How a path is named in messages: `secret/app/db`.
pub fn shown(path: &str) -> String {
    format!("secret/{}", path.trim_matches('/'))
}

/// The user's path without surrounding slashes, for commands suggested in messages.
fn plain(path: &str) -> &str {
    path.trim_matches('/')
}

/// A JSON value as an environment value: strings as they are, anything else as JSON text.
pub fn env_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// KEY=value lines of a secret's data, in key order.
pub fn env_lines(data: &Map<String, Value>) -> Result<String> {
    let texts: Vec<(&str, String)> = data
        .iter()
        .map(|(key, value)| (key.as_str(), env_text(value)))
        .collect();
    dotenv::render(texts.iter().map(|(k, v)| (*k, v.as_str())))
        .map_err(|problem| anyhow::anyhow!("{problem}; use --format json or yaml"))
}

/// The latest (or a given) version of a secret: its data and version metadata. A missing
/// secret, version, or a deleted or destroyed version is a "not found" error saying which.
pub async fn read(api: &Api, path: &str, version: Option<u64>) -> Result<Value> {
    let mut url = format!("secret/data/{}", encode_path(path)?);
    if let Some(version) = version {
        url.push_str(&format!("?version={version}"));
    }
    match api.get(&url).await {
        Ok(body) => Ok(body["data"].clone()),
        Err(error) if error.is_not_found() => Err(missing(&error, path, version)),
        Err(error) => {
            Err(anyhow::Error::new(error).context(format!("cannot read {}", shown(path))))
        }
    }
}

fn missing(error: &ApiError, path: &str, version: Option<u64>) -> anyhow::Error {
    let meta = &error.body()["data"]["metadata"];
    let (name, p) = (shown(path), plain(path));
    if let Some(gone) = meta["version"].as_u64().filter(|v| *v > 0) {
        if meta["destroyed"] == Value::Bool(true) {
            return exit::not_found(format!(
                "version {gone} of {name} is destroyed and its data is gone; \
                 `confmgr kv history {p}` lists the other versions"
            ));
        }
        return exit::not_found(format!(
            "version {gone} of {name} is deleted; `confmgr kv undelete {p} --version {gone}` \
             restores it"
        ));
    }
    match version {
        Some(v) => exit::not_found(format!(
            "{name} has no version {v}; `confmgr kv history {p}` lists its versions"
        )),
        None => exit::not_found(format!(
            "no secret at {name}; `confmgr kv list` shows what exists"
        )),
    }
}

async fn get(ctx: &Ctx, path: &str, version: Option<u64>, field: Option<&str>) -> Result<Report> {
    let api = ctx.authed()?;
    let found = read(&api, path, version).await?;
    let data = found["data"].as_object().cloned().unwrap_or_default();
    if let Some(field) = field {
        let Some(value) = data.get(field) else {
            return Err(exit::not_found(format!(
                "{} has no key {field:?}; `confmgr kv get {}` lists its keys",
                shown(path),
                plain(path)
            )));
        };
        let raw = field_text(value, std::io::stdout().is_terminal());
        let single: Map<String, Value> = Map::from_iter([(field.to_owned(), value.clone())]);
        let env = env_lines(&single)?;
        return Ok(Report::exact(value.clone(), raw).with_env(env));
    }
    let rows: Vec<(&str, String)> = data
        .iter()
        .map(|(key, value)| (key.as_str(), env_text(value)))
        .collect();
    let text = fields(&rows);
    // The env rendering is only built (and its key names checked) when asked for.
    let env = if ctx.format == crate::output::Format::Env {
        env_lines(&data)?
    } else {
        String::new()
    };
    Ok(Report::new(Value::Object(data), text).with_env(env))
}

/// What `kv get --field` prints (unless another format is asked for): the value itself,
/// exactly, for `$(...)` and `> file`: a string as it is, anything else as compact JSON,
/// with no newline added. Only a terminal gets a newline after a value that does not end
/// in one, so that the prompt starts on a line of its own.
fn field_text(value: &Value, terminal: bool) -> String {
    let mut text = env_text(value);
    if terminal && !text.ends_with('\n') {
        text.push('\n');
    }
    text
}

/// Reads a value for `KEY=-`: a prompt without echo on a terminal, else all of stdin.
fn read_stdin(key: &str) -> Result<String> {
    if std::io::stdin().is_terminal() {
        return rpassword::prompt_password(format!("{key}: "))
            .with_context(|| format!("cannot read the value of {key} from the terminal"));
    }
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .with_context(|| format!("cannot read the value of {key} from standard input"))?;
    Ok(text)
}

/// `KEY=VALUE`, `KEY=@FILE` (the file's exact contents), `KEY=-` (stdin, one trailing
/// newline dropped; once only).
pub fn parse_pairs(
    pairs: &[String],
    stdin: &mut dyn FnMut(&str) -> Result<String>,
) -> Result<Map<String, Value>> {
    let mut data = Map::new();
    let mut stdin_used = false;
    for pair in pairs {
        let Some((key, value)) = pair.split_once('=').filter(|(key, _)| !key.is_empty()) else {
            // Only the part before any `=` could be a key; the whole argument may be a value.
            bail!("an argument is not KEY=VALUE (nor KEY=@FILE or KEY=-): give each as KEY=VALUE");
        };
        if data.contains_key(key) {
            bail!("{key} is given twice");
        }
        let value = if value == "-" {
            if stdin_used {
                bail!("only one value can come from stdin (KEY=-); read the others from files with KEY=@FILE");
            }
            stdin_used = true;
            let text = stdin(key)?;
            let text = text.strip_suffix('\n').unwrap_or(&text);
            text.strip_suffix('\r').unwrap_or(text).to_owned()
        } else if let Some(file) = value.strip_prefix('@') {
            std::fs::read_to_string(file).with_context(|| {
                format!("cannot read the value of {key} from {file} (KEY=@FILE reads a file)")
            })?
        } else {
            value.to_owned()
        };
        data.insert(key.to_owned(), Value::String(value));
    }
    Ok(data)
}

/// Words a failed write: conflicts and check-and-set requirements say what to do.
fn write_error(error: ApiError, path: &str, cas: Option<u64>, verb: &str) -> anyhow::Error {
    let (name, p) = (shown(path), plain(path));
    if error.is_conflict() {
        return match cas {
            Some(0) => exit::conflict(format!(
                "{name} already exists and --cas 0 only creates; nothing written \
                 (`confmgr kv metadata {p}` shows its current version)"
            )),
            Some(n) => exit::conflict(format!(
                "{name} is no longer at version {n} (someone else wrote it); nothing written: \
                 read it again and retry with its current version as --cas"
            )),
            None => exit::conflict(format!("{name} changed meanwhile; nothing written")),
        };
    }
    if error
        .messages()
        .iter()
        .any(|m| m.contains("check-and-set parameter required"))
    {
        return exit::failure(
            exit::Kind::General,
            format!(
                "{name} requires check-and-set: pass --cas with its current version \
                 (`confmgr kv metadata {p}`)"
            ),
        );
    }
    anyhow::Error::new(error).context(format!("cannot {verb} {name}"))
}

fn with_cas(mut body: Value, cas: Option<u64>) -> Value {
    if let Some(cas) = cas {
        body["options"] = json!({ "cas": cas });
    }
    body
}

fn written(path: &str, body: Option<Value>, verb: &str) -> Report {
    let body = body.unwrap_or(Value::Null);
    let version = body["data"]["version"].clone();
    Report::new(
        json!({ "path": plain(path), "version": version }),
        format!("{verb} {} version {version}", shown(path)),
    )
}

async fn put(ctx: &Ctx, path: &str, pairs: &[String], cas: Option<u64>) -> Result<Report> {
    let url = format!("secret/data/{}", encode_path(path)?);
    let data = parse_pairs(pairs, &mut read_stdin)?;
    let api = ctx.authed()?;
    // An unknown outcome (the server lost its database while committing) is settled there.
    let body = api
        .write_kv(&url, &with_cas(json!({ "data": data }), cas))
        .await
        .map_err(|e| write_error(e, path, cas, "write"))?;
    Ok(written(path, body, "wrote"))
}

async fn patch(
    ctx: &Ctx,
    path: &str,
    pairs: &[String],
    unset: &[String],
    cas: Option<u64>,
) -> Result<Report> {
    let url = format!("secret/data/{}", encode_path(path)?);
    let mut data = parse_pairs(pairs, &mut read_stdin)?;
    for key in unset {
        if data.contains_key(key) {
            bail!("{key} is both set and --unset");
        }
        data.insert(key.clone(), Value::Null);
    }
    if data.is_empty() {
        return Err(super::usage_error(
            clap::error::ErrorKind::MissingRequiredArgument,
            "give KEY=VALUE pairs or --unset KEY",
        ));
    }
    let api = ctx.authed()?;
    let body = match api
        .merge_patch(&url, &with_cas(json!({ "data": data }), cas))
        .await
    {
        Err(error) if error.is_not_found() => {
            return Err(exit::not_found(format!(
                "no current version of {} to patch (missing or deleted); \
                 `confmgr kv put` writes a new one",
                shown(path)
            )))
        }
        other => other.map_err(|e| write_error(e, path, cas, "patch"))?,
    };
    Ok(written(path, body, "patched"))
}

async fn list(ctx: &Ctx, path: Option<&str>, recursive: bool) -> Result<Report> {
    let base = match path.map(plain).filter(|p| !p.is_empty()) {
        Some(p) => format!("{}/", encode_path(p)?),
        None => String::new(),
    };
    let name = match path.map(plain).filter(|p| !p.is_empty()) {
        Some(p) => format!("secret/{p}/"),
        None => "secret/".to_owned(),
    };
    let api = ctx.authed()?;
    let top = match api
        .list_or_not_found(&format!("secret/metadata/{base}"))
        .await
    {
        Err(error) if error.is_not_found() => {
            return Err(exit::not_found(format!(
                "nothing under {name}; `confmgr kv list` shows the top level"
            )))
        }
        other => other.with_context(|| format!("cannot list {name}"))?,
    };
    let keys = if recursive {
        let mut found = Vec::new();
        // Depth first, in the server's (sorted) order.
        let mut stack: Vec<(String, Vec<String>)> = vec![(String::new(), top)];
        while let Some((prefix, mut keys)) = stack.pop() {
            if keys.is_empty() {
                continue;
            }
            let key = keys.remove(0);
            stack.push((prefix.clone(), keys));
            let full = format!("{prefix}{key}");
            if let Some(folder) = full.strip_suffix('/') {
                let url = format!("secret/metadata/{base}{}/", encode_path(folder)?);
                let children = api
                    .list(&url)
                    .await
                    .with_context(|| format!("cannot list {name}{full}"))?;
                stack.push((full, children));
            } else {
                found.push(full);
            }
        }
        found
    } else {
        top
    };
    let text: String = keys.iter().map(|k| format!("{k}\n")).collect();
    Ok(Report::new(
        Value::Array(keys.into_iter().map(Value::String).collect()),
        text,
    ))
}

struct MetadataSettings {
    max_versions: Option<u64>,
    cas_required: Option<bool>,
    delete_version_after: Option<String>,
    custom_metadata: Vec<String>,
}

impl MetadataSettings {
    fn body(&self) -> Result<Option<Value>> {
        let mut body = Map::new();
        if let Some(n) = self.max_versions {
            body.insert("max_versions".into(), json!(n));
        }
        if let Some(required) = self.cas_required {
            body.insert("cas_required".into(), json!(required));
        }
        if let Some(after) = &self.delete_version_after {
            body.insert("delete_version_after".into(), json!(after));
        }
        if !self.custom_metadata.is_empty() {
            let custom = parse_pairs(&self.custom_metadata, &mut |_| {
                bail!("custom metadata cannot come from stdin")
            })?;
            body.insert("custom_metadata".into(), Value::Object(custom));
        }
        Ok((!body.is_empty()).then_some(Value::Object(body)))
    }
}

async fn read_metadata(api: &Api, path: &str) -> Result<Value> {
    let url = format!("secret/metadata/{}", encode_path(path)?);
    match api.get(&url).await {
        Ok(body) => Ok(body["data"].clone()),
        Err(error) if error.is_not_found() => Err(exit::not_found(format!(
            "no secret at {}; `confmgr kv list` shows what exists",
            shown(path)
        ))),
        Err(error) => Err(anyhow::Error::new(error)
            .context(format!("cannot read the metadata of {}", shown(path)))),
    }
}

async fn metadata(ctx: &Ctx, path: &str, settings: MetadataSettings) -> Result<Report> {
    let api = ctx.authed()?;
    if let Some(body) = settings.body()? {
        let url = format!("secret/metadata/{}", encode_path(path)?);
        api.post(&url, &body)
            .await
            .with_context(|| format!("cannot change the metadata of {}", shown(path)))?;
    }
    let data = read_metadata(&api, path).await?;
    let custom = data["custom_metadata"]
        .as_object()
        .map(|map| {
            map.iter()
                .map(|(k, v)| format!("{k}={}", env_text(v)))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "-".into());
    let text = fields(&[
        ("path", shown(path)),
        ("current_version", scalar(&data["current_version"])),
        ("oldest_version", scalar(&data["oldest_version"])),
        ("created_time", scalar(&data["created_time"])),
        ("updated_time", scalar(&data["updated_time"])),
        ("max_versions", scalar(&data["max_versions"])),
        ("cas_required", scalar(&data["cas_required"])),
        (
            "delete_version_after",
            scalar(&data["delete_version_after"]),
        ),
        ("custom_metadata", custom),
    ]);
    Ok(Report::new(data, text))
}

async fn history(ctx: &Ctx, path: &str) -> Result<Report> {
    let data = read_metadata(&ctx.authed()?, path).await?;
    let current = data["current_version"].as_u64().unwrap_or(0);
    let mut versions: Vec<(u64, Value)> = data["versions"]
        .as_object()
        .map(|map| {
            map.iter()
                .filter_map(|(k, v)| k.parse::<u64>().ok().map(|n| (n, v.clone())))
                .collect()
        })
        .unwrap_or_default();
    versions.sort_by_key(|(n, _)| *n);
    let when = |value: &Value| match value.as_str() {
        Some("") | None => Value::Null,
        Some(s) => Value::String(s.to_owned()),
    };
    let json_rows: Vec<Value> = versions
        .iter()
        .map(|(n, v)| {
            json!({
                "version": n,
                "created_time": when(&v["created_time"]),
                "deletion_time": when(&v["deletion_time"]),
                "destroyed": v["destroyed"].as_bool().unwrap_or(false),
                "current": *n == current,
            })
        })
        .collect();
    let rows: Vec<Vec<String>> = json_rows
        .iter()
        .map(|row| {
            let version = if row["current"] == true {
                format!("{} (current)", row["version"])
            } else {
                row["version"].to_string()
            };
            vec![
                version,
                scalar(&row["created_time"]),
                scalar(&row["deletion_time"]),
                if row["destroyed"] == true {
                    "yes"
                } else {
                    "no"
                }
                .to_owned(),
            ]
        })
        .collect();
    let text = columns(&["VERSION", "CREATED", "DELETED", "DESTROYED"], &rows);
    Ok(Report::new(Value::Array(json_rows), text))
}

async fn rollback(ctx: &Ctx, path: &str, version: u64, cas: Option<u64>) -> Result<Report> {
    let url = format!("secret/rollback/{}", encode_path(path)?);
    let api = ctx.authed()?;
    let body = match api
        .post(&url, &with_cas(json!({ "version": version }), cas))
        .await
    {
        Err(error) if error.is_not_found() => {
            return Err(exit::not_found(format!(
                "{} has no version {version} (or does not exist); `confmgr kv history {}` \
                 lists its versions",
                shown(path),
                plain(path)
            )))
        }
        other => other.map_err(|e| write_error(e, path, cas, "roll back"))?,
    };
    let new_version = body
        .as_ref()
        .map(|b| b["data"]["version"].clone())
        .unwrap_or(Value::Null);
    Ok(Report::new(
        json!({ "path": plain(path), "version": new_version, "rolled_back_to": version }),
        format!(
            "rolled back {}: version {new_version} holds the data of version {version}",
            shown(path)
        ),
    ))
}

fn joined_versions(versions: &[u64]) -> String {
    versions
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

async fn delete(ctx: &Ctx, path: &str, versions: &[u64], all: bool) -> Result<Report> {
    let encoded = encode_path(path)?;
    let api = ctx.authed()?;
    let name = shown(path);
    if all {
        api.delete(&format!("secret/metadata/{encoded}"))
            .await
            .with_context(|| format!("cannot delete {name}"))?;
        return Ok(Report::new(
            json!({ "path": plain(path), "deleted": "all" }),
            format!("removed {name} with all its versions and metadata (if it existed)"),
        ));
    }
    if versions.is_empty() {
        api.delete(&format!("secret/data/{encoded}"))
            .await
            .with_context(|| format!("cannot delete {name}"))?;
        return Ok(Report::new(
            json!({ "path": plain(path), "deleted": "latest" }),
            format!(
                "deleted the latest version of {name} (if it existed); \
                 `confmgr kv undelete {} --version N` restores it",
                plain(path)
            ),
        ));
    }
    change_versions(ctx, path, versions, Change::Delete).await
}

#[derive(Clone, Copy)]
enum Change {
    Delete,
    Undelete,
    Destroy,
}

async fn change_versions(
    ctx: &Ctx,
    path: &str,
    versions: &[u64],
    change: Change,
) -> Result<Report> {
    let (route, verb, key) = match change {
        Change::Delete => ("delete", "deleted", "deleted"),
        Change::Undelete => ("undelete", "restored", "undeleted"),
        Change::Destroy => ("destroy", "destroyed", "destroyed"),
    };
    let url = format!("secret/{route}/{}", encode_path(path)?);
    let name = shown(path);
    ctx.authed()?
        .post(&url, &json!({ "versions": versions }))
        .await
        .with_context(|| format!("cannot {route} versions of {name}"))?;
    let list = joined_versions(versions);
    let plural = if versions.len() == 1 { "" } else { "s" };
    Ok(Report::new(
        json!({ "path": plain(path), key: versions }),
        format!("{verb} version{plural} {list} of {name}"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_stdin(_: &str) -> Result<String> {
        bail!("stdin not expected")
    }

    #[test]
    fn pairs_must_be_key_value() {
        let parsed = parse_pairs(&["a=1".into(), "b=x=y".into()], &mut no_stdin).unwrap();
        assert_eq!(parsed["a"], "1");
        assert_eq!(parsed["b"], "x=y");
        assert!(parse_pairs(&["novalue".into()], &mut no_stdin).is_err());
        assert!(parse_pairs(&["=v".into()], &mut no_stdin).is_err());
        assert!(parse_pairs(&["a=1".into(), "a=2".into()], &mut no_stdin).is_err());
        // A value given without a key is never echoed back.
        let error = parse_pairs(&["s3cret".into()], &mut no_stdin)
            .unwrap_err()
            .to_string();
        assert!(!error.contains("s3cret"), "{error}");
    }

    #[test]
    fn values_from_files_and_stdin() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cert.pem");
        std::fs::write(&file, "PEM\n").unwrap();
        let mut asked = Vec::new();
        let mut stdin = |key: &str| {
            asked.push(key.to_owned());
            Ok("s3cret\n".to_owned())
        };
        let parsed = parse_pairs(
            &[format!("cert=@{}", file.display()), "password=-".into()],
            &mut stdin,
        )
        .unwrap();
        assert_eq!(parsed["cert"], "PEM\n");
        assert_eq!(parsed["password"], "s3cret");
        assert!(parse_pairs(&["a=-".into(), "b=-".into()], &mut stdin).is_err());
        assert_eq!(asked, ["password", "a"]);
    }

    #[test]
    fn paths() {
        assert_eq!(encode_path("app/prod/db").unwrap(), "app/prod/db");
        assert_eq!(encode_path("/app/a b/").unwrap(), "app/a%20b");
        for bad in ["", "/", "a//b", "a/../b", "."] {
            assert!(encode_path(bad).is_err(), "{bad}");
        }
        assert_eq!(shown("/app/db/"), "secret/app/db");
    }

    #[test]
    fn field_values_are_printed_exactly() {
        let pem = "-----BEGIN X-----\nabc\n-----END X-----\n";
        for terminal in [false, true] {
            assert_eq!(field_text(&json!(pem), terminal), pem);
        }
        assert_eq!(field_text(&json!("pw"), false), "pw");
        assert_eq!(field_text(&json!("pw"), true), "pw\n");
        assert_eq!(field_text(&json!("a \"b\"\n c"), false), "a \"b\"\n c");
        assert_eq!(field_text(&json!(5432), false), "5432");
        assert_eq!(
            field_text(&json!({"a": [1, true]}), false),
            r#"{"a":[1,true]}"#
        );
        assert_eq!(field_text(&json!(null), false), "null");
    }

    #[test]
    fn env_rendering() {
        let data: Map<String, Value> =
            serde_json::from_str(r#"{"A":"x y","N":5,"O":{"k":true}}"#).unwrap();
        assert_eq!(
            env_lines(&data).unwrap(),
            "A='x y'\nN=5\nO='{\"k\":true}'\n"
        );
        let bad: Map<String, Value> = serde_json::from_str(r#"{"a-b":"v"}"#).unwrap();
        let error = env_lines(&bad).unwrap_err().to_string();
        assert!(error.contains("use --format json or yaml"), "{error}");
    }
}
