//! The thread-safe registry of every tenant's index.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use super::super::document::AnalyzedDoc;
use super::super::query::Query;
use super::{DocMeta, Explained, Hit, SegmentFilter, TenantIndex};

/// Read-locks, recovering the guard if a writer panicked: the index holds no
/// invariant worth refusing service over (slot arrays are always extended
/// before postings refer to them).
pub fn read_lock<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

/// Write-locks, recovering from poisoning (see [`read_lock`]).
pub fn write_lock<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

/// All tenants' indexes; share one instance between worker threads (e.g. in
/// `web::Data<Index>`). Each tenant has its own lock, so a write in one
/// tenant never blocks searches in another.
#[derive(Default)]
pub struct Index {
    tenants: RwLock<HashMap<String, Arc<RwLock<TenantIndex>>>>,
}

impl Index {
    pub fn new() -> Self {
        Self::default()
    }

    /// The tenant's index, created empty on first use.
    pub fn tenant(&self, slug: &str) -> Arc<RwLock<TenantIndex>> {
        if let Some(tenant) = self.existing(slug) {
            return tenant;
        }
        let mut tenants = write_lock(&self.tenants);
        Arc::clone(tenants.entry(slug.to_owned()).or_default())
    }

    fn existing(&self, slug: &str) -> Option<Arc<RwLock<TenantIndex>>> {
        read_lock(&self.tenants).get(slug).cloned()
    }

    /// Installs a tenant index built elsewhere (start-up load, re-analysis),
    /// replacing the current one atomically.
    pub fn replace_tenant(&self, slug: &str, index: TenantIndex) {
        let tenant = self.tenant(slug);
        *write_lock(&tenant) = index;
    }

    /// Every tenant with its index, in slug order.
    pub(super) fn all_tenants(&self) -> Vec<(String, Arc<RwLock<TenantIndex>>)> {
        let mut all: Vec<_> = read_lock(&self.tenants)
            .iter()
            .map(|(slug, tenant)| (slug.clone(), Arc::clone(tenant)))
            .collect();
        all.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        all
    }

    /// Forgets a tenant entirely; returns whether it existed.
    pub fn drop_tenant(&self, slug: &str) -> bool {
        write_lock(&self.tenants).remove(slug).is_some()
    }

    pub fn upsert(&self, slug: &str, meta: DocMeta, doc: &AnalyzedDoc) {
        let tenant = self.tenant(slug);
        write_lock(&tenant).upsert(meta, doc);
    }

    pub fn remove(&self, slug: &str, id: &str) -> bool {
        self.existing(slug)
            .is_some_and(|tenant| write_lock(&tenant).remove(id))
    }

    /// Number of documents of the tenant (0 if unknown).
    pub fn tenant_len(&self, slug: &str) -> usize {
        self.existing(slug)
            .map_or(0, |tenant| read_lock(&tenant).len())
    }

    /// See [`TenantIndex::search`]; an unknown tenant has no hits.
    pub fn search(
        &self,
        slug: &str,
        query: &Query,
        filter: SegmentFilter<'_>,
        offset: usize,
        limit: usize,
    ) -> (usize, Vec<Hit>) {
        self.existing(slug).map_or((0, Vec::new()), |tenant| {
            read_lock(&tenant).search(query, filter, offset, limit)
        })
    }

    /// See [`TenantIndex::explain`]; an unknown tenant has no hits.
    pub fn explain(
        &self,
        slug: &str,
        query: &Query,
        filter: SegmentFilter<'_>,
        offset: usize,
        limit: usize,
    ) -> Explained {
        self.existing(slug)
            .map_or_else(Explained::default, |tenant| {
                read_lock(&tenant).explain(query, filter, offset, limit)
            })
    }

    /// See [`TenantIndex::list_newest`]; an unknown tenant lists nothing.
    pub fn list_newest(
        &self,
        slug: &str,
        filter: SegmentFilter<'_>,
        offset: usize,
        limit: usize,
    ) -> (usize, Vec<String>) {
        self.existing(slug).map_or((0, Vec::new()), |tenant| {
            read_lock(&tenant).list_newest(filter, offset, limit)
        })
    }
}
