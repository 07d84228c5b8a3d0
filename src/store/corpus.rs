//! Corpus entries and their search index.
//!
//! Each entry is stored twice in one transaction: the entry itself (CORPUS) and its analysed
//! terms (CORPUS_TERMS). Text is analysed before the write is queued, so the writer only
//! copies bytes; the in-memory index is updated by the writer right after the commit, in
//! commit order; at start-up it is rebuilt from the stored term rows without re-analysing
//! any text. Readers load hits back from CORPUS and drop ids that no longer exist, so a
//! deleted entry can never be returned.

use std::sync::Arc;

use super::engine::Engine;

use super::tables::{CORPUS, CORPUS_TERMS, META};
use super::writer::Tx;
use super::{
    Effect, Store, StoreError, StoreResult, decode, encode, read_u32, segments, tenant_records,
    tenants,
};
use crate::domain::{
    Actor, AuditAction, CorpusEntry, CorpusPage, CorpusPatch, NewAudit, NewCorpus,
};
use crate::ids::new_id;
use crate::search::{self, AnalyzedDoc, DocMeta, Query, SegmentFilter, TenantIndex};

/// How often an update retries when another update of the same entry committed first.
const UPDATE_ATTEMPTS: usize = 16;

/// The terms an entry is searched by: none while it is inactive, so the index keeps it for
/// listing but no search or chat can find it.
fn analyze(entry_title: &str, content: &str, tags: &[String], active: bool) -> Arc<AnalyzedDoc> {
    match active {
        true => Arc::new(search::analyze_entry(entry_title, content, tags)),
        false => Arc::new(AnalyzedDoc::default()),
    }
}

fn doc_meta(entry: &CorpusEntry) -> DocMeta {
    DocMeta {
        id: entry.id.clone(),
        segment: entry.segment.clone(),
        priority: entry.priority,
        created_us: entry.created_at.micros(),
    }
}

/// What the index needs of an entry, stored beside its terms so start-up never parses the
/// (possibly 50,000-character) entry itself: priority, creation instant, segment, terms.
fn encode_index_row(entry: &CorpusEntry, encoded_terms: &[u8]) -> Vec<u8> {
    let segment = entry.segment.as_deref().unwrap_or("");
    let mut out = Vec::with_capacity(11 + segment.len() + encoded_terms.len());
    out.push(entry.priority);
    out.extend_from_slice(&entry.created_at.micros().to_le_bytes());
    out.extend_from_slice(&(segment.len() as u16).to_le_bytes());
    out.extend_from_slice(segment.as_bytes());
    out.extend_from_slice(encoded_terms);
    out
}

pub(super) fn decode_index_row(id: &str, bytes: &[u8]) -> Option<(DocMeta, AnalyzedDoc)> {
    let priority = *bytes.first()?;
    let created_us = i64::from_le_bytes(bytes.get(1..9)?.try_into().ok()?);
    let seg_len = u16::from_le_bytes(bytes.get(9..11)?.try_into().ok()?) as usize;
    let segment = std::str::from_utf8(bytes.get(11..11 + seg_len)?).ok()?;
    let terms = AnalyzedDoc::decode(bytes.get(11 + seg_len..)?).ok()?;
    let meta = DocMeta {
        id: id.to_string(),
        segment: (!segment.is_empty()).then(|| segment.to_string()),
        priority,
        created_us,
    };
    Some((meta, terms))
}

fn no_such_segment(slug: &str) -> StoreError {
    StoreError::invalid(
        "segment",
        format!("no segment '{slug}'; create it under /segments first"),
    )
}

/// An entry ready to be written: its record and its analysed terms.
struct Prepared {
    new: NewCorpus,
    terms: Arc<AnalyzedDoc>,
    encoded_terms: Vec<u8>,
}

impl Prepared {
    fn new(new: NewCorpus) -> Prepared {
        let terms = analyze(&new.title, &new.content, &new.tags, new.is_active);
        let encoded_terms = terms.encode();
        Prepared {
            new,
            terms,
            encoded_terms,
        }
    }
}

/// Analyses entries for writing. One entry is analysed in place (tens of microseconds); an
/// import's thousands are analysed off the async workers, on every core.
async fn prepare_all(entries: Vec<NewCorpus>) -> StoreResult<Vec<Prepared>> {
    const PER_THREAD_MIN: usize = 256;
    if entries.len() < PER_THREAD_MIN {
        return Ok(entries.into_iter().map(Prepared::new).collect());
    }
    tokio::task::spawn_blocking(move || {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let threads = cores.min(entries.len() / PER_THREAD_MIN).max(1);
        let chunk = entries.len().div_ceil(threads);
        let mut entries = entries;
        let mut chunks = Vec::with_capacity(threads);
        while entries.len() > chunk {
            let rest = entries.split_off(chunk);
            chunks.push(entries);
            entries = rest;
        }
        chunks.push(entries);
        std::thread::scope(|scope| {
            let workers: Vec<_> = chunks
                .into_iter()
                .map(|part| {
                    scope.spawn(move || part.into_iter().map(Prepared::new).collect::<Vec<_>>())
                })
                .collect();
            workers
                .into_iter()
                .map(|w| w.join())
                .collect::<Result<Vec<_>, _>>()
                .map(|parts| parts.into_iter().flatten().collect())
        })
    })
    .await
    .ok()
    .and_then(Result::ok)
    .ok_or_else(|| StoreError::internal_msg("text analysis of an import failed"))
}

/// Writes an entry and its terms row and schedules the index update.
fn put(
    tx: &mut Tx<'_>,
    tenant: &str,
    entry: &CorpusEntry,
    terms: &Arc<AnalyzedDoc>,
    encoded_terms: &[u8],
) -> StoreResult<()> {
    let key = (tenant, entry.id.as_str());
    tx.txn
        .open_table(CORPUS)?
        .insert(key, encode(entry)?.as_slice())?;
    tx.txn
        .open_table(CORPUS_TERMS)?
        .insert(key, encode_index_row(entry, encoded_terms).as_slice())?;
    tx.after_commit(Effect::IndexUpsert {
        tenant: tenant.to_string(),
        meta: doc_meta(entry),
        terms: terms.clone(),
    });
    Ok(())
}

fn load(tx: &Tx<'_>, tenant: &str, id: &str) -> StoreResult<Option<CorpusEntry>> {
    let table = tx.txn.open_table(CORPUS)?;
    let entry = match table.get((tenant, id))? {
        Some(v) => Some(decode("corpus", (tenant, id), v.value())?),
        None => None,
    };
    Ok(entry)
}

/// Creates entries that the caller has checked one by one; all or nothing.
fn insert_all(
    tx: &mut Tx<'_>,
    tenant: &str,
    prepared: &[Prepared],
) -> StoreResult<Vec<CorpusEntry>> {
    tenants::require(tx, tenant)?;
    let mut checked: Vec<&str> = Vec::new();
    for (row, p) in prepared.iter().enumerate() {
        if let Some(slug) = p.new.segment.as_deref()
            && !checked.contains(&slug)
        {
            if !segments::exists(tx, tenant, slug)? {
                return Err(match prepared.len() {
                    1 => no_such_segment(slug),
                    _ => StoreError::invalid(
                        &format!("row {}: segment", row + 1),
                        format!("no segment '{slug}'"),
                    ),
                });
            }
            checked.push(slug);
        }
    }
    let mut created = Vec::with_capacity(prepared.len());
    for p in prepared {
        let now = tx.unique_now();
        let entry = CorpusEntry {
            id: new_id("corp_"),
            title: p.new.title.clone(),
            content: p.new.content.clone(),
            segment: p.new.segment.clone(),
            priority: p.new.priority,
            tags: p.new.tags.clone(),
            created_at: now,
            updated_at: now,
            revision: 0,
            summary: p.new.summary.clone(),
            is_active: p.new.is_active,
        };
        put(tx, tenant, &entry, &p.terms, &p.encoded_terms)?;
        if let Some(slug) = &entry.segment {
            segments::count_usage(tx, tenant, slug, 1)?;
        }
        created.push(entry);
    }
    Ok(created)
}

impl Store {
    /// Creates an entry; its segment, if any, must exist.
    pub async fn create_corpus(&self, tenant: &str, new: NewCorpus) -> StoreResult<CorpusEntry> {
        let mut created = self.create_corpus_many(tenant, vec![new]).await?;
        created
            .pop()
            .ok_or_else(|| StoreError::internal_msg("create wrote nothing"))
    }

    /// Creates many entries in one transaction (CSV import): all of them or none.
    pub async fn create_corpus_many(
        &self,
        tenant: &str,
        entries: Vec<NewCorpus>,
    ) -> StoreResult<Vec<CorpusEntry>> {
        let prepared = prepare_all(entries).await?;
        let tenant = tenant.to_string();
        self.write(move |tx| insert_all(tx, &tenant, &prepared))
            .await
    }

    /// A CSV import: creates the entries in one transaction (all or none) with its audit
    /// entry.
    pub async fn import_corpus(
        &self,
        tenant: &str,
        entries: Vec<NewCorpus>,
        by: Actor,
    ) -> StoreResult<Vec<CorpusEntry>> {
        let prepared = prepare_all(entries).await?;
        let tenant = tenant.to_string();
        self.write(move |tx| {
            let created = insert_all(tx, &tenant, &prepared)?;
            super::audit::append(
                tx,
                &tenant,
                NewAudit {
                    action: AuditAction::CorpusImported,
                    actor: by.clone(),
                    target: None,
                    detail: Some(format!("{} entries", created.len())),
                },
            )?;
            Ok(created)
        })
        .await
    }

    /// Applies a validated patch. Computed against the entry as it is, then written only if
    /// nobody changed the entry meanwhile (else computed again), so concurrent updates of
    /// one entry all take effect.
    pub async fn update_corpus(
        &self,
        tenant: &str,
        id: &str,
        patch: CorpusPatch,
    ) -> StoreResult<CorpusEntry> {
        for _ in 0..UPDATE_ATTEMPTS {
            let base = self
                .get_corpus(tenant, id)
                .await?
                .ok_or(StoreError::NotFound("Corpus entry"))?;
            let mut next = base.clone();
            patch.apply(&mut next);
            let terms = analyze(&next.title, &next.content, &next.tags, next.is_active);
            let encoded_terms = terms.encode();
            let tenant_slug = tenant.to_string();
            let written = self
                .write(move |tx| {
                    let current = load(tx, &tenant_slug, &base.id)?
                        .ok_or(StoreError::NotFound("Corpus entry"))?;
                    if current.revision != base.revision {
                        return Ok(None);
                    }
                    if next.segment != current.segment {
                        if let Some(slug) = &next.segment
                            && !segments::exists(tx, &tenant_slug, slug)?
                        {
                            return Err(no_such_segment(slug));
                        }
                        if let Some(old) = &current.segment {
                            segments::count_usage(tx, &tenant_slug, old, -1)?;
                        }
                        if let Some(new) = &next.segment {
                            segments::count_usage(tx, &tenant_slug, new, 1)?;
                        }
                    }
                    let mut entry = next.clone();
                    entry.revision = current.revision + 1;
                    entry.updated_at = tx.unique_now().max(entry.created_at);
                    put(tx, &tenant_slug, &entry, &terms, &encoded_terms)?;
                    Ok(Some(entry))
                })
                .await?;
            if let Some(entry) = written {
                return Ok(entry);
            }
        }
        Err(StoreError::Conflict(
            "The entry is being changed by other requests; try again".into(),
        ))
    }

    pub async fn delete_corpus(&self, tenant: &str, id: &str) -> StoreResult<()> {
        let (tenant, id) = (tenant.to_string(), id.to_string());
        self.write(move |tx| {
            let entry = load(tx, &tenant, &id)?.ok_or(StoreError::NotFound("Corpus entry"))?;
            tx.txn
                .open_table(CORPUS)?
                .remove((tenant.as_str(), id.as_str()))?;
            tx.txn
                .open_table(CORPUS_TERMS)?
                .remove((tenant.as_str(), id.as_str()))?;
            if let Some(slug) = &entry.segment {
                segments::count_usage(tx, &tenant, slug, -1)?;
            }
            tx.after_commit(Effect::IndexRemove {
                tenant: tenant.clone(),
                id: id.clone(),
            });
            Ok(())
        })
        .await
    }

    pub async fn get_corpus(&self, tenant: &str, id: &str) -> StoreResult<Option<CorpusEntry>> {
        Ok(self
            .corpus_by_ids_async(tenant, vec![id.to_string()])
            .await?
            .pop())
    }

    /// `corpus_by_ids` for async callers (see `read_owned`).
    async fn corpus_by_ids_async(
        &self,
        tenant: &str,
        ids: Vec<String>,
    ) -> StoreResult<Vec<CorpusEntry>> {
        if self.shared.pg.is_none() {
            return self.corpus_by_ids(tenant, &ids);
        }
        // The rows as read are kept for an outage (`recent`): then a page whose entries
        // were all served lately is answered from those copies rather than with a 503.
        let generation = self.shared.recent.generation();
        let store = self.clone();
        let (owned_tenant, owned_ids) = (tenant.to_string(), ids.clone());
        let read = self
            .read_blocking(move |_| store.corpus_by_ids(&owned_tenant, &owned_ids))
            .await;
        match read {
            Ok(entries) => {
                self.shared.recent.keep(tenant, &entries, generation);
                Ok(entries)
            }
            Err(StoreError::Unavailable(reason)) => self
                .shared
                .recent
                .get_all(tenant, &ids)
                .ok_or(StoreError::Unavailable(reason)),
            Err(e) => Err(e),
        }
    }

    /// Loads entries by id in the given order, skipping ids that no longer exist.
    fn corpus_by_ids(&self, tenant: &str, ids: &[String]) -> StoreResult<Vec<CorpusEntry>> {
        self.read(|txn| {
            let table = txn.open_table(CORPUS)?;
            let mut entries = Vec::with_capacity(ids.len());
            for id in ids {
                if let Some(value) = table.get((tenant, id.as_str()))? {
                    entries.push(decode("corpus", (tenant, id), value.value())?);
                }
            }
            Ok(entries)
        })
    }

    /// Every entry of the tenant, oldest first (the CSV export), read on the blocking pool.
    pub async fn all_corpus(&self, tenant: &str) -> StoreResult<Vec<CorpusEntry>> {
        let tenant = tenant.to_string();
        self.read_blocking(move |store| {
            let mut entries: Vec<CorpusEntry> = store.read(|txn| {
                let table = txn.open_table(CORPUS)?;
                tenant_records(&table, &tenant)?
                    .map(|row| row.map(|(_, entry)| entry))
                    .collect()
            })?;
            entries.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
            Ok(entries)
        })
        .await
    }

    /// Newest first, optionally only one segment's entries.
    pub async fn list_corpus(
        &self,
        tenant: &str,
        segment: Option<&str>,
        offset: usize,
        limit: usize,
    ) -> StoreResult<CorpusPage> {
        let filter = segment.map_or(SegmentFilter::Any, SegmentFilter::Exact);
        let (total, ids) = self.shared.index.list_newest(tenant, filter, offset, limit);
        let entries = self.corpus_by_ids_async(tenant, ids).await?;
        Ok(CorpusPage { entries, total })
    }

    /// The chat's ranking: the top `limit` hits with what the relevance decision needs to
    /// know about each, and the entries of those `worth_reading` keeps (given each hit and
    /// the question's position weights); an entry deleted meanwhile is simply missing.
    pub fn rank_corpus(
        &self,
        tenant: &str,
        query: &Query,
        filter: SegmentFilter<'_>,
        limit: usize,
        worth_reading: impl Fn(&search::Hit, &[f32]) -> bool,
    ) -> StoreResult<(search::Explained, Vec<CorpusEntry>)> {
        let mut explained = self.shared.index.explain(tenant, query, filter, 0, limit);
        let weights = std::mem::take(&mut explained.weights);
        explained.hits.retain(|hit| worth_reading(hit, &weights));
        explained.weights = weights;
        let ids: Vec<String> = explained.hits.iter().map(|h| h.id.clone()).collect();
        let entries = self.corpus_by_ids(tenant, &ids)?;
        Ok((explained, entries))
    }

    /// Best match first, with the ranking the chat uses; each entry with its score.
    pub async fn search_corpus(
        &self,
        tenant: &str,
        query: &Query,
        filter: SegmentFilter<'_>,
        offset: usize,
        limit: usize,
    ) -> StoreResult<(CorpusPage, Vec<f32>)> {
        let (total, hits) = self
            .shared
            .index
            .search(tenant, query, filter, offset, limit);
        let ids: Vec<String> = hits.iter().map(|h| h.id.clone()).collect();
        let entries = self.corpus_by_ids_async(tenant, ids).await?;
        let scores = entries
            .iter()
            .map(|e| hits.iter().find(|h| h.id == e.id).map_or(0.0, |h| h.score))
            .collect();
        Ok((CorpusPage { entries, total }, scores))
    }
}

/// Rebuilds the in-memory index from the stored term rows; re-analyses every entry first
/// when the rows were made by another analyzer version.
pub(super) fn load_index(db: &Engine, index: &search::Index) -> StoreResult<()> {
    let stored_version = {
        let txn = db.begin_read()?;
        let meta = txn.open_table(META)?;
        meta.get("analyzer_version")?
            .map(|v| read_u32(v.value()))
            .transpose()?
    };
    if stored_version != Some(search::ANALYZER_VERSION) {
        reanalyze_corpus(db)?;
    }
    let started = std::time::Instant::now();
    let txn = db.begin_read()?;
    let table = txn.open_table(CORPUS_TERMS)?;
    let mut count = 0usize;
    let mut unreadable = Vec::new();
    // Rows are ordered by (tenant, id): build each tenant's index in one bulk pass.
    let mut batch: Option<(String, Vec<(DocMeta, AnalyzedDoc)>)> = None;
    for row in table.iter()? {
        let (key, value) = row?;
        let (tenant, id) = key.value();
        if batch.as_ref().is_some_and(|(t, _)| t != tenant) {
            install(index, batch.take());
        }
        let docs = &mut batch
            .get_or_insert_with(|| (tenant.to_string(), Vec::new()))
            .1;
        match decode_index_row(id, value.value()) {
            Some(row) => {
                docs.push(row);
                count += 1;
            }
            None => unreadable.push((tenant.to_string(), id.to_string())),
        }
    }
    install(index, batch);
    drop(table);
    drop(txn);
    if !unreadable.is_empty() {
        count += repair_index_rows(db, index, &unreadable)?;
    }
    if count > 0 {
        log::info!(
            "search index: {count} corpus entries loaded in {} ms",
            started.elapsed().as_millis()
        );
    }
    Ok(())
}

fn install(index: &search::Index, batch: Option<(String, Vec<(DocMeta, AnalyzedDoc)>)>) {
    if let Some((tenant, docs)) = batch {
        index.replace_tenant(&tenant, TenantIndex::from_docs(docs));
    }
}

/// Re-analyses entries whose terms row does not decode.
fn repair_index_rows(
    db: &Engine,
    index: &search::Index,
    rows: &[(String, String)],
) -> StoreResult<usize> {
    let txn = db.begin_write()?;
    let mut repaired = 0;
    {
        let corpus = txn.open_table(CORPUS)?;
        let mut terms_table = txn.open_table(CORPUS_TERMS)?;
        for (tenant, id) in rows {
            log::warn!("search index: unreadable terms row for {tenant}/{id}; re-analysing it");
            let Some(value) = corpus.get((tenant.as_str(), id.as_str()))? else {
                continue;
            };
            let entry: CorpusEntry = decode("corpus", (tenant, id), value.value())?;
            let terms = analyze(&entry.title, &entry.content, &entry.tags, entry.is_active);
            let row = encode_index_row(&entry, &terms.encode());
            terms_table.insert((tenant.as_str(), id.as_str()), row.as_slice())?;
            index.upsert(tenant, doc_meta(&entry), &terms);
            repaired += 1;
        }
    }
    txn.commit()?;
    Ok(repaired)
}

fn reanalyze_corpus(db: &Engine) -> StoreResult<()> {
    let txn = db.begin_write()?;
    {
        let corpus = txn.open_table(CORPUS)?;
        let mut terms = txn.open_table(CORPUS_TERMS)?;
        let total = corpus.len()?;
        if total > 0 {
            log::info!("search index: re-analysing {total} corpus entries (analyzer changed)");
        }
        for (done, row) in corpus.iter()?.enumerate() {
            let (key, value) = row?;
            let (tenant, id) = key.value();
            let entry: CorpusEntry = decode("corpus", (tenant, id), value.value())?;
            let analysed = analyze(&entry.title, &entry.content, &entry.tags, entry.is_active);
            let encoded = encode_index_row(&entry, &analysed.encode());
            terms.insert((tenant, id), encoded.as_slice())?;
            if (done + 1) % 10_000 == 0 {
                log::info!("search index: re-analysed {}/{total}", done + 1);
            }
        }
        txn.open_table(META)?.insert(
            "analyzer_version",
            search::ANALYZER_VERSION.to_le_bytes().as_slice(),
        )?;
    }
    txn.commit()?;
    Ok(())
}
