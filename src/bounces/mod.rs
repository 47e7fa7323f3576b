//! The mail that comes back: bounces (DSNs and the many formats that are
//! not), complaints (feedback-loop reports) and unsubscribes by mail, read
//! from a Maildir, an IMAP folder or an MTA's pipe, attributed to a reader
//! and acted on through the subscriber store, with every event kept in the
//! ledger.

pub mod maildir;
