//! Integration tests: one module per part of the pipeline. Each runs the
//! library or the real binary against files under `tests/fixtures/`.

// Tests wait on the wall clock and draw test data at random; the rule that
// time and randomness go through `clock::Clock` is for the program.
#![allow(clippy::disallowed_methods)]
// Pedantic, where it is wrong for tests: a test reads as one story however
// long, builds its fixtures with `format!`, and names its throwaway values short.
#![allow(
    clippy::too_many_lines,
    clippy::format_push_string,
    clippy::format_collect,
    clippy::many_single_char_names,
    clippy::case_sensitive_file_extension_comparisons,
    // Counts in tests are small.
    clippy::cast_possible_truncation,
    // A test names its constants where it uses them.
    clippy::items_after_statements
)]

mod bounce_loop;
mod bounces;
mod build;
mod cadence;
mod database;
mod digest;
mod dovecot;
mod email;
mod feed;
mod hardening;
mod imap;
mod ledger;
mod newsboat;
mod postfix;
mod postgres;
mod preferences;
mod search;
mod send;
mod send_cli;
mod serve;
mod settings;
mod site;
mod smtp_server;
mod store;
mod subscribers;
mod support;
mod tex;
mod tls;
mod webhooks;
mod weekly;
