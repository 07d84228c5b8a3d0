//! Per-tenant in-memory ranked full-text search over corpus entries.
//!
//! * [`lang`]: the one English/French language detector (stopword votes).
//! * [`tokenize`]: tokenising, folding and stemming a word into index terms.
//! * [`query`]: free text to the query positions the index evaluates.
//! * [`document`]: a corpus entry to its weighted terms ([`AnalyzedDoc`]);
//!   [`codec`] is their persisted binary form.
//! * [`index`]: BM25 index per tenant ([`TenantIndex`]) and the thread-safe
//!   registry of tenants ([`Index`]).
//! * [`passage`]: the most relevant excerpt of an entry for a query.
//! * [`semantic`]: a static embedding model, so a question can find an entry it shares no
//!   word with ("How do I get my money back?" / "Refund policy").
//!
//! The store is the source of truth; this module never does I/O.

pub mod codec;
pub mod document;
pub mod index;
pub mod lang;
pub mod passage;
pub mod query;
pub mod semantic;
mod stopwords;
pub mod tokenize;

#[cfg(test)]
mod analysis_tests;

/// The hash map of the analysis hot paths: foldhash instead of SipHash, which was a tenth of
/// an import's profile. Seeded per map, so a tenant cannot precompute collisions.
pub(crate) type FastMap<K, V> = hashbrown::HashMap<K, V, foldhash::fast::RandomState>;

pub use codec::DecodeError;
pub use document::{ANALYZER_VERSION, AnalyzedDoc, analyze_doc, analyze_entry};
pub use index::{DocMeta, Explained, Hit, Index, SegmentFilter, TenantIndex};
pub use lang::{Lang, detect_lang, evidence, visitor_lang};
pub use passage::{Located, Passage, best_passage, passage};
pub use query::{MAX_QUERY_TERMS, Query, QueryTerm, analyze_query};
pub use tokenize::byte_prefix;
