//! The `hotpapers` binary: parse the command line, run, print errors with their
//! causes, exit with a status that means something.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // `.env` fills in what the environment does not set; flags beat both.
    let dotenv = dotenvy::dotenv();
    let cli = hotpapers::cli::Cli::parse();
    hotpapers::cmd::init_logging(cli.verbose, cli.quiet);
    if let Err(e) = &dotenv {
        if !e.not_found() {
            tracing::warn!("could not read .env: {e}");
        }
    }
    match hotpapers::cmd::run(cli) {
        Ok(status) => status.into(),
        Err(err) => {
            let shown =
                |e: &dyn std::fmt::Display| hotpapers::cmd::printable(&e.to_string()).into_owned();
            eprintln!("error: {}", shown(&err));
            for cause in err.chain().skip(1) {
                eprintln!("  Caused by: {}", shown(&cause));
            }
            hotpapers::cmd::Outcome::CouldNotRun.into()
        }
    }
}
