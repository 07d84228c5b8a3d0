//! Tenants: create, read, update settings, legacy keys.

use super::tables::TENANTS;
use super::writer::Tx;
use super::{Change, Effect, Store, StoreError, StoreResult, audit, decode, encode, segments};
use crate::domain::{Actor, AuditAction, NewAudit, ParentRef, Tenant, TenantPatch};
use crate::ids::new_id;

/// Reads one tenant inside a write transaction.
pub(super) fn load(tx: &Tx<'_>, slug: &str) -> StoreResult<Option<Tenant>> {
    let table = tx.txn.open_table(TENANTS)?;
    let tenant = match table.get(slug)? {
        Some(v) => Some(decode("tenants", slug, v.value())?),
        None => None,
    };
    Ok(tenant)
}

pub(super) fn save(tx: &Tx<'_>, tenant: &Tenant) -> StoreResult<()> {
    let bytes = encode(tenant)?;
    tx.txn
        .open_table(TENANTS)?
        .insert(tenant.slug.as_str(), bytes.as_slice())?;
    Ok(())
}

/// `NotFound("Tenant")` unless the tenant exists: checked by every write that belongs to one.
pub(super) fn require(tx: &Tx<'_>, slug: &str) -> StoreResult<Tenant> {
    load(tx, slug)?.ok_or(StoreError::NotFound("Tenant"))
}

impl Store {
    /// Creates a tenant with its default segment; `Conflict` when the slug is taken.
    pub async fn create_tenant(&self, slug: &str, name: &str) -> StoreResult<Tenant> {
        let (slug, name) = (slug.to_string(), name.to_string());
        self.write(move |tx| {
            if load(tx, &slug)?.is_some() {
                return Err(StoreError::Conflict(format!(
                    "tenant '{slug}' already exists"
                )));
            }
            let tenant = Tenant::new(new_id("ten_"), &slug, &name, tx.unique_now());
            save(tx, &tenant)?;
            segments::ensure_default(tx.txn, &slug)?;
            Ok(tenant)
        })
        .await
    }

    /// Creates a child tenant of `parent` (itself not a child: one level). `Conflict` when
    /// the slug is taken.
    pub async fn create_child_tenant(
        &self,
        parent: &str,
        slug: &str,
        name: &str,
    ) -> StoreResult<Tenant> {
        let (parent, slug, name) = (parent.to_string(), slug.to_string(), name.to_string());
        self.write(move |tx| {
            let parent = require(tx, &parent)?;
            if parent.parent.is_some() {
                return Err(StoreError::invalid(
                    "parentId",
                    "a child tenant cannot have children of its own",
                ));
            }
            if load(tx, &slug)?.is_some() {
                return Err(StoreError::Conflict(format!(
                    "tenant '{slug}' already exists"
                )));
            }
            let mut tenant = Tenant::new(new_id("ten_"), &slug, &name, tx.unique_now());
            tenant.parent = Some(ParentRef {
                slug: parent.slug.clone(),
                id: parent.id.clone(),
            });
            save(tx, &tenant)?;
            segments::ensure_default(tx.txn, &slug)?;
            tx.after_commit(Effect::Notify(Change::ChildTenantCreated {
                child: slug.clone(),
                parent: parent.slug.clone(),
            }));
            Ok(tenant)
        })
        .await
    }

    /// The tenant's children, in slug order.
    pub async fn list_children(&self, parent: &str) -> StoreResult<Vec<Tenant>> {
        Ok(self
            .list_tenants()
            .await?
            .into_iter()
            .filter(|t| t.parent.as_ref().is_some_and(|p| p.slug == parent))
            .collect())
    }

    pub async fn get_tenant(&self, slug: &str) -> StoreResult<Option<Tenant>> {
        let slug = slug.to_string();
        self.read_owned(move |txn| {
            let slug = slug.as_str();
            let table = txn.open_table(TENANTS)?;
            let tenant = match table.get(slug)? {
                Some(v) => Some(decode("tenants", slug, v.value())?),
                None => None,
            };
            Ok(tenant)
        })
        .await
    }

    pub async fn list_tenants(&self) -> StoreResult<Vec<Tenant>> {
        self.read_owned(move |txn| {
            let mut tenants = Vec::new();
            for row in txn.open_table(TENANTS)?.iter()? {
                let (key, value) = row?;
                tenants.push(decode("tenants", key.value(), value.value())?);
            }
            Ok(tenants)
        })
        .await
    }

    /// Applies a validated patch to the settings, in one transaction.
    pub async fn update_tenant(
        &self,
        slug: &str,
        patch: TenantPatch,
        by: Actor,
    ) -> StoreResult<Tenant> {
        let slug = slug.to_string();
        self.write(move |tx| {
            let mut tenant = require(tx, &slug)?;
            patch.apply(&mut tenant);
            tenant.updated_at = tx.unique_now();
            save(tx, &tenant)?;
            audit::append(
                tx,
                &slug,
                NewAudit {
                    action: AuditAction::SettingsChanged,
                    actor: by.clone(),
                    target: None,
                    detail: None,
                },
            )?;
            Ok(tenant)
        })
        .await
    }

    /// Sets the tenant's legacy X-API-Key hash, replacing (and disabling) any previous key.
    pub async fn set_legacy_key(&self, slug: &str, hash: String, by: Actor) -> StoreResult<()> {
        let slug = slug.to_string();
        self.write(move |tx| {
            let mut tenant = require(tx, &slug)?;
            let previous = tenant.legacy_key_hash.replace(hash.clone());
            tenant.updated_at = tx.unique_now();
            save(tx, &tenant)?;
            audit::append(
                tx,
                &slug,
                NewAudit {
                    action: AuditAction::LegacyKeyMinted,
                    actor: by.clone(),
                    target: None,
                    detail: previous
                        .as_ref()
                        .map(|_| "replaces the previous key".to_string()),
                },
            )?;
            tx.after_commit(Effect::Notify(Change::LegacyKeyChanged {
                tenant: slug.clone(),
                previous,
                current: Some(hash.clone()),
            }));
            Ok(())
        })
        .await
    }
}
