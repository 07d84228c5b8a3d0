//! Newest-first listing of a tenant's documents (the corpus list without `search`).

use std::cmp::Reverse;
use std::collections::BTreeSet;
use std::iter::Peekable;

use super::*;

impl TenantIndex {
    /// Documents newest `created_us` first (ties: id descending). Returns the
    /// number of documents passing the filter and the ids in
    /// `[offset, offset + limit)`. Cost O(offset + limit), no sorting.
    pub fn list_newest(
        &self,
        filter: SegmentFilter<'_>,
        offset: usize,
        limit: usize,
    ) -> (usize, Vec<String>) {
        fn page<'a>(
            keys: impl Iterator<Item = &'a TimeKey>,
            offset: usize,
            limit: usize,
        ) -> Vec<String> {
            keys.skip(offset)
                .take(limit)
                .map(|(_, Reverse(id))| id.to_string())
                .collect()
        }
        let segment_set = |s: &str| {
            self.segments
                .get(s)
                .and_then(|id| self.newest_by_segment.get(id))
        };
        match filter {
            SegmentFilter::Any => (self.newest.len(), page(self.newest.iter(), offset, limit)),
            SegmentFilter::Exact(s) => match segment_set(s) {
                Some(set) => (set.len(), page(set.iter(), offset, limit)),
                None => (0, Vec::new()),
            },
            SegmentFilter::SegmentOrGlobal(s) => {
                let own = segment_set(s);
                let global = self.newest_by_segment.get(&NO_SEGMENT);
                let total = own.map_or(0, BTreeSet::len) + global.map_or(0, BTreeSet::len);
                let merged = Merge {
                    a: own.into_iter().flatten().peekable(),
                    b: global.into_iter().flatten().peekable(),
                };
                (total, page(merged, offset, limit))
            }
        }
    }
}

/// Merges two disjoint ascending key streams.
struct Merge<A: Iterator, B: Iterator> {
    a: Peekable<A>,
    b: Peekable<B>,
}

impl<'k, A, B> Iterator for Merge<A, B>
where
    A: Iterator<Item = &'k TimeKey>,
    B: Iterator<Item = &'k TimeKey>,
{
    type Item = &'k TimeKey;

    fn next(&mut self) -> Option<&'k TimeKey> {
        match (self.a.peek(), self.b.peek()) {
            (Some(x), Some(y)) if x <= y => self.a.next(),
            (Some(_), Some(_)) => self.b.next(),
            (Some(_), None) => self.a.next(),
            (None, _) => self.b.next(),
        }
    }
}
