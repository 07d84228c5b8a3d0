//! Access control: scopes, secrets, and the guard every tenant route takes.

pub mod extractor;
pub mod rate_limit;
pub mod scope;
pub mod token;

pub use extractor::{Authed, Principal, need};
