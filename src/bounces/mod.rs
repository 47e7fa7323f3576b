//! Returned mail: bounces, complaints, auto-replies, mailto unsubscribes.
//! Beside the flow, fed by `inbound` (Maildir, IMAP, pipe) and feeding the
//! store's bounce rules. [`classify`] is pure: bytes in, a [`Report`] out; it
//! touches no file, no store and no clock.

mod classify;
mod reason;
mod ses;
mod text;

pub use classify::{classify, Kind, OriginalHeaders, Recipient, Report, MAX_INPUT};
pub use reason::{hard, reason, Reason};
