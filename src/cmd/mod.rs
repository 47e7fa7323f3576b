//! One file per subcommand, wiring the pipeline stages. This is the only layer
//! that writes files, talks to the network or prints to stdout.

mod build;
mod check;
mod parse;
mod preview;
mod send;
mod serve;
mod status;
mod subscribers;

use std::process::ExitCode;

use anyhow::Result;
use tracing_subscriber::EnvFilter;

use crate::cli::{Cli, Command};
use crate::config::Config;

/// How a command ended, as the process exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything done (0).
    Done,
    /// Could not run at all: bad settings, unreadable input (1).
    CouldNotRun,
    /// Ran to the end, but some items failed (2).
    SomeFailed,
    /// Stopped by Ctrl-C after finishing what was in flight (130).
    Interrupted,
}

impl From<Outcome> for ExitCode {
    fn from(o: Outcome) -> Self {
        match o {
            Outcome::Done => ExitCode::SUCCESS,
            Outcome::CouldNotRun => ExitCode::from(1),
            Outcome::SomeFailed => ExitCode::from(2),
            Outcome::Interrupted => ExitCode::from(130),
        }
    }
}

/// Sets up tracing on stderr: warnings by default, `-v` info... `-q` errors only.
/// `RUST_LOG` overrides.
pub fn init_logging(verbose: u8, quiet: bool) {
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn,hotpapers=info",
        (false, 1) => "info,hotpapers=debug",
        (false, _) => "debug,hotpapers=trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
}

/// Runs the parsed command line.
///
/// # Errors
/// When the command could not run; per-item failures are reported and give
/// [`Outcome::SomeFailed`] instead.
pub fn run(cli: Cli) -> Result<Outcome> {
    let config = Config::from_settings(&cli.settings)?;
    match cli.command {
        Command::Parse(args) => parse::run(&args),
        Command::Check(args) => check::run(&config, &args),
        Command::Build(args) => build::run(&config, &args),
        Command::Preview(args) => preview::run(&config, &args),
        Command::Send(args) => send::run(&config, &args),
        Command::Status(args) => status::run(&config, &args),
        Command::Subscribers(cmd) => subscribers::run(&config, &cmd),
        Command::Serve(args) => serve::run(&config, &args),
    }
}
