//! A tenant's bring-your-own MCP tools server: its URL, its API key sealed by the caller
//! (`secrets::SecretBox`, never in clear here) and how many of its tools the bot may offer.

use serde::{Deserialize, Serialize};

use super::tables::MCP_SETTINGS;
use super::{Store, StoreResult, audit, decode, encode, tenants};
use crate::clock::Timestamp;
use crate::domain::{Actor, AuditAction, NewAudit};

/// One row per tenant that configured an MCP server.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct McpSettings {
    pub url: String,
    /// The API key as sealed by `SecretBox` under `mcp-key:<tenant id>`; `None`: no key.
    pub api_key_sealed: Option<Vec<u8>>,
    pub max_tools: u32,
    /// Changes with every write, so a cache built from older settings can tell it is stale.
    pub updated_at: Timestamp,
}

impl std::fmt::Debug for McpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpSettings")
            .field("url", &self.url)
            .field("has_api_key", &self.api_key_sealed.is_some())
            .field("max_tools", &self.max_tools)
            .field("updated_at", &self.updated_at)
            .finish()
    }
}

/// What a write sets: the URL and the cap always, the key only when `Some` (`Some(None)`
/// clears it, `None` keeps the stored one).
#[derive(Clone)]
pub struct McpSettingsWrite {
    pub url: String,
    pub api_key_sealed: Option<Option<Vec<u8>>>,
    pub max_tools: u32,
}

impl Store {
    /// A plain read, cheap enough for every chat turn; callable off the async workers too.
    pub fn mcp_settings(&self, tenant: &str) -> StoreResult<Option<McpSettings>> {
        self.read(|txn| {
            let table = txn.open_table(MCP_SETTINGS)?;
            let row = match table.get(tenant)? {
                Some(v) => Some(decode("mcp_settings", tenant, v.value())?),
                None => None,
            };
            Ok(row)
        })
    }

    /// `mcp_settings` from async code: off the async workers on PostgreSQL.
    pub async fn mcp_settings_async(&self, tenant: &str) -> StoreResult<Option<McpSettings>> {
        if !self.reads_are_round_trips() {
            return self.mcp_settings(tenant);
        }
        let tenant = tenant.to_string();
        self.read_blocking(move |store| store.mcp_settings(&tenant))
            .await
    }

    pub async fn put_mcp_settings(
        &self,
        tenant: &str,
        write: McpSettingsWrite,
        by: Actor,
    ) -> StoreResult<McpSettings> {
        let tenant = tenant.to_string();
        self.write(move |tx| {
            tenants::require(tx, &tenant)?;
            let table = tx.txn.open_table(MCP_SETTINGS)?;
            let current: Option<McpSettings> = match table.get(tenant.as_str())? {
                Some(v) => Some(decode("mcp_settings", &tenant, v.value())?),
                None => None,
            };
            drop(table);
            let settings = McpSettings {
                url: write.url.clone(),
                api_key_sealed: match &write.api_key_sealed {
                    Some(key) => key.clone(),
                    None => current.and_then(|c| c.api_key_sealed),
                },
                max_tools: write.max_tools,
                updated_at: tx.unique_now(),
            };
            tx.txn
                .open_table(MCP_SETTINGS)?
                .insert(tenant.as_str(), encode(&settings)?.as_slice())?;
            audit::append(tx, &tenant, changed(&by, "MCP tools server configured"))?;
            Ok(settings)
        })
        .await
    }

    /// True when there was a configuration to remove.
    pub async fn delete_mcp_settings(&self, tenant: &str, by: Actor) -> StoreResult<bool> {
        let tenant = tenant.to_string();
        self.write(move |tx| {
            tenants::require(tx, &tenant)?;
            let removed = tx
                .txn
                .open_table(MCP_SETTINGS)?
                .remove(tenant.as_str())?
                .is_some();
            if removed {
                audit::append(tx, &tenant, changed(&by, "MCP tools server removed"))?;
            }
            Ok(removed)
        })
        .await
    }
}

fn changed(by: &Actor, detail: &str) -> NewAudit {
    NewAudit {
        action: AuditAction::SettingsChanged,
        actor: by.clone(),
        target: Some("mcp-tools".to_string()),
        detail: Some(detail.to_string()),
    }
}
