//! API token records. The store keeps hashes only; minting and hashing are `auth`'s.

use redb::ReadableTable;

use super::tables::TOKENS;
use super::{Change, Effect, Store, StoreError, StoreResult, decode, encode, sessions, tenants};
use crate::clock::Timestamp;
use crate::domain::{NewToken, TokenRecord};
use crate::ids::new_id;

impl Store {
    pub async fn create_token(&self, tenant: &str, token: NewToken) -> StoreResult<TokenRecord> {
        let tenant = tenant.to_string();
        self.write(move |tx| {
            tenants::require(tx, &tenant)?;
            let record = TokenRecord {
                id: new_id("tok_"),
                tenant: tenant.clone(),
                name: token.name.clone(),
                prefix: token.prefix.clone(),
                scopes: token.scopes,
                hash: token.hash.clone(),
                created_at: tx.unique_now(),
                expires_at: token.expires_at,
                last_used_at: None,
            };
            tx.txn
                .open_table(TOKENS)?
                .insert(record.id.as_str(), encode(&record)?.as_slice())?;
            tx.after_commit(Effect::Notify(Change::TokenCreated(record.clone())));
            Ok(record)
        })
        .await
    }

    pub async fn get_token(&self, id: &str) -> StoreResult<Option<TokenRecord>> {
        self.read(|txn| {
            let table = txn.open_table(TOKENS)?;
            let record = match table.get(id)? {
                Some(v) => Some(decode("tokens", id, v.value())?),
                None => None,
            };
            Ok(record)
        })
    }

    /// Tokens of one tenant (or of all tenants), oldest first.
    pub async fn list_tokens(&self, tenant: Option<&str>) -> StoreResult<Vec<TokenRecord>> {
        let mut tokens = self.read(|txn| {
            let mut tokens = Vec::new();
            for row in txn.open_table(TOKENS)?.iter()? {
                let (key, value) = row?;
                let record: TokenRecord = decode("tokens", key.value(), value.value())?;
                if tenant.is_none_or(|t| t == record.tenant) {
                    tokens.push(record);
                }
            }
            Ok(tokens)
        })?;
        tokens.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(tokens)
    }

    /// Deletes a token; it stops authenticating before this returns. With `tenant` given, a
    /// token of another tenant is treated as absent.
    pub async fn revoke_token(&self, tenant: Option<&str>, id: &str) -> StoreResult<TokenRecord> {
        let (tenant, id) = (tenant.map(str::to_string), id.to_string());
        self.write(move |tx| {
            let mut table = tx.txn.open_table(TOKENS)?;
            let record: TokenRecord = match table.get(id.as_str())? {
                Some(v) => decode("tokens", id.as_str(), v.value())?,
                None => return Err(StoreError::NotFound("Token")),
            };
            if tenant.as_ref().is_some_and(|t| *t != record.tenant) {
                return Err(StoreError::NotFound("Token"));
            }
            table.remove(id.as_str())?;
            drop(table);
            // Dashboard sessions opened with the token end with it.
            sessions::end_for_token(tx, &id)?;
            tx.after_commit(Effect::Notify(Change::TokenRevoked(record.clone())));
            Ok(record)
        })
        .await
    }

    /// Writes last-used times (token id -> instant), skipping tokens revoked meanwhile.
    /// Called every few seconds by the server and once more at shutdown.
    pub async fn record_token_use(&self, used: Vec<(String, Timestamp)>) -> StoreResult<usize> {
        if used.is_empty() {
            return Ok(0);
        }
        self.write(move |tx| {
            let mut table = tx.txn.open_table(TOKENS)?;
            let mut written = 0;
            for (id, at) in &used {
                let record: Option<TokenRecord> = match table.get(id.as_str())? {
                    Some(v) => Some(decode("tokens", id.as_str(), v.value())?),
                    None => None,
                };
                if let Some(mut record) = record {
                    record.last_used_at = Some(*at);
                    table.insert(id.as_str(), encode(&record)?.as_slice())?;
                    written += 1;
                }
            }
            Ok(written)
        })
        .await
    }
}
