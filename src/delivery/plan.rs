//! Who is due in a run: one decision per active subscriber from what the
//! ledger says of them for the day, used by the real run and the dry run alike.

use crate::config::UnknownPolicy;
use crate::ledger::State;

use super::SendOptions;

/// What to do with one active subscriber.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Decision {
    /// Sent in an earlier run (and no `--resend`).
    AlreadySent,
    /// Refused for good earlier: never retried.
    Failed,
    /// Cut after DATA earlier, and the policy is `skip`.
    LeftUnknown,
    /// Due, but beyond `--limit`: the next run takes it.
    Later,
    /// Due now.
    Send,
}

/// Counts what is queued, to apply `--limit`.
#[derive(Debug)]
pub(super) struct Plan<'o> {
    opts: &'o SendOptions,
    queued: usize,
}

impl<'o> Plan<'o> {
    pub(super) fn new(opts: &'o SendOptions) -> Self {
        Self { opts, queued: 0 }
    }

    /// The decision for a subscriber whose ledger row for the day is `state`.
    /// A `skipped` row is looked at again (the reader's filter may have
    /// changed); `deferred`, `pending` and `unknown` under `resend` are due.
    pub(super) fn decide(&mut self, state: Option<State>) -> Decision {
        match state {
            Some(State::Sent) if !self.opts.resend => return Decision::AlreadySent,
            Some(State::Failed) => return Decision::Failed,
            Some(State::Unknown) if self.opts.unknown_policy == UnknownPolicy::Skip => {
                return Decision::LeftUnknown
            }
            _ => {}
        }
        if self.opts.limit.is_some_and(|l| self.queued >= l) {
            return Decision::Later;
        }
        self.queued += 1;
        Decision::Send
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sent_and_failed_rows_are_not_due_and_the_limit_counts_only_the_due() {
        let mut opts = SendOptions::for_day(chrono::NaiveDate::MIN);
        opts.limit = Some(1);
        let mut plan = Plan::new(&opts);
        assert_eq!(plan.decide(Some(State::Sent)), Decision::AlreadySent);
        assert_eq!(plan.decide(Some(State::Failed)), Decision::Failed);
        assert_eq!(plan.decide(Some(State::Unknown)), Decision::Send);
        assert_eq!(plan.decide(None), Decision::Later);
        opts.unknown_policy = UnknownPolicy::Skip;
        opts.resend = true;
        let mut plan = Plan::new(&opts);
        assert_eq!(plan.decide(Some(State::Unknown)), Decision::LeftUnknown);
        assert_eq!(plan.decide(Some(State::Sent)), Decision::Send);
    }
}
