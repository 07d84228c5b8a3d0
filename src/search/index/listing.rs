//! Newest-first listing of a tenant's documents (the corpus list without `search`).

use std::iter::Peekable;

use super::*;

/// Creation instant then id: unique per document, and the listing order read backwards.
type ListKey = (i64, Arc<str>);

/// A tenant's (or one segment's) documents oldest first, so that a new document, being the
/// newest, is a push, and any page is a slice counted from the end: O(limit) whatever the
/// offset. (A B-tree set had to be walked from the start: page 5,000 of 100k entries cost
/// 100k steps.)
#[derive(Default)]
pub(super) struct Chronicle {
    keys: Vec<ListKey>,
    /// During a bulk build keys are pushed in storage order; [`Chronicle::settle`] sorts.
    bulk: bool,
}

impl Chronicle {
    pub(super) fn new(bulk: bool) -> Self {
        Chronicle {
            keys: Vec::new(),
            bulk,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.keys.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub(super) fn insert(&mut self, key: ListKey) {
        match self.keys.last() {
            Some(last) if !self.bulk && *last >= key => {
                if let Err(at) = self.keys.binary_search(&key) {
                    self.keys.insert(at, key);
                }
            }
            _ => self.keys.push(key),
        }
    }

    /// Ends a bulk build.
    pub(super) fn settle(&mut self) {
        if self.bulk {
            self.keys.sort_unstable();
            self.keys.dedup();
            self.bulk = false;
        }
        self.keys.shrink_to_fit();
    }

    pub(super) fn remove(&mut self, key: &ListKey) {
        let at = if self.bulk {
            self.keys.iter().rposition(|k| k == key)
        } else {
            self.keys.binary_search(key).ok()
        };
        if let Some(at) = at {
            self.keys.remove(at);
        }
    }

    fn newest_first(&self) -> impl Iterator<Item = &ListKey> {
        self.keys.iter().rev()
    }

    fn page(&self, offset: usize, limit: usize) -> Vec<String> {
        let end = self.keys.len().saturating_sub(offset);
        let start = end.saturating_sub(limit);
        self.keys[start..end]
            .iter()
            .rev()
            .map(|(_, id)| id.to_string())
            .collect()
    }

    pub(super) fn memory_bytes(&self) -> usize {
        self.keys.capacity() * size_of::<ListKey>()
    }
}

impl TenantIndex {
    /// Documents newest `created_us` first (ties: id descending). Returns the
    /// number of documents passing the filter and the ids in
    /// `[offset, offset + limit)`. O(limit) for one segment or all; a segment merged with
    /// the unsegmented documents costs O(offset + limit).
    pub fn list_newest(
        &self,
        filter: SegmentFilter<'_>,
        offset: usize,
        limit: usize,
    ) -> (usize, Vec<String>) {
        let segment_list = |s: &str| {
            self.segments
                .get(s)
                .and_then(|id| self.newest_by_segment.get(id))
        };
        match filter {
            SegmentFilter::Any => (self.newest.len(), self.newest.page(offset, limit)),
            SegmentFilter::Exact(s) => match segment_list(s) {
                Some(list) => (list.len(), list.page(offset, limit)),
                None => (0, Vec::new()),
            },
            SegmentFilter::SegmentOrGlobal(s) => {
                let own = segment_list(s);
                let global = self.newest_by_segment.get(&NO_SEGMENT);
                let total = own.map_or(0, Chronicle::len) + global.map_or(0, Chronicle::len);
                let merged = Merge {
                    a: own.into_iter().flat_map(Chronicle::newest_first).peekable(),
                    b: global
                        .into_iter()
                        .flat_map(Chronicle::newest_first)
                        .peekable(),
                };
                let page = merged
                    .skip(offset)
                    .take(limit)
                    .map(|(_, id)| id.to_string())
                    .collect();
                (total, page)
            }
        }
    }
}

/// Merges two disjoint descending key streams.
struct Merge<A: Iterator, B: Iterator> {
    a: Peekable<A>,
    b: Peekable<B>,
}

impl<'k, A, B> Iterator for Merge<A, B>
where
    A: Iterator<Item = &'k ListKey>,
    B: Iterator<Item = &'k ListKey>,
{
    type Item = &'k ListKey;

    fn next(&mut self) -> Option<&'k ListKey> {
        match (self.a.peek(), self.b.peek()) {
            (Some(x), Some(y)) if x >= y => self.a.next(),
            (Some(_), Some(_)) => self.b.next(),
            (Some(_), None) => self.a.next(),
            (None, _) => self.b.next(),
        }
    }
}
