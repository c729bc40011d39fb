//! `confmgr client ...`: API clients are AppRole roles under `auth/approle/role/:name`; a
//! client's id is the `role_id`, its secrets are `secret_id`s, known later by accessor.

use super::Ctx;
use crate::cli::{ClientCommand, ClientCreateArgs};
use crate::client_spec::{ClientSpec, RawClientSpec, RawTtl};
use crate::files;
use crate::http::{segment, Api};
use crate::import::{self, Progress};
use crate::input::read_text;
use crate::names::check_name;
use crate::output::{columns, duration, fields, joined, scalar, strings, Report};
use anyhow::{bail, Context, Result};
use serde::Serialize;
use serde_json::{json, Value};
use std::io::Write;
use std::path::Path;

const SHOWN_ONCE: &str =
    "warning: the client secret is shown only once; store it now (e.g. in a CI secret store)";

/// A client's credentials, as printed once.
#[derive(Debug, Serialize)]
pub struct Credentials {
    pub name: String,
    pub client_id: String,
    pub secret: String,
    pub secret_accessor: String,
    pub secret_ttl: Value,
    pub secret_uses: Value,
}

pub async fn run(ctx: &Ctx, command: ClientCommand) -> Result<Report> {
    match command {
        ClientCommand::Create(args) => create(ctx, &args).await,
        ClientCommand::List => list(ctx).await,
        ClientCommand::Show { name } => show(ctx, &name).await,
        ClientCommand::RotateSecret { name } => rotate_secret(ctx, &name).await,
        ClientCommand::RevokeSecret { name, accessor } => {
            revoke_secret(ctx, &name, &accessor).await
        }
        ClientCommand::Delete { name } => delete(ctx, &name).await,
        ClientCommand::Import { file, secrets_out } => {
            import(ctx, &file, secrets_out.as_deref()).await
        }
    }
}

fn role_url(name: &str) -> Result<String> {
    check_name("client", name)?;
    Ok(format!("auth/approle/role/{}", segment(name)))
}

fn spec_from_args(args: &ClientCreateArgs) -> Result<ClientSpec> {
    RawClientSpec {
        name: args.name.clone(),
        policies: args.policies.clone(),
        token_ttl: Some(RawTtl::Text(args.token_ttl.clone())),
        token_max_ttl: Some(RawTtl::Text(args.token_max_ttl.clone())),
        secret_ttl: Some(RawTtl::Text(args.secret_ttl.clone())),
        secret_uses: Some(args.secret_uses),
        bound_cidrs: args.bound_cidrs.clone(),
        allowed_common_names: args.cert_cns.clone(),
        allowed_dns_sans: args.cert_dns.clone(),
        allowed_uri_sans: args.cert_uris.clone(),
    }
    .validate()
}

/// True if the client exists; unknown (false) when the caller may not read it.
async fn exists(api: &Api, name: &str) -> Result<bool> {
    match api.get(&role_url(name)?).await {
        Ok(_) => Ok(true),
        Err(error) if error.is_not_found() => Ok(false),
        Err(error) if error.status() == Some(reqwest::StatusCode::FORBIDDEN) => Ok(false),
        Err(error) => Err(error.into()),
    }
}

/// Role, then its id, then a first secret.
async fn provision(api: &Api, spec: &ClientSpec) -> Result<Credentials> {
    let url = role_url(&spec.name)?;
    api.post(&url, &spec.role_body()).await?;
    let client_id = role_id(api, &spec.name).await?;
    new_secret(api, &spec.name, client_id).await
}

async fn role_id(api: &Api, name: &str) -> Result<String> {
    let body = api.get(&format!("{}/role-id", role_url(name)?)).await?;
    body["data"]["role_id"]
        .as_str()
        .map(str::to_owned)
        .context("the server answered no data.role_id")
}

async fn new_secret(api: &Api, name: &str, client_id: String) -> Result<Credentials> {
    let url = format!("{}/secret-id", role_url(name)?);
    let body = match api.post(&url, &json!({})).await {
        Err(error) if error.is_not_found() => {
            return Err(crate::exit::not_found(format!("no client named {name}")))
        }
        other => other?.unwrap_or(Value::Null),
    };
    let data = &body["data"];
    let text = |key: &str| -> Result<String> {
        data[key]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("the server answered no data.{key}"))
    };
    Ok(Credentials {
        name: name.to_owned(),
        client_id,
        secret: text("secret_id")?,
        secret_accessor: text("secret_id_accessor")?,
        secret_ttl: data["secret_id_ttl"].clone(),
        secret_uses: data["secret_id_num_uses"].clone(),
    })
}

fn credentials_report(headline: String, credentials: &Credentials) -> Result<Report> {
    let text = format!(
        "{headline}\n{}",
        fields(&[
            ("client_id", credentials.client_id.clone()),
            ("secret", credentials.secret.clone()),
            ("secret_accessor", credentials.secret_accessor.clone()),
        ])
    );
    Ok(Report::new(serde_json::to_value(credentials)?, text))
}

async fn create(ctx: &Ctx, args: &ClientCreateArgs) -> Result<Report> {
    let spec = spec_from_args(args)?;
    let api = ctx.authed()?;
    if exists(&api, &spec.name).await? {
        bail!(
            "client {} already exists (use `confmgr client rotate-secret {}` for a new secret)",
            spec.name,
            spec.name
        );
    }
    let credentials = provision(&api, &spec).await?;
    eprintln!("{SHOWN_ONCE}");
    credentials_report(format!("created client {}", spec.name), &credentials)
}

async fn list(ctx: &Ctx) -> Result<Report> {
    let names = ctx.authed()?.list("auth/approle/role").await?;
    let text: String = names.iter().map(|n| format!("{n}\n")).collect();
    Ok(Report::new(json!(names), text))
}

async fn show(ctx: &Ctx, name: &str) -> Result<Report> {
    let api = ctx.authed()?;
    let url = role_url(name)?;
    let body = match api.get(&url).await {
        Err(error) if error.is_not_found() => {
            return Err(crate::exit::not_found(format!("no client named {name}")))
        }
        other => other?,
    };
    let data = &body["data"];
    let client_id = match data["role_id"].as_str() {
        Some(id) => id.to_owned(),
        None => role_id(&api, name).await?,
    };
    let accessors = api.list(&format!("{url}/secret-id")).await?;
    let json = json!({
        "name": name,
        "client_id": client_id,
        "issuer": data["issuer"],
        "policies": data["token_policies"],
        "token_ttl": data["token_ttl"],
        "token_max_ttl": data["token_max_ttl"],
        "secret_ttl": data["secret_id_ttl"],
        "secret_uses": data["secret_id_num_uses"],
        "bound_cidrs": data["secret_id_bound_cidrs"],
        "token_bound_cidrs": data["token_bound_cidrs"],
        "allowed_common_names": data["allowed_common_names"],
        "allowed_dns_sans": data["allowed_dns_sans"],
        "allowed_uri_sans": data["allowed_uri_sans"],
        "secret_accessors": accessors,
    });
    let uses = match data["secret_id_num_uses"].as_u64() {
        Some(0) => "0 (unlimited)".to_owned(),
        _ => scalar(&data["secret_id_num_uses"]),
    };
    let secret_ttl = match data["secret_id_ttl"].as_u64() {
        Some(0) => "0s (no expiry)".to_owned(),
        _ => duration(&data["secret_id_ttl"]),
    };
    let text = fields(&[
        ("name", name.to_owned()),
        ("client_id", client_id),
        ("issuer", scalar(&data["issuer"])),
        ("policies", joined(&strings(&data["token_policies"]))),
        ("token_ttl", duration(&data["token_ttl"])),
        ("token_max_ttl", duration(&data["token_max_ttl"])),
        ("secret_ttl", secret_ttl),
        ("secret_uses", uses),
        (
            "bound_cidrs",
            joined(&strings(&data["secret_id_bound_cidrs"])),
        ),
        (
            "token_bound_cidrs",
            joined(&strings(&data["token_bound_cidrs"])),
        ),
        (
            "cert_common_names",
            joined(&strings(&data["allowed_common_names"])),
        ),
        ("cert_dns_sans", joined(&strings(&data["allowed_dns_sans"]))),
        ("cert_uri_sans", joined(&strings(&data["allowed_uri_sans"]))),
        ("secret_accessors", joined(&accessors)),
    ]);
    Ok(Report::new(json, text))
}

async fn rotate_secret(ctx: &Ctx, name: &str) -> Result<Report> {
    let api = ctx.authed()?;
    let url = role_url(name)?;
    let client_id = match role_id(&api, name).await {
        Err(error)
            if error
                .downcast_ref::<crate::http::ApiError>()
                .is_some_and(|e| e.is_not_found()) =>
        {
            return Err(crate::exit::not_found(format!("no client named {name}")))
        }
        other => other?,
    };
    // Knowing the old accessors lets the hint name them; not being allowed to list is fine.
    let old = api
        .list(&format!("{url}/secret-id"))
        .await
        .unwrap_or_default();
    let credentials = new_secret(&api, name, client_id).await?;
    eprintln!("{SHOWN_ONCE}");
    eprintln!(
        "hint: the previous secrets stay valid. After deploying the new one, revoke the old:"
    );
    if old.is_empty() {
        eprintln!("  confmgr client show {name}    (lists the accessors)");
    }
    for accessor in &old {
        eprintln!("  confmgr client revoke-secret {name} {accessor}");
    }
    let mut report = credentials_report(format!("new secret for client {name}"), &credentials)?;
    report.json["previous_secret_accessors"] = json!(old);
    Ok(report)
}

async fn revoke_secret(ctx: &Ctx, name: &str, accessor: &str) -> Result<Report> {
    let url = format!("{}/secret-id-accessor/destroy", role_url(name)?);
    match ctx
        .authed()?
        .post(&url, &json!({ "secret_id_accessor": accessor }))
        .await
    {
        Err(error) if error.is_not_found() => {
            bail!("client {name} has no secret with accessor {accessor}")
        }
        other => other?,
    };
    Ok(Report::new(
        json!({ "name": name, "secret_accessor": accessor, "revoked": true }),
        format!("revoked secret {accessor} of client {name}"),
    ))
}

async fn delete(ctx: &Ctx, name: &str) -> Result<Report> {
    match ctx.authed()?.delete(&role_url(name)?).await {
        Err(error) if error.is_not_found() => {
            return Err(crate::exit::not_found(format!("no client named {name}")))
        }
        other => other?,
    };
    Ok(Report::new(
        json!({ "name": name, "deleted": true }),
        format!("deleted client {name}"),
    ))
}

fn indent(lines: &str) -> String {
    lines
        .lines()
        .map(|line| format!("  {line}"))
        .collect::<Vec<_>>()
        .join("\n")
}

async fn import(ctx: &Ctx, file: &Path, secrets_out: Option<&Path>) -> Result<Report> {
    let text = read_text(file)?;
    let format = import::detect(file, &text);
    let specs = import::parse(&text, format).map_err(|error| {
        anyhow::anyhow!(
            "invalid import file {} (nothing was created):\n{}",
            file.display(),
            indent(&format!("{error:#}"))
        )
    })?;
    let api = ctx.authed()?;
    let existing = api.list("auth/approle/role").await?;
    let clashes: Vec<String> = specs
        .iter()
        .enumerate()
        .filter(|(_, spec)| existing.contains(&spec.name))
        .map(|(i, spec)| {
            format!(
                "entry {} of {} ({:?}): a client with this name already exists",
                i + 1,
                specs.len(),
                spec.name
            )
        })
        .collect();
    if !clashes.is_empty() {
        bail!(
            "cannot import {} (nothing was created):\n{}",
            file.display(),
            indent(&clashes.join("\n"))
        );
    }
    // Opened before anything is created, so a bad path cannot lose the secrets.
    let mut out_file = match secrets_out {
        Some(path) => Some(files::create_new_private(path)?),
        None => None,
    };

    let progress = Progress::new(specs.len());
    let mut created: Vec<Credentials> = Vec::with_capacity(specs.len());
    let mut failure = None;
    for (index, spec) in specs.iter().enumerate() {
        progress.creating(index, &spec.name);
        match provision(&api, spec).await {
            Ok(credentials) => {
                progress.created(index, &spec.name);
                created.push(credentials);
            }
            Err(error) => {
                failure = Some(error.context(format!(
                    "entry {} of {} ({:?})",
                    index + 1,
                    specs.len(),
                    spec.name
                )));
                break;
            }
        }
    }
    progress.finish();

    let secrets_json = serde_json::to_string_pretty(&created)? + "\n";
    let report = match (&mut out_file, secrets_out) {
        (Some(out), Some(path)) => {
            out.write_all(secrets_json.as_bytes())?;
            out.sync_all()?;
            let summary: Vec<Value> = created
                .iter()
                .map(|c| {
                    json!({"name": c.name, "client_id": c.client_id,
                           "secret_accessor": c.secret_accessor})
                })
                .collect();
            let rows: Vec<Vec<String>> = created
                .iter()
                .map(|c| {
                    vec![
                        c.name.clone(),
                        c.client_id.clone(),
                        c.secret_accessor.clone(),
                    ]
                })
                .collect();
            let text = format!(
                "{}credentials written to {}\n",
                columns(&["NAME", "CLIENT_ID", "SECRET_ACCESSOR"], &rows),
                path.display()
            );
            Report::new(
                json!({ "created": summary, "secrets_file": path.display().to_string() }),
                text,
            )
        }
        _ => {
            if !created.is_empty() {
                eprintln!("{SHOWN_ONCE}");
            }
            let rows: Vec<Vec<String>> = created
                .iter()
                .map(|c| {
                    vec![
                        c.name.clone(),
                        c.client_id.clone(),
                        c.secret.clone(),
                        c.secret_accessor.clone(),
                    ]
                })
                .collect();
            Report::new(
                serde_json::to_value(&created)?,
                columns(&["NAME", "CLIENT_ID", "SECRET", "SECRET_ACCESSOR"], &rows),
            )
        }
    };
    if let Some(error) = failure {
        if created.is_empty() {
            if let Some(path) = secrets_out {
                let _ = std::fs::remove_file(path);
            }
            return Err(error.context("import stopped; nothing was created"));
        }
        // Print what was created before failing: those secrets exist only in this output.
        let where_ = match secrets_out {
            Some(path) => format!("their credentials are in {}", path.display()),
            None => {
                super::print_report(&report, ctx.format);
                "their credentials are printed above".to_owned()
            }
        };
        return Err(error.context(format!(
            "import stopped after creating {} client(s); {where_}",
            created.len()
        )));
    }
    Ok(report)
}
