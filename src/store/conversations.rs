//! Conversations of the public chat: one per (tenant, sessionId), with their messages. An
//! exchange (the visitor's message and the bot's reply) is written in one transaction, which
//! also creates the conversation and counts it against the tenant's quota when it is new.

use redb::{ReadableDatabase, ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};

use super::tables::{
    CONVERSATION_SESSIONS, CONVERSATIONS, CONVERSATIONS_BY_START, MESSAGES, TENANTS,
};
use super::tenants::Tenant;
use super::{Store, StoreError, StoreResult};
use crate::auth::token::new_id;

/// How many characters of the first user message the listing shows.
const PREVIEW_CHARS: usize = 120;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Metadata {
    pub user_agent: Option<String>,
    pub referrer: Option<String>,
    pub page_url: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Conversation {
    pub id: String,
    pub session_id: String,
    pub segment: String,
    /// `widget` for browser requests (they carry an Origin), `api` for the rest.
    pub channel: String,
    /// `human` or `agent`.
    pub visitor_type: String,
    pub agent_model: Option<String>,
    pub visitor_id: Option<String>,
    pub message_count: u32,
    /// From `clock::unique_now_us`: unique, so it orders "newest first".
    pub started_us: i64,
    pub last_message_at: i64,
    pub preview: String,
    pub metadata: Metadata,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Message {
    pub id: String,
    /// `user` or `assistant`.
    pub role: String,
    pub content: String,
    pub timestamp: i64,
}

impl Message {
    pub fn new(role: &str, content: &str, timestamp: i64) -> Message {
        Message {
            id: new_id("msg_"),
            role: role.to_string(),
            content: content.to_string(),
            timestamp,
        }
    }
}

/// Filters shared by the list and the CSV export; `None` = no constraint.
#[derive(Debug, Clone, Default)]
pub struct ConversationFilter {
    /// Bounds on `startedAt`, inclusive, in epoch milliseconds.
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    pub segment: Option<String>,
    pub channel: Option<String>,
    pub visitor_type: Option<String>,
}

impl ConversationFilter {
    fn accepts(&self, c: &Conversation) -> bool {
        self.segment.as_ref().is_none_or(|s| *s == c.segment)
            && self.channel.as_ref().is_none_or(|s| *s == c.channel)
            && self
                .visitor_type
                .as_ref()
                .is_none_or(|s| *s == c.visitor_type)
    }
}

/// The outcome of recording an exchange.
pub enum Recorded {
    Stored(Box<Conversation>),
    /// A new conversation would exceed the tenant's `conversationsLimit`.
    QuotaExceeded,
    TenantGone,
}

impl Conversation {
    /// A conversation about to start with `first_message`.
    pub fn start(
        session_id: &str,
        segment: &str,
        first_message: &str,
        now_us: i64,
    ) -> Conversation {
        Conversation {
            id: new_id("conv_"),
            session_id: session_id.to_string(),
            segment: segment.to_string(),
            channel: "api".to_string(),
            visitor_type: "human".to_string(),
            agent_model: None,
            visitor_id: None,
            message_count: 0,
            started_us: now_us,
            last_message_at: now_us / 1000,
            preview: first_message.chars().take(PREVIEW_CHARS).collect(),
            metadata: Metadata::default(),
        }
    }
}

/// One chat turn to store: the visitor's message and the reply, for the session of `fresh`.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub tenant: String,
    /// The conversation to create if the session has none yet.
    pub fresh: Conversation,
    pub messages: Vec<Message>,
}

/// Writes one exchange into an open write transaction.
fn apply_exchange(txn: &WriteTransaction, exchange: &Exchange) -> StoreResult<Recorded> {
    let tenant = exchange.tenant.as_str();
    let fresh = &exchange.fresh;
    let mut sessions = txn.open_table(CONVERSATION_SESSIONS)?;
    let mut conversations = txn.open_table(CONVERSATIONS)?;
    let existing = sessions
        .get((tenant, fresh.session_id.as_str()))?
        .map(|v| v.value().to_string());
    let mut conversation = match existing {
        Some(id) => {
            let bytes = conversations
                .get((tenant, id.as_str()))?
                .ok_or_else(|| {
                    StoreError::Corrupt(format!("session index points to missing {id}"))
                })?
                .value()
                .to_vec();
            serde_json::from_slice::<Conversation>(&bytes)?
        }
        None => {
            let mut tenants = txn.open_table(TENANTS)?;
            let Some(bytes) = tenants.get(tenant)?.map(|v| v.value().to_vec()) else {
                return Ok(Recorded::TenantGone);
            };
            let mut record: Tenant = serde_json::from_slice(&bytes)?;
            if !has_quota(&record) {
                return Ok(Recorded::QuotaExceeded);
            }
            record.conversations_used += 1;
            tenants.insert(tenant, serde_json::to_vec(&record)?.as_slice())?;
            sessions.insert((tenant, fresh.session_id.as_str()), fresh.id.as_str())?;
            txn.open_table(CONVERSATIONS_BY_START)?
                .insert((tenant, fresh.started_us, fresh.id.as_str()), ())?;
            fresh.clone()
        }
    };
    let mut messages = txn.open_table(MESSAGES)?;
    for message in &exchange.messages {
        let seq = conversation.message_count;
        messages.insert(
            (conversation.id.as_str(), seq),
            serde_json::to_vec(message)?.as_slice(),
        )?;
        conversation.message_count += 1;
        conversation.last_message_at = conversation.last_message_at.max(message.timestamp);
    }
    conversations.insert(
        (tenant, conversation.id.as_str()),
        serde_json::to_vec(&conversation)?.as_slice(),
    )?;
    Ok(Recorded::Stored(Box::new(conversation)))
}

/// True when a new conversation may start under the tenant's quota.
pub fn has_quota(tenant: &Tenant) -> bool {
    tenant
        .conversations_limit
        .is_none_or(|limit| tenant.conversations_used < limit)
}

impl Store {
    /// The conversation of a session, with its messages.
    pub fn session_conversation(
        &self,
        tenant: &str,
        session_id: &str,
    ) -> StoreResult<Option<(Conversation, Vec<Message>)>> {
        let txn = self.db().begin_read()?;
        let id = match txn
            .open_table(CONVERSATION_SESSIONS)?
            .get((tenant, session_id))?
        {
            Some(id) => id.value().to_string(),
            None => return Ok(None),
        };
        drop(txn);
        self.get_conversation(tenant, &id)
    }

    pub fn get_conversation(
        &self,
        tenant: &str,
        id: &str,
    ) -> StoreResult<Option<(Conversation, Vec<Message>)>> {
        let txn = self.db().begin_read()?;
        let conversation: Conversation = match txn.open_table(CONVERSATIONS)?.get((tenant, id))? {
            Some(v) => serde_json::from_slice(v.value())?,
            None => return Ok(None),
        };
        drop(txn);
        let messages = self.messages(&conversation.id)?;
        Ok(Some((conversation, messages)))
    }

    /// A conversation's messages in order.
    pub fn messages(&self, conversation_id: &str) -> StoreResult<Vec<Message>> {
        let txn = self.db().begin_read()?;
        let table = txn.open_table(MESSAGES)?;
        let mut messages = Vec::new();
        for row in table.range((conversation_id, 0u32)..=(conversation_id, u32::MAX))? {
            let (_, value) = row?;
            messages.push(serde_json::from_slice(value.value())?);
        }
        Ok(messages)
    }

    /// Appends `messages` to the session's conversation, creating it from `fresh` when the
    /// session has none yet (then counted in the tenant's `conversationsUsed`). One durable
    /// commit for all of it.
    pub fn record_exchange(&self, exchange: &Exchange) -> StoreResult<Recorded> {
        let txn = self.db().begin_write()?;
        let recorded = apply_exchange(&txn, exchange)?;
        txn.commit()?;
        Ok(recorded)
    }

    /// Records many exchanges with one durable commit (group commit): the chat's write cost
    /// is then shared by every request waiting at that moment. If any exchange fails, the batch
    /// is abandoned and each exchange is retried in its own transaction, so one bad exchange
    /// cannot fail the others.
    pub fn record_exchanges(&self, exchanges: &[Exchange]) -> Vec<StoreResult<Recorded>> {
        let batched = || -> StoreResult<Vec<Recorded>> {
            let txn = self.db().begin_write()?;
            let recorded = exchanges
                .iter()
                .map(|e| apply_exchange(&txn, e))
                .collect::<StoreResult<Vec<_>>>()?;
            txn.commit()?;
            Ok(recorded)
        };
        match batched() {
            Ok(recorded) => recorded.into_iter().map(Ok).collect(),
            Err(e) if exchanges.len() > 1 => {
                log::warn!(
                    "group commit of {} exchanges failed ({e}); retrying one by one",
                    exchanges.len()
                );
                exchanges.iter().map(|e| self.record_exchange(e)).collect()
            }
            Err(e) => vec![Err(e)],
        }
    }

    /// Newest first. Returns the number matching in all and the requested page.
    pub fn list_conversations(
        &self,
        tenant: &str,
        filter: &ConversationFilter,
        offset: usize,
        limit: usize,
    ) -> StoreResult<(usize, Vec<Conversation>)> {
        let mut total = 0;
        let mut page = Vec::new();
        self.scan_conversations(tenant, filter, |conversation| {
            if total >= offset && page.len() < limit {
                page.push(conversation);
            }
            total += 1;
            Ok(())
        })?;
        Ok((total, page))
    }

    /// Calls `visit` for every matching conversation, newest first.
    pub fn scan_conversations(
        &self,
        tenant: &str,
        filter: &ConversationFilter,
        mut visit: impl FnMut(Conversation) -> StoreResult<()>,
    ) -> StoreResult<()> {
        let txn = self.db().begin_read()?;
        let by_start = txn.open_table(CONVERSATIONS_BY_START)?;
        let conversations = txn.open_table(CONVERSATIONS)?;
        let from = filter
            .from_ms
            .map_or(i64::MIN, |ms| ms.saturating_mul(1000));
        let to = filter
            .to_ms
            .map_or(i64::MAX, |ms| ms.saturating_mul(1000).saturating_add(999));
        if from > to {
            return Ok(());
        }
        for row in by_start
            .range((tenant, from, "")..=(tenant, to, "\u{10FFFF}"))?
            .rev()
        {
            let (key, _) = row?;
            let (_, _, id) = key.value();
            let Some(bytes) = conversations.get((tenant, id))? else {
                continue;
            };
            let conversation: Conversation = serde_json::from_slice(bytes.value())?;
            if filter.accepts(&conversation) {
                visit(conversation)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exchange(tenant: &str, session: &str) -> Exchange {
        let now = crate::clock::unique_now_us();
        Exchange {
            tenant: tenant.to_string(),
            fresh: Conversation::start(session, "general", "hi", now),
            messages: vec![
                Message::new("user", "hi", now / 1000),
                Message::new("assistant", "hello", now / 1000),
            ],
        }
    }

    fn stored(result: &StoreResult<Recorded>) -> &Conversation {
        match result {
            Ok(Recorded::Stored(c)) => c,
            _ => panic!("not stored"),
        }
    }

    #[test]
    fn one_commit_for_a_batch_that_sees_its_own_writes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.create_tenant("acme", "Acme").unwrap();
        store
            .update_tenant("acme", |t| {
                t.conversations_limit = Some(2);
                Ok::<_, StoreError>(())
            })
            .unwrap();
        let results = store.record_exchanges(&[
            exchange("acme", "s1"),
            exchange("acme", "s1"),
            exchange("acme", "s2"),
            exchange("acme", "s3"),
            exchange("nosuch", "s4"),
        ]);
        let (first, second) = (stored(&results[0]), stored(&results[1]));
        assert_eq!(first.id, second.id, "same session, same conversation");
        assert_eq!((first.message_count, second.message_count), (2, 4));
        assert_ne!(stored(&results[2]).id, first.id);
        assert!(
            matches!(results[3], Ok(Recorded::QuotaExceeded)),
            "third conversation over the limit"
        );
        assert!(matches!(results[4], Ok(Recorded::TenantGone)));
        assert_eq!(
            store
                .get_tenant("acme")
                .unwrap()
                .unwrap()
                .conversations_used,
            2
        );
        let (_, messages) = store.get_conversation("acme", &first.id).unwrap().unwrap();
        assert_eq!(messages.len(), 4);
    }
}
