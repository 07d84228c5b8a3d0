//! Visitors and their memory. Email and external id are unique per tenant (checked in the
//! write, through VISITOR_KEYS); deleting a visitor removes its memory and its conversations
//! in the same transaction.

use super::tables::{
    CONVERSATION_SESSIONS, CONVERSATIONS, CONVERSATIONS_BY_START, MESSAGES, VISITOR_CONVERSATIONS,
    VISITOR_KEYS, VISITOR_MEMORY, VISITORS,
};
use super::writer::Tx;
use super::{Store, StoreError, StoreResult, decode, encode, tenant_records, tenants};
use crate::domain::{Conversation, MemoryFact, NewVisitor, Visitor, VisitorDetail, VisitorPatch};
use crate::ids::new_id;

fn load(tx: &Tx<'_>, tenant: &str, id: &str) -> StoreResult<Option<Visitor>> {
    let table = tx.txn.open_table(VISITORS)?;
    let visitor = match table.get((tenant, id))? {
        Some(v) => Some(decode("visitors", (tenant, id), v.value())?),
        None => None,
    };
    Ok(visitor)
}

/// Claims the visitor's identifiers, refusing one another visitor holds.
fn claim_keys(tx: &Tx<'_>, tenant: &str, visitor: &Visitor) -> StoreResult<()> {
    let mut keys = tx.txn.open_table(VISITOR_KEYS)?;
    for key in visitor.unique_keys() {
        if let Some(holder) = keys.get((tenant, key.as_str()))?
            && holder.value() != visitor.id
        {
            let (field, _) = key.split_once(':').unwrap_or(("email", ""));
            let field = if field == "external" {
                "externalId"
            } else {
                field
            };
            return Err(StoreError::Conflict(format!(
                "Another visitor already has this {field}"
            )));
        }
        keys.insert((tenant, key.as_str()), visitor.id.as_str())?;
    }
    Ok(())
}

fn release_keys(tx: &Tx<'_>, tenant: &str, visitor: &Visitor) -> StoreResult<()> {
    let mut keys = tx.txn.open_table(VISITOR_KEYS)?;
    for key in visitor.unique_keys() {
        keys.remove((tenant, key.as_str()))?;
    }
    Ok(())
}

/// Keys of a (tenant, visitor) prefix in a three-part table.
fn third_keys<V: super::engine::Value>(
    table: &super::engine::Table<'_, (&'static str, &'static str, &'static str), V>,
    tenant: &str,
    visitor: &str,
) -> StoreResult<Vec<String>> {
    let mut keys = Vec::new();
    for row in table.range((tenant, visitor, "")..)? {
        let (key, _) = row?;
        let (t, v, third) = key.value();
        if t != tenant || v != visitor {
            break;
        }
        keys.push(third.to_string());
    }
    Ok(keys)
}

/// Removes a conversation and everything that points at it.
fn delete_conversation(tx: &Tx<'_>, tenant: &str, id: &str) -> StoreResult<()> {
    let mut table = tx.txn.open_table(CONVERSATIONS)?;
    let Some(bytes) = table.remove((tenant, id))? else {
        return Ok(());
    };
    let conversation: Conversation = decode("conversations", (tenant, id), bytes.value())?;
    drop(bytes);
    drop(table);
    tx.txn
        .open_table(CONVERSATION_SESSIONS)?
        .remove((tenant, conversation.session_id.as_str()))?;
    tx.txn.open_table(CONVERSATIONS_BY_START)?.remove((
        tenant,
        conversation.started_at.micros(),
        id,
    ))?;
    let mut messages = tx.txn.open_table(MESSAGES)?;
    for seq in 0..conversation.message_count {
        messages.remove((tenant, id, seq))?;
    }
    Ok(())
}

/// Records that a new conversation belongs to a visitor (called in the exchange's write).
pub(super) fn link_conversation(
    tx: &Tx<'_>,
    tenant: &str,
    visitor: &str,
    conversation: &str,
) -> StoreResult<()> {
    if load(tx, tenant, visitor)?.is_some() {
        tx.txn
            .open_table(VISITOR_CONVERSATIONS)?
            .insert((tenant, visitor, conversation), ())?;
    }
    Ok(())
}

/// One page of visitors, newest first, and how many match.
#[derive(Debug)]
pub struct VisitorPage {
    pub visitors: Vec<Visitor>,
    pub total: usize,
}

impl Store {
    pub async fn create_visitor(&self, tenant: &str, new: NewVisitor) -> StoreResult<Visitor> {
        let tenant = tenant.to_string();
        self.write(move |tx| {
            tenants::require(tx, &tenant)?;
            let now = tx.unique_now();
            let visitor = Visitor {
                id: new_id("vis_"),
                email: new.email.clone(),
                external_id: new.external_id.clone(),
                display_name: new.display_name.clone(),
                phone: new.phone.clone(),
                auth_provider: new.auth_provider.clone(),
                metadata: new.metadata.clone(),
                created_at: now,
                updated_at: now,
            };
            claim_keys(tx, &tenant, &visitor)?;
            tx.txn.open_table(VISITORS)?.insert(
                (tenant.as_str(), visitor.id.as_str()),
                encode(&visitor)?.as_slice(),
            )?;
            Ok(visitor)
        })
        .await
    }

    /// Newest first; `search` matches email, display name or external id (case-insensitive).
    /// A scan of the tenant's visitors.
    pub async fn list_visitors(
        &self,
        tenant: &str,
        search: Option<&str>,
        offset: usize,
        limit: usize,
    ) -> StoreResult<VisitorPage> {
        let needle = search.map(str::to_lowercase);
        let tenant = tenant.to_string();
        self.read_owned(move |txn| {
            let tenant = tenant.as_str();
            let table = txn.open_table(VISITORS)?;
            let mut matching = Vec::new();
            for row in tenant_records(&table, tenant)? {
                let (_, visitor): (String, Visitor) = row?;
                let hit = needle.as_deref().is_none_or(|n| {
                    [&visitor.email, &visitor.display_name, &visitor.external_id]
                        .into_iter()
                        .flatten()
                        .any(|field| field.to_lowercase().contains(n))
                });
                if hit {
                    matching.push(visitor);
                }
            }
            let total = matching.len();
            let visitors = matching
                .into_iter()
                .rev()
                .skip(offset)
                .take(limit)
                .collect();
            Ok(VisitorPage { visitors, total })
        })
        .await
    }

    pub async fn get_visitor(&self, tenant: &str, id: &str) -> StoreResult<Option<VisitorDetail>> {
        let (tenant, id) = (tenant.to_string(), id.to_string());
        self.read_owned(move |txn| {
            let (tenant, id) = (tenant.as_str(), id.as_str());
            let Some(bytes) = txn.open_table(VISITORS)?.get((tenant, id))? else {
                return Ok(None);
            };
            let visitor: Visitor = decode("visitors", (tenant, id), bytes.value())?;
            let conversations = third_keys(&txn.open_table(VISITOR_CONVERSATIONS)?, tenant, id)?;
            let memory = third_keys(&txn.open_table(VISITOR_MEMORY)?, tenant, id)?;
            Ok(Some(VisitorDetail {
                visitor,
                conversation_count: conversations.len() as u64,
                memory_count: memory.len() as u64,
            }))
        })
        .await
    }

    pub async fn update_visitor(
        &self,
        tenant: &str,
        id: &str,
        patch: VisitorPatch,
    ) -> StoreResult<Visitor> {
        let (tenant, id) = (tenant.to_string(), id.to_string());
        self.write(move |tx| {
            let current = load(tx, &tenant, &id)?.ok_or(StoreError::NotFound("Visitor"))?;
            let mut next = current.clone();
            patch.apply(&mut next);
            if next.email.is_none() && next.external_id.is_none() {
                return Err(StoreError::invalid(
                    "email",
                    "a visitor needs an email or an externalId",
                ));
            }
            next.updated_at = tx.unique_now().max(next.created_at);
            release_keys(tx, &tenant, &current)?;
            claim_keys(tx, &tenant, &next)?;
            tx.txn
                .open_table(VISITORS)?
                .insert((tenant.as_str(), id.as_str()), encode(&next)?.as_slice())?;
            Ok(next)
        })
        .await
    }

    /// The visitor, its memory and its conversations, in one transaction.
    pub async fn delete_visitor(&self, tenant: &str, id: &str) -> StoreResult<()> {
        let (tenant, id) = (tenant.to_string(), id.to_string());
        self.write(move |tx| {
            let visitor = load(tx, &tenant, &id)?.ok_or(StoreError::NotFound("Visitor"))?;
            release_keys(tx, &tenant, &visitor)?;
            tx.txn
                .open_table(VISITORS)?
                .remove((tenant.as_str(), id.as_str()))?;
            let facts = third_keys(&tx.txn.open_table(VISITOR_MEMORY)?, &tenant, &id)?;
            let mut memory = tx.txn.open_table(VISITOR_MEMORY)?;
            for key in &facts {
                memory.remove((tenant.as_str(), id.as_str(), key.as_str()))?;
            }
            drop(memory);
            let conversations =
                third_keys(&tx.txn.open_table(VISITOR_CONVERSATIONS)?, &tenant, &id)?;
            for conversation in &conversations {
                delete_conversation(tx, &tenant, conversation)?;
                tx.txn.open_table(VISITOR_CONVERSATIONS)?.remove((
                    tenant.as_str(),
                    id.as_str(),
                    conversation.as_str(),
                ))?;
            }
            super::submissions::remove_visitor_rows(tx, &tenant, &id)?;
            Ok(())
        })
        .await
    }

    /// The visitor's facts in key order; `None` for an unknown visitor.
    pub async fn visitor_memory(
        &self,
        tenant: &str,
        id: &str,
    ) -> StoreResult<Option<Vec<MemoryFact>>> {
        let (tenant, id) = (tenant.to_string(), id.to_string());
        self.read_owned(move |txn| {
            let (tenant, id) = (tenant.as_str(), id.as_str());
            if txn.open_table(VISITORS)?.get((tenant, id))?.is_none() {
                return Ok(None);
            }
            let table = txn.open_table(VISITOR_MEMORY)?;
            let mut facts = Vec::new();
            for row in table.range((tenant, id, "")..)? {
                let (key, value) = row?;
                let (t, v, k) = key.value();
                if t != tenant || v != id {
                    break;
                }
                facts.push(decode("visitor_memory", (tenant, k), value.value())?);
            }
            Ok(Some(facts))
        })
        .await
    }

    /// Creates or updates a fact; `true` when it was created.
    pub async fn remember(
        &self,
        tenant: &str,
        id: &str,
        key: &str,
        value: &str,
        source: &str,
    ) -> StoreResult<(MemoryFact, bool)> {
        let (tenant, id, key, value, source) = (
            tenant.to_string(),
            id.to_string(),
            key.to_string(),
            value.to_string(),
            source.to_string(),
        );
        self.write(move |tx| {
            load(tx, &tenant, &id)?.ok_or(StoreError::NotFound("Visitor"))?;
            let now = tx.unique_now();
            let mut table = tx.txn.open_table(VISITOR_MEMORY)?;
            let row = (tenant.as_str(), id.as_str(), key.as_str());
            let existing: Option<MemoryFact> = match table.get(row)? {
                Some(v) => Some(decode("visitor_memory", (&tenant, &key), v.value())?),
                None => None,
            };
            let created = existing.is_none();
            let fact = MemoryFact {
                key: key.clone(),
                value: value.clone(),
                source: source.clone(),
                created_at: existing.map_or(now, |f| f.created_at),
                updated_at: now,
            };
            table.insert(row, encode(&fact)?.as_slice())?;
            Ok((fact, created))
        })
        .await
    }

    pub async fn forget(&self, tenant: &str, id: &str, key: &str) -> StoreResult<()> {
        let (tenant, id, key) = (tenant.to_string(), id.to_string(), key.to_string());
        self.write(move |tx| {
            load(tx, &tenant, &id)?.ok_or(StoreError::NotFound("Visitor"))?;
            let removed = tx
                .txn
                .open_table(VISITOR_MEMORY)?
                .remove((tenant.as_str(), id.as_str(), key.as_str()))?
                .is_some();
            match removed {
                true => Ok(()),
                false => Err(StoreError::NotFound("Memory fact")),
            }
        })
        .await
    }
}
