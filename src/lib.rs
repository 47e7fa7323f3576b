//! hotpapers turns the daily "Hot Papers" digest (the arXiv papers most talked
//! about on Twitter) into feeds and an email newsletter.
//!
//! Data flows one way, and the modules read in that order:
//! `digest` (files → [`model::Digest`]) → `feed` | `email` (renderers that return
//! values) → `deliver` (lettre messages over SMTP or to an outbox) → `ledger`
//! (SQLite, exactly-once bookkeeping). `subscribers` holds the mailing list;
//! `cmd` wires the stages for each subcommand and is the only layer doing I/O.
//! Beside the flow: `templates` is the one template loader the renderers share,
//! and `html` the one HTML escaper and the tweet sanitizer.

pub mod atomic;
pub mod cli;
pub mod clock;
pub mod cmd;
pub mod config;
pub mod deliver;
pub mod digest;
pub mod email;
pub mod feed;
pub mod html;
pub mod ledger;
pub mod model;
pub mod output;
pub mod render;
pub mod secret;
pub mod send;
pub mod serve;
pub mod site;
pub mod subscribers;
pub mod templates;
pub mod token;
