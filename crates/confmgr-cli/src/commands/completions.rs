//! `confmgr completions <shell>`: a completion script for bash, zsh, fish (and elvish,
//! PowerShell), generated from the command definition so it never goes stale.

use crate::cli::Cli;
use anyhow::{Context, Result};
use clap::CommandFactory;
use clap_complete::Shell;
use std::io::Write;

pub fn run(shell: Shell) -> Result<()> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "confmgr", &mut script);
    let mut stdout = std::io::stdout();
    stdout
        .write_all(&script)
        .and_then(|()| stdout.flush())
        .context("cannot write to standard output")
}
