//! The subscriber store and `hotpapers subscribers ...`: validation with
//! `file:line`, atomic locked writes that survive SIGKILL and concurrency,
//! CSV import that never resubscribes the suppression list.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use hotpapers::model::{Subscriber, SubscriberStatus};
use hotpapers::subscribers::SubscriberStore;

use crate::support::{fixture, hotpapers, run};

fn subs_cmd(file: &Path) -> std::process::Command {
    let mut cmd = hotpapers();
    cmd.env("HOTPAPERS_SUBSCRIBERS", file).arg("subscribers");
    cmd
}

/// `subscribers/example.yaml` is a copy of the list a fresh checkout ships
/// (the quick-start test in `send_cli` sends to the shipped one itself).
#[test]
fn the_example_list_is_valid_and_counted_by_status() {
    let path = fixture("subscribers/example.yaml");
    let (out, stdout, stderr) = run(subs_cmd(&path).arg("check"));
    assert!(out.status.success(), "{stdout}{stderr}");
    assert_eq!(
        stdout,
        "6 subscribers: 4 active, 1 unsubscribed, 1 bounced\n"
    );
}

#[test]
fn check_names_file_and_line_of_every_invalid_record() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("list.yaml");
    std::fs::write(
        &file,
        "# readers\n- email: ok@example.org\n- email: not an address\n- email: OK@Example.ORG\n  name: Again\n",
    )
    .unwrap();
    let (out, stdout, _) = run(subs_cmd(&file).arg("check"));
    assert_eq!(out.status.code(), Some(3));
    let f = file.display();
    assert_eq!(
        stdout,
        format!(
            "error: {f}:3: invalid address `not an address`: Missing domain or user\n\
             error: {f}:4: duplicate subscriber `OK@Example.ORG` (first at {f}:2; addresses compare case-insensitively)\n"
        )
    );
}

#[test]
fn unknown_fields_are_errors_at_their_line_and_unknown_categories_are_warnings() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("list.yaml");
    std::fs::write(&file, "- email: a@example.org\n  colour: blue\n").unwrap();
    let (out, stdout, _) = run(subs_cmd(&file).arg("check"));
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stdout.starts_with(&format!(
            "error: {}:2: unknown field `colour`",
            file.display()
        )),
        "{stdout}"
    );

    std::fs::write(&file, "- email: a@example.org\n  categories: [cs.lg]\n").unwrap();
    let (out, stdout, _) = run(subs_cmd(&file).arg("check"));
    assert!(out.status.success());
    assert_eq!(
        stdout,
        format!(
            "warning: {}:1: unknown arXiv category `cs.lg` for `a@example.org` (no paper will match it)\n\
             1 subscribers: 1 active, 0 unsubscribed, 0 bounced\n",
            file.display()
        )
    );
}

#[test]
fn add_remove_and_list_keep_every_other_record_and_the_header() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("list.yaml");
    std::fs::write(
        &file,
        "# Our readers\n- email: first@example.org\n  name: First\n",
    )
    .unwrap();
    let (out, stdout, _) = run(subs_cmd(&file).args([
        "add",
        "new@example.org",
        "--name",
        "New Reader",
        "--categories",
        "cs.LG,stat.ML",
    ]));
    assert!(out.status.success());
    assert_eq!(stdout, "added new@example.org\n");
    let (out, stdout, _) = run(subs_cmd(&file).args(["remove", "FIRST@example.org"]));
    assert!(out.status.success());
    assert_eq!(
        stdout,
        "unsubscribed FIRST@example.org (kept as suppression)\n"
    );
    let (_, stdout, _) = run(subs_cmd(&file).arg("list"));
    assert_eq!(
        stdout,
        "first@example.org\tunsubscribed\tFirst\t\tdaily\t\t\nnew@example.org\tactive\tNew Reader\tcs.LG,stat.ML\tdaily\t\t\n"
    );
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.starts_with("# Our readers\n"), "{text}");
    let list = SubscriberStore::open(&file).unwrap().load().unwrap();
    assert!(list
        .get("first@example.org")
        .unwrap()
        .status_changed_at
        .is_some());

    let (out, _, stderr) = run(subs_cmd(&file).args(["remove", "nobody@example.org"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains("no subscriber `nobody@example.org`"),
        "{stderr}"
    );
    let (out, _, stderr) = run(subs_cmd(&file).args(["add", "broken@"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("invalid address `broken@`"), "{stderr}");
}

#[test]
fn csv_import_adds_new_readers_reports_bad_rows_and_never_resubscribes() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("list.yaml");
    std::fs::write(&file, "- email: left@example.org\n  status: unsubscribed\n").unwrap();
    let csv = dir.path().join("import.csv");
    std::fs::write(
        &csv,
        "email,name,categories,max_papers\n\
         a@example.org,Ada,cs.LG;stat.ML,5\n\
         LEFT@example.org,Back Again,,\n\
         not-an-address,X,,\n\
         b@example.org,,,lots\n\
         c@example.org,Cy,,\n",
    )
    .unwrap();
    let (out, stdout, _) = run(subs_cmd(&file).arg("import").arg(&csv));
    assert_eq!(out.status.code(), Some(3), "{stdout}");
    let c = csv.display();
    assert!(
        stdout.contains(&format!("skipped: {c}:4: invalid address `not-an-address`")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "skipped: {c}:5: `max_papers` `lots` is not a number"
        )),
        "{stdout}"
    );
    assert!(
        stdout.ends_with(
            "imported 2 new subscriber(s); 1 already present (left unchanged); 2 row(s) skipped\n"
        ),
        "{stdout}"
    );
    let list = SubscriberStore::open(&file).unwrap().load().unwrap();
    assert_eq!(list.len(), 3);
    assert_eq!(
        list.get("left@example.org").unwrap().status,
        SubscriberStatus::Unsubscribed
    );
    let a = list.get("a@example.org").unwrap();
    assert_eq!(
        (a.name.as_deref(), a.max_papers, a.categories.len()),
        (Some("Ada"), Some(5), 2)
    );
}

#[test]
fn concurrent_updates_through_the_lock_never_lose_a_record() {
    let dir = tempfile::tempdir().unwrap();
    let store = SubscriberStore::open(dir.path()).unwrap();
    std::thread::scope(|s| {
        for t in 0..6 {
            let store = store.clone();
            s.spawn(move || {
                for i in 0..15 {
                    store
                        .update(|list| {
                            list.upsert(Subscriber::new(format!("t{t}-{i}@example.org")));
                            Ok(())
                        })
                        .unwrap();
                }
            });
        }
    });
    assert_eq!(store.load().unwrap().len(), 90);
}

#[test]
fn a_write_killed_with_sigkill_leaves_every_record_readable() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("list.yaml");
    let mut yaml = String::new();
    for i in 0..200 {
        yaml.push_str(&format!("- email: keep{i}@example.org\n"));
    }
    std::fs::write(&file, &yaml).unwrap();
    let mut csv = String::from("email,name\n");
    for i in 0..40_000 {
        csv.push_str(&format!("new{i}@example.org,Reader {i}\n"));
    }
    let csv_path = dir.path().join("big.csv");
    std::fs::write(&csv_path, csv).unwrap();
    for delay_ms in [5, 40, 120, 300, 600] {
        let mut child = subs_cmd(&file)
            .arg("import")
            .arg(&csv_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        let list = SubscriberStore::open(&file).unwrap().load().unwrap();
        // Either the old file or the whole new one: never a torn write.
        assert!(list.len() == 200 || list.len() == 40_200, "{}", list.len());
        for i in 0..200 {
            assert!(list.get(&format!("keep{i}@example.org")).is_some());
        }
    }
}

/// `add`, a changing `add`, `remove` and `import` leave their consent
/// events; an old record without consent is shown (and exported) as it is.
#[test]
fn operator_commands_are_on_the_consent_record_and_old_records_show_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("list.yaml");
    std::fs::write(&file, "- email: old@example.org\n  name: Old Reader\n").unwrap();
    let ok = |args: &[&str]| {
        let (out, stdout, stderr) = run(subs_cmd(&file).args(args));
        assert!(out.status.success(), "{args:?}: {stdout}{stderr}");
        (stdout, stderr)
    };
    let (shown, note) = ok(&["show", "OLD@example.org"]);
    assert_eq!(shown, "- email: old@example.org\n  name: Old Reader\n");
    assert!(note.contains("no consent history"), "{note}");

    ok(&["add", "ada@example.org", "--name", "Ada"]);
    ok(&[
        "add",
        "ada@example.org",
        "--cadence",
        "weekly",
        "--keywords",
        "diffusion",
    ]);
    ok(&["remove", "ada@example.org"]);
    let csv = dir.path().join("new.csv");
    std::fs::write(&csv, "email,name\nbob@example.org,Bob\n").unwrap();
    ok(&["import", csv.to_str().unwrap()]);

    let ada = SubscriberStore::open(&file)
        .unwrap()
        .load()
        .unwrap()
        .get("ada@example.org")
        .cloned()
        .unwrap();
    let consent = ada.consent.unwrap();
    assert_eq!(consent.source, Some(hotpapers::model::Channel::Cli));
    assert!(consent.confirmed_at.is_some());
    let events: Vec<String> = consent
        .events
        .iter()
        .map(|e| {
            format!(
                "{:?} {} {}",
                e.event,
                e.via.as_str(),
                e.fields.as_deref().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(
        events,
        [
            "Subscribed cli ",
            "Changed cli cadence, keywords",
            "Withdrawn cli "
        ]
    );
    let (shown, _) = ok(&["show", "bob@example.org"]);
    assert!(shown.contains("source: import"), "{shown}");
    let (exported, _) = ok(&["export"]);
    assert!(
        exported
            .starts_with("- email: old@example.org\n  name: Old Reader\n- email: ada@example.org"),
        "{exported}"
    );
    let (_, stderr) = ok(&["export", "--format", "csv"]);
    assert_eq!(stderr, "3 subscribers exported\n");
}
