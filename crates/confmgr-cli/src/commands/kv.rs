//! `confmgr kv get|put` on mount `secret` (KV v2).

use super::Ctx;
use crate::cli::KvCommand;
use crate::http::segment;
use crate::output::{fields, Report};
use anyhow::{bail, Context, Result};
use serde_json::{json, Map, Value};
use std::io::Read;

pub async fn run(ctx: &Ctx, command: KvCommand) -> Result<Report> {
    match command {
        KvCommand::Get { path, version } => get(ctx, &path, version).await,
        KvCommand::Put { path, pairs } => put(ctx, &path, &pairs).await,
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
        bail!("invalid secret path {path:?}");
    }
    Ok(segments
        .iter()
        .map(|s| segment(s))
        .collect::<Vec<_>>()
        .join("/"))
}

async fn get(ctx: &Ctx, path: &str, version: Option<u64>) -> Result<Report> {
    let mut url = format!("secret/data/{}", encode_path(path)?);
    if let Some(version) = version {
        url.push_str(&format!("?version={version}"));
    }
    let body = match ctx.authed()?.get(&url).await {
        Err(error) if error.is_not_found() => bail!("no secret at secret/{path}"),
        other => other?,
    };
    let data = body["data"]["data"].clone();
    let rows: Vec<(String, String)> = data
        .as_object()
        .map(|map| {
            map.iter()
                .map(|(key, value)| {
                    let text = match value {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    (key.clone(), text)
                })
                .collect()
        })
        .unwrap_or_default();
    let borrowed: Vec<(&str, String)> = rows.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    Ok(Report::new(data, fields(&borrowed)))
}

async fn put(ctx: &Ctx, path: &str, pairs: &[String]) -> Result<Report> {
    let url = format!("secret/data/{}", encode_path(path)?);
    let data = parse_pairs(pairs, &mut || {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read standard input")?;
        Ok(text)
    })?;
    let body = ctx
        .authed()?
        .post(&url, &json!({ "data": data }))
        .await?
        .unwrap_or(Value::Null);
    let version = body["data"]["version"].clone();
    Ok(Report::new(
        json!({ "path": path, "version": version }),
        format!("wrote secret/{path} version {version}"),
    ))
}

/// `KEY=VALUE`, `KEY=@FILE` (the file's contents), `KEY=-` (stdin, one trailing newline
/// dropped; once only).
pub fn parse_pairs(
    pairs: &[String],
    stdin: &mut dyn FnMut() -> Result<String>,
) -> Result<Map<String, Value>> {
    let mut data = Map::new();
    let mut stdin_used = false;
    for pair in pairs {
        let Some((key, value)) = pair.split_once('=').filter(|(key, _)| !key.is_empty()) else {
            bail!("{pair:?} is not KEY=VALUE");
        };
        let value = if value == "-" {
            if stdin_used {
                bail!("only one value can come from stdin");
            }
            stdin_used = true;
            let text = stdin()?;
            let text = text.strip_suffix('\n').unwrap_or(&text);
            text.strip_suffix('\r').unwrap_or(text).to_owned()
        } else if let Some(file) = value.strip_prefix('@') {
            std::fs::read_to_string(file)
                .with_context(|| format!("cannot read the value of {key} from {file}"))?
        } else {
            value.to_owned()
        };
        data.insert(key.to_owned(), Value::String(value));
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_stdin() -> Result<String> {
        bail!("stdin not expected")
    }

    #[test]
    fn pairs_must_be_key_value() {
        let parsed = parse_pairs(&["a=1".into(), "b=x=y".into()], &mut no_stdin).unwrap();
        assert_eq!(parsed["a"], "1");
        assert_eq!(parsed["b"], "x=y");
        assert!(parse_pairs(&["novalue".into()], &mut no_stdin).is_err());
        assert!(parse_pairs(&["=v".into()], &mut no_stdin).is_err());
    }

    #[test]
    fn values_from_files_and_stdin() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cert.pem");
        std::fs::write(&file, "PEM\n").unwrap();
        let mut stdin = || Ok("s3cret\n".to_owned());
        let parsed = parse_pairs(
            &[format!("cert=@{}", file.display()), "password=-".into()],
            &mut stdin,
        )
        .unwrap();
        assert_eq!(parsed["cert"], "PEM\n");
        assert_eq!(parsed["password"], "s3cret");
        assert!(parse_pairs(&["a=-".into(), "b=-".into()], &mut stdin).is_err());
    }

    #[test]
    fn paths() {
        assert_eq!(encode_path("app/prod/db").unwrap(), "app/prod/db");
        assert_eq!(encode_path("/app/a b/").unwrap(), "app/a%20b");
        for bad in ["", "/", "a//b", "a/../b", "."] {
            assert!(encode_path(bad).is_err(), "{bad}");
        }
    }
}
