//! Integration tests: one module per part of the pipeline. Each runs the
//! library or the real binary against files under `tests/fixtures/`.

// Tests wait on the wall clock and draw test data at random; the rule that
// time and randomness go through `clock::Clock` is for the program.
#![allow(clippy::disallowed_methods)]

mod digest;
mod email;
mod feed;
mod hardening;
mod send;
mod send_cli;
mod serve;
mod settings;
mod site;
mod smtp_server;
mod subscribers;
mod support;
mod tls;
