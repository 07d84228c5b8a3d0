//! The in-memory table of live credentials, keyed by secret hash. It is derived from the
//! store's tokens and tenants' legacy keys: loaded at start, then kept in step by the store's
//! change feed, which runs before a write is answered, so a revocation takes effect for every
//! worker before the DELETE returns and authentication never touches storage.
//! `last_used` is bookkeeping kept here and flushed to the store in the background.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};

use super::token::{SecretHash, parse_hex};
use crate::clock::Timestamp;
use crate::domain::{ScopeSet, TokenRecord};
use crate::store::{Change, Store, StoreResult};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialKind {
    Token { id: String, prefix: String },
    LegacyKey,
}

#[derive(Debug)]
pub struct Credential {
    pub kind: CredentialKind,
    pub tenant: String,
    pub scopes: ScopeSet,
    pub expires_at: Option<Timestamp>,
    /// After a rotation with a grace period: the previous secret's hash, accepted until then.
    grace: Option<(SecretHash, Timestamp)>,
    /// Microseconds; 0 = never used.
    last_used: AtomicI64,
    /// The value last written to the store, so the flusher writes only what changed.
    flushed_last_used: AtomicI64,
}

impl Credential {
    fn new(
        kind: CredentialKind,
        tenant: String,
        scopes: ScopeSet,
        expires_at: Option<Timestamp>,
        last_used: Option<Timestamp>,
    ) -> Self {
        let used = last_used.map_or(0, Timestamp::micros);
        Credential {
            kind,
            tenant,
            scopes,
            expires_at,
            grace: None,
            last_used: AtomicI64::new(used),
            flushed_last_used: AtomicI64::new(used),
        }
    }

    fn from_token(record: &TokenRecord) -> Self {
        let mut credential = Credential::new(
            CredentialKind::Token {
                id: record.id.clone(),
                prefix: record.prefix.clone(),
            },
            record.tenant.clone(),
            record.scopes,
            record.expires_at,
            record.last_used_at,
        );
        credential.grace = record
            .grace
            .as_ref()
            .and_then(|g| Some((parse_hex(&g.hash)?, g.until)));
        credential
    }

    /// Whether `hash` (which found this credential) is a rotated-out secret whose grace
    /// period is over.
    pub fn is_past_grace(&self, hash: &SecretHash, now: Timestamp) -> bool {
        self.grace
            .as_ref()
            .is_some_and(|(old, until)| old == hash && *until <= now)
    }

    /// The token's public prefix (none for a legacy key).
    pub fn prefix(&self) -> Option<&str> {
        match &self.kind {
            CredentialKind::Token { prefix, .. } => Some(prefix),
            CredentialKind::LegacyKey => None,
        }
    }

    fn legacy(tenant: &str) -> Self {
        Credential::new(
            CredentialKind::LegacyKey,
            tenant.to_string(),
            ScopeSet::all(),
            None,
            None,
        )
    }

    /// A stable, non-secret name for rate limiting and logs.
    pub fn label(&self) -> String {
        match &self.kind {
            CredentialKind::Token { id, .. } => id.clone(),
            CredentialKind::LegacyKey => format!("legacy-key:{}", self.tenant),
        }
    }

    pub fn token_id(&self) -> Option<&str> {
        match &self.kind {
            CredentialKind::Token { id, .. } => Some(id),
            CredentialKind::LegacyKey => None,
        }
    }

    pub fn is_expired(&self, now: Timestamp) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }

    pub fn touch(&self, now: Timestamp) {
        self.last_used.fetch_max(now.micros(), Ordering::Relaxed);
    }

    pub fn last_used(&self) -> Option<Timestamp> {
        match self.last_used.load(Ordering::Relaxed) {
            0 => None,
            us => Some(Timestamp::from_micros(us)),
        }
    }
}

/// Live credentials by secret hash.
#[derive(Default)]
pub struct Credentials {
    by_hash: RwLock<HashMap<SecretHash, Arc<Credential>>>,
    /// Child tenant -> parent tenant: a parent's credentials reach its children.
    parents: RwLock<HashMap<String, String>>,
}

impl Credentials {
    /// Subscribes to the store's changes, then loads what exists (changes are idempotent,
    /// so one landing in between is harmless).
    pub async fn attach(store: &Store) -> StoreResult<Arc<Credentials>> {
        let table = Arc::new(Credentials::default());
        let listener = Arc::downgrade(&table);
        store.subscribe(Arc::new(move |change| {
            if let Some(table) = listener.upgrade() {
                table.apply(change);
            }
        }));
        for record in store.list_tokens(None).await? {
            table.apply(&Change::TokenCreated(record));
        }
        for tenant in store.list_tenants().await? {
            if let Some(parent) = &tenant.parent {
                table.apply(&Change::ChildTenantCreated {
                    child: tenant.slug.clone(),
                    parent: parent.slug.clone(),
                });
            }
            table.apply(&Change::LegacyKeyChanged {
                tenant: tenant.slug.clone(),
                previous: None,
                current: tenant.legacy_key_hash.clone(),
            });
        }
        Ok(table)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<SecretHash, Arc<Credential>>> {
        self.by_hash.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Both hashes a token record answers to: its secret and, during a grace period, the
    /// previous one.
    fn hashes(record: &TokenRecord) -> impl Iterator<Item = SecretHash> {
        let grace = record.grace.as_ref().and_then(|g| parse_hex(&g.hash));
        parse_hex(&record.hash).into_iter().chain(grace)
    }

    fn insert_token(
        table: &mut HashMap<SecretHash, Arc<Credential>>,
        record: &TokenRecord,
        used: Option<&Credential>,
    ) {
        if parse_hex(&record.hash).is_none() {
            log::error!("token {} has an unreadable hash; ignored", record.id);
            return;
        }
        let credential = Credential::from_token(record);
        if let Some(used) = used {
            credential.touch(Timestamp::from_micros(
                used.last_used.load(Ordering::Relaxed),
            ));
            // What the record holds is stored already (another replica's flush, say): not
            // to be written again.
            credential.flushed_last_used.fetch_max(
                used.flushed_last_used.load(Ordering::Relaxed),
                Ordering::Relaxed,
            );
        }
        let credential = Arc::new(credential);
        for hash in Self::hashes(record) {
            table.insert(hash, credential.clone());
        }
    }

    fn apply(&self, change: &Change) {
        match change {
            Change::TokenCreated(record) => Self::insert_token(&mut self.write(), record, None),
            Change::TokenRevoked(record) => {
                let mut table = self.write();
                for hash in Self::hashes(record) {
                    table.remove(&hash);
                }
            }
            Change::TokenRotated { previous, current } => {
                let mut table = self.write();
                let mut used = None;
                for hash in Self::hashes(previous) {
                    used = used.or(table.remove(&hash));
                }
                Self::insert_token(&mut table, current, used.as_deref());
            }
            Change::ChildTenantCreated { child, parent } => {
                self.parents
                    .write()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(child.clone(), parent.clone());
            }
            Change::LegacyKeyChanged {
                tenant,
                previous,
                current,
            } => {
                let mut table = self.write();
                if let Some(old) = previous.as_deref().and_then(parse_hex) {
                    table.remove(&old);
                }
                if let Some(new) = current.as_deref().and_then(parse_hex) {
                    table.insert(new, Arc::new(Credential::legacy(tenant)));
                }
            }
            Change::TokenSynced { id, current } => {
                let mut table = self.write();
                let mut used: Option<Arc<Credential>> = None;
                table.retain(|_, c| {
                    let same = c.token_id() == Some(id.as_str());
                    if same {
                        used = Some(c.clone());
                    }
                    !same
                });
                if let Some(record) = current {
                    Self::insert_token(&mut table, record, used.as_deref());
                }
            }
            Change::TenantSynced { slug, current } => self.sync_tenant(slug, current.as_deref()),
            Change::Resync { tokens, tenants } => {
                {
                    let mut table = self.write();
                    let old = std::mem::take(&mut *table);
                    for record in tokens {
                        let used = Self::hashes(record).find_map(|h| old.get(&h).cloned());
                        Self::insert_token(&mut table, record, used.as_deref());
                    }
                }
                self.parents
                    .write()
                    .unwrap_or_else(|p| p.into_inner())
                    .clear();
                for tenant in tenants {
                    self.sync_tenant(&tenant.slug, Some(tenant));
                }
            }
        }
    }

    /// Brings one tenant's legacy key and parent to `current` (`None`: the tenant is gone).
    fn sync_tenant(&self, slug: &str, current: Option<&crate::domain::Tenant>) {
        {
            let mut table = self.write();
            table.retain(|_, c| !(matches!(c.kind, CredentialKind::LegacyKey) && c.tenant == slug));
            if let Some(new) = current
                .and_then(|t| t.legacy_key_hash.as_deref())
                .and_then(parse_hex)
            {
                table.insert(new, Arc::new(Credential::legacy(slug)));
            }
        }
        let mut parents = self.parents.write().unwrap_or_else(|p| p.into_inner());
        match current.and_then(|t| t.parent.as_ref()) {
            Some(parent) => {
                parents.insert(slug.to_string(), parent.slug.clone());
            }
            None => {
                parents.remove(slug);
            }
        }
    }

    /// Whether a credential of `holder` reaches `tenant`: its own, or one of its children.
    pub fn reaches(&self, holder: &str, tenant: &str) -> bool {
        holder == tenant
            || self
                .parents
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .get(tenant)
                .is_some_and(|parent| parent == holder)
    }

    /// The live credential for a secret's hash, if any: none for a rotated-out secret past
    /// its grace (API, dashboard sign-in and sessions all look secrets up here). Pure memory.
    pub fn get(&self, hash: &SecretHash) -> Option<Arc<Credential>> {
        self.by_hash
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(hash)
            .filter(|c| !c.is_past_grace(hash, Timestamp::now()))
            .cloned()
    }

    /// Last-used instants of tokens that changed since the previous call's flush.
    fn unflushed(&self) -> Vec<(Arc<Credential>, String, i64)> {
        let mut pending: Vec<(Arc<Credential>, String, i64)> = self
            .by_hash
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .filter_map(|c| {
                let now = c.last_used.load(Ordering::Relaxed);
                let id = c.token_id()?;
                (now != c.flushed_last_used.load(Ordering::Relaxed))
                    .then(|| (c.clone(), id.to_string(), now))
            })
            .collect();
        // A token in its rotation grace sits under two hashes: write it once.
        pending.sort_by(|a, b| a.1.cmp(&b.1));
        pending.dedup_by(|a, b| a.1 == b.1);
        pending
    }

    /// Writes changed last-used times to the store; returns how many.
    pub async fn flush_last_used(&self, store: &Store) -> StoreResult<usize> {
        let pending = self.unflushed();
        let used = pending
            .iter()
            .map(|(_, id, us)| (id.clone(), Timestamp::from_micros(*us)))
            .collect();
        let written = store.record_token_use(used).await?;
        for (credential, _, us) in pending {
            credential.flushed_last_used.store(us, Ordering::Relaxed);
        }
        Ok(written)
    }

    /// The last-used instant the server knows now for a token (flushed or not): the later
    /// of its own and the stored one (another replica's use, flushed).
    pub fn last_used_of(&self, record: &TokenRecord) -> Option<Timestamp> {
        parse_hex(&record.hash)
            .and_then(|h| self.get(&h))
            .and_then(|c| c.last_used())
            .max(record.last_used_at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::token::{SecretKind, hash_secret, mint};
    use crate::domain::GraceSecret;

    fn record(hash: &str, prefix: &str) -> TokenRecord {
        TokenRecord {
            id: "tok_1".into(),
            tenant: "acme".into(),
            name: "ci".into(),
            prefix: prefix.into(),
            scopes: ScopeSet::all(),
            hash: hash.into(),
            created_at: Timestamp::from_secs(1),
            expires_at: None,
            last_used_at: None,
            grace: None,
        }
    }

    #[test]
    fn a_synced_token_replaces_what_was_held_and_none_removes_it() {
        let table = Credentials::default();
        let (old, new) = (mint(SecretKind::ApiToken), mint(SecretKind::ApiToken));
        let sync = |record: Option<TokenRecord>| Change::TokenSynced {
            id: "tok_1".into(),
            current: record.map(Box::new),
        };
        table.apply(&sync(Some(record(&old.hash, &old.prefix))));
        // Applying the same row again changes nothing (replicas apply their own writes too).
        table.apply(&sync(Some(record(&old.hash, &old.prefix))));
        assert!(table.get(&hash_secret(&old.secret)).is_some());
        // Another replica rotated it without a grace period: only the new secret works.
        table.apply(&sync(Some(record(&new.hash, &new.prefix))));
        assert!(table.get(&hash_secret(&old.secret)).is_none());
        assert!(table.get(&hash_secret(&new.secret)).is_some());
        // Revoked elsewhere: the row is gone.
        table.apply(&sync(None));
        assert!(table.get(&hash_secret(&new.secret)).is_none());
    }

    #[test]
    fn a_rotated_token_answers_to_both_secrets_until_the_grace_ends() {
        let table = Credentials::default();
        let (old, new) = (mint(SecretKind::ApiToken), mint(SecretKind::ApiToken));
        let before = record(&old.hash, &old.prefix);
        table.apply(&Change::TokenCreated(before.clone()));
        let used = Timestamp::from_secs(50);
        table.get(&hash_secret(&old.secret)).unwrap().touch(used);
        let until = Timestamp::now().plus_secs(3600);
        let mut after = record(&new.hash, &new.prefix);
        after.grace = Some(GraceSecret {
            hash: old.hash.clone(),
            prefix: old.prefix.clone(),
            until,
        });
        table.apply(&Change::TokenRotated {
            previous: Box::new(before),
            current: Box::new(after.clone()),
        });
        let (old_hash, new_hash) = (hash_secret(&old.secret), hash_secret(&new.secret));
        let via_old = table.get(&old_hash).unwrap();
        let via_new = table.get(&new_hash).unwrap();
        assert!(
            Arc::ptr_eq(&via_old, &via_new),
            "one credential, one last-used"
        );
        assert_eq!(via_new.last_used(), Some(used), "carried over the rotation");
        assert_eq!(via_new.prefix(), Some(new.prefix.as_str()));
        assert!(!via_old.is_past_grace(&old_hash, until.plus_secs(-1)));
        assert!(via_old.is_past_grace(&old_hash, until));
        assert!(!via_new.is_past_grace(&new_hash, Timestamp::MAX));
        assert_eq!(table.unflushed().len(), 1, "flushed once, not per hash");

        // Once the grace is over the old secret finds nothing.
        let mut ended = after.clone();
        if let Some(grace) = ended.grace.as_mut() {
            grace.until = Timestamp::from_secs(100);
        }
        table.apply(&Change::TokenRotated {
            previous: Box::new(after),
            current: Box::new(ended.clone()),
        });
        assert!(table.get(&old_hash).is_none());
        assert!(table.get(&new_hash).is_some());

        table.apply(&Change::TokenRevoked(ended));
        assert!(table.get(&old_hash).is_none() && table.get(&new_hash).is_none());
    }
}
