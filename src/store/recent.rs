//! Corpus entries a PostgreSQL replica served lately, for search pages while the database is
//! unreachable: the index ranks in memory, but a page is made of the entries' rows, and
//! these are the rows a page most likely needs. Used only when the read fails (an outage),
//! never instead of it, so it cannot make a normal answer stale.
//!
//! Kept in step by the change feed: every committed change of a `corpus` row drops its copy
//! (`forget`). A page read concurrently with such a change could keep the row as it was
//! before it, so a copy is only kept if nothing was forgotten since its read began
//! (`generation` before the read, `keep` after): a read that starts after the change sees it.
//! Bounded in bytes; the oldest copies go first.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use crate::domain::CorpusEntry;

/// The bytes of entries kept at most (their text, roughly).
const BUDGET: usize = 16 * 1024 * 1024;

type Key = (String, String);

#[derive(Default)]
pub(super) struct RecentEntries {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<Key, (Arc<CorpusEntry>, u64)>,
    /// Keys in the order they were kept, with the stamp they were kept under (a key kept
    /// again later has a newer stamp: the older position is skipped when evicting).
    order: VecDeque<(Key, u64)>,
    bytes: usize,
    stamp: u64,
    /// Bumped by every `forget`.
    generation: u64,
}

fn size(entry: &CorpusEntry) -> usize {
    entry.id.len()
        + entry.title.len()
        + entry.content.len()
        + entry.summary.as_ref().map_or(0, String::len)
        + entry.tags.iter().map(String::len).sum::<usize>()
        + 128
}

impl RecentEntries {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Take before reading the rows that `keep` will be given.
    pub fn generation(&self) -> u64 {
        self.lock().generation
    }

    /// Keeps copies of `entries` of `tenant`, read after `generation` was taken, unless a
    /// change was forgotten since (the read may predate it).
    pub fn keep(&self, tenant: &str, entries: &[CorpusEntry], generation: u64) {
        let mut inner = self.lock();
        if inner.generation != generation {
            return;
        }
        for entry in entries {
            let bytes = size(entry);
            if bytes > BUDGET / 4 {
                continue;
            }
            inner.stamp += 1;
            let stamp = inner.stamp;
            let key = (tenant.to_string(), entry.id.clone());
            if let Some((old, _)) = inner
                .entries
                .insert(key.clone(), (Arc::new(entry.clone()), stamp))
            {
                inner.bytes -= size(&old);
            }
            inner.bytes += bytes;
            inner.order.push_back((key, stamp));
        }
        while inner.bytes > BUDGET {
            let Some((key, stamp)) = inner.order.pop_front() else {
                break;
            };
            if inner.entries.get(&key).is_some_and(|(_, s)| *s == stamp)
                && let Some((old, _)) = inner.entries.remove(&key)
            {
                inner.bytes -= size(&old);
            }
        }
        // Positions of keys kept again or forgotten pile up; drop them once they dominate.
        if inner.order.len() > 2 * inner.entries.len() + 1024 {
            let Inner { entries, order, .. } = &mut *inner;
            order.retain(|(key, stamp)| entries.get(key).is_some_and(|(_, s)| s == stamp));
        }
    }

    /// The entry `id` of `tenant` changed (or went): its copy is stale.
    pub fn forget(&self, tenant: &str, id: &str) {
        let mut inner = self.lock();
        inner.generation += 1;
        if let Some((old, _)) = inner.entries.remove(&(tenant.to_string(), id.to_string())) {
            inner.bytes -= size(&old);
        }
    }

    /// Everything may be stale (the feed had a gap).
    pub fn forget_all(&self) {
        let mut inner = self.lock();
        inner.generation += 1;
        inner.entries.clear();
        inner.order.clear();
        inner.bytes = 0;
    }

    /// Copies of the entries `ids` of `tenant`, in that order, if every one is kept.
    pub fn get_all(&self, tenant: &str, ids: &[String]) -> Option<Vec<CorpusEntry>> {
        let inner = self.lock();
        ids.iter()
            .map(|id| {
                inner
                    .entries
                    .get(&(tenant.to_string(), id.clone()))
                    .map(|(entry, _)| CorpusEntry::clone(entry))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Timestamp;

    fn entry(id: &str, content: &str) -> CorpusEntry {
        CorpusEntry {
            id: id.into(),
            title: "t".into(),
            content: content.into(),
            segment: None,
            priority: 5,
            tags: vec![],
            created_at: Timestamp::from_secs(1),
            updated_at: Timestamp::from_secs(1),
            revision: 0,
            summary: None,
            is_active: true,
        }
    }

    #[test]
    fn kept_forgotten_and_bounded() {
        let recent = RecentEntries::default();
        let g = recent.generation();
        recent.keep("acme", &[entry("a", "x"), entry("b", "y")], g);
        let ids = |s: &[&str]| s.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let got = recent.get_all("acme", &ids(&["b", "a"])).unwrap();
        assert_eq!(
            got.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
            ["b", "a"]
        );
        assert!(recent.get_all("acme", &ids(&["a", "c"])).is_none());
        assert!(recent.get_all("globex", &ids(&["a"])).is_none());

        // A read that began before a change is not kept; one after is.
        let before = recent.generation();
        recent.forget("acme", "a");
        assert!(recent.get_all("acme", &ids(&["a"])).is_none());
        recent.keep("acme", &[entry("a", "old")], before);
        assert!(recent.get_all("acme", &ids(&["a"])).is_none());
        recent.keep("acme", &[entry("a", "new")], recent.generation());
        assert_eq!(
            recent.get_all("acme", &ids(&["a"])).unwrap()[0].content,
            "new"
        );

        // Over the budget, the oldest go first.
        let big = "z".repeat(BUDGET / 8);
        for i in 0..12 {
            recent.keep(
                "acme",
                &[entry(&format!("big{i}"), &big)],
                recent.generation(),
            );
        }
        assert!(recent.lock().bytes <= BUDGET);
        assert!(recent.get_all("acme", &ids(&["big0"])).is_none());
        assert!(recent.get_all("acme", &ids(&["big11"])).is_some());
        recent.forget_all();
        assert!(recent.get_all("acme", &ids(&["big11"])).is_none());
    }
}
