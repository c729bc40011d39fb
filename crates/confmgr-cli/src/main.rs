//! `confmgr`: the command-line client. A first slice: status, kv get and kv put; the full
//! CLI (history, rollback, run, export/import) builds on this shape.

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use serde_json::{Map, Value};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "confmgr", version, about = "ConfMgr command-line client")]
struct Cli {
    /// Server address.
    #[arg(
        long,
        env = "CONFMGR_ADDR",
        default_value = "http://127.0.0.1:8200",
        global = true
    )]
    addr: String,
    /// Token (VAULT_TOKEN is read too, so an existing Vault setup works).
    #[arg(long, env = "CONFMGR_TOKEN", hide_env_values = true, global = true)]
    token: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Is the server up?
    Status,
    /// Key/value secrets on mount `secret`.
    #[command(subcommand)]
    Kv(KvCommand),
}

#[derive(Subcommand)]
enum KvCommand {
    /// Print a secret's data as JSON.
    Get {
        path: String,
        #[arg(long)]
        version: Option<u64>,
    },
    /// Write a new version from key=value pairs.
    Put {
        path: String,
        #[arg(required = true)]
        pairs: Vec<String>,
    },
}

fn token(cli: &Cli) -> anyhow::Result<String> {
    cli.token
        .clone()
        .or_else(|| std::env::var("VAULT_TOKEN").ok())
        .context("no token: pass --token or set CONFMGR_TOKEN")
}

fn parse_pairs(pairs: &[String]) -> anyhow::Result<Map<String, Value>> {
    pairs
        .iter()
        .map(|pair| match pair.split_once('=') {
            Some((key, value)) if !key.is_empty() => {
                Ok((key.to_owned(), Value::String(value.to_owned())))
            }
            _ => bail!("{pair:?} is not key=value"),
        })
        .collect()
}

async fn answer(response: reqwest::Response) -> anyhow::Result<Value> {
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        let errors = body["errors"].as_array().map(|e| {
            e.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join("; ")
        });
        bail!(
            "server answered {status}: {}",
            errors
                .filter(|e| !e.is_empty())
                .unwrap_or_else(|| "not found".into())
        );
    }
    Ok(body)
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let base = cli.addr.trim_end_matches('/');
    match &cli.command {
        Command::Status => {
            let body = answer(client.get(format!("{base}/v1/sys/health")).send().await?).await?;
            println!("{}", serde_json::to_string_pretty(&body)?);
        }
        Command::Kv(KvCommand::Get { path, version }) => {
            let mut url = format!("{base}/v1/secret/data/{path}");
            if let Some(v) = version {
                url.push_str(&format!("?version={v}"));
            }
            let body = answer(
                client
                    .get(url)
                    .header("X-Vault-Token", token(&cli)?)
                    .send()
                    .await?,
            )
            .await?;
            println!("{}", serde_json::to_string_pretty(&body["data"]["data"])?);
        }
        Command::Kv(KvCommand::Put { path, pairs }) => {
            let data = parse_pairs(pairs)?;
            let url = format!("{base}/v1/secret/data/{path}");
            let request = client
                .post(url)
                .header("X-Vault-Token", token(&cli)?)
                .json(&serde_json::json!({ "data": data }));
            let body = answer(request.send().await?).await?;
            println!("version {}", body["data"]["version"]);
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_must_be_key_value() {
        let parsed = parse_pairs(&["a=1".into(), "b=x=y".into()]).unwrap();
        assert_eq!(parsed["a"], "1");
        assert_eq!(parsed["b"], "x=y");
        assert!(parse_pairs(&["novalue".into()]).is_err());
        assert!(parse_pairs(&["=v".into()]).is_err());
    }
}
