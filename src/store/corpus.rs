//! Corpus (knowledge base) entries and their search index.
//!
//! Each entry is stored twice in one transaction: the entry itself (CORPUS) and its analysed
//! terms (CORPUS_TERMS). The in-memory index is updated right after the commit while the corpus
//! write lock is held, so it applies changes in commit order; at start-up it is rebuilt from
//! the stored term rows without re-analysing any text. Readers load hits back from CORPUS and
//! drop ids that no longer exist, so a deleted entry can never be returned.

use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata};
use serde::{Deserialize, Serialize};

use super::tables::{CORPUS, CORPUS_TERMS, META};
use super::{Store, StoreResult, read_u32};
use crate::search::{self, AnalyzedDoc, DocMeta, Query, SegmentFilter, TenantIndex};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CorpusEntry {
    pub id: String,
    pub title: String,
    pub content: String,
    pub segment: Option<String>,
    pub priority: u8,
    pub tags: Vec<String>,
    /// From `clock::unique_now_us`: unique per entry, so it orders "newest first".
    pub created_us: i64,
    pub updated_at: i64,
}

impl CorpusEntry {
    pub fn analyze(&self) -> AnalyzedDoc {
        search::analyze_doc(&self.title, &self.content, &self.tags)
    }

    fn doc_meta(&self) -> DocMeta {
        DocMeta {
            id: self.id.clone(),
            segment: self.segment.clone(),
            priority: self.priority,
            created_us: self.created_us,
        }
    }
}

/// One page of entries plus the number of entries matching in all.
pub struct CorpusPage {
    pub entries: Vec<CorpusEntry>,
    pub total: usize,
}

/// What the index needs of an entry, stored beside its terms so start-up never parses the
/// (possibly 50,000-character) entry itself.
struct IndexRow {
    meta: DocMeta,
    terms: AnalyzedDoc,
}

impl IndexRow {
    fn encode(entry: &CorpusEntry, terms: &AnalyzedDoc) -> Vec<u8> {
        let segment = entry.segment.as_deref().unwrap_or("");
        let mut out = Vec::with_capacity(16 + segment.len());
        out.push(entry.priority);
        out.extend_from_slice(&entry.created_us.to_le_bytes());
        out.extend_from_slice(&(segment.len() as u16).to_le_bytes());
        out.extend_from_slice(segment.as_bytes());
        out.extend_from_slice(&terms.encode());
        out
    }

    fn decode(id: &str, bytes: &[u8]) -> Option<IndexRow> {
        let priority = *bytes.first()?;
        let created_us = i64::from_le_bytes(bytes.get(1..9)?.try_into().ok()?);
        let seg_len = u16::from_le_bytes(bytes.get(9..11)?.try_into().ok()?) as usize;
        let segment = std::str::from_utf8(bytes.get(11..11 + seg_len)?).ok()?;
        let terms = AnalyzedDoc::decode(bytes.get(11 + seg_len..)?).ok()?;
        Some(IndexRow {
            meta: DocMeta {
                id: id.to_string(),
                segment: (!segment.is_empty()).then(|| segment.to_string()),
                priority,
                created_us,
            },
            terms,
        })
    }
}

impl Store {
    /// Inserts a new entry.
    pub fn insert_corpus(
        &self,
        tenant: &str,
        entry: &CorpusEntry,
        terms: &AnalyzedDoc,
    ) -> StoreResult<()> {
        self.write_corpus(tenant, entry, terms, false).map(|_| ())
    }

    /// Replaces an existing entry; `false` when it no longer exists (a concurrent delete wins,
    /// the entry is not resurrected).
    pub fn replace_corpus(
        &self,
        tenant: &str,
        entry: &CorpusEntry,
        terms: &AnalyzedDoc,
    ) -> StoreResult<bool> {
        self.write_corpus(tenant, entry, terms, true)
    }

    fn write_corpus(
        &self,
        tenant: &str,
        entry: &CorpusEntry,
        terms: &AnalyzedDoc,
        must_exist: bool,
    ) -> StoreResult<bool> {
        let bytes = serde_json::to_vec(entry)?;
        let row = IndexRow::encode(entry, terms);
        let key = (tenant, entry.id.as_str());
        let _ordered = self.corpus_write_lock();
        let txn = self.db().begin_write()?;
        {
            let mut table = txn.open_table(CORPUS)?;
            if table.get(key)?.is_some() != must_exist {
                return Ok(false);
            }
            table.insert(key, bytes.as_slice())?;
            txn.open_table(CORPUS_TERMS)?.insert(key, row.as_slice())?;
        }
        txn.commit()?;
        self.index().upsert(tenant, entry.doc_meta(), terms);
        Ok(true)
    }

    pub fn delete_corpus(&self, tenant: &str, id: &str) -> StoreResult<bool> {
        let _ordered = self.corpus_write_lock();
        let txn = self.db().begin_write()?;
        let existed = {
            let existed = txn.open_table(CORPUS)?.remove((tenant, id))?.is_some();
            txn.open_table(CORPUS_TERMS)?.remove((tenant, id))?;
            existed
        };
        txn.commit()?;
        self.index().remove(tenant, id);
        Ok(existed)
    }

    pub fn get_corpus(&self, tenant: &str, id: &str) -> StoreResult<Option<CorpusEntry>> {
        Ok(self.get_corpus_many(tenant, &[id.to_string()])?.pop())
    }

    /// Loads entries by id in the given order, skipping ids that no longer exist.
    pub fn get_corpus_many(&self, tenant: &str, ids: &[String]) -> StoreResult<Vec<CorpusEntry>> {
        let txn = self.db().begin_read()?;
        let table = txn.open_table(CORPUS)?;
        let mut entries = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(value) = table.get((tenant, id.as_str()))? {
                entries.push(serde_json::from_slice(value.value())?);
            }
        }
        Ok(entries)
    }

    /// Newest first, optionally only one segment's entries.
    pub fn list_corpus(
        &self,
        tenant: &str,
        segment: Option<&str>,
        offset: usize,
        limit: usize,
    ) -> StoreResult<CorpusPage> {
        let filter = segment.map_or(SegmentFilter::Any, SegmentFilter::Exact);
        let (total, ids) = self.index().list_newest(tenant, filter, offset, limit);
        let entries = self.get_corpus_many(tenant, &ids)?;
        Ok(CorpusPage { entries, total })
    }

    /// Best match first, with the same ranking the chat uses.
    pub fn search_corpus(
        &self,
        tenant: &str,
        query: &Query,
        filter: SegmentFilter<'_>,
        offset: usize,
        limit: usize,
    ) -> StoreResult<(CorpusPage, Vec<f32>)> {
        let (total, hits) = self.index().search(tenant, query, filter, offset, limit);
        let ids: Vec<String> = hits.iter().map(|h| h.id.clone()).collect();
        let entries = self.get_corpus_many(tenant, &ids)?;
        let scores = entries
            .iter()
            .map(|e| hits.iter().find(|h| h.id == e.id).map_or(0.0, |h| h.score))
            .collect();
        Ok((CorpusPage { entries, total }, scores))
    }

    /// Rebuilds the in-memory index from the stored term rows; re-analyses every entry first
    /// when the stored rows were made by another analyzer version.
    pub(super) fn load_index(&self) -> StoreResult<()> {
        let stored_version = {
            let txn = self.db().begin_read()?;
            let meta = txn.open_table(META)?;
            meta.get("analyzer_version")?
                .map(|v| read_u32(v.value()))
                .transpose()?
        };
        if stored_version != Some(search::ANALYZER_VERSION) {
            self.reanalyze_corpus()?;
        }
        let started = std::time::Instant::now();
        let txn = self.db().begin_read()?;
        let table = txn.open_table(CORPUS_TERMS)?;
        let mut count = 0usize;
        let mut unreadable = Vec::new();
        // Rows are ordered by (tenant, id): build each tenant's index in one bulk pass.
        let mut batch: Option<(String, Vec<(DocMeta, AnalyzedDoc)>)> = None;
        for row in table.iter()? {
            let (key, value) = row?;
            let (tenant, id) = key.value();
            if batch.as_ref().is_some_and(|(t, _)| t != tenant) {
                self.install_tenant_index(batch.take());
            }
            let docs = &mut batch
                .get_or_insert_with(|| (tenant.to_string(), Vec::new()))
                .1;
            match IndexRow::decode(id, value.value()) {
                Some(row) => {
                    docs.push((row.meta, row.terms));
                    count += 1;
                }
                None => unreadable.push((tenant.to_string(), id.to_string())),
            }
        }
        self.install_tenant_index(batch);
        drop(table);
        drop(txn);
        for (tenant, id) in unreadable {
            log::warn!("search index: unreadable terms row for {tenant}/{id}; re-analysing it");
            if let Some(entry) = self.get_corpus(&tenant, &id)? {
                self.replace_corpus(&tenant, &entry, &entry.analyze())?;
                count += 1;
            }
        }
        if count > 0 {
            log::info!(
                "search index: {count} corpus entries loaded in {} ms",
                started.elapsed().as_millis()
            );
        }
        Ok(())
    }

    fn install_tenant_index(&self, batch: Option<(String, Vec<(DocMeta, AnalyzedDoc)>)>) {
        if let Some((tenant, docs)) = batch {
            self.index()
                .replace_tenant(&tenant, TenantIndex::from_docs(docs));
        }
    }

    fn reanalyze_corpus(&self) -> StoreResult<()> {
        let _ordered = self.corpus_write_lock();
        let txn = self.db().begin_write()?;
        {
            let corpus = txn.open_table(CORPUS)?;
            let mut terms = txn.open_table(CORPUS_TERMS)?;
            let total = corpus.len()?;
            if total > 0 {
                log::info!("search index: re-analysing {total} corpus entries (analyzer changed)");
            }
            for (done, row) in corpus.iter()?.enumerate() {
                let (key, value) = row?;
                let entry: CorpusEntry = serde_json::from_slice(value.value())?;
                let (tenant, id) = key.value();
                let encoded = IndexRow::encode(&entry, &entry.analyze());
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
}
