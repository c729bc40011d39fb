//! The shared cluster admits TLS with the client certificate and nothing else.

use anyhow::{Context, Result};
use confmgr_testkit::{connect, TestPostgres};

fn database_name(url: &str) -> Result<&str> {
    url.split('?')
        .next()
        .and_then(|base| base.rsplit('/').next())
        .context("no database in URL")
}

#[tokio::test]
async fn fresh_databases_accept_the_client_certificate() -> Result<()> {
    let pg = TestPostgres::shared().await?;
    let first = pg.fresh_database().await?;
    let second = pg.fresh_database().await?;
    assert_ne!(database_name(&first)?, database_name(&second)?);

    for url in [&first, &second] {
        let pool = connect(url).await?;
        let one: i32 = sqlx::query_scalar("select 1").fetch_one(&pool).await?;
        assert_eq!(one, 1);
        let ssl: bool =
            sqlx::query_scalar("select ssl from pg_stat_ssl where pid = pg_backend_pid()")
                .fetch_one(&pool)
                .await?;
        assert!(ssl, "connection is not TLS");
        let current: String = sqlx::query_scalar("select current_database()")
            .fetch_one(&pool)
            .await?;
        assert_eq!(current, database_name(url)?);
        pool.close().await;
    }
    Ok(())
}

#[tokio::test]
async fn fresh_databases_are_isolated() -> Result<()> {
    let pg = TestPostgres::shared().await?;
    let first = connect(&pg.fresh_database().await?).await?;
    let second = connect(&pg.fresh_database().await?).await?;
    sqlx::query("create table marker (id int)")
        .execute(&first)
        .await?;
    let seen: Option<String> = sqlx::query_scalar("select to_regclass('marker')::text")
        .fetch_one(&second)
        .await?;
    assert_eq!(seen, None);
    first.close().await;
    second.close().await;
    Ok(())
}

#[tokio::test]
async fn connection_without_client_certificate_is_refused() -> Result<()> {
    let pg = TestPostgres::shared().await?;
    let url = TestPostgres::without_client_cert(&pg.fresh_database().await?);
    assert!(!url.contains("sslcert") && !url.contains("sslkey"), "{url}");
    let err = match connect(&url).await {
        Ok(_) => anyhow::bail!("connected without a client certificate"),
        Err(err) => format!("{err:#}"),
    };
    assert!(err.contains("certificate"), "unexpected error: {err}");
    Ok(())
}

#[tokio::test]
async fn plaintext_connection_is_refused() -> Result<()> {
    let pg = TestPostgres::shared().await?;
    let url = pg
        .fresh_database()
        .await?
        .replace("sslmode=verify-full", "sslmode=disable");
    let err = match connect(&url).await {
        Ok(_) => anyhow::bail!("connected without TLS"),
        Err(err) => format!("{err:#}"),
    };
    assert!(err.contains("pg_hba.conf"), "unexpected error: {err}");
    Ok(())
}

#[tokio::test]
async fn certificate_files_exist() -> Result<()> {
    let certs = TestPostgres::shared().await?.certs();
    for path in [&certs.ca_cert, &certs.client_cert, &certs.client_key] {
        assert!(path.is_file(), "{} missing", path.display());
    }
    Ok(())
}
