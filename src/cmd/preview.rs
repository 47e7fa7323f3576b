//! `hotpapers preview --date DAY [--subscriber EMAIL] [--out DIR]`: renders
//! one day's email exactly as `send` would and writes `DIR/DAY.eml`,
//! `DIR/DAY.html` and `DIR/DAY.txt`, so it can be read, checked
//! (`check-email`) and screenshotted before anyone gets it.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use chrono::NaiveDate;

use super::Outcome;
use crate::cli::PreviewArgs;
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::digest;
use crate::email::Newsletter;
use crate::model::Subscriber;

/// The reader a preview is rendered for when no `--subscriber` is given.
const EXAMPLE_READER: &str = "reader@example.org";

/// Renders and writes the three files, printing their paths.
pub(super) fn run(config: &Config, args: &PreviewArgs) -> Result<Outcome> {
    let day = NaiveDate::parse_from_str(&args.date, "%Y-%m-%d")
        .with_context(|| format!("invalid `--date {}`: expected YYYY-MM-DD", args.date))?;
    let newsletter = Newsletter::new(config).context("could not load the email templates")?;
    let archive = digest::load_archive(&config.digests).with_context(|| {
        format!(
            "could not read the digests in `{}`",
            config.digests.display()
        )
    })?;
    let Some(digest) = archive.get(day) else {
        bail!(
            "no digest for {day} in `{}` ({} digests found)",
            config.digests.display(),
            archive.len()
        );
    };
    let subscriber = match &args.subscriber {
        Some(email) => find_subscriber(&config.subscribers, email)?,
        None => Subscriber::new(EXAMPLE_READER),
    };
    let edition = newsletter.edition(digest)?;
    let Some(rendered) = edition.render_for(&subscriber)? else {
        bail!(
            "the filter of `{}` leaves no paper of {day}: `send` would skip them",
            subscriber.email
        );
    };
    let message = edition
        .message_for(&subscriber, SystemClock.now())?
        .context("the subscriber's filter leaves no paper")?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("could not create `{}`", args.out.display()))?;
    let stem = day.format("%Y-%m-%d").to_string();
    let files = [
        (args.out.join(format!("{stem}.eml")), message.formatted()),
        (
            args.out.join(format!("{stem}.html")),
            rendered.html.into_bytes(),
        ),
        (
            args.out.join(format!("{stem}.txt")),
            rendered.text.into_bytes(),
        ),
    ];
    let mut out = std::io::stdout().lock();
    for (path, bytes) in &files {
        std::fs::write(path, bytes)
            .with_context(|| format!("could not write `{}`", path.display()))?;
        writeln!(out, "{}", path.display())?;
    }
    Ok(Outcome::Done)
}

/// The subscriber record for `email` (compared case-insensitively) from the
/// subscriber folder or file: YAML, a list of records or `subscribers:` list.
fn find_subscriber(path: &Path, email: &str) -> Result<Subscriber> {
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum File {
        List(Vec<Subscriber>),
        Wrapped { subscribers: Vec<Subscriber> },
    }
    let files: Vec<PathBuf> = if path.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)
            .with_context(|| format!("could not read `{}`", path.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
            .collect();
        files.sort();
        files
    } else {
        vec![path.to_owned()]
    };
    let wanted = email.trim().to_lowercase();
    for file in &files {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("could not read `{}`", file.display()))?;
        let list = match serde_yaml::from_str::<File>(&text)
            .with_context(|| format!("`{}` is not a list of subscribers", file.display()))?
        {
            File::List(l) | File::Wrapped { subscribers: l } => l,
        };
        if let Some(s) = list.into_iter().find(|s| s.key() == wanted) {
            return Ok(s);
        }
    }
    bail!("no subscriber `{email}` in `{}`", path.display())
}
