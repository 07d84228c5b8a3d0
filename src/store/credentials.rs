//! The in-memory table of live credentials, keyed by secret hash. It is derived from the
//! TOKENS and TENANTS tables (loaded at open, updated right after each commit that changes
//! them), so authentication never touches redb and a revocation takes effect for every worker
//! before the DELETE is answered. `last_used_ms` is bookkeeping kept here and flushed to redb
//! in the background.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::auth::scope::ScopeSet;
use crate::auth::token::SecretHash;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialKind {
    Token { id: String },
    LegacyKey,
}

#[derive(Debug)]
pub struct Credential {
    pub kind: CredentialKind,
    pub tenant: String,
    pub scopes: ScopeSet,
    pub expires_at_ms: Option<i64>,
    /// 0 = never used.
    last_used_ms: AtomicI64,
    /// The value last written to redb, so the flusher writes only what changed.
    flushed_last_used_ms: AtomicI64,
}

impl Credential {
    pub fn new(
        kind: CredentialKind,
        tenant: String,
        scopes: ScopeSet,
        expires_at_ms: Option<i64>,
        last_used_ms: Option<i64>,
    ) -> Self {
        let used = last_used_ms.unwrap_or(0);
        Credential {
            kind,
            tenant,
            scopes,
            expires_at_ms,
            last_used_ms: AtomicI64::new(used),
            flushed_last_used_ms: AtomicI64::new(used),
        }
    }

    /// A stable, non-secret name for rate limiting and logs.
    pub fn label(&self) -> String {
        match &self.kind {
            CredentialKind::Token { id } => id.clone(),
            CredentialKind::LegacyKey => format!("legacy-key:{}", self.tenant),
        }
    }

    pub fn is_expired(&self, now_ms: i64) -> bool {
        self.expires_at_ms.is_some_and(|at| at <= now_ms)
    }

    pub fn touch(&self, now_ms: i64) {
        self.last_used_ms.fetch_max(now_ms, Ordering::Relaxed);
    }

    pub fn last_used_ms(&self) -> Option<i64> {
        match self.last_used_ms.load(Ordering::Relaxed) {
            0 => None,
            ms => Some(ms),
        }
    }

    /// The last-used time if it changed since the last flush.
    pub(super) fn unflushed_last_used(&self) -> Option<i64> {
        let now = self.last_used_ms.load(Ordering::Relaxed);
        (now != self.flushed_last_used_ms.load(Ordering::Relaxed)).then_some(now)
    }

    pub(super) fn mark_flushed(&self, ms: i64) {
        self.flushed_last_used_ms.store(ms, Ordering::Relaxed);
    }
}

#[derive(Default)]
pub(super) struct Credentials {
    by_hash: RwLock<HashMap<SecretHash, Arc<Credential>>>,
}

impl Credentials {
    pub fn read(&self) -> RwLockReadGuard<'_, HashMap<SecretHash, Arc<Credential>>> {
        self.by_hash.read().unwrap_or_else(|p| p.into_inner())
    }

    pub fn write(&self) -> RwLockWriteGuard<'_, HashMap<SecretHash, Arc<Credential>>> {
        self.by_hash.write().unwrap_or_else(|p| p.into_inner())
    }
}
