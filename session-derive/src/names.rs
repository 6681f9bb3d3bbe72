//! The names both macros know: the attribute's name and the per-request options, so that
//! the derive can tell a handler option written on a struct by mistake.

/// The attribute's name: `#[session(..)]` on a handler, and the derive's helper.
pub(crate) const SESSION: &str = "session";

/// One per-request option of `#[session(..)]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Opt {
    ChangeId,
    Expire,
    NoStore,
    LateStore,
    /// Not a flag: a CSRF check added as the handler's first extractor.
    Csrf,
}

/// The valid words, in the order they are listed in hints.
pub(crate) const HANDLER_OPTIONS: [(&str, Opt); 5] = [
    ("change_id", Opt::ChangeId),
    ("expire", Opt::Expire),
    ("no_store", Opt::NoStore),
    ("late_store", Opt::LateStore),
    ("csrf", Opt::Csrf),
];
