//! `confmgr status`: `GET /v1/sys/health`.

use super::Ctx;
use crate::output::{fields, scalar, Report};
use anyhow::Result;

pub async fn run(ctx: &Ctx) -> Result<Report> {
    let health = ctx.anonymous()?.get("sys/health").await?;
    let text = fields(&[
        ("address", ctx.addr.clone()),
        ("version", scalar(&health["version"])),
        ("initialized", scalar(&health["initialized"])),
        ("sealed", scalar(&health["sealed"])),
        ("cluster", scalar(&health["cluster_name"])),
    ]);
    Ok(Report::new(health, text))
}
