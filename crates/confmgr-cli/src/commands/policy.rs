//! `confmgr policy write|read|list|delete`: `sys/policies/acl/:name`.

use super::Ctx;
use crate::cli::PolicyCommand;
use crate::http::segment;
use crate::input::read_text;
use crate::names::check_name;
use crate::output::Report;
use anyhow::{bail, Result};
use serde_json::{json, Value};
use std::path::Path;

pub async fn run(ctx: &Ctx, command: PolicyCommand) -> Result<Report> {
    match command {
        PolicyCommand::Write { name, file } => write(ctx, &name, &file).await,
        PolicyCommand::Read { name } => read(ctx, &name).await,
        PolicyCommand::List => list(ctx).await,
        PolicyCommand::Delete { name } => delete(ctx, &name).await,
    }
}

fn url(name: &str) -> Result<String> {
    check_name("policy", name)?;
    Ok(format!("sys/policies/acl/{}", segment(name)))
}

async fn write(ctx: &Ctx, name: &str, file: &Path) -> Result<Report> {
    let url = url(name)?;
    let text = read_text(file)?;
    if text.trim().is_empty() {
        bail!("the policy text is empty");
    }
    ctx.authed()?.put(&url, &json!({ "policy": text })).await?;
    Ok(Report::new(
        json!({ "name": name, "written": true }),
        format!("wrote policy {name}"),
    ))
}

async fn read(ctx: &Ctx, name: &str) -> Result<Report> {
    let url = url(name)?;
    let body = match ctx.authed()?.get(&url).await {
        Err(error) if error.is_not_found() => {
            return Err(crate::exit::not_found(format!("no policy named {name}")))
        }
        other => other?,
    };
    let data = &body["data"];
    // Vault answers `rules` on the older sys/policy route; accept either.
    let text = data["policy"]
        .as_str()
        .or_else(|| data["rules"].as_str())
        .unwrap_or_default()
        .to_owned();
    Ok(Report::new(
        json!({ "name": data["name"].as_str().unwrap_or(name), "policy": text }),
        text,
    ))
}

async fn list(ctx: &Ctx) -> Result<Report> {
    let keys = ctx.authed()?.list("sys/policies/acl").await?;
    let text: String = keys.iter().map(|k| format!("{k}\n")).collect();
    Ok(Report::new(
        Value::Array(keys.into_iter().map(Value::String).collect()),
        text,
    ))
}

async fn delete(ctx: &Ctx, name: &str) -> Result<Report> {
    let url = url(name)?;
    match ctx.authed()?.delete(&url).await {
        Err(error) if error.is_not_found() => {
            return Err(crate::exit::not_found(format!("no policy named {name}")))
        }
        other => other?,
    };
    Ok(Report::new(
        json!({ "name": name, "deleted": true }),
        format!("deleted policy {name}"),
    ))
}
