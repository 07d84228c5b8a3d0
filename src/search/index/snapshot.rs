//! The whole index as bytes, so a clean restart loads it instead of rebuilding it from every
//! entry's stored terms (100k entries: rebuilding took about 2 s, loading this takes a tenth
//! of that). The store decides when a snapshot may be trusted; this module only guarantees
//! that what it reads back is the index it wrote, or nothing: a damaged or foreign file
//! yields `None`, never a panic or a half-built index.

use std::sync::Arc;

use super::super::document::ANALYZER_VERSION;
use super::super::lang::Lang;
use super::super::semantic::Packed;
use super::{Chronicle, Index, Postings, SLOT_SHIFT, TenantIndex, TermDict, write_lock};

/// Version 2 added the meaning vectors.
const MAGIC: &[u8; 8] = b"ANIMIDX2";

impl Index {
    /// Every tenant's index, compacted first, framed by a format tag, the analyzer version
    /// and a trailing CRC-32.
    pub fn snapshot(&self) -> Vec<u8> {
        let tenants = self.all_tenants();
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        put_u32(&mut out, ANALYZER_VERSION);
        put_u32(&mut out, tenants.len() as u32);
        for (slug, tenant) in tenants {
            put_str(&mut out, &slug);
            // One write lock for both: the encoding assumes no dead slots.
            let mut tenant = write_lock(&tenant);
            tenant.compact();
            tenant.encode(&mut out);
        }
        let crc = crc32fast::hash(&out);
        put_u32(&mut out, crc);
        out
    }

    /// The index [`Index::snapshot`] wrote, or `None` if `bytes` are not such a snapshot
    /// of this analyzer version.
    pub fn from_snapshot(bytes: &[u8]) -> Option<Index> {
        let (body, crc) = bytes.split_at_checked(bytes.len().checked_sub(4)?)?;
        if crc32fast::hash(body) != u32::from_le_bytes(crc.try_into().ok()?) {
            return None;
        }
        let mut r = Reader(body);
        if r.take(MAGIC.len())? != MAGIC || r.u32()? != ANALYZER_VERSION {
            return None;
        }
        let index = Index::new();
        for _ in 0..r.u32()? {
            let slug = r.str()?.to_owned();
            index.replace_tenant(&slug, TenantIndex::decode(&mut r)?);
        }
        r.0.is_empty().then_some(index)
    }
}

fn lang_code(lang: Option<Lang>) -> u8 {
    match lang {
        None => 0,
        Some(Lang::English) => 1,
        Some(Lang::French) => 2,
        Some(Lang::Both) => 3,
    }
}

fn lang_from(code: u8) -> Option<Option<Lang>> {
    Some(match code {
        0 => None,
        1 => Some(Lang::English),
        2 => Some(Lang::French),
        3 => Some(Lang::Both),
        _ => return None,
    })
}

impl TenantIndex {
    /// Call on a compacted index (no dead slots).
    fn encode(&self, out: &mut Vec<u8>) {
        let mut segments: Vec<(&str, u32)> =
            self.segments.iter().map(|(s, &id)| (&**s, id)).collect();
        segments.sort_unstable_by_key(|&(_, id)| id);
        put_u32(out, segments.len() as u32);
        for (slug, _) in segments {
            put_str(out, slug);
        }
        let live: Vec<usize> = (0..self.slot_id.len())
            .filter(|&s| self.slot_id[s].is_some())
            .collect();
        put_u32(out, live.len() as u32);
        for &slot in &live {
            put_str(out, self.slot_id[slot].as_deref().unwrap_or_default());
            put_u32(out, self.slot_len[slot]);
            put_u32(out, self.slot_segment[slot]);
            out.push(self.slot_priority[slot]);
            out.extend_from_slice(&self.slot_created[slot].to_le_bytes());
            out.push(lang_code(self.slot_lang[slot]));
            match self.meanings.get(slot) {
                None => out.push(0),
                Some(meaning) => {
                    out.push(1);
                    meaning.write(out);
                }
            }
        }
        put_u32(out, self.terms.len() as u32);
        for (term, postings) in self.postings.iter().enumerate() {
            out.extend_from_slice(&(self.terms.term(term).len() as u32).to_le_bytes());
            out.extend_from_slice(self.terms.term(term));
            put_u32(out, postings.len() as u32);
            for p in postings {
                out.extend_from_slice(&p.to_le_bytes());
            }
        }
    }

    fn decode(r: &mut Reader<'_>) -> Option<TenantIndex> {
        let mut index = TenantIndex::new();
        for n in 0..r.u32()? {
            // Segment ids start at 1 (0 is "no segment") in the order they were written.
            index.segments.insert(r.str()?.into(), n + 1);
        }
        let segment_count = index.segments.len() as u32;
        let slots = r.u32()? as usize;
        if slots > super::MAX_SLOTS {
            return None;
        }
        let mut keys = Vec::with_capacity(slots);
        for slot in 0..slots {
            let id: Arc<str> = Arc::from(r.str()?);
            let length = r.u32()?;
            let segment = r.u32()?;
            if segment > segment_count {
                return None;
            }
            let priority = r.u8()?;
            let created = i64::from_le_bytes(r.take(8)?.try_into().ok()?);
            let lang = lang_from(r.u8()?)?;
            let meaning = match r.u8()? {
                0 => None,
                1 => Some(Packed::read(r.take(Packed::BYTES)?)?),
                _ => return None,
            };
            index.meanings.push(meaning, lang);
            if index.by_id.insert(Arc::clone(&id), slot as u32).is_some() {
                return None;
            }
            keys.push((segment, (created, Arc::clone(&id))));
            index.slot_id.push(Some(id));
            index.slot_len.push(length);
            index.slot_segment.push(segment);
            index.slot_priority.push(priority);
            index.slot_created.push(created);
            index.slot_lang.push(lang);
            index.live_length += u64::from(length);
        }
        index.newest = Chronicle::new(true);
        for (segment, key) in keys {
            index
                .newest_by_segment
                .entry(segment)
                .or_insert_with(|| Chronicle::new(true))
                .insert(key.clone());
            index.newest.insert(key);
        }
        index.newest.settle();
        for list in index.newest_by_segment.values_mut() {
            list.settle();
        }
        let terms = r.u32()? as usize;
        index.terms = TermDict::default();
        index.postings = Vec::with_capacity(terms);
        for term in 0..terms {
            let text = r.str()?;
            if index.terms.get_or_insert(text) != Some(term) {
                return None;
            }
            let count = r.u32()? as usize;
            let bytes = r.take(count.checked_mul(4)?)?;
            let mut postings: Postings = Vec::with_capacity(count);
            let mut previous = None;
            for chunk in bytes.chunks_exact(4) {
                let p = u32::from_le_bytes(chunk.try_into().ok()?);
                let slot = p >> SLOT_SHIFT;
                // Postings are in slot order and name live slots only.
                if slot as usize >= slots || previous.is_some_and(|s| s >= slot) {
                    return None;
                }
                previous = Some(slot);
                postings.push(p);
            }
            index.total_postings += postings.len();
            index.postings.push(postings);
        }
        index.terms.shrink_to_fit();
        Some(index)
    }
}

fn put_u32(out: &mut Vec<u8>, value: u32) {
    out.extend_from_slice(&value.to_le_bytes());
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_u32(out, s.len() as u32);
    out.extend_from_slice(s.as_bytes());
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        Some(head)
    }

    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }

    fn str(&mut self) -> Option<&'a str> {
        let len = self.u32()? as usize;
        std::str::from_utf8(self.take(len)?).ok()
    }
}
