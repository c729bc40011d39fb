//! Row helpers: flags are 0/1 bigints and lists or maps are JSON text on both backends;
//! statements number their parameters (`$1`, `$2`, …) for both.

use crate::StoreError;
use confmgr_core::crypto::SealedVersion;
use serde::de::DeserializeOwned;
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;

/// `$first, …` for `count` parameters in a row.
pub(crate) fn numbered_params(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) fn flag(row: &AnyRow, column: &str) -> Result<bool, StoreError> {
    Ok(row.try_get::<i64, _>(column)? != 0)
}

pub(crate) fn as_flag(value: bool) -> i64 {
    i64::from(value)
}

pub(crate) fn to_json<T: Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub(crate) fn from_json<T: DeserializeOwned>(row: &AnyRow, column: &str) -> Result<T, StoreError> {
    let text: String = row.try_get(column)?;
    serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(format!("{column}: {e}")))
}

/// One text column of every row, sorted (byte order: collations differ between backends).
pub(crate) fn sorted_strings(rows: &[AnyRow], column: &str) -> Result<Vec<String>, StoreError> {
    let mut values = rows
        .iter()
        .map(|row| Ok(row.try_get::<String, _>(column)?))
        .collect::<Result<Vec<_>, StoreError>>()?;
    values.sort();
    Ok(values)
}

/// The envelope columns (`format`, `term`, `dek_nonce`, `wrapped_dek`, `nonce`,
/// `ciphertext`) that secret versions and response wrappings share.
pub(crate) fn sealed(row: &AnyRow) -> Result<SealedVersion, StoreError> {
    Ok(SealedVersion {
        format: row.try_get("format")?,
        term: row.try_get("term")?,
        dek_nonce: row.try_get("dek_nonce")?,
        wrapped_dek: row.try_get("wrapped_dek")?,
        nonce: row.try_get("nonce")?,
        ciphertext: row.try_get("ciphertext")?,
    })
}
