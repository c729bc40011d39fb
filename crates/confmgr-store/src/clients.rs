//! API clients (AppRole roles) and their secrets (AppRole secret_ids, argon2id hashes only).

use crate::rows::{from_json, sorted_strings, to_json};
use crate::{StoreError, StoreTx};
use confmgr_core::cert_binding::CertBindings;
use sqlx::any::AnyRow;
use sqlx::Row;
use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientRecord {
    pub client_id: String,
    pub name: String,
    pub issuer: String,
    pub policies: Vec<String>,
    pub token_ttl: i64,
    pub token_max_ttl: i64,
    pub secret_id_ttl: i64,
    pub secret_id_num_uses: i64,
    pub secret_id_bound_cidrs: Vec<String>,
    pub token_bound_cidrs: Vec<String>,
    /// The client certificates that log in as this client (`auth/cert/login`).
    pub cert: CertBindings,
    /// Seconds; > 0: login tokens are periodic.
    pub token_period: i64,
    /// Seconds; 0: none.
    pub token_explicit_max_ttl: i64,
    /// Uses of each login token; 0: unlimited.
    pub token_num_uses: i64,
    /// Login tokens do not get the `default` policy.
    pub token_no_default_policy: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientSecretRecord {
    pub accessor: String,
    pub client_id: String,
    pub lookup_id: String,
    pub phc: String,
    pub metadata: BTreeMap<String, String>,
    pub cidr_list: Vec<String>,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub uses_left: Option<i64>,
    /// Where tokens from this secret may be used from, within the client's
    /// `token_bound_cidrs`; empty: the client's.
    pub token_bound_cidrs: Vec<String>,
}

const CLIENT_COLUMNS: &str = "client_id, name, issuer, policies, token_ttl, token_max_ttl, secret_id_ttl, secret_id_num_uses, secret_id_bound_cidrs, token_bound_cidrs, created_at, updated_at, cert_common_names, cert_dns_sans, cert_uri_sans, token_period, token_explicit_max_ttl, token_num_uses, token_no_default_policy";
const SECRET_COLUMNS: &str =
    "accessor, client_id, lookup_id, phc, metadata, cidr_list, created_at, expires_at, uses_left, token_bound_cidrs";

impl StoreTx {
    /// Creates or replaces a client's settings (its id and secrets are kept on replace).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn upsert_client(&mut self, client: &ClientRecord) -> Result<(), StoreError> {
        sqlx::query(&format!(
            "insert into clients ({CLIENT_COLUMNS}) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)
             on conflict (name) do update set issuer = excluded.issuer, policies = excluded.policies,
             token_ttl = excluded.token_ttl, token_max_ttl = excluded.token_max_ttl,
             secret_id_ttl = excluded.secret_id_ttl, secret_id_num_uses = excluded.secret_id_num_uses,
             secret_id_bound_cidrs = excluded.secret_id_bound_cidrs, token_bound_cidrs = excluded.token_bound_cidrs,
             cert_common_names = excluded.cert_common_names, cert_dns_sans = excluded.cert_dns_sans,
             cert_uri_sans = excluded.cert_uri_sans, token_period = excluded.token_period,
             token_explicit_max_ttl = excluded.token_explicit_max_ttl,
             token_num_uses = excluded.token_num_uses,
             token_no_default_policy = excluded.token_no_default_policy, updated_at = excluded.updated_at"
        ))
        .bind(client.client_id.clone())
        .bind(client.name.clone())
        .bind(client.issuer.clone())
        .bind(to_json(&client.policies)?)
        .bind(client.token_ttl)
        .bind(client.token_max_ttl)
        .bind(client.secret_id_ttl)
        .bind(client.secret_id_num_uses)
        .bind(to_json(&client.secret_id_bound_cidrs)?)
        .bind(to_json(&client.token_bound_cidrs)?)
        .bind(client.created_at)
        .bind(client.updated_at)
        .bind(to_json(&client.cert.common_names)?)
        .bind(to_json(&client.cert.dns_sans)?)
        .bind(to_json(&client.cert.uri_sans)?)
        .bind(client.token_period)
        .bind(client.token_explicit_max_ttl)
        .bind(client.token_num_uses)
        .bind(i64::from(client.token_no_default_policy))
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn client_by_name(&mut self, name: &str) -> Result<Option<ClientRecord>, StoreError> {
        self.select_client("name", name).await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn client_by_id(
        &mut self,
        client_id: &str,
    ) -> Result<Option<ClientRecord>, StoreError> {
        self.select_client("client_id", client_id).await
    }

    async fn select_client(
        &mut self,
        column: &str,
        value: &str,
    ) -> Result<Option<ClientRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "select {CLIENT_COLUMNS} from clients where {column} = $1"
        ))
        .bind(value.to_owned())
        .fetch_optional(&mut *self.tx)
        .await?;
        row.as_ref().map(client_from_row).transpose()
    }

    /// Clients that accept at least one kind of client certificate.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn clients_with_cert_bindings(&mut self) -> Result<Vec<ClientRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "select {CLIENT_COLUMNS} from clients
             where cert_common_names <> '[]' or cert_dns_sans <> '[]' or cert_uri_sans <> '[]'
             order by name"
        ))
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter().map(client_from_row).collect()
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn client_names(&mut self) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query("select name from clients")
            .fetch_all(&mut *self.tx)
            .await?;
        sorted_strings(&rows, "name")
    }

    /// Deletes a client and (by cascade) its secrets. Returns whether it existed.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn delete_client(&mut self, client_id: &str) -> Result<bool, StoreError> {
        sqlx::query("delete from client_secrets where client_id = $1")
            .bind(client_id.to_owned())
            .execute(&mut *self.tx)
            .await?;
        let done = sqlx::query("delete from clients where client_id = $1")
            .bind(client_id.to_owned())
            .execute(&mut *self.tx)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn insert_client_secret(
        &mut self,
        secret: &ClientSecretRecord,
    ) -> Result<(), StoreError> {
        sqlx::query(&format!("insert into client_secrets ({SECRET_COLUMNS}) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"))
            .bind(secret.accessor.clone())
            .bind(secret.client_id.clone())
            .bind(secret.lookup_id.clone())
            .bind(secret.phc.clone())
            .bind(to_json(&secret.metadata)?)
            .bind(to_json(&secret.cidr_list)?)
            .bind(secret.created_at)
            .bind(secret.expires_at)
            .bind(secret.uses_left)
            .bind(to_json(&secret.token_bound_cidrs)?)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn client_secret_by_lookup_id(
        &mut self,
        lookup_id: &str,
    ) -> Result<Option<ClientSecretRecord>, StoreError> {
        self.select_secret_row("lookup_id", lookup_id).await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn client_secret_by_accessor(
        &mut self,
        accessor: &str,
    ) -> Result<Option<ClientSecretRecord>, StoreError> {
        self.select_secret_row("accessor", accessor).await
    }

    async fn select_secret_row(
        &mut self,
        column: &str,
        value: &str,
    ) -> Result<Option<ClientSecretRecord>, StoreError> {
        let sql = format!(
            "select {SECRET_COLUMNS} from client_secrets where {column} = $1{}",
            self.for_update()
        );
        let row = sqlx::query(&sql)
            .bind(value.to_owned())
            .fetch_optional(&mut *self.tx)
            .await?;
        row.as_ref().map(secret_from_row).transpose()
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn client_secret_accessors(
        &mut self,
        client_id: &str,
    ) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query("select accessor from client_secrets where client_id = $1")
            .bind(client_id.to_owned())
            .fetch_all(&mut *self.tx)
            .await?;
        sorted_strings(&rows, "accessor")
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn delete_client_secret(&mut self, accessor: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("delete from client_secrets where accessor = $1")
            .bind(accessor.to_owned())
            .execute(&mut *self.tx)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Gives a client a new client_id (a custom AppRole role_id): its secrets and tokens
    /// follow it. The foreign keys do not cascade updates, so the row is re-inserted under
    /// the new id and the old one deleted, all in the caller's transaction.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn change_client_id(
        &mut self,
        client: &ClientRecord,
        new_id: &str,
    ) -> Result<(), StoreError> {
        // The name is unique: park the old row under a name no client can have ('/' is not
        // allowed in client names) while both rows exist.
        sqlx::query("update clients set name = $2 where client_id = $1")
            .bind(client.client_id.clone())
            .bind(format!("{}/moving", client.name))
            .execute(&mut *self.tx)
            .await?;
        self.upsert_client(&ClientRecord {
            client_id: new_id.to_owned(),
            ..client.clone()
        })
        .await?;
        for table in ["client_secrets", "tokens"] {
            sqlx::query(&format!(
                "update {table} set client_id = $2 where client_id = $1"
            ))
            .bind(client.client_id.clone())
            .bind(new_id.to_owned())
            .execute(&mut *self.tx)
            .await?;
        }
        sqlx::query("delete from clients where client_id = $1")
            .bind(client.client_id.clone())
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Deletes the client secrets that expired at or before `now` (AppRole's
    /// `tidy/secret-id`); expired secrets never log in, this only reclaims their rows.
    /// Returns how many.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn delete_expired_client_secrets(&mut self, now: i64) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "delete from client_secrets where expires_at is not null and expires_at <= $1",
        )
        .bind(now)
        .execute(&mut *self.tx)
        .await?;
        Ok(done.rows_affected())
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn set_client_secret_uses(
        &mut self,
        accessor: &str,
        uses_left: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("update client_secrets set uses_left = $2 where accessor = $1")
            .bind(accessor.to_owned())
            .bind(uses_left)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }
}

fn client_from_row(row: &AnyRow) -> Result<ClientRecord, StoreError> {
    Ok(ClientRecord {
        client_id: row.try_get("client_id")?,
        name: row.try_get("name")?,
        issuer: row.try_get("issuer")?,
        policies: from_json(row, "policies")?,
        token_ttl: row.try_get("token_ttl")?,
        token_max_ttl: row.try_get("token_max_ttl")?,
        secret_id_ttl: row.try_get("secret_id_ttl")?,
        secret_id_num_uses: row.try_get("secret_id_num_uses")?,
        secret_id_bound_cidrs: from_json(row, "secret_id_bound_cidrs")?,
        token_bound_cidrs: from_json(row, "token_bound_cidrs")?,
        cert: CertBindings {
            common_names: from_json(row, "cert_common_names")?,
            dns_sans: from_json(row, "cert_dns_sans")?,
            uri_sans: from_json(row, "cert_uri_sans")?,
        },
        token_period: row.try_get("token_period")?,
        token_explicit_max_ttl: row.try_get("token_explicit_max_ttl")?,
        token_num_uses: row.try_get("token_num_uses")?,
        token_no_default_policy: row.try_get::<i64, _>("token_no_default_policy")? != 0,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn secret_from_row(row: &AnyRow) -> Result<ClientSecretRecord, StoreError> {
    Ok(ClientSecretRecord {
        accessor: row.try_get("accessor")?,
        client_id: row.try_get("client_id")?,
        lookup_id: row.try_get("lookup_id")?,
        phc: row.try_get("phc")?,
        metadata: from_json(row, "metadata")?,
        cidr_list: from_json(row, "cidr_list")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        uses_left: row.try_get("uses_left")?,
        token_bound_cidrs: from_json(row, "token_bound_cidrs")?,
    })
}
