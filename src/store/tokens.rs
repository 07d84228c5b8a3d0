//! API token records. The store keeps hashes only; minting and hashing are `auth`'s.

use super::tables::TOKENS;
use super::{
    Change, Effect, Store, StoreError, StoreResult, audit, decode, encode, sessions, tenants,
};
use crate::clock::Timestamp;
use crate::domain::{Actor, AuditAction, GraceSecret, NewAudit, NewSecret, NewToken, TokenRecord};
use crate::ids::new_id;

impl Store {
    pub async fn create_token(
        &self,
        tenant: &str,
        token: NewToken,
        by: Actor,
    ) -> StoreResult<TokenRecord> {
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
                grace: None,
            };
            tx.txn
                .open_table(TOKENS)?
                .insert(record.id.as_str(), encode(&record)?.as_slice())?;
            audit::append(
                tx,
                &tenant,
                NewAudit {
                    action: AuditAction::TokenCreated,
                    actor: by.clone(),
                    target: Some(record.id.clone()),
                    detail: Some(format!(
                        "{} ({})",
                        record.name,
                        record.scopes.names().join(" ")
                    )),
                },
            )?;
            tx.after_commit(Effect::Notify(Change::TokenCreated(record.clone())));
            Ok(record)
        })
        .await
    }

    pub async fn get_token(&self, id: &str) -> StoreResult<Option<TokenRecord>> {
        let id = id.to_string();
        self.read_owned(move |txn| {
            let id = id.as_str();
            let table = txn.open_table(TOKENS)?;
            let record = match table.get(id)? {
                Some(v) => Some(decode("tokens", id, v.value())?),
                None => None,
            };
            Ok(record)
        })
        .await
    }

    /// Tokens of one tenant (or of all tenants), oldest first.
    pub async fn list_tokens(&self, tenant: Option<&str>) -> StoreResult<Vec<TokenRecord>> {
        let tenant = tenant.map(str::to_string);
        let mut tokens = self
            .read_owned(move |txn| {
                let tenant = tenant.as_deref();
                let mut tokens = Vec::new();
                for row in txn.open_table(TOKENS)?.iter()? {
                    let (key, value) = row?;
                    let record: TokenRecord = decode("tokens", key.value(), value.value())?;
                    if tenant.is_none_or(|t| t == record.tenant) {
                        tokens.push(record);
                    }
                }
                Ok(tokens)
            })
            .await?;
        tokens.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(tokens)
    }

    /// Deletes a token; it stops authenticating before this returns. With `tenant` given, a
    /// token of another tenant is treated as absent.
    pub async fn revoke_token(
        &self,
        tenant: Option<&str>,
        id: &str,
        by: Actor,
    ) -> StoreResult<TokenRecord> {
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
            audit::append(
                tx,
                &record.tenant,
                NewAudit {
                    action: AuditAction::TokenRevoked,
                    actor: by.clone(),
                    target: Some(record.id.clone()),
                    detail: Some(record.name.clone()),
                },
            )?;
            tx.after_commit(Effect::Notify(Change::TokenRevoked(record.clone())));
            Ok(record)
        })
        .await
    }

    /// Gives a token of `tenant` a new secret (same id, name, scopes and expiry). With a
    /// grace period the previous secret keeps working until it ends; a secret still in its
    /// grace from an earlier rotation stops at once. Dashboard sessions opened with the
    /// token end (they hold the old secret's hash).
    pub async fn rotate_token(
        &self,
        tenant: &str,
        id: &str,
        secret: NewSecret,
        grace_secs: i64,
        by: Actor,
    ) -> StoreResult<TokenRecord> {
        let (tenant, id) = (tenant.to_string(), id.to_string());
        self.write(move |tx| {
            let table = tx.txn.open_table(TOKENS)?;
            let previous: TokenRecord = match table.get(id.as_str())? {
                Some(v) => decode("tokens", id.as_str(), v.value())?,
                None => return Err(StoreError::NotFound("Token")),
            };
            if previous.tenant != tenant {
                return Err(StoreError::NotFound("Token"));
            }
            drop(table);
            let now = tx.unique_now();
            let mut current = previous.clone();
            current.hash = secret.hash.clone();
            current.prefix = secret.prefix.clone();
            current.grace = (grace_secs > 0).then(|| GraceSecret {
                hash: previous.hash.clone(),
                prefix: previous.prefix.clone(),
                until: now.plus_secs(grace_secs),
            });
            tx.txn
                .open_table(TOKENS)?
                .insert(id.as_str(), encode(&current)?.as_slice())?;
            sessions::end_for_token(tx, &id)?;
            audit::append(
                tx,
                &tenant,
                NewAudit {
                    action: AuditAction::TokenRotated,
                    actor: by.clone(),
                    target: Some(id.clone()),
                    detail: Some(format!(
                        "{} -> {}, grace {grace_secs} s",
                        previous.prefix, current.prefix
                    )),
                },
            )?;
            tx.after_commit(Effect::Notify(Change::TokenRotated {
                previous: Box::new(previous),
                current: Box::new(current.clone()),
            }));
            Ok(current)
        })
        .await
    }

    /// Writes last-used times (token id -> instant), skipping tokens revoked meanwhile and
    /// times older than the one stored: replicas flush what they saw each on their own
    /// clock, so a replica's flush must not undo a later use another one flushed first.
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
                if let Some(mut record) = record
                    && record.last_used_at.is_none_or(|stored| stored < *at)
                {
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
