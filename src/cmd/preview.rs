//! `hotpapers preview --date DAY [--subscriber EMAIL] [--out DIR]`: renders
//! one day's email exactly as `send` would and writes `DIR/DAY.eml`,
//! `DIR/DAY.html` and `DIR/DAY.txt`, so it can be read, checked
//! (`check-email`) and screenshotted before anyone gets it. With
//! `--weekly`, the weekly edition of the seven days ending on DAY
//! (`DIR/DAY-weekly.*`).

use std::io::Write;

use anyhow::{bail, Context, Result};

use super::Outcome;
use crate::cli::PreviewArgs;
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::digest;
use crate::model::{Subscriber, Week};

/// The reader a preview is rendered for when no `--subscriber` is given.
const EXAMPLE_READER: &str = "reader@example.org";

/// Renders and writes the three files, printing their paths.
pub(super) fn run(config: &Config, args: &PreviewArgs) -> Result<Outcome> {
    let day = args.date;
    let newsletter = super::newsletter(config)?;
    let mailer = super::mailer(config)?;
    let archive = digest::load_archive(&config.digests).with_context(|| {
        format!(
            "could not read the digests in `{}`",
            config.digests.display()
        )
    })?;
    let subscriber = match &args.subscriber {
        Some(email) => find_subscriber(config, email)?,
        None => Subscriber::new(EXAMPLE_READER),
    };
    let edition = if args.weekly {
        let week = Week::ending(day);
        let edition = newsletter.weekly_edition(week, archive.iter());
        if edition.digest().papers.is_empty() {
            bail!(
                "no digest of {} to {} in `{}` has papers: there is no weekly email to preview",
                week.start,
                week.end,
                config.digests.display()
            );
        }
        edition
    } else {
        let Some(digest) = archive.get(day) else {
            bail!(
                "no digest for {day} in `{}` ({} digests found)",
                config.digests.display(),
                archive.len()
            );
        };
        if digest.papers.is_empty() {
            bail!("the digest of {day} has no papers: there is no email to preview");
        }
        newsletter.edition(digest)?
    };
    let Some(rendered) = edition.render_for(&subscriber)? else {
        bail!(
            "the filter of `{}` leaves no paper of {day}: `send` would skip them",
            subscriber.email
        );
    };
    let message = mailer
        .edition(&edition)
        .message_for(&subscriber, SystemClock.now())?
        .context("the subscriber's filter leaves no paper")?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("could not create `{}`", args.out.display()))?;
    let mut stem = day.format("%Y-%m-%d").to_string();
    if args.weekly {
        stem.push_str("-weekly");
    }
    let files = [
        (args.out.join(format!("{stem}.eml")), message.bytes),
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
/// subscriber store.
fn find_subscriber(config: &Config, email: &str) -> Result<Subscriber> {
    let place = crate::state::subscribers_place(config);
    let list = crate::state::subscriber_store(config)
        .and_then(|store| store.load())
        .with_context(|| format!("could not read the subscribers in {place}"))?;
    match list.get(email) {
        Some(s) => Ok(s.clone()),
        None => bail!("no subscriber `{email}` in {place}"),
    }
}
