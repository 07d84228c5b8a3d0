//! Segments: the audiences/personas of a tenant's bot. Every tenant has exactly one default
//! segment; the store keeps that invariant inside each write transaction.

use redb::{ReadableDatabase, ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};

use super::tables::{SEGMENTS, TENANTS};
use super::{Store, StoreError, StoreResult, tenant_rows};
use crate::auth::token::new_id;
use crate::clock;

pub const DEFAULT_SEGMENT_SLUG: &str = "general";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Starter {
    pub text: String,
    pub emoji: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Segment {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub system_prompt: String,
    pub welcome_message: String,
    pub conversation_starters: Vec<Starter>,
    pub is_default: bool,
    pub is_active: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Segment {
    pub fn new(slug: &str, name: &str, now_ms: i64) -> Segment {
        Segment {
            id: new_id("seg_"),
            slug: slug.to_string(),
            name: name.to_string(),
            system_prompt: String::new(),
            welcome_message: String::new(),
            conversation_starters: Vec::new(),
            is_default: false,
            is_active: true,
            created_at: now_ms,
            updated_at: now_ms,
        }
    }

    fn matches(&self, id_or_slug: &str) -> bool {
        self.id == id_or_slug || self.slug == id_or_slug
    }
}

/// Why a segment change was refused, for the API to word.
#[derive(Debug)]
pub enum SegmentError {
    SlugTaken(String),
    /// The change would leave the tenant without a default segment.
    DefaultRequired,
    Store(StoreError),
}

macro_rules! segment_error_from {
    ($($t:ty),*) => {$(
        impl From<$t> for SegmentError {
            fn from(err: $t) -> Self {
                SegmentError::Store(err.into())
            }
        }
    )*};
}
segment_error_from!(
    StoreError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    serde_json::Error
);

fn load_all(txn: &WriteTransaction, tenant: &str) -> StoreResult<Vec<Segment>> {
    let table = txn.open_table(SEGMENTS)?;
    tenant_rows(&table, tenant)?
        .map(|row| Ok(serde_json::from_slice(&row?.1)?))
        .collect()
}

fn save(txn: &WriteTransaction, tenant: &str, segment: &Segment) -> StoreResult<()> {
    let bytes = serde_json::to_vec(segment)?;
    txn.open_table(SEGMENTS)?
        .insert((tenant, segment.id.as_str()), bytes.as_slice())?;
    Ok(())
}

/// Makes `chosen` the only default among `all`, saving those that change.
fn move_default(
    txn: &WriteTransaction,
    tenant: &str,
    all: &[Segment],
    chosen: &str,
) -> StoreResult<()> {
    for other in all.iter().filter(|s| s.is_default && s.id != chosen) {
        let mut other = other.clone();
        other.is_default = false;
        other.updated_at = clock::now_ms();
        save(txn, tenant, &other)?;
    }
    Ok(())
}

/// Inserts the default `general` segment if the tenant has no default yet.
pub(super) fn ensure_default(txn: &WriteTransaction, tenant: &str) -> StoreResult<bool> {
    let all = load_all(txn, tenant)?;
    if all.iter().any(|s| s.is_default) {
        return Ok(false);
    }
    let mut segment = match all.into_iter().find(|s| s.slug == DEFAULT_SEGMENT_SLUG) {
        Some(existing) => existing,
        None => Segment::new(DEFAULT_SEGMENT_SLUG, "General", clock::now_ms()),
    };
    segment.is_default = true;
    segment.is_active = true;
    save(txn, tenant, &segment)?;
    Ok(true)
}

impl Store {
    /// Default first, then oldest first.
    pub fn list_segments(&self, tenant: &str) -> StoreResult<Vec<Segment>> {
        let txn = self.db().begin_read()?;
        let table = txn.open_table(SEGMENTS)?;
        let mut all: Vec<Segment> = tenant_rows(&table, tenant)?
            .map(|row| Ok(serde_json::from_slice(&row?.1)?))
            .collect::<StoreResult<_>>()?;
        all.sort_by(|a, b| {
            (!a.is_default, a.created_at, &a.id).cmp(&(!b.is_default, b.created_at, &b.id))
        });
        Ok(all)
    }

    pub fn find_segment(&self, tenant: &str, id_or_slug: &str) -> StoreResult<Option<Segment>> {
        Ok(self
            .list_segments(tenant)?
            .into_iter()
            .find(|s| s.matches(id_or_slug)))
    }

    pub fn default_segment(&self, tenant: &str) -> StoreResult<Option<Segment>> {
        Ok(self
            .list_segments(tenant)?
            .into_iter()
            .find(|s| s.is_default))
    }

    pub fn create_segment(&self, tenant: &str, segment: Segment) -> Result<Segment, SegmentError> {
        let txn = self.db().begin_write()?;
        {
            if txn.open_table(TENANTS)?.get(tenant)?.is_none() {
                return Err(StoreError::NotFound.into());
            }
            let all = load_all(&txn, tenant)?;
            if all.iter().any(|s| s.slug == segment.slug) {
                return Err(SegmentError::SlugTaken(segment.slug));
            }
            if segment.is_default {
                move_default(&txn, tenant, &all, &segment.id)?;
            }
            save(&txn, tenant, &segment)?;
        }
        txn.commit()?;
        Ok(segment)
    }

    /// Read-modify-write of one segment; `Ok(None)` when it does not exist. Turning
    /// `is_default` on moves the default here; turning it off on the default is refused.
    pub fn update_segment<E: From<SegmentError>>(
        &self,
        tenant: &str,
        id_or_slug: &str,
        edit: impl FnOnce(&mut Segment) -> Result<(), E>,
    ) -> Result<Option<Segment>, E> {
        let txn = self.db().begin_write().map_err(SegmentError::from)?;
        let updated = {
            let all = load_all(&txn, tenant).map_err(SegmentError::from)?;
            let Some(current) = all.iter().find(|s| s.matches(id_or_slug)) else {
                return Ok(None);
            };
            let mut segment = current.clone();
            edit(&mut segment)?;
            if current.is_default && !segment.is_default {
                return Err(SegmentError::DefaultRequired.into());
            }
            if segment.is_default {
                move_default(&txn, tenant, &all, &segment.id).map_err(SegmentError::from)?;
            }
            segment.updated_at = clock::now_ms();
            save(&txn, tenant, &segment).map_err(SegmentError::from)?;
            segment
        };
        txn.commit().map_err(SegmentError::from)?;
        Ok(Some(updated))
    }

    pub fn delete_segment(
        &self,
        tenant: &str,
        id_or_slug: &str,
    ) -> Result<Option<Segment>, SegmentError> {
        let txn = self.db().begin_write()?;
        let deleted = {
            let all = load_all(&txn, tenant)?;
            let Some(segment) = all.into_iter().find(|s| s.matches(id_or_slug)) else {
                return Ok(None);
            };
            if segment.is_default {
                return Err(SegmentError::DefaultRequired);
            }
            txn.open_table(SEGMENTS)?
                .remove((tenant, segment.id.as_str()))?;
            segment
        };
        txn.commit()?;
        Ok(Some(deleted))
    }

    /// Gives every tenant created before segments existed its default segment.
    pub(super) fn ensure_default_segments(&self) -> StoreResult<()> {
        let slugs: Vec<String> = self.list_tenants()?.into_iter().map(|t| t.slug).collect();
        let txn = self.db().begin_write()?;
        let mut added = 0;
        for slug in &slugs {
            if ensure_default(&txn, slug)? {
                added += 1;
            }
        }
        txn.commit()?;
        if added > 0 {
            log::info!("created the default segment for {added} tenant(s)");
        }
        Ok(())
    }
}

/// Segment slugs: 1-63 characters of `a-z 0-9 -`, not starting with `-`.
pub fn is_segment_slug(slug: &str) -> bool {
    (1..=63).contains(&slug.len())
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !slug.starts_with('-')
}

/// A slug made from a display name: accents folded, lowercase, other characters as `-`.
pub fn slug_from_name(name: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    let mut slug = String::new();
    for c in name
        .nfd()
        .filter(|c| !unicode_normalization::char::is_combining_mark(*c))
    {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    slug.truncate(63);
    slug.trim_end_matches('-').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_from_names() {
        assert_eq!(slug_from_name("Pricing"), "pricing");
        assert_eq!(
            slug_from_name("  Service après-vente!! "),
            "service-apres-vente"
        );
        assert_eq!(slug_from_name("🎉"), "");
        assert!(is_segment_slug(&slug_from_name(&"Long name ".repeat(20))));
    }

    #[test]
    fn slug_rule() {
        assert!(is_segment_slug("faq"));
        assert!(is_segment_slug("x"));
        assert!(!is_segment_slug("-x"));
        assert!(!is_segment_slug("Pricing"));
        assert!(!is_segment_slug(""));
    }
}
