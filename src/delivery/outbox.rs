//! The transport when no SMTP server is set: each message becomes an `.eml`
//! file in the outbox folder, named after its Message-ID (`-2`, `-3`… when
//! the same message is written again, as a server would receive it again),
//! written atomically and private (0600), since every message carries its
//! reader's unsubscribe token.

use std::path::PathBuf;

use super::transport::{BoxFuture, DeliverError, Outgoing, Reply, Step, Transport};
use crate::atomic::{self, NewFileMode};

/// Writes messages as files instead of sending them.
#[derive(Debug, Clone)]
pub struct Outbox {
    dir: PathBuf,
    /// Held while a free file name is chosen and written.
    naming: std::sync::Arc<std::sync::Mutex<()>>,
}

impl Outbox {
    /// An outbox in `dir` (created on the first message).
    #[must_use]
    pub fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            naming: std::sync::Arc::default(),
        }
    }

    /// `<2021-02-12.ab12…@example.org>` → `2021-02-12.ab12….eml`: the id's
    /// local part, with anything but letters, digits, `.`, `-` and `_` replaced.
    fn file_name(message_id: &str) -> String {
        let id = message_id
            .trim()
            .trim_start_matches('<')
            .trim_end_matches('>');
        let local = id.rsplit_once('@').map_or(id, |(l, _)| l);
        let mut name: String = local
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        if name.is_empty() || name.starts_with('.') {
            name.insert(0, 'm');
        }
        name.push_str(".eml");
        name
    }

    fn write(&self, message: &Outgoing) -> Result<String, DeliverError> {
        let _naming = self
            .naming
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let name = Self::file_name(&message.message_id);
        let stem = name.trim_end_matches(".eml");
        let mut path = self.dir.join(&name);
        let mut n = 2u32;
        while path.exists() && n < u32::MAX {
            path = self.dir.join(format!("{stem}-{n}.eml"));
            n += 1;
        }
        atomic::replace(&path, &message.bytes, NewFileMode::Private).map_err(|e| {
            DeliverError::Config {
                reply: Reply::uncoded(
                    Step::Outbox,
                    format!("could not write `{}`: {e}", path.display()),
                ),
                fix: "check that HOTPAPERS_OUTBOX is a folder this user can write".to_owned(),
            }
        })?;
        Ok(format!("written to {}", path.display()))
    }
}

impl Transport for Outbox {
    fn send<'a>(&'a self, message: &'a Outgoing) -> BoxFuture<'a, Result<String, DeliverError>> {
        Box::pin(async move {
            let this = self.clone();
            let message = message.clone();
            tokio::task::spawn_blocking(move || this.write(&message))
                .await
                .unwrap_or_else(|e| {
                    Err(DeliverError::Config {
                        reply: Reply::uncoded(Step::Outbox, e.to_string()),
                        fix: "this is a bug, please report it".to_owned(),
                    })
                })
        })
    }

    fn notice(&self) -> Option<String> {
        Some(format!(
            "no SMTP server set (HOTPAPERS_SMTP_URL): writing each message as an .eml file in `{}`",
            self.dir.display()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_come_from_the_message_id_and_cannot_leave_the_folder() {
        assert_eq!(
            Outbox::file_name("<2021-02-12.0a1b2c@example.org>"),
            "2021-02-12.0a1b2c.eml"
        );
        assert_eq!(
            Outbox::file_name("<../../etc/passwd@x>"),
            "m.._.._etc_passwd.eml"
        );
        assert_eq!(Outbox::file_name("<@x>"), "m.eml");
    }
}
