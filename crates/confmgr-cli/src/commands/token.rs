//! `confmgr token lookup|revoke`.

use super::Ctx;
use crate::cli::TokenCommand;
use crate::clock::rfc3339;
use crate::output::{duration, fields, joined, scalar, strings, Report};
use crate::session::{self, TokenSource};
use anyhow::{bail, Result};
use serde_json::{json, Value};

pub async fn run(ctx: &Ctx, command: TokenCommand) -> Result<Report> {
    match command {
        TokenCommand::Lookup { accessor } => lookup(ctx, accessor.as_deref()).await,
        TokenCommand::Revoke { self_: true, .. } => revoke_self(ctx).await,
        TokenCommand::Revoke {
            accessor: Some(accessor),
            ..
        } => revoke_accessor(ctx, &accessor).await,
        TokenCommand::Revoke { .. } => bail!("give --self or --accessor"),
    }
}

async fn lookup(ctx: &Ctx, accessor: Option<&str>) -> Result<Report> {
    let api = ctx.authed()?;
    let body = match accessor {
        None => api.get("auth/token/lookup-self").await?,
        Some(accessor) => {
            match api
                .post(
                    "auth/token/lookup-accessor",
                    &json!({ "accessor": accessor }),
                )
                .await
            {
                Err(error) if error.is_not_found() => {
                    return Err(crate::exit::not_found(format!(
                        "no token with accessor {accessor}"
                    )))
                }
                other => other?.unwrap_or(Value::Null),
            }
        }
    };
    Ok(lookup_report(&body["data"]))
}

/// The lookup answer without the token itself (`id`).
fn lookup_report(data: &Value) -> Report {
    let mut json = data.clone();
    if let Some(map) = json.as_object_mut() {
        map.remove("id");
    }
    let text = fields(&[
        ("accessor", scalar(&data["accessor"])),
        ("display_name", scalar(&data["display_name"])),
        ("policies", joined(&strings(&data["policies"]))),
        ("issuer", scalar(&data["issuer"])),
        ("creation_time", time(&data["creation_time"])),
        ("expire_time", scalar(&data["expire_time"])),
        ("ttl", duration(&data["ttl"])),
    ]);
    Report::new(json, text)
}

async fn revoke_self(ctx: &Ctx) -> Result<Report> {
    let resolved = ctx.token()?;
    ctx.authed()?
        .post("auth/token/revoke-self", &json!({}))
        .await?;
    let mut removed = None;
    if let TokenSource::File(path) = &resolved.source {
        if session::remove_token_file(path)? {
            removed = Some(path.display().to_string());
        }
    }
    let text = match &removed {
        Some(path) => format!("revoked the token in use; removed {path}"),
        None => "revoked the token in use".to_owned(),
    };
    Ok(Report::new(
        json!({ "revoked": "self", "removed_token_file": removed }),
        text,
    ))
}

async fn revoke_accessor(ctx: &Ctx, accessor: &str) -> Result<Report> {
    match ctx
        .authed()?
        .post(
            "auth/token/revoke-accessor",
            &json!({ "accessor": accessor }),
        )
        .await
    {
        Err(error) if error.is_not_found() => {
            return Err(crate::exit::not_found(format!(
                "no token with accessor {accessor}"
            )))
        }
        other => other?,
    };
    Ok(Report::new(
        json!({ "revoked": "accessor", "accessor": accessor }),
        format!("revoked the token with accessor {accessor}"),
    ))
}

/// Unix seconds as UTC RFC 3339; other values as they are.
fn time(value: &Value) -> String {
    match value.as_i64() {
        Some(seconds) => rfc3339(seconds),
        None => scalar(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_times() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_767_225_599), "2025-12-31T23:59:59Z");
        assert_eq!(time(&json!("2030-01-01T00:00:00Z")), "2030-01-01T00:00:00Z");
    }

    #[test]
    fn lookup_never_shows_the_token() {
        let data = json!({
            "id": "cmt.sekrit", "accessor": "acc", "policies": ["default"],
            "display_name": "approle-app", "ttl": 3599, "creation_time": 0,
            "expire_time": null, "issuer": "confmgr",
        });
        let report = lookup_report(&data);
        assert!(!report.text.contains("sekrit"));
        assert!(report.json.get("id").is_none());
        assert_eq!(report.json["accessor"], "acc");
        assert!(report.text.contains("ttl            59m59s\n"));
    }
}
