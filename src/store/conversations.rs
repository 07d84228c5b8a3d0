//! Conversations of the public chat: one per (tenant, sessionId). An exchange (the visitor's
//! message and the bot's reply) is written in one transaction, which also creates the
//! conversation and counts it against the tenant's quota when it is new.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;

use super::engine::{ReadTxn, WriteTxn};

use super::tables::{
    CONVERSATION_SESSIONS, CONVERSATIONS, CONVERSATIONS_BY_START, MESSAGES, STATS_DAILY,
};
use super::writer::Tx;
use super::{Store, StoreError, StoreResult, decode, encode, tenants};
use crate::clock::Timestamp;
use crate::domain::conversation::PREVIEW_CHARS;
use crate::domain::stats::{DayStats, day_of};
use crate::domain::{
    Conversation, ConversationFilter, ConversationStatus, Exchange, Message, Role, VisitorType,
};
use crate::ids::new_id;

/// The outcome of recording an exchange.
#[derive(Debug)]
pub enum Recorded {
    Stored(Box<Conversation>),
    /// A new conversation would exceed the tenant's `conversationsLimit`.
    QuotaExceeded,
    /// The conversation already holds as many messages as it may.
    ConversationFull,
}

/// One page of conversations, newest first, and how many match in all.
#[derive(Debug)]
pub struct ConversationPage {
    pub total: usize,
    pub conversations: Vec<Conversation>,
}

/// A conversation and some of its messages, in order.
pub type ExportRow = (Conversation, Vec<Message>);

/// Where an export stopped: the conversation it was in (by its `CONVERSATIONS_BY_START` key)
/// and the next message to read of it.
#[derive(Debug, Clone, Default)]
pub struct ExportCursor {
    at: Option<(i64, String)>,
    next_seq: u32,
}

fn export_from(
    txn: &ReadTxn,
    tenant: &str,
    filter: &ConversationFilter,
    cursor: &mut ExportCursor,
    budget: usize,
) -> StoreResult<(Vec<ExportRow>, bool)> {
    let by_start = txn.open_table(CONVERSATIONS_BY_START)?;
    let messages_table = txn.open_table(MESSAGES)?;
    let from = filter.from.unwrap_or(Timestamp::MIN).micros();
    // Whole-second bounds: `to` includes the rest of its second.
    let to = filter
        .to
        .map_or(i64::MAX, |t| t.micros().saturating_add(999_999));
    let mut out = Vec::new();
    if from > to {
        return Ok((out, true));
    }
    let mut taken = 0;
    let resume = cursor.at.clone();
    let rows = match &resume {
        Some((started, id)) => {
            by_start.range((tenant, from, "")..=(tenant, *started, id.as_str()))?
        }
        None => by_start.range((tenant, from, "")..=(tenant, to, "\u{10FFFF}"))?,
    };
    for row in rows.rev() {
        let (key, _) = row?;
        let (_, started, id) = key.value();
        let Some(conversation) = load_conversation(txn, tenant, id)? else {
            continue;
        };
        if !filter.accepts(&conversation) {
            continue;
        }
        let first = match &resume {
            Some((s, i)) if *s == started && i == id => cursor.next_seq,
            _ => 0,
        };
        let mut messages = Vec::new();
        for row in messages_table
            .range((tenant, id, first)..=(tenant, id, u32::MAX))?
            .take(budget - taken)
        {
            let (key, value) = row?;
            messages.push(decode("messages", key.value(), value.value())?);
        }
        taken += messages.len();
        let next = first + messages.len() as u32;
        out.push((conversation, messages));
        if taken >= budget {
            cursor.at = Some((started, id.to_string()));
            cursor.next_seq = next;
            return Ok((out, false));
        }
    }
    Ok((out, true))
}

fn load_conversation(txn: &ReadTxn, tenant: &str, id: &str) -> StoreResult<Option<Conversation>> {
    let table = txn.open_table(CONVERSATIONS)?;
    let conversation = match table.get((tenant, id))? {
        Some(v) => Some(decode("conversations", (tenant, id), v.value())?),
        None => None,
    };
    Ok(conversation)
}

/// The last `count` messages of a conversation, oldest first (all of them for `usize::MAX`).
fn last_messages(txn: &ReadTxn, tenant: &str, id: &str, count: usize) -> StoreResult<Vec<Message>> {
    let table = txn.open_table(MESSAGES)?;
    let mut messages = Vec::new();
    for row in table
        .range((tenant, id, 0u32)..=(tenant, id, u32::MAX))?
        .rev()
        .take(count)
    {
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
            let conversation: Conversation = decode("conversations", (tenant, &id), bytes.value())?;
            if conversation.message_count.saturating_add(2) > exchange.max_messages {
                return Ok(Recorded::ConversationFull);
            }
            conversation
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
                status: ConversationStatus::Active,
                tool_calls_count: 0,
                tool_types: Vec::new(),
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
    let tools = &exchange.tools;
    conversation.tool_calls_count = conversation.tool_calls_count.saturating_add(tools.calls);
    for tool_type in &tools.types {
        if !conversation.tool_types.contains(tool_type) {
            conversation.tool_types.push(*tool_type);
        }
    }
    if tools.escalated {
        conversation.status = ConversationStatus::Escalated;
    }
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
            (tenant, conversation.id.as_str(), seq),
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
    if is_new && let Some(visitor) = &exchange.start.visitor_id {
        super::visitors::link_conversation(tx, tenant, visitor, &conversation.id)?;
    }
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
    let day = tx.stats.row(tx.txn, tenant, day_of(at), segment)?;
    day.record(started, &exchange.user_message, &exchange.outcome);
    Ok(())
}

/// Rows kept between batches, at most: a day's row of a busy segment holds up to a thousand
/// keys, and the rows of the segments chatting today are what the next batch needs.
const CARRIED_ROWS: usize = 256;

/// Daily statistics rows by (tenant, day, segment): those a write batch changes, each read
/// once and written once before the commit; with a single writer (redb), also the rows as
/// the last commit left them, carried into the next batch so a busy day's row is not decoded
/// again for every batch (it was the writer's largest cost under chat load).
#[derive(Default)]
pub(super) struct DailyStats {
    rows: BTreeMap<(String, i32, String), Row>,
}

struct Row {
    stats: DayStats,
    /// Changed by the open batch, to be written before it commits.
    changed: bool,
}

impl DailyStats {
    /// The row as the batch has it so far (read from the transaction the first time).
    pub(super) fn row(
        &mut self,
        txn: &WriteTxn,
        tenant: &str,
        day: i32,
        segment: &str,
    ) -> StoreResult<&mut DayStats> {
        let key = (tenant.to_owned(), day, segment.to_owned());
        let row = match self.rows.entry(key) {
            Entry::Occupied(row) => row.into_mut(),
            Entry::Vacant(row) => {
                let stats = match txn.open_table(STATS_DAILY)?.get((tenant, day, segment))? {
                    Some(v) => decode("stats_daily", (tenant, segment), v.value())?,
                    None => DayStats::default(),
                };
                row.insert(Row {
                    stats,
                    changed: false,
                })
            }
        };
        row.changed = true;
        Ok(&mut row.stats)
    }

    /// Writes the changed rows, before the transaction commits; afterwards every row is as
    /// the transaction has it.
    pub(super) fn write(&mut self, txn: &WriteTxn) -> StoreResult<()> {
        if !self.rows.values().any(|row| row.changed) {
            return Ok(());
        }
        let mut table = txn.open_table(STATS_DAILY)?;
        for ((tenant, day, segment), row) in &mut self.rows {
            if row.changed {
                table.insert(
                    (tenant.as_str(), *day, segment.as_str()),
                    encode(&row.stats)?.as_slice(),
                )?;
                row.changed = false;
            }
        }
        Ok(())
    }

    /// What is worth carrying into the next batch once this one has committed: the rows of
    /// the newest day seen, unless they are too many to keep.
    pub(super) fn carried(mut self) -> DailyStats {
        let newest = self.rows.keys().map(|(_, day, _)| *day).max();
        self.rows.retain(|(_, day, _), _| Some(*day) == newest);
        if self.rows.len() > CARRIED_ROWS {
            self.rows.clear();
        }
        self
    }
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
        let (tenant, segment) = (tenant.to_string(), segment.map(str::to_string));
        self.read_owned(move |txn| {
            let (tenant, segment) = (tenant.as_str(), segment.as_deref());
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
        .await
    }

    /// The session's conversation, if any, with its last `history` messages.
    pub async fn session_conversation(
        &self,
        tenant: &str,
        session_id: &str,
        history: usize,
    ) -> StoreResult<Option<(Conversation, Vec<Message>)>> {
        let (tenant, session_id) = (tenant.to_string(), session_id.to_string());
        self.read_owned(move |txn| {
            let (tenant, session_id) = (tenant.as_str(), session_id.as_str());
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
            let messages = last_messages(txn, tenant, &id, history)?;
            Ok(Some((conversation, messages)))
        })
        .await
    }

    /// A conversation with one page of its messages (`offset` from the first, at most
    /// `limit`), read by key range: the cost does not grow with the conversation.
    pub async fn get_conversation_page(
        &self,
        tenant: &str,
        id: &str,
        offset: u32,
        limit: u32,
    ) -> StoreResult<Option<(Conversation, Vec<Message>)>> {
        let (tenant, id) = (tenant.to_string(), id.to_string());
        self.read_owned(move |txn| {
            let (tenant, id) = (tenant.as_str(), id.as_str());
            let Some(conversation) = load_conversation(txn, tenant, id)? else {
                return Ok(None);
            };
            let table = txn.open_table(MESSAGES)?;
            let mut messages = Vec::new();
            if limit > 0 && offset < u32::MAX {
                let last = offset.saturating_add(limit - 1);
                for row in table.range((tenant, id, offset)..=(tenant, id, last))? {
                    let (key, value) = row?;
                    messages.push(decode("messages", key.value(), value.value())?);
                }
            }
            Ok(Some((conversation, messages)))
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

    /// The next chunk of an export of the conversations matching `filter`, newest first,
    /// messages in order: at most `budget` messages, read in one short transaction on the
    /// blocking pool. `cursor` remembers where the chunk stopped; the flag is true once every
    /// conversation has been read.
    pub async fn export_chunk(
        &self,
        tenant: &str,
        filter: &ConversationFilter,
        cursor: &mut ExportCursor,
        budget: usize,
    ) -> StoreResult<(Vec<ExportRow>, bool)> {
        let (tenant, filter, mut at) = (tenant.to_string(), filter.clone(), cursor.clone());
        let (rows, done, at) = self
            .read_blocking(move |store| {
                let (rows, done) =
                    store.read(|txn| export_from(txn, &tenant, &filter, &mut at, budget))?;
                Ok((rows, done, at))
            })
            .await?;
        *cursor = at;
        Ok((rows, done))
    }

    fn scan_conversations(
        &self,
        tenant: &str,
        filter: &ConversationFilter,
        mut visit: impl FnMut(Conversation, &ReadTxn) -> StoreResult<()>,
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
