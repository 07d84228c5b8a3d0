//! API token records and the credential table built from them and from tenants' legacy keys.

use std::sync::Arc;

use redb::{ReadableDatabase, ReadableTable};
use serde::{Deserialize, Serialize};

use super::tables::{TENANTS, TOKENS};
use super::tenants::{Tenant, hex, legacy_credential, parse_hex};
use super::{Credential, CredentialKind, Store, StoreError, StoreResult};
use crate::auth::scope::ScopeSet;
use crate::auth::token::{self, SecretKind};
use crate::clock;

/// The stored form: the hash of the secret, never the secret.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TokenRecord {
    pub id: String,
    pub tenant: String,
    pub name: String,
    pub prefix: String,
    pub scopes: Vec<String>,
    /// BLAKE3 of the full token text, hex.
    pub hash: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

/// A freshly minted token: the record plus the secret, shown once.
pub struct MintedToken {
    pub record: TokenRecord,
    pub secret: String,
}

impl Store {
    /// Mints and stores a token for `tenant`. The caller has checked the tenant exists and
    /// that the scopes may be granted.
    pub fn create_token(
        &self,
        tenant: &str,
        name: &str,
        scopes: ScopeSet,
        expires_at: Option<i64>,
    ) -> StoreResult<MintedToken> {
        let secret = token::mint(SecretKind::ApiToken);
        let hash = token::hash_secret(&secret);
        let record = TokenRecord {
            id: token::new_id("tok_"),
            tenant: tenant.to_string(),
            name: name.to_string(),
            prefix: token::display_prefix(&secret),
            scopes: scopes.names(),
            hash: hex(&hash),
            created_at: clock::now_ms(),
            expires_at,
            last_used_at: None,
        };
        let bytes = serde_json::to_vec(&record)?;
        let txn = self.db().begin_write()?;
        {
            if txn.open_table(TENANTS)?.get(tenant)?.is_none() {
                return Err(StoreError::NotFound);
            }
            txn.open_table(TOKENS)?
                .insert(record.id.as_str(), bytes.as_slice())?;
        }
        txn.commit()?;
        self.inner
            .credentials
            .write()
            .insert(hash, Arc::new(token_credential(&record, scopes)));
        Ok(MintedToken { record, secret })
    }

    /// Tokens of one tenant (or of all tenants), oldest first, with last-used times as the
    /// server knows them now (including what is not yet flushed).
    pub fn list_tokens(&self, tenant: Option<&str>) -> StoreResult<Vec<TokenRecord>> {
        let txn = self.db().begin_read()?;
        let table = txn.open_table(TOKENS)?;
        let mut tokens = Vec::new();
        for row in table.iter()? {
            let (_, value) = row?;
            let record: TokenRecord = serde_json::from_slice(value.value())?;
            if tenant.is_none_or(|t| t == record.tenant) {
                tokens.push(record);
            }
        }
        let credentials = self.inner.credentials.read();
        for record in &mut tokens {
            if let Some(live) = parse_hex(&record.hash).and_then(|h| credentials.get(&h)) {
                record.last_used_at = live.last_used_ms().or(record.last_used_at);
            }
        }
        tokens.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(tokens)
    }

    /// Deletes a token; it stops authenticating before this returns. With `tenant` given, a
    /// token of another tenant is treated as absent. Returns the deleted record.
    pub fn revoke_token(&self, tenant: Option<&str>, id: &str) -> StoreResult<Option<TokenRecord>> {
        let txn = self.db().begin_write()?;
        let record = {
            let mut table = txn.open_table(TOKENS)?;
            let record: Option<TokenRecord> = table
                .get(id)?
                .map(|v| serde_json::from_slice(v.value()))
                .transpose()?;
            match record {
                Some(r) if tenant.is_none_or(|t| t == r.tenant) => {
                    table.remove(id)?;
                    r
                }
                _ => return Ok(None),
            }
        };
        txn.commit()?;
        if let Some(hash) = parse_hex(&record.hash) {
            self.inner.credentials.write().remove(&hash);
        }
        Ok(Some(record))
    }

    /// The live credential for a presented secret, if any. Pure memory: no storage access.
    pub fn credential(&self, secret: &str) -> Option<Arc<Credential>> {
        self.inner
            .credentials
            .read()
            .get(&token::hash_secret(secret))
            .cloned()
    }

    pub(super) fn load_credentials(&self) -> StoreResult<()> {
        let txn = self.db().begin_read()?;
        let mut loaded = Vec::new();
        for row in txn.open_table(TOKENS)?.iter()? {
            let (_, value) = row?;
            let record: TokenRecord = serde_json::from_slice(value.value())?;
            let scopes = ScopeSet::parse(record.scopes.iter().map(String::as_str))
                .map_err(|s| StoreError::Corrupt(format!("token {} has scope {s}", record.id)))?;
            let hash = parse_hex(&record.hash)
                .ok_or_else(|| StoreError::Corrupt(format!("token {} hash", record.id)))?;
            loaded.push((hash, token_credential(&record, scopes)));
        }
        for row in txn.open_table(TENANTS)?.iter()? {
            let (_, value) = row?;
            let tenant: Tenant = serde_json::from_slice(value.value())?;
            if let Some(hash) = tenant.legacy_key_hash.as_deref().and_then(parse_hex) {
                loaded.push((hash, legacy_credential(&tenant.slug, None)));
            }
        }
        let mut credentials = self.inner.credentials.write();
        for (hash, credential) in loaded {
            credentials.insert(hash, Arc::new(credential));
        }
        Ok(())
    }

    /// Writes last-used times that changed since the previous flush, in one transaction.
    /// Called every few seconds by the server and once more at shutdown.
    pub fn flush_last_used(&self) -> StoreResult<usize> {
        let pending: Vec<(String, i64, Arc<Credential>)> = self
            .inner
            .credentials
            .read()
            .values()
            .filter_map(|c| match (&c.kind, c.unflushed_last_used()) {
                (CredentialKind::Token { id }, Some(ms)) => Some((id.clone(), ms, c.clone())),
                _ => None,
            })
            .collect();
        if pending.is_empty() {
            return Ok(0);
        }
        let txn = self.db().begin_write()?;
        {
            let mut table = txn.open_table(TOKENS)?;
            for (id, ms, _) in &pending {
                let record: Option<TokenRecord> = table
                    .get(id.as_str())?
                    .map(|v| serde_json::from_slice(v.value()))
                    .transpose()?;
                // A token revoked since the snapshot stays deleted.
                if let Some(mut record) = record {
                    record.last_used_at = Some(*ms);
                    let bytes = serde_json::to_vec(&record)?;
                    table.insert(id.as_str(), bytes.as_slice())?;
                }
            }
        }
        txn.commit()?;
        for (_, ms, credential) in &pending {
            credential.mark_flushed(*ms);
        }
        Ok(pending.len())
    }
}

fn token_credential(record: &TokenRecord, scopes: ScopeSet) -> Credential {
    Credential::new(
        CredentialKind::Token {
            id: record.id.clone(),
        },
        record.tenant.clone(),
        scopes,
        record.expires_at,
        record.last_used_at,
    )
}
