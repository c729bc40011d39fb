//! The data set: clients, each with a path policy, an AppRole role, a token and its secrets,
//! all made through the server's API (so the secrets are really encrypted and audited).

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

const WORKERS: usize = 32;

pub struct Seeded {
    /// One token per line; line i holds the token of client i.
    pub tokens: PathBuf,
    /// `role_id secret_id` per line.
    pub approles: PathBuf,
}

#[derive(Clone)]
struct Api {
    http: reqwest::Client,
    base: String,
    root_token: String,
}

impl Api {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value> {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .header("X-Vault-Token", &self.root_token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("{method} {path}"))?;
        let status = response.status();
        let text = response.text().await?;
        if !status.is_success() {
            bail!("{method} {path} answered {status}: {text}");
        }
        Ok(if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)?
        })
    }
}

pub async fn seed(
    base: &str,
    root_token: &str,
    clients: usize,
    secrets_per_client: usize,
    dir: &Path,
) -> Result<Seeded> {
    let api = Api {
        http: reqwest::Client::new(),
        base: base.to_owned(),
        root_token: root_token.to_owned(),
    };
    let identities = in_parallel("clients", clients, {
        let api = api.clone();
        move |i| {
            let api = api.clone();
            async move { make_client(&api, i).await }
        }
    })
    .await?;
    in_parallel("secrets", clients * secrets_per_client, {
        let api = api.clone();
        move |n| {
            let api = api.clone();
            async move {
                let (client, secret) = (n / secrets_per_client, n % secrets_per_client);
                api.call(
                    reqwest::Method::POST,
                    &format!("/v1/secret/data/bench/c{client}/s{secret}"),
                    Some(json!({"data": {"user": format!("u{client}"), "password": format!("seed-{n}")}})),
                )
                .await
                .map(drop)
            }
        }
    })
    .await?;

    let tokens = dir.join("tokens.txt");
    let approles = dir.join("approles.txt");
    let mut token_lines = String::new();
    let mut approle_lines = String::new();
    for (token, role_id, secret_id) in identities {
        token_lines.push_str(&format!("{token}\n"));
        approle_lines.push_str(&format!("{role_id} {secret_id}\n"));
    }
    std::fs::write(&tokens, token_lines)?;
    std::fs::write(&approles, approle_lines)?;
    Ok(Seeded { tokens, approles })
}

/// Client i: policy `bench-c<i>` (create, read, update on its own secrets), an AppRole role
/// with one secret_id, and a token with that policy.
async fn make_client(api: &Api, i: usize) -> Result<(String, String, String)> {
    use reqwest::Method;
    let name = format!("bench-c{i}");
    let policy = format!(
        "path \"secret/data/bench/c{i}/*\" {{ capabilities = [\"create\", \"read\", \"update\"] }}"
    );
    api.call(
        Method::PUT,
        &format!("/v1/sys/policies/acl/{name}"),
        Some(json!({"policy": policy})),
    )
    .await?;
    let role = format!("/v1/auth/approle/role/{name}");
    api.call(Method::POST, &role, Some(json!({"token_policies": [name]})))
        .await?;
    let role_id = api
        .call(Method::GET, &format!("{role}/role-id"), None)
        .await?["data"]["role_id"]
        .as_str()
        .context("role-id answer without data.role_id")?
        .to_owned();
    let secret_id = api
        .call(Method::POST, &format!("{role}/secret-id"), Some(json!({})))
        .await?["data"]["secret_id"]
        .as_str()
        .context("secret-id answer without data.secret_id")?
        .to_owned();
    let token = api
        .call(
            Method::POST,
            "/v1/auth/token/create",
            Some(json!({"policies": [name], "ttl": "24h"})),
        )
        .await?["auth"]["client_token"]
        .as_str()
        .context("token create answer without auth.client_token")?
        .to_owned();
    Ok((token, role_id, secret_id))
}

/// Runs `job(0..count)` on WORKERS concurrent tasks, printing progress every tenth; the
/// results come back in index order.
async fn in_parallel<T, F, Fut>(what: &str, count: usize, job: F) -> Result<Vec<T>>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = Result<T>> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let step = (count / 10).max(1);
    let mut workers = Vec::new();
    for _ in 0..WORKERS {
        let (next, done, job, what) = (next.clone(), done.clone(), job.clone(), what.to_owned());
        workers.push(tokio::spawn(async move {
            let mut results = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    return anyhow::Ok(results);
                }
                results.push((i, job(i).await?));
                let finished = done.fetch_add(1, Ordering::Relaxed) + 1;
                if finished % step == 0 || finished == count {
                    eprintln!(
                        "bench: seeding {what}: {finished}/{count} ({:.0} s)",
                        started.elapsed().as_secs_f64()
                    );
                }
            }
        }));
    }
    let mut all = Vec::with_capacity(count);
    for worker in workers {
        all.extend(worker.await??);
    }
    all.sort_by_key(|(i, _)| *i);
    Ok(all.into_iter().map(|(_, value)| value).collect())
}
