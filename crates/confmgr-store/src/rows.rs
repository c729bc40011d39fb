//! Decoding helpers: flags are stored as 0/1 bigints on both backends.

use crate::StoreError;
use sqlx::any::AnyRow;
use sqlx::Row;

pub(crate) fn flag(row: &AnyRow, column: &str) -> Result<bool, StoreError> {
    Ok(row.try_get::<i64, _>(column)? != 0)
}

pub(crate) fn as_flag(value: bool) -> i64 {
    i64::from(value)
}
