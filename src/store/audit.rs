//! The audit log (AUDIT). Changes append their entry inside their own transaction
//! ([`append`]), so an entry exists exactly when its change committed; denied requests come
//! in batches ([`Store::record_denied`]). The writer prunes by age and count; AUDIT_COUNT
//! keeps each tenant's number of rows (for the listing's total and for pruning).

use super::tables::{AUDIT, AUDIT_COUNT, TENANTS};
use super::writer::Tx;
use super::{Store, StoreResult, decode, encode};
use crate::clock::Timestamp;
use crate::domain::{AuditEntry, NewAudit};
use crate::ids::new_id_at;

/// Above every id of the `aud_` + base62 form, to close a tenant's range.
const ID_END: &str = "aud_~";

/// Appends an entry for `tenant` to the write in progress.
pub(super) fn append(tx: &mut Tx<'_>, tenant: &str, new: NewAudit) -> StoreResult<()> {
    let at = tx.unique_now();
    let entry = AuditEntry {
        id: new_id_at("aud_", at),
        tenant: tenant.to_string(),
        at,
        action: new.action,
        actor: new.actor,
        target: new.target,
        detail: new.detail,
    };
    tx.txn
        .open_table(AUDIT)?
        .insert((tenant, entry.id.as_str()), encode(&entry)?.as_slice())?;
    count(tx, tenant, 1)
}

/// Adds `delta` to the tenant's row count.
fn count(tx: &mut Tx<'_>, tenant: &str, delta: i64) -> StoreResult<()> {
    let mut counts = tx.txn.open_table(AUDIT_COUNT)?;
    let now = counts.get(tenant)?.map_or(0, |v| v.value());
    let next = now.saturating_add_signed(delta);
    if next == 0 {
        counts.remove(tenant)?;
    } else {
        counts.insert(tenant, next)?;
    }
    Ok(())
}

impl Store {
    /// Appends entries (denied requests) in one write; entries naming a tenant that does not
    /// exist are dropped, so made-up slugs cannot fill the log. Returns how many were kept.
    pub async fn record_denied(&self, entries: Vec<(String, NewAudit)>) -> StoreResult<usize> {
        if entries.is_empty() {
            return Ok(0);
        }
        self.write(move |tx| {
            let mut kept = 0;
            for (tenant, entry) in &entries {
                let exists = tx.txn.open_table(TENANTS)?.get(tenant.as_str())?.is_some();
                if exists {
                    append(tx, tenant, entry.clone())?;
                    kept += 1;
                }
            }
            Ok(kept)
        })
        .await
    }

    /// One page of a tenant's audit log, newest first, and the number of entries.
    pub fn list_audit(
        &self,
        tenant: &str,
        offset: usize,
        limit: usize,
    ) -> StoreResult<(Vec<AuditEntry>, usize)> {
        self.read(|txn| {
            let table = txn.open_table(AUDIT)?;
            let total = txn
                .open_table(AUDIT_COUNT)?
                .get(tenant)?
                .map_or(0, |v| v.value()) as usize;
            let mut page = Vec::new();
            let rows = table.range((tenant, "")..(tenant, ID_END))?;
            for row in rows.rev().skip(offset).take(limit) {
                let (key, value) = row?;
                page.push(decode("audit", key.value(), value.value())?);
            }
            Ok((page, total))
        })
    }

    /// Removes entries older than `max_age_secs` (if given) and all but the newest
    /// `max_entries` of each tenant. Returns how many were removed.
    pub async fn prune_audit(
        &self,
        now: Timestamp,
        max_age_secs: Option<i64>,
        max_entries: usize,
    ) -> StoreResult<usize> {
        let cutoff = max_age_secs.map(|secs| new_id_at("aud_", now.plus_secs(-secs)));
        // Find what to remove with a read first: most ticks remove nothing and then cost
        // the writer nothing. Rows are oldest first, so what goes is always a prefix of the
        // tenant's range: the cost is the number of rows removed, not the log's size.
        let doomed = self
            .read_owned(move |txn| {
                let (table, counts) = (txn.open_table(AUDIT)?, txn.open_table(AUDIT_COUNT)?);
                let mut doomed = Vec::new();
                for row in counts.iter()? {
                    let (tenant, total) = row?;
                    let tenant = tenant.value().to_string();
                    let mut excess = (total.value() as usize).saturating_sub(max_entries);
                    for row in table.range((tenant.as_str(), "")..(tenant.as_str(), ID_END))? {
                        let (key, _) = row?;
                        let (_, id) = key.value();
                        let too_old = cutoff.as_deref().is_some_and(|c| id < c);
                        if excess == 0 && !too_old {
                            break;
                        }
                        excess = excess.saturating_sub(1);
                        doomed.push((tenant.clone(), id.to_string()));
                    }
                }
                Ok(doomed)
            })
            .await?;
        if doomed.is_empty() {
            return Ok(0);
        }
        self.write(move |tx| {
            let mut removed = 0;
            for (tenant, id) in &doomed {
                let gone = tx
                    .txn
                    .open_table(AUDIT)?
                    .remove((tenant.as_str(), id.as_str()))?
                    .is_some();
                if gone {
                    count(tx, tenant, -1)?;
                    removed += 1;
                }
            }
            Ok(removed)
        })
        .await
    }
}
