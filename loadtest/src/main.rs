//! `mercato-loadtest`: parse the flags, run, print the summary, write the files.
//!
//! Exit code 0 when every check passed, 1 when one failed, 2 when the run
//! could not happen (bad flags, server unreachable, setup failed).

use std::process::ExitCode;

use clap::Parser;
use mercato_loadtest::cli::Cli;
use mercato_loadtest::report::Report;

/// The same allocator as the server, so `--embedded` measures the engine as
/// the server runs it, and the generator takes less of the shared CPU.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli).await {
        Ok(report) if report.passed => ExitCode::SUCCESS,
        Ok(_) => ExitCode::from(1),
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(cli: &Cli) -> anyhow::Result<Report> {
    let config = cli.to_config()?;
    let shutdown = async {
        // If the handler cannot be installed, the run still ends by its own bounds.
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let report = mercato_loadtest::run(config, shutdown).await?;
    print!("{}", report.table());
    if let Some(path) = &cli.json {
        report.write_json(path)?;
    }
    if let Some(path) = &cli.hgrm {
        report.write_hgrm(path)?;
    }
    Ok(report)
}
