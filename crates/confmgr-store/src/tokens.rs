use crate::rows::{from_json, numbered_params, to_json};
use crate::{Backend, StoreError, StoreTx};
use sqlx::any::AnyRow;
use sqlx::Row;
use std::collections::BTreeMap;

/// A token as stored: its digest, never the token.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TokenRecord {
    pub digest: Vec<u8>,
    pub accessor: String,
    pub display_name: String,
    pub policies: Vec<String>,
    pub client_id: Option<String>,
    pub parent_accessor: Option<String>,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
    /// Who vouches for the identity behind the token (`confmgr` for local credentials).
    pub issuer: String,
    /// Seconds granted at creation; a renewal grants this again unless asked for less.
    pub ttl: i64,
    /// Renewals never go past this.
    pub max_expires_at: Option<i64>,
    /// Where the token may be used from; empty: anywhere.
    pub bound_cidrs: Vec<String>,
    pub meta: BTreeMap<String, String>,
    /// Seconds; > 0: a periodic token, which every renewal gives exactly this TTL.
    pub period: i64,
    /// Seconds asked for at creation (0: none); already part of `max_expires_at`.
    pub explicit_max_ttl: i64,
    /// Uses left; 0: unlimited. The use that reaches 0 revokes the token.
    pub num_uses: i64,
    pub renewable: bool,
    /// The token role it was created against.
    pub role_name: Option<String>,
    /// Where it was made (`auth/token/create`, `auth/approle/login`, ...); empty for tokens
    /// made before this was recorded.
    pub path: String,
}

/// Stored policies as (name, HCL text) pairs.
pub type PolicyTexts = Vec<(String, String)>;

/// Well under the bind-parameter limits of both backends.
const DIGESTS_PER_STATEMENT: usize = 500;

const TOKEN_COLUMNS: &str = "digest, accessor, display_name, policies, client_id, parent_accessor, created_at, expires_at, revoked_at, issuer, ttl, max_expires_at, bound_cidrs, meta, period, explicit_max_ttl, num_uses, renewable, role_name, path";

impl StoreTx {
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn insert_token(&mut self, token: &TokenRecord) -> Result<(), StoreError> {
        sqlx::query(&format!(
            "insert into tokens ({TOKEN_COLUMNS})
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)
             on conflict (digest) do nothing"
        ))
        .bind(token.digest.clone())
        .bind(token.accessor.clone())
        .bind(token.display_name.clone())
        .bind(to_json(&token.policies)?)
        .bind(token.client_id.clone())
        .bind(token.parent_accessor.clone())
        .bind(token.created_at)
        .bind(token.expires_at)
        .bind(token.revoked_at)
        .bind(token.issuer.clone())
        .bind(token.ttl)
        .bind(token.max_expires_at)
        .bind(to_json(&token.bound_cidrs)?)
        .bind(to_json(&token.meta)?)
        .bind(token.period)
        .bind(token.explicit_max_ttl)
        .bind(token.num_uses)
        .bind(i64::from(token.renewable))
        .bind(token.role_name.clone())
        .bind(token.path.clone())
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn token_by_digest(
        &mut self,
        digest: &[u8],
    ) -> Result<Option<TokenRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "select {TOKEN_COLUMNS} from tokens where digest = $1"
        ))
        .bind(digest.to_vec())
        .fetch_optional(&mut *self.tx)
        .await?;
        row.as_ref().map(token_from_row).transpose()
    }

    /// A token with the texts of its stored policies, in one statement: this runs whenever
    /// the auth cache misses, so a second round trip for the policies would be paid on a
    /// large share of requests. Policy names without a stored policy are skipped.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn token_with_policy_texts(
        &mut self,
        digest: &[u8],
    ) -> Result<Option<(TokenRecord, PolicyTexts)>, StoreError> {
        let row = sqlx::query(&tokens_with_policy_texts_sql(self.backend, "t.digest = $1"))
            .bind(digest.to_vec())
            .fetch_optional(&mut *self.tx)
            .await?;
        row.as_ref().map(token_and_policy_texts).transpose()
    }

    /// [`Self::token_with_policy_texts`] for many tokens at once (the auth cache verifying
    /// the tokens in use again); digests that match no token are left out.
    #[tracing::instrument(level = "debug", skip_all, fields(tokens = digests.len()))]
    pub async fn tokens_with_policy_texts(
        &mut self,
        digests: &[Vec<u8>],
    ) -> Result<Vec<(TokenRecord, PolicyTexts)>, StoreError> {
        let mut found = Vec::with_capacity(digests.len());
        for chunk in digests.chunks(DIGESTS_PER_STATEMENT) {
            let sql = tokens_with_policy_texts_sql(
                self.backend,
                &format!("t.digest in ({})", numbered_params(1, chunk.len())),
            );
            // Not kept prepared: the text differs with the number of digests.
            let mut query = sqlx::query(&sql).persistent(false);
            for digest in chunk {
                query = query.bind(digest.clone());
            }
            for row in query.fetch_all(&mut *self.tx).await? {
                found.push(token_and_policy_texts(&row)?);
            }
        }
        Ok(found)
    }

    /// The marker that every change to tokens or policies replaces (a trigger of migration
    /// 0006 keeps it): two equal reads mean that no token and no policy changed between
    /// them, so the auth cache can confirm what it holds without reading it again.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn access_change_marker(&mut self) -> Result<String, StoreError> {
        let row = sqlx::query("select marker from access_changes where id = 1")
            .fetch_one(&mut *self.tx)
            .await?;
        Ok(row.try_get("marker")?)
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn token_by_accessor(
        &mut self,
        accessor: &str,
    ) -> Result<Option<TokenRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "select {TOKEN_COLUMNS} from tokens where accessor = $1"
        ))
        .bind(accessor.to_owned())
        .fetch_optional(&mut *self.tx)
        .await?;
        row.as_ref().map(token_from_row).transpose()
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn set_token_expiry(
        &mut self,
        accessor: &str,
        expires_at: Option<i64>,
    ) -> Result<(), StoreError> {
        sqlx::query("update tokens set expires_at = $2 where accessor = $1")
            .bind(accessor.to_owned())
            .bind(expires_at)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Spends one use of a use-limited token, atomically (two requests racing for the last
    /// use cannot both have it). Returns the uses left, or `None` when there was none to
    /// spend (the token is unlimited, revoked, or already spent). The use that leaves 0
    /// revokes the token and its children, as Vault does after that request.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn use_token(&mut self, accessor: &str, now: i64) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query(
            "update tokens set num_uses = num_uses - 1
             where accessor = $1 and num_uses > 0 and revoked_at is null
             returning num_uses",
        )
        .bind(accessor.to_owned())
        .fetch_optional(&mut *self.tx)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let left: i64 = row.try_get("num_uses")?;
        if left == 0 {
            self.revoke_token_tree(accessor, now).await?;
        }
        Ok(Some(left))
    }

    /// Revokes one token and makes its children orphans (Vault's `revoke-orphan`): they
    /// keep working and are no longer revoked with it. Returns whether it was live.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn revoke_token_orphaning_children(
        &mut self,
        accessor: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        sqlx::query("update tokens set parent_accessor = null where parent_accessor = $1")
            .bind(accessor.to_owned())
            .execute(&mut *self.tx)
            .await?;
        let done = sqlx::query(
            "update tokens set revoked_at = $2 where accessor = $1 and revoked_at is null",
        )
        .bind(accessor.to_owned())
        .bind(now)
        .execute(&mut *self.tx)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// The accessors of the tokens neither revoked nor expired at `now`, sorted (Vault's
    /// `LIST auth/token/accessors`).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn live_token_accessors(&mut self, now: i64) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(
            "select accessor from tokens
             where revoked_at is null and (expires_at is null or expires_at > $1)",
        )
        .bind(now)
        .fetch_all(&mut *self.tx)
        .await?;
        crate::rows::sorted_strings(&rows, "accessor")
    }

    /// Revokes a token and, transitively, every token created from it. Returns how many.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn revoke_token_tree(&mut self, accessor: &str, now: i64) -> Result<u64, StoreError> {
        let mut pending = vec![accessor.to_owned()];
        let mut revoked = 0;
        while let Some(current) = pending.pop() {
            let done = sqlx::query(
                "update tokens set revoked_at = $2 where accessor = $1 and revoked_at is null",
            )
            .bind(current.clone())
            .bind(now)
            .execute(&mut *self.tx)
            .await?;
            revoked += done.rows_affected();
            let children = sqlx::query(
                "select accessor from tokens where parent_accessor = $1 and revoked_at is null",
            )
            .bind(current)
            .fetch_all(&mut *self.tx)
            .await?;
            for child in children {
                pending.push(child.try_get("accessor")?);
            }
        }
        Ok(revoked)
    }

    /// Revokes every live token issued to a client (when the client is deleted).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn revoke_client_tokens(
        &mut self,
        client_id: &str,
        now: i64,
    ) -> Result<u64, StoreError> {
        let rows =
            sqlx::query("select accessor from tokens where client_id = $1 and revoked_at is null")
                .bind(client_id.to_owned())
                .fetch_all(&mut *self.tx)
                .await?;
        let mut revoked = 0;
        for row in rows {
            revoked += self
                .revoke_token_tree(&row.try_get::<String, _>("accessor")?, now)
                .await?;
        }
        Ok(revoked)
    }
}

/// Tokens matching `predicate` (on `tokens t`), each with a JSON array of the (name, text)
/// pairs of its stored policies.
fn tokens_with_policy_texts_sql(backend: Backend, predicate: &str) -> String {
    let policy_texts = match backend {
        // A lateral lookup per name: with `name in (…)` PostgreSQL hashes the names and
        // scans every policy. `limit 1` (name is the key) keeps the planner from pulling
        // the lateral subquery up into that same hash join.
        Backend::Postgres => {
            "select coalesce(json_agg(json_build_array(n.name, p.policy)), '[]')::text
             from json_array_elements_text(t.policies::json) as n(name)
             cross join lateral (select policy from policies where name = n.name limit 1) as p"
        }
        Backend::Sqlite => {
            "select json_group_array(json_array(p.name, p.policy))
             from policies p where p.name in (select value from json_each(t.policies))"
        }
    };
    format!(
        "select {TOKEN_COLUMNS}, ({policy_texts}) as policy_texts from tokens t where {predicate}"
    )
}

fn token_and_policy_texts(row: &AnyRow) -> Result<(TokenRecord, PolicyTexts), StoreError> {
    Ok((token_from_row(row)?, from_json(row, "policy_texts")?))
}

fn token_from_row(row: &AnyRow) -> Result<TokenRecord, StoreError> {
    Ok(TokenRecord {
        digest: row.try_get("digest")?,
        accessor: row.try_get("accessor")?,
        display_name: row.try_get("display_name")?,
        policies: from_json(row, "policies")?,
        client_id: row.try_get("client_id")?,
        parent_accessor: row.try_get("parent_accessor")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        revoked_at: row.try_get("revoked_at")?,
        issuer: row.try_get("issuer")?,
        ttl: row.try_get("ttl")?,
        max_expires_at: row.try_get("max_expires_at")?,
        bound_cidrs: from_json(row, "bound_cidrs")?,
        meta: from_json(row, "meta")?,
        period: row.try_get("period")?,
        explicit_max_ttl: row.try_get("explicit_max_ttl")?,
        num_uses: row.try_get("num_uses")?,
        renewable: row.try_get::<i64, _>("renewable")? != 0,
        role_name: row.try_get("role_name")?,
        path: row.try_get("path")?,
    })
}
