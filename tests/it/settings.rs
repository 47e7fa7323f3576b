//! `.env.example` is the operator's reference: it must name every setting the
//! program reads, and its values must be accepted as they stand.

use clap::CommandFactory;
use hotpapers::cli::Cli;

use crate::support::{fixture, hotpapers, run};

/// Every `HOTPAPERS_*` variable the command line reads, subcommands included.
fn env_names() -> Vec<String> {
    fn walk(cmd: &clap::Command, out: &mut Vec<String>) {
        for arg in cmd.get_arguments() {
            if let Some(env) = arg.get_env() {
                out.push(env.to_string_lossy().into_owned());
            }
        }
        for sub in cmd.get_subcommands() {
            walk(sub, out);
        }
    }
    let mut out = Vec::new();
    walk(&Cli::command(), &mut out);
    out.sort();
    out.dedup();
    out
}

fn env_example() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/.env.example"))
        .expect(".env.example exists")
}

/// `NAME=value` pairs of the lines that are not commented out.
fn active_assignments(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

#[test]
fn env_example_lists_every_setting_the_program_reads() {
    let text = env_example();
    let missing: Vec<_> = env_names()
        .into_iter()
        .filter(|name| !text.contains(&format!("{name}=")))
        .collect();
    assert!(missing.is_empty(), "not in .env.example: {missing:?}");
}

#[test]
fn env_example_names_no_setting_the_program_ignores() {
    let known = env_names();
    let text = env_example();
    let unknown: Vec<_> = text
        .lines()
        .map(|l| l.trim_start_matches('#').trim())
        .filter_map(|l| l.split_once('=').map(|(k, _)| k.trim()))
        .filter(|k| k.starts_with("HOTPAPERS_") && !known.iter().any(|n| n == k))
        .map(str::to_owned)
        .collect();
    assert!(
        unknown.is_empty(),
        "unknown settings in .env.example: {unknown:?}"
    );
}

/// Run where its relative folders (`digests`, `subscribers`, `templates`)
/// are fixtures copied into a temporary folder, not the operator's.
#[test]
fn env_example_values_are_accepted_as_they_stand() {
    let dir = tempfile::tempdir().unwrap();
    let digests = dir.path().join("digests");
    std::fs::create_dir_all(&digests).unwrap();
    for entry in std::fs::read_dir(fixture("archive")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, digests.join(path.file_name().unwrap())).unwrap();
    }
    std::fs::create_dir_all(dir.path().join("subscribers")).unwrap();
    std::fs::copy(
        fixture("subscribers/example.yaml"),
        dir.path().join("subscribers/subscribers.yaml"),
    )
    .unwrap();
    let mut cmd = hotpapers();
    cmd.current_dir(dir.path()).arg("check");
    for (k, v) in active_assignments(&env_example()) {
        cmd.env(k, v);
    }
    let (out, stdout, stderr) = run(&mut cmd);
    assert!(out.status.success(), "{stdout}\n{stderr}");
}
