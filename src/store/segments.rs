//! Segments. Every tenant has exactly one default segment, and a segment that corpus entries
//! name cannot be deleted: both rules are checked inside the write that could break them.

use super::engine::WriteTxn;

use super::tables::{SEGMENT_USAGE, SEGMENTS};
use super::writer::Tx;
use super::{Store, StoreError, StoreResult, encode, tenant_records, tenants};
use crate::clock::Timestamp;
use crate::domain::segment::DEFAULT_SEGMENT_SLUG;
use crate::domain::{NewSegment, Segment, SegmentPatch};
use crate::ids::new_id;

fn load_all(txn: &WriteTxn, tenant: &str) -> StoreResult<Vec<Segment>> {
    let table = txn.open_table(SEGMENTS)?;
    tenant_records(&table, tenant)?
        .map(|row| row.map(|(_, segment)| segment))
        .collect()
}

fn save(txn: &WriteTxn, tenant: &str, segment: &Segment) -> StoreResult<()> {
    txn.open_table(SEGMENTS)?
        .insert((tenant, segment.id.as_str()), encode(segment)?.as_slice())?;
    Ok(())
}

/// Makes `chosen` the only default among `all`, saving those that change.
fn move_default(
    txn: &WriteTxn,
    tenant: &str,
    all: &[Segment],
    chosen: &str,
    now: Timestamp,
) -> StoreResult<()> {
    for other in all.iter().filter(|s| s.is_default && s.id != chosen) {
        let mut other = other.clone();
        other.is_default = false;
        other.updated_at = now;
        save(txn, tenant, &other)?;
    }
    Ok(())
}

fn default_required() -> StoreError {
    StoreError::Conflict(
        "A tenant must have a default segment: make another segment the default first".into(),
    )
}

/// Inserts the default `general` segment if the tenant has no default yet.
pub(super) fn ensure_default(txn: &WriteTxn, tenant: &str) -> StoreResult<bool> {
    let all = load_all(txn, tenant)?;
    if all.iter().any(|s| s.is_default) {
        return Ok(false);
    }
    let now = Timestamp::now();
    let mut segment = match all.into_iter().find(|s| s.slug == DEFAULT_SEGMENT_SLUG) {
        Some(existing) => existing,
        None => new_segment(NewSegment::named(DEFAULT_SEGMENT_SLUG, "General"), now),
    };
    segment.is_default = true;
    segment.is_active = true;
    save(txn, tenant, &segment)?;
    Ok(true)
}

fn new_segment(new: NewSegment, now: Timestamp) -> Segment {
    Segment {
        id: new_id("seg_"),
        slug: new.slug,
        name: new.name,
        system_prompt: new.system_prompt,
        welcome_message: new.welcome_message,
        conversation_starters: new.conversation_starters,
        is_default: new.is_default,
        is_active: new.is_active,
        created_at: now,
        updated_at: now,
    }
}

/// True when the tenant has a segment with this slug (for corpus writes).
pub(super) fn exists(tx: &Tx<'_>, tenant: &str, slug: &str) -> StoreResult<bool> {
    Ok(load_all(tx.txn, tenant)?.iter().any(|s| s.slug == slug))
}

/// Adds `delta` to the number of corpus entries naming `slug`.
pub(super) fn count_usage(tx: &Tx<'_>, tenant: &str, slug: &str, delta: i64) -> StoreResult<()> {
    let mut usage = tx.txn.open_table(SEGMENT_USAGE)?;
    let current = usage.get((tenant, slug))?.map_or(0, |v| v.value());
    let next = current.saturating_add_signed(delta);
    if next == 0 {
        usage.remove((tenant, slug))?;
    } else {
        usage.insert((tenant, slug), next)?;
    }
    Ok(())
}

fn usage(txn: &WriteTxn, tenant: &str, slug: &str) -> StoreResult<u64> {
    Ok(txn
        .open_table(SEGMENT_USAGE)?
        .get((tenant, slug))?
        .map_or(0, |v| v.value()))
}

impl Store {
    /// Default first, then oldest first.
    pub async fn list_segments(&self, tenant: &str) -> StoreResult<Vec<Segment>> {
        let tenant = tenant.to_string();
        let mut all: Vec<Segment> = self
            .read_owned(move |txn| {
                let tenant = tenant.as_str();
                let table = txn.open_table(SEGMENTS)?;
                tenant_records(&table, tenant)?
                    .map(|row| row.map(|(_, segment)| segment))
                    .collect()
            })
            .await?;
        all.sort_by(|a, b| {
            (!a.is_default, a.created_at, &a.id).cmp(&(!b.is_default, b.created_at, &b.id))
        });
        Ok(all)
    }

    pub async fn find_segment(
        &self,
        tenant: &str,
        id_or_slug: &str,
    ) -> StoreResult<Option<Segment>> {
        Ok(self
            .list_segments(tenant)
            .await?
            .into_iter()
            .find(|s| s.matches(id_or_slug)))
    }

    pub async fn default_segment(&self, tenant: &str) -> StoreResult<Option<Segment>> {
        Ok(self
            .list_segments(tenant)
            .await?
            .into_iter()
            .find(|s| s.is_default))
    }

    pub async fn create_segment(&self, tenant: &str, new: NewSegment) -> StoreResult<Segment> {
        let tenant = tenant.to_string();
        self.write(move |tx| {
            tenants::require(tx, &tenant)?;
            let all = load_all(tx.txn, &tenant)?;
            if all.iter().any(|s| s.slug == new.slug) {
                return Err(StoreError::Conflict(format!(
                    "A segment with slug '{}' already exists",
                    new.slug
                )));
            }
            if new.is_default && !new.is_active {
                return Err(StoreError::Conflict(
                    "The default segment cannot be inactive".into(),
                ));
            }
            let now = tx.unique_now();
            let segment = new_segment(new.clone(), now);
            if segment.is_default {
                move_default(tx.txn, &tenant, &all, &segment.id, now)?;
            }
            save(tx.txn, &tenant, &segment)?;
            Ok(segment)
        })
        .await
    }

    /// Turning `isDefault` on moves the default here; turning it off on the default is refused.
    pub async fn update_segment(
        &self,
        tenant: &str,
        id_or_slug: &str,
        patch: SegmentPatch,
    ) -> StoreResult<Segment> {
        let (tenant, key) = (tenant.to_string(), id_or_slug.to_string());
        self.write(move |tx| {
            let all = load_all(tx.txn, &tenant)?;
            let current = all
                .iter()
                .find(|s| s.matches(&key))
                .ok_or(StoreError::NotFound("Segment"))?;
            let mut segment = current.clone();
            patch.apply(&mut segment);
            if current.is_default && !segment.is_default {
                return Err(default_required());
            }
            if segment.is_default && !segment.is_active {
                return Err(StoreError::Conflict(
                    "The default segment cannot be inactive".into(),
                ));
            }
            let now = tx.unique_now();
            if segment.is_default {
                move_default(tx.txn, &tenant, &all, &segment.id, now)?;
            }
            segment.updated_at = now;
            save(tx.txn, &tenant, &segment)?;
            Ok(segment)
        })
        .await
    }

    /// Refused for the default segment and for a segment corpus entries still name (409
    /// with their count): deleting it would leave entries that can no longer be edited.
    pub async fn delete_segment(&self, tenant: &str, id_or_slug: &str) -> StoreResult<Segment> {
        let (tenant, key) = (tenant.to_string(), id_or_slug.to_string());
        self.write(move |tx| {
            let segment = load_all(tx.txn, &tenant)?
                .into_iter()
                .find(|s| s.matches(&key))
                .ok_or(StoreError::NotFound("Segment"))?;
            if segment.is_default {
                return Err(default_required());
            }
            let in_use = usage(tx.txn, &tenant, &segment.slug)?;
            if in_use > 0 {
                return Err(StoreError::Conflict(format!(
                    "Segment '{}' is used by {in_use} corpus entr{}: move them to another segment or delete them first",
                    segment.slug,
                    if in_use == 1 { "y" } else { "ies" }
                )));
            }
            tx.txn
                .open_table(SEGMENTS)?
                .remove((tenant.as_str(), segment.id.as_str()))?;
            Ok(segment)
        })
        .await
    }
}
