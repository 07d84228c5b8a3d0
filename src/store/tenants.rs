//! Tenant records: a company's bot settings and counters, keyed by slug.

use redb::{ReadableDatabase, ReadableTable};
use serde::{Deserialize, Serialize};

use super::tables::TENANTS;
use super::{Credential, CredentialKind, Store, StoreError, StoreResult};
use crate::auth::scope::ScopeSet;
use crate::auth::token::{self, SecretHash};
use crate::clock;

/// The stored form. Never serialised to the wire: the API has its own view type.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Tenant {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub plan: String,
    pub is_activated: bool,
    pub bot_name: String,
    pub bot_title: String,
    pub bot_lore: String,
    pub bot_tone: String,
    pub use_tutoiement: bool,
    pub allow_emojis: bool,
    pub primary_color: String,
    pub secondary_color: String,
    pub show_ai_badge: bool,
    pub allowed_domains: Vec<String>,
    pub content_policy: String,
    pub conversations_used: u64,
    pub conversations_limit: Option<u64>,
    pub created_at: i64,
    pub updated_at: i64,
    /// BLAKE3 (hex) of the tenant's legacy X-API-Key, if one was minted.
    #[serde(default)]
    pub legacy_key_hash: Option<String>,
}

impl Tenant {
    pub fn new(slug: &str, name: &str, now_ms: i64) -> Tenant {
        Tenant {
            id: token::new_id("ten_"),
            slug: slug.to_string(),
            name: name.to_string(),
            plan: "self-hosted".to_string(),
            is_activated: true,
            bot_name: "Assistant".to_string(),
            bot_title: format!("{name} assistant"),
            bot_lore: String::new(),
            bot_tone: "NEUTRAL".to_string(),
            use_tutoiement: false,
            allow_emojis: false,
            primary_color: "#4f46e5".to_string(),
            secondary_color: "#ffffff".to_string(),
            show_ai_badge: true,
            allowed_domains: Vec::new(),
            content_policy: "SFW".to_string(),
            conversations_used: 0,
            conversations_limit: None,
            created_at: now_ms,
            updated_at: now_ms,
            legacy_key_hash: None,
        }
    }
}

/// Slug rule from the contract: 2-63 chars of `a-z 0-9 -`, starting with a letter or digit.
pub fn is_valid_slug(slug: &str) -> bool {
    (2..=63).contains(&slug.len())
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !slug.starts_with('-')
}

impl Store {
    /// Creates a tenant; `Conflict` when the slug is taken.
    pub fn create_tenant(&self, slug: &str, name: &str) -> StoreResult<Tenant> {
        let tenant = Tenant::new(slug, name, clock::now_ms());
        let bytes = serde_json::to_vec(&tenant)?;
        let txn = self.db().begin_write()?;
        {
            let mut table = txn.open_table(TENANTS)?;
            if table.get(slug)?.is_some() {
                return Err(StoreError::Conflict(format!(
                    "tenant '{slug}' already exists"
                )));
            }
            table.insert(slug, bytes.as_slice())?;
        }
        super::segments::ensure_default(&txn, slug)?;
        txn.commit()?;
        Ok(tenant)
    }

    pub fn get_tenant(&self, slug: &str) -> StoreResult<Option<Tenant>> {
        let txn = self.db().begin_read()?;
        let table = txn.open_table(TENANTS)?;
        table
            .get(slug)?
            .map(|v| serde_json::from_slice(v.value()).map_err(StoreError::from))
            .transpose()
    }

    pub fn list_tenants(&self) -> StoreResult<Vec<Tenant>> {
        let txn = self.db().begin_read()?;
        let table = txn.open_table(TENANTS)?;
        let mut tenants = Vec::new();
        for row in table.iter()? {
            let (_, value) = row?;
            tenants.push(serde_json::from_slice(value.value())?);
        }
        Ok(tenants)
    }

    /// Read-modify-write of one tenant in a single transaction. `edit` may refuse the change
    /// with its own error; `Ok(None)` when the tenant does not exist.
    pub fn update_tenant<E>(
        &self,
        slug: &str,
        edit: impl FnOnce(&mut Tenant) -> Result<(), E>,
    ) -> Result<Option<Tenant>, E>
    where
        E: From<StoreError>,
    {
        let txn = self.db().begin_write().map_err(StoreError::from)?;
        let updated = {
            let mut table = txn.open_table(TENANTS).map_err(StoreError::from)?;
            let mut tenant: Tenant = match table.get(slug).map_err(StoreError::from)? {
                Some(current) => {
                    serde_json::from_slice(current.value()).map_err(StoreError::from)?
                }
                None => return Ok(None),
            };
            edit(&mut tenant)?;
            tenant.updated_at = clock::now_ms();
            let bytes = serde_json::to_vec(&tenant).map_err(StoreError::from)?;
            table
                .insert(slug, bytes.as_slice())
                .map_err(StoreError::from)?;
            tenant
        };
        txn.commit().map_err(StoreError::from)?;
        Ok(Some(updated))
    }

    /// Mints a new legacy X-API-Key for the tenant, replacing (and disabling) any previous one.
    /// Returns the secret, which is not stored anywhere.
    pub fn mint_legacy_key(&self, slug: &str) -> StoreResult<String> {
        let secret = token::mint(token::SecretKind::LegacyKey);
        let hash = token::hash_secret(&secret);
        let mut previous = None;
        let updated = self.update_tenant(slug, |tenant| {
            previous = tenant.legacy_key_hash.replace(hex(&hash));
            Ok::<_, StoreError>(())
        })?;
        if updated.is_none() {
            return Err(StoreError::NotFound);
        }
        let mut credentials = self.inner.credentials.write();
        if let Some(old) = previous.as_deref().and_then(parse_hex) {
            credentials.remove(&old);
        }
        credentials.insert(hash, legacy_credential(slug, None).into());
        Ok(secret)
    }
}

pub(super) fn legacy_credential(slug: &str, last_used: Option<i64>) -> Credential {
    Credential::new(
        CredentialKind::LegacyKey,
        slug.to_string(),
        ScopeSet::all(),
        None,
        last_used,
    )
}

pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(super) fn parse_hex(text: &str) -> Option<SecretHash> {
    let mut out = [0u8; 32];
    if text.len() != 64 {
        return None;
    }
    for (i, slot) in out.iter_mut().enumerate() {
        *slot = u8::from_str_radix(text.get(i * 2..i * 2 + 2)?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slug_rule() {
        for ok in ["ab", "acme", "acme-2", "9lives", &"a".repeat(63)] {
            assert!(is_valid_slug(ok), "{ok}");
        }
        for bad in [
            "a",
            "-acme",
            "Acme",
            "ac me",
            "acmé",
            "ac_me",
            "",
            &"a".repeat(64),
        ] {
            assert!(!is_valid_slug(bad), "{bad}");
        }
    }

    #[test]
    fn hex_round_trip() {
        let hash = token::hash_secret("x");
        assert_eq!(parse_hex(&hex(&hash)), Some(hash));
        assert_eq!(parse_hex("zz"), None);
    }
}
