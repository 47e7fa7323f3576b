//! hotpapers turns the daily "Hot Papers" digest (the arXiv papers most talked
//! about on Twitter) into feeds and an email newsletter.
//!
//! Data flows one way, and the modules read in that order:
//! `digest` (files → [`model::Digest`]) → `feed` | `site` | `email` (renderers
//! that return values) → `delivery` (who is due, the messages, SMTP or the
//! outbox, retries, bounces, with the `ledger` as the exactly-once record).
//! `subscribers` holds the mailing list; `db` keeps it and the ledger in
//! PostgreSQL instead of files, and `state` says which the settings name;
//! `build` runs the site's stages
//! over the archive, reusing what the last build left; `cmd` wires the
//! stages for each subcommand and does the rest of the I/O.
//! Beside the flow: `templates` is the one template loader the renderers share,
//! `html` the one HTML escaper and the tweet sanitizer, and `cite` a paper as
//! BibTeX and `COinS`, `tex` the TeX of abstracts and titles as HTML
//! (MathML) and Unicode text, `links` the bare URLs in text.

// `cargo clippy -- -W clippy::pedantic` (in `.ci/run`) holds, with these
// named exceptions where pedantic is wrong for this code:
#![allow(
    // Counts become rates, percentages and entropy estimates as f64; none
    // comes near 2^52.
    clippy::cast_precision_loss,
    // The longest functions (the send loop, the line parser, settings
    // validation, `send`'s wiring) read best as one sequence of steps.
    clippy::too_many_lines,
    // A `match` with a fallback arm reads as a decision table.
    clippy::single_match_else
)]

pub mod atomic;
pub mod bounces;
pub mod build;
pub mod cite;
pub mod cli;
pub mod clock;
pub mod cmd;
pub mod config;
pub mod db;
pub mod delivery;
pub mod digest;
pub mod email;
pub mod feed;
pub mod html;
pub mod ledger;
pub mod links;
pub mod model;
pub mod output;
pub mod render;
pub mod search;
pub mod secret;
pub mod serve;
pub mod site;
pub mod state;
pub mod subscribers;
pub mod templates;
pub mod tex;
pub mod text;
pub mod token;
