//! Per-tenant in-memory ranked full-text search over corpus entries.
//!
//! * [`analyze`]: tokenising, stopwords, stemming (English/French), folding,
//!   and the persisted [`AnalyzedDoc`] encoding.
//! * [`index`]: BM25 index per tenant ([`TenantIndex`]) and the thread-safe
//!   registry of tenants ([`Index`]).
//! * [`passage`]: the most relevant excerpt of an entry for a query.
//!
//! The store is the source of truth; this module never does I/O.

pub mod analyze;
pub mod index;
pub mod passage;
mod stopwords;

pub use analyze::{
    ANALYZER_VERSION, AnalyzedDoc, DecodeError, MAX_QUERY_TERMS, Query, QueryTerm, analyze_doc,
    analyze_query,
};
pub use index::{DocMeta, Hit, Index, SegmentFilter, TenantIndex};
pub use passage::best_passage;
