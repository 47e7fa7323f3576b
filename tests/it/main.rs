//! Integration tests: one module per part of the pipeline. Each runs the
//! library or the real binary against files under `tests/fixtures/`.

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
