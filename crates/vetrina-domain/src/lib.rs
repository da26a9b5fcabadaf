//! Vetrina's domain: the nouns and rules every plane shares — organisations and roles, the
//! catalogue (products, variants, money, imports and exports), and shows with their run of show.
//!
//! This crate does no I/O: no sockets, no files, no clock, no randomness. Time comes in as an
//! argument, ids are made by the store, bytes to parse come in as `&str`/`&[u8]`. That keeps the
//! rules testable with plain unit tests and cheap to fuzz.

pub mod account;
pub mod calendar;
pub mod catalogue;
pub mod ids;
pub mod import;
pub mod money;
pub mod replay;
pub mod shop;
pub mod show;
pub mod text;

/// A rule of the domain was broken by the input. The message is meant for the person who sent the
/// input: it says what is wrong and, where it helps, what to send instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct Invalid {
    /// Where the problem is, as a JSON-pointer-like path (`variants/2/price_minor`).
    pub field: String,
    pub reason: String,
}

impl Invalid {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Invalid {
        Invalid { field: field.into(), reason: reason.into() }
    }
}
