//! The `mercato` command.
//!
//! `mercato check` opens a data directory, rebuilds every bucket from the
//! store, checks its invariants and prints what it found; it exits non-zero
//! if the directory cannot be opened or an invariant fails.

use anyhow::Context;
use clap::{Parser, Subcommand};
use mercato::{Config, Durability, Mercato};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(name = "mercato", version, about = "An actor-based, in-memory commerce engine for flash sales")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Open a data directory, check every invariant, print a summary.
    Check {
        #[arg(long, env = "MERCATO_DATA_DIR", default_value = "./data")]
        data_dir: PathBuf,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Check { data_dir } => check(data_dir),
    }
}

fn check(data_dir: PathBuf) -> anyhow::Result<()> {
    if !data_dir.exists() {
        anyhow::bail!("data directory {} does not exist", data_dir.display());
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let config = Config::new(&data_dir).durability(Durability::Strict);
        let mercato = Mercato::open(config).with_context(|| format!("opening {}", data_dir.display()))?;
        let report = mercato.open_report();
        println!(
            "ok: {} buckets over {} skus, {} active holds, {} settled holds; every invariant holds",
            report.buckets, report.skus, report.holds_active, report.holds_settled
        );
        mercato.shutdown().await?;
        Ok(())
    })
}
