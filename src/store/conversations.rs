//! Conversations of the public chat: one per (tenant, sessionId). An exchange (the visitor's
//! message and the bot's reply) is written in one transaction, which also creates the
//! conversation and counts it against the tenant's quota when it is new.

use redb::{ReadTransaction, ReadableTable};

use super::tables::{
    CONVERSATION_SESSIONS, CONVERSATIONS, CONVERSATIONS_BY_START, MESSAGES, STATS_DAILY,
};
use super::writer::Tx;
use super::{Store, StoreError, StoreResult, decode, encode, tenants};
use crate::clock::Timestamp;
use crate::domain::conversation::PREVIEW_CHARS;
use crate::domain::stats::{DayStats, day_of};
use crate::domain::{Conversation, ConversationFilter, Exchange, Message, Role, VisitorType};
use crate::ids::new_id;

/// The outcome of recording an exchange.
#[derive(Debug)]
pub enum Recorded {
    Stored(Box<Conversation>),
    /// A new conversation would exceed the tenant's `conversationsLimit`.
    QuotaExceeded,
}

/// One page of conversations, newest first, and how many match in all.
#[derive(Debug)]
pub struct ConversationPage {
    pub total: usize,
    pub conversations: Vec<Conversation>,
}

fn load_conversation(
    txn: &ReadTransaction,
    tenant: &str,
    id: &str,
) -> StoreResult<Option<Conversation>> {
    let table = txn.open_table(CONVERSATIONS)?;
    let conversation = match table.get((tenant, id))? {
        Some(v) => Some(decode("conversations", (tenant, id), v.value())?),
        None => None,
    };
    Ok(conversation)
}

/// The last `count` messages of a conversation, oldest first (all of them for `usize::MAX`).
fn last_messages(txn: &ReadTransaction, id: &str, count: usize) -> StoreResult<Vec<Message>> {
    let table = txn.open_table(MESSAGES)?;
    let mut messages = Vec::new();
    for row in table.range((id, 0u32)..=(id, u32::MAX))?.rev().take(count) {
        let (key, value) = row?;
        messages.push(decode("messages", key.value(), value.value())?);
    }
    messages.reverse();
    Ok(messages)
}

/// Writes one exchange into the open transaction.
fn apply_exchange(tx: &mut Tx<'_>, tenant: &str, exchange: &Exchange) -> StoreResult<Recorded> {
    let session = exchange.start.session_id.as_str();
    let existing = tx
        .txn
        .open_table(CONVERSATION_SESSIONS)?
        .get((tenant, session))?
        .map(|v| v.value().to_string());
    let is_new = existing.is_none();
    let mut conversation: Conversation = match existing {
        Some(id) => {
            let table = tx.txn.open_table(CONVERSATIONS)?;
            let bytes = table.get((tenant, id.as_str()))?.ok_or_else(|| {
                StoreError::internal_msg(format!(
                    "table conversation_sessions, key ({tenant}, {session}) points to missing {id}"
                ))
            })?;
            decode("conversations", (tenant, &id), bytes.value())?
        }
        None => {
            let mut record = tenants::require(tx, tenant)?;
            if !record.has_conversation_quota() {
                return Ok(Recorded::QuotaExceeded);
            }
            record.conversations_used += 1;
            tenants::save(tx, &record)?;
            let start = &exchange.start;
            let started_at = tx.unique_now();
            let conversation = Conversation {
                id: new_id("conv_"),
                session_id: start.session_id.clone(),
                segment: start.segment.clone(),
                channel: start.channel,
                visitor_type: start.visitor_type,
                agent_model: start.agent_model.clone(),
                visitor_id: start.visitor_id.clone(),
                message_count: 0,
                started_at,
                last_message_at: started_at,
                preview: exchange.user_message.chars().take(PREVIEW_CHARS).collect(),
                metadata: start.metadata.clone(),
            };
            tx.txn
                .open_table(CONVERSATION_SESSIONS)?
                .insert((tenant, session), conversation.id.as_str())?;
            tx.txn
                .open_table(CONVERSATIONS_BY_START)?
                .insert((tenant, started_at.micros(), conversation.id.as_str()), ())?;
            conversation
        }
    };
    let replied_at = tx.unique_now();
    let messages = [
        (Role::User, &exchange.user_message, exchange.user_at),
        (Role::Assistant, &exchange.reply, replied_at),
    ];
    let mut table = tx.txn.open_table(MESSAGES)?;
    for (role, content, timestamp) in messages {
        let message = Message {
            id: new_id("msg_"),
            role,
            content: content.clone(),
            timestamp,
        };
        let seq = conversation.message_count;
        table.insert(
            (conversation.id.as_str(), seq),
            encode(&message)?.as_slice(),
        )?;
        conversation.message_count += 1;
        conversation.last_message_at = conversation.last_message_at.max(timestamp);
    }
    drop(table);
    tx.txn.open_table(CONVERSATIONS)?.insert(
        (tenant, conversation.id.as_str()),
        encode(&conversation)?.as_slice(),
    )?;
    let started = is_new.then_some(conversation.visitor_type == VisitorType::Agent);
    count_in_stats(
        tx,
        tenant,
        &conversation.segment,
        replied_at,
        started,
        exchange,
    )?;
    Ok(Recorded::Stored(Box::new(conversation)))
}

/// Adds the exchange to its day's statistics row, in the same transaction.
fn count_in_stats(
    tx: &mut Tx<'_>,
    tenant: &str,
    segment: &str,
    at: Timestamp,
    started: Option<bool>,
    exchange: &Exchange,
) -> StoreResult<()> {
    let key = (tenant, day_of(at), segment);
    let mut table = tx.txn.open_table(STATS_DAILY)?;
    let mut day: DayStats = match table.get(key)? {
        Some(v) => decode("stats_daily", (tenant, segment), v.value())?,
        None => DayStats::default(),
    };
    day.record(started, &exchange.user_message, &exchange.outcome);
    table.insert(key, encode(&day)?.as_slice())?;
    Ok(())
}

impl Store {
    /// Statistics rows of days `from..=to` (days since the epoch), of one segment or all.
    pub async fn usage_stats(
        &self,
        tenant: &str,
        from: i32,
        to: i32,
        segment: Option<&str>,
    ) -> StoreResult<Vec<(i32, DayStats)>> {
        self.read(|txn| {
            let table = txn.open_table(STATS_DAILY)?;
            let mut rows = Vec::new();
            for row in table.range((tenant, from, "")..(tenant, to.saturating_add(1), ""))? {
                let (key, value) = row?;
                let (_, day, slug) = key.value();
                if segment.is_some_and(|s| s != slug) {
                    continue;
                }
                rows.push((day, decode("stats_daily", (tenant, slug), value.value())?));
            }
            Ok(rows)
        })
    }

    /// The session's conversation, if any, with its last `history` messages.
    pub async fn session_conversation(
        &self,
        tenant: &str,
        session_id: &str,
        history: usize,
    ) -> StoreResult<Option<(Conversation, Vec<Message>)>> {
        self.read(|txn| {
            let id = match txn
                .open_table(CONVERSATION_SESSIONS)?
                .get((tenant, session_id))?
            {
                Some(id) => id.value().to_string(),
                None => return Ok(None),
            };
            let Some(conversation) = load_conversation(txn, tenant, &id)? else {
                return Ok(None);
            };
            let messages = last_messages(txn, &id, history)?;
            Ok(Some((conversation, messages)))
        })
    }

    /// A conversation with all its messages.
    pub async fn get_conversation(
        &self,
        tenant: &str,
        id: &str,
    ) -> StoreResult<Option<(Conversation, Vec<Message>)>> {
        let (tenant, id) = (tenant.to_string(), id.to_string());
        self.read_blocking(move |store| {
            store.read(|txn| {
                let Some(conversation) = load_conversation(txn, &tenant, &id)? else {
                    return Ok(None);
                };
                let messages = last_messages(txn, &id, usize::MAX)?;
                Ok(Some((conversation, messages)))
            })
        })
        .await
    }

    /// Appends the exchange to the session's conversation, creating it when the session has
    /// none yet (then counted in the tenant's `conversationsUsed`). One durable commit,
    /// shared with whatever else is being written at that moment.
    pub async fn record_exchange(&self, tenant: &str, exchange: Exchange) -> StoreResult<Recorded> {
        let tenant = tenant.to_string();
        self.write(move |tx| apply_exchange(tx, &tenant, &exchange))
            .await
    }

    /// Newest first.
    pub async fn list_conversations(
        &self,
        tenant: &str,
        filter: ConversationFilter,
        offset: usize,
        limit: usize,
    ) -> StoreResult<ConversationPage> {
        let tenant = tenant.to_string();
        self.read_blocking(move |store| {
            let mut total = 0;
            let mut conversations = Vec::new();
            store.scan_conversations(&tenant, &filter, |conversation, _| {
                if total >= offset && conversations.len() < limit {
                    conversations.push(conversation);
                }
                total += 1;
                Ok(())
            })?;
            Ok(ConversationPage {
                total,
                conversations,
            })
        })
        .await
    }

    /// Calls `visit` with every matching conversation, newest first, and its messages, on
    /// the blocking pool; `state` is what `visit` accumulates into (a CSV writer, say).
    pub async fn export_conversations<T, F>(
        &self,
        tenant: &str,
        filter: ConversationFilter,
        state: T,
        mut visit: F,
    ) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnMut(&mut T, &Conversation, &[Message]) -> StoreResult<()> + Send + 'static,
    {
        let tenant = tenant.to_string();
        self.read_blocking(move |store| {
            let mut state = state;
            store.scan_conversations(&tenant, &filter, |conversation, txn| {
                let messages = last_messages(txn, &conversation.id, usize::MAX)?;
                visit(&mut state, &conversation, &messages)
            })?;
            Ok(state)
        })
        .await
    }

    fn scan_conversations(
        &self,
        tenant: &str,
        filter: &ConversationFilter,
        mut visit: impl FnMut(Conversation, &ReadTransaction) -> StoreResult<()>,
    ) -> StoreResult<()> {
        self.read(|txn| {
            let by_start = txn.open_table(CONVERSATIONS_BY_START)?;
            let from = filter.from.unwrap_or(Timestamp::MIN).micros();
            // Whole-second bounds: `to` includes the rest of its second.
            let to = filter
                .to
                .map_or(i64::MAX, |t| t.micros().saturating_add(999_999));
            if from > to {
                return Ok(());
            }
            for row in by_start
                .range((tenant, from, "")..=(tenant, to, "\u{10FFFF}"))?
                .rev()
            {
                let (key, _) = row?;
                let (_, _, id) = key.value();
                let Some(conversation) = load_conversation(txn, tenant, id)? else {
                    continue;
                };
                if filter.accepts(&conversation) {
                    visit(conversation, txn)?;
                }
            }
            Ok(())
        })
    }
}
