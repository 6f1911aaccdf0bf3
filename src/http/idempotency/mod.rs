//! `Idempotency-Key`: the key and its fingerprint ([`key`]), and a keyed request's flow
//! ([`flow`]).

pub mod flow;
pub mod key;
