//! What a permanent failure does to the subscriber: after `bounce_limit`
//! refusals in a row (over successive days) the reader is marked `bounced`
//! in the subscriber store, so later runs skip them.

use chrono::{DateTime, Utc};

use std::sync::Arc;

use super::ledger_writer::LedgerWriter;
use crate::model::SubscriberStatus;
use crate::subscribers::{StatusChange, Store};

/// What became of the subscriber after a permanent failure.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Still active: fewer refusals in a row than the limit (or no limit).
    Active,
    /// Marked bounced now.
    Bounced,
}

/// Counts the refusals in a row from the ledger and marks the subscriber
/// bounced at `limit` (0: never).
///
/// # Errors
/// The ledger could not be read (the run should stop); a store that cannot
/// be written is only logged, since the refusal itself is recorded.
pub(super) async fn after_refusal(
    store: Option<&Arc<dyn Store>>,
    writer: &LedgerWriter,
    key: &str,
    limit: u32,
    now: DateTime<Utc>,
) -> Result<Verdict, String> {
    let Some(store) = store else {
        return Ok(Verdict::Active);
    };
    if limit == 0 {
        return Ok(Verdict::Active);
    }
    let streak = writer
        .consecutive_failures(key)
        .await
        .map_err(|e| format!("the ledger could not be read: {e}"))?;
    if streak < limit {
        return Ok(Verdict::Active);
    }
    let store = Arc::clone(store);
    let k = key.to_owned();
    let changed = tokio::task::spawn_blocking(move || {
        store.set_status(
            &k,
            SubscriberStatus::Bounced,
            crate::model::Channel::Bounce,
            now,
        )
    })
    .await;
    match changed {
        Ok(Ok(StatusChange::Changed)) => Ok(Verdict::Bounced),
        Ok(Ok(StatusChange::Unchanged | StatusChange::NotFound)) => Ok(Verdict::Active),
        Ok(Err(e)) => {
            tracing::warn!("could not mark `{key}` bounced: {e}");
            Ok(Verdict::Active)
        }
        Err(e) => {
            tracing::warn!("could not mark `{key}` bounced: {e}");
            Ok(Verdict::Active)
        }
    }
}
