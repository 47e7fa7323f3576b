//! hotpapers turns the daily "Hot Papers" digest (the arXiv papers most talked
//! about on Twitter) into feeds and an email newsletter.
//!
//! Data flows one way, and the modules read in that order:
//! `digest` (files → [`model::Digest`]) → `feed` | `site` | `email` (renderers
//! that return values) → `delivery` (who is due, the messages, SMTP or the
//! outbox, retries, bounces, with the `ledger` as the exactly-once record).
//! `subscribers` holds the mailing list; `cmd` wires the stages for each
//! subcommand and is the only layer doing I/O.
//! Beside the flow: `templates` is the one template loader the renderers share,
//! and `html` the one HTML escaper and the tweet sanitizer.

pub mod atomic;
pub mod cli;
pub mod clock;
pub mod cmd;
pub mod config;
pub mod delivery;
pub mod digest;
pub mod email;
pub mod feed;
pub mod html;
pub mod ledger;
pub mod model;
pub mod output;
pub mod render;
pub mod secret;
pub mod serve;
pub mod site;
pub mod subscribers;
pub mod templates;
pub mod token;
