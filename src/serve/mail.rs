//! The confirmation emails of `POST /subscribe`, sent from a queue in the
//! background so that the answer takes the same time, and is the same page,
//! whether or not an email goes out (a mailbox over its limit gets none, and
//! the mail server may be slow or down): timing tells nobody which.
//!
//! The queue is bounded ([`MAIL_QUEUE`]); a confirmation that finds it full is
//! dropped and logged. Failures are logged without the address. [`super::run`]
//! starts the worker and, at shutdown, lets it send what is queued (for at
//! most [`MAIL_DRAIN_SECONDS`]).

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;
use url::Url;

use super::subscribe::CONFIRM_TTL_HOURS;
use crate::delivery::{Mailer, MessageError, Transport};
use crate::email::Newsletter;
use crate::model::{Category, EmailAddress};
use crate::token::{ConfirmClaim, Signer};

/// Confirmations waiting to be sent, at most.
const MAIL_QUEUE: usize = 256;
/// Confirmations being sent at once.
const MAIL_CONCURRENCY: usize = 4;
/// How long shutdown waits for the queue to empty.
const MAIL_DRAIN_SECONDS: u64 = 30;

/// One confirmation to send: who asked, for what, when.
#[derive(Debug)]
pub(crate) struct ConfirmationRequest {
    pub(crate) email: EmailAddress,
    pub(crate) categories: BTreeSet<Category>,
    pub(crate) at: DateTime<Utc>,
    /// The form's wording version and the client, for the consent record.
    pub(crate) signup: crate::model::SignUp,
}

/// What making and sending a confirmation needs.
pub(crate) struct Composer {
    pub(crate) site_url: Url,
    pub(crate) newsletter: Newsletter,
    pub(crate) mailer: Mailer,
    pub(crate) transport: Arc<dyn Transport>,
    pub(crate) signer: Signer,
}

/// The queue: the handlers' end, and the worker's until [`MailQueue::start`].
pub(crate) struct MailQueue {
    tx: mpsc::Sender<ConfirmationRequest>,
    rx: Mutex<Option<mpsc::Receiver<ConfirmationRequest>>>,
    composer: Arc<Composer>,
}

impl std::fmt::Debug for MailQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailQueue")
            .field("queued", &(MAIL_QUEUE - self.tx.capacity()))
            .finish_non_exhaustive()
    }
}

/// The running worker; [`MailWorker::finish`] sends what is left and stops it.
#[derive(Debug)]
pub(crate) struct MailWorker {
    stop: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl MailQueue {
    pub(crate) fn new(composer: Composer) -> Self {
        let (tx, rx) = mpsc::channel(MAIL_QUEUE);
        Self {
            tx,
            rx: Mutex::new(Some(rx)),
            composer: Arc::new(composer),
        }
    }

    /// Queues a confirmation; never waits. A full or stopped queue drops it.
    pub(crate) fn enqueue(&self, request: ConfirmationRequest) {
        match self.tx.try_send(request) {
            Ok(()) => tracing::debug!("confirmation email queued"),
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::warn!("confirmation email dropped: the queue of {MAIL_QUEUE} is full");
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                tracing::warn!("confirmation email dropped: the server is shutting down");
            }
        }
    }

    /// Starts sending in the background (once; later calls start nothing).
    pub(crate) fn start(&self) -> MailWorker {
        let stop = CancellationToken::new();
        let rx = self.rx.lock().ok().and_then(|mut rx| rx.take());
        let task = rx.map(|rx| tokio::spawn(work(rx, Arc::clone(&self.composer), stop.clone())));
        MailWorker { stop, task }
    }
}

impl MailWorker {
    /// Refuses new confirmations, sends those queued, and returns when done
    /// or after [`MAIL_DRAIN_SECONDS`].
    pub(crate) async fn finish(mut self) {
        self.stop.cancel();
        let Some(mut task) = self.task.take() else {
            return;
        };
        let limit = Duration::from_secs(MAIL_DRAIN_SECONDS);
        if tokio::time::timeout(limit, &mut task).await.is_err() {
            tracing::warn!(
                "confirmation emails still unsent after {MAIL_DRAIN_SECONDS} s: dropped"
            );
            task.abort();
        }
    }
}

async fn work(
    mut rx: mpsc::Receiver<ConfirmationRequest>,
    composer: Arc<Composer>,
    stop: CancellationToken,
) {
    let mut sending = JoinSet::new();
    let mut stopping = false;
    loop {
        tokio::select! {
            () = stop.cancelled(), if !stopping => {
                // Refuse new ones; what is queued still comes out of `recv`.
                rx.close();
                stopping = true;
            }
            Some(_) = sending.join_next(), if !sending.is_empty() => {}
            request = rx.recv(), if sending.len() < MAIL_CONCURRENCY => {
                let Some(request) = request else { break };
                let composer = Arc::clone(&composer);
                sending.spawn(async move { composer.send(request).await });
            }
        }
    }
    while sending.join_next().await.is_some() {}
}

impl Composer {
    /// Makes and sends one confirmation, logging the outcome (never the address).
    async fn send(&self, request: ConfirmationRequest) {
        let ConfirmationRequest {
            email,
            categories,
            at,
            signup,
        } = request;
        let claim = ConfirmClaim {
            email: email.to_string(),
            categories: categories.iter().map(|c| c.as_str().to_owned()).collect(),
            issued: at,
            expires: at + chrono::Duration::hours(CONFIRM_TTL_HOURS),
            signup: Some(signup),
        };
        let token = self.signer.confirm_token(&claim);
        let mut url = self
            .site_url
            .join("confirm")
            .unwrap_or_else(|_| self.site_url.clone());
        url.query_pairs_mut().append_pair("token", &token);
        let built = self
            .newsletter
            .render_confirmation(email.as_str(), url.as_str())
            .map_err(MessageError::from)
            .and_then(|rendered| self.mailer.confirmation(email.as_str(), &rendered, at));
        let sent = match built {
            Ok(msg) => self
                .transport
                .send(&msg)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match sent {
            Ok(()) => tracing::info!("confirmation email sent"),
            Err(e) => tracing::warn!(
                "confirmation email not sent: {}",
                without_address(&e, email.as_str())
            ),
        }
    }
}

/// `text` with every spelling of `address` (any case) replaced: mail server
/// replies often quote the recipient, and logs must not hold it.
fn without_address(text: &str, address: &str) -> String {
    let lower_text = text.to_lowercase();
    let lower_addr = address.to_lowercase();
    if lower_addr.is_empty() || lower_text.len() != text.len() {
        // Case folding changed lengths (non-ASCII): be blunt rather than wrong.
        return if lower_text.contains(&lower_addr) {
            "(details withheld: they name the recipient)".to_owned()
        } else {
            text.to_owned()
        };
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = 0;
    for (at, _) in lower_text.match_indices(&lower_addr) {
        if at < rest {
            continue;
        }
        out.push_str(&text[rest..at]);
        out.push_str("<recipient>");
        rest = at + lower_addr.len();
    }
    out.push_str(&text[rest..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_14_failures_are_logged_without_the_address() {
        assert_eq!(
            without_address(
                "550 5.1.1 <Ada@Example.org>: unknown user",
                "ada@example.org"
            ),
            "550 5.1.1 <<recipient>>: unknown user"
        );
        assert_eq!(
            without_address("connection refused", "ada@example.org"),
            "connection refused"
        );
    }
}
