//! The mail that comes back: bounces (DSNs and the many formats that are
//! not), complaints (feedback-loop reports), auto-replies and unsubscribes
//! by mail, read from a Maildir or an MTA's pipe, attributed to a reader and
//! acted on through the subscriber store, with every event kept in the
//! ledger. [`classify`] is pure: bytes in, a [`Report`] out; it touches no
//! file, no store and no clock; [`process`] acts; [`maildir`] reads.

mod classify;
pub mod imap;
pub mod maildir;
pub mod process;
mod reason;
mod ses;
pub mod sns;
mod text;
pub mod webhook;

pub use classify::{classify, Kind, OriginalHeaders, Recipient, Report, MAX_INPUT};
pub use reason::{hard, reason, Reason};
