//! One chat turn: prepare (segment, conversation so far, quota) → retrieve (rank the corpus,
//! compose the retrieval answer) → generate (the LLM, when configured) → record (one durable
//! write of both messages). No HTTP here: `api::chat` validates the request, frames SSE and
//! maps [`TurnError`] to responses.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::agent::{FormOffer, ToolExecution, ToolsOutcome};
use super::answer::{self, Answer, AnswerKind, Persona, Retrieved, SegmentInfo};
use super::llm::{ChatMessage, LlmClient};
use super::relevance;
use crate::clock::Timestamp;
use crate::config::ChatConfig;
use crate::domain::Role;
use crate::domain::stats::ExchangeOutcome;
use crate::domain::{
    Channel, ConversationStatus, Exchange, Metadata, NewConversation, Segment, Tenant, Tool,
    VisitorType,
};
use crate::store::{Recorded, Store, StoreError};

/// How many earlier messages of the conversation a turn loads (the LLM sees them).
const HISTORY: usize = 20;

/// A request already checked field by field by the HTTP layer.
#[derive(Debug, Clone)]
pub struct TurnRequest {
    pub message: String,
    pub session_id: String,
    pub segment: Option<String>,
    /// `None`: SSE for people, JSON for agents.
    pub stream: Option<bool>,
    pub agent_model: Option<String>,
    pub channel: Channel,
    pub visitor_id: Option<String>,
    pub metadata: Metadata,
}

#[derive(Debug)]
pub enum TurnError {
    Invalid {
        field: &'static str,
        rule: String,
    },
    QuotaExceeded,
    /// The conversation holds `chat.max_messages_per_conversation` messages already.
    ConversationFull {
        max: u32,
    },
    Store(StoreError),
}

impl Turn {
    /// Only an answer built from relevant entries is worth an LLM call: with nothing relevant
    /// the model could only invent (unless the tenant lets it answer general questions), and
    /// small talk needs no model.
    pub fn wants_llm(&self) -> bool {
        // With tools, a message the corpus does not answer may still be something to act on
        // ("remember that I live in Lyon"); `agent::run` then keeps its words only if it acted.
        self.retrieval.kind == AnswerKind::FromCorpus
            || (self.retrieval.kind == AnswerKind::Fallback
                && (!self.tools.is_empty() || self.tenant.extra.answer_general_questions))
    }

    /// The visitor the conversation is linked to, if any.
    pub fn visitor_id(&self) -> Option<&str> {
        self.start.visitor_id.as_deref()
    }

    /// The prompt: persona, segment, sources, visitor facts, history and the message.
    pub fn llm_messages(&self) -> Vec<ChatMessage> {
        answer::llm_messages(
            &persona(&self.tenant),
            &segment_info(&self.segment),
            &self.retrieval.sources,
            &self.visitor_facts,
            &self.history,
            &self.message,
        )
    }
}

impl From<StoreError> for TurnError {
    fn from(e: StoreError) -> Self {
        TurnError::Store(e)
    }
}

/// Where the reply came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LlmSource {
    Retrieval,
    Llm,
}

/// Everything about a turn decided before the reply is produced.
pub struct Turn {
    pub tenant: Tenant,
    pub segment: Segment,
    pub message: String,
    pub session_id: String,
    pub agent_model: Option<String>,
    pub stream: bool,
    start: NewConversation,
    user_at: Timestamp,
    max_messages: u32,
    history: Vec<(String, String)>,
    /// What the tenant remembers about the visitor (key, value), for the LLM.
    visitor_facts: Vec<(String, String)>,
    pub retrieval: Answer,
    /// The tenant's active tools for this segment, in list order.
    pub tools: Vec<Tool>,
}

#[derive(Serialize, Clone, Debug)]
pub struct SourceRef {
    pub id: String,
    pub title: String,
}

/// What the visitor receives once the turn is stored.
#[derive(Serialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct Reply {
    pub message: String,
    pub session_id: String,
    pub conversation_id: String,
    pub message_count: u32,
    pub visitor_type: VisitorType,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_model: Option<String>,
    pub sources: Vec<SourceRef>,
    pub llm_source: LlmSource,
    /// Tools run in this turn: name, type and success only, never their inputs.
    pub tool_executions: Vec<ToolExecution>,
    /// Tool name → success.
    pub tool_results: BTreeMap<String, bool>,
    /// A SUBMIT_FORM call stored the visitor's details in this turn.
    pub contact_submitted: bool,
    /// The conversation's status after this turn.
    pub status: ConversationStatus,
    /// A contact form for the widget to render (offline rules), absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub form: Option<FormOffer>,
}

/// Picks the segment, loads the conversation so far, checks the quota and retrieves.
pub async fn prepare(
    store: &Store,
    config: &ChatConfig,
    tenant: Tenant,
    request: TurnRequest,
) -> Result<Turn, TurnError> {
    let segment = match &request.segment {
        Some(wanted) => store
            .find_segment(&tenant.slug, wanted)
            .await?
            .filter(|s| s.slug == *wanted && s.is_active)
            .ok_or_else(|| TurnError::Invalid {
                field: "segment",
                rule: format!("no active segment '{wanted}'"),
            })?,
        None => store.default_segment(&tenant.slug).await?.ok_or_else(|| {
            TurnError::Store(StoreError::internal_msg(format!(
                "tenant {} has no default segment",
                tenant.slug
            )))
        })?,
    };
    let existing = store
        .session_conversation(&tenant.slug, &request.session_id, HISTORY)
        .await?;
    if existing.is_none() && !tenant.has_conversation_quota() {
        return Err(TurnError::QuotaExceeded);
    }
    let max_messages = config.max_messages_per_conversation;
    if let Some((conversation, _)) = &existing
        && conversation.message_count.saturating_add(2) > max_messages
    {
        return Err(TurnError::ConversationFull { max: max_messages });
    }
    let history: Vec<(String, String)> = existing
        .map(|(_, messages)| {
            messages
                .into_iter()
                .map(|m| (m.role.as_str().to_string(), m.content))
                .collect()
        })
        .unwrap_or_default();
    let previous_user_message = history
        .iter()
        .rev()
        .find(|(role, _)| role == Role::User.as_str())
        .map(|(_, content)| content.as_str());
    let retrieval = if store.reads_are_round_trips() {
        // On PostgreSQL the ranking's entry reads are round trips: not on an async worker.
        let (store, config, tenant, segment) = (
            store.clone(),
            config.clone(),
            tenant.clone(),
            segment.clone(),
        );
        let (message, previous) = (
            request.message.clone(),
            previous_user_message.map(str::to_string),
        );
        tokio::task::spawn_blocking(move || {
            retrieve(
                &store,
                &config,
                &tenant,
                &segment,
                &message,
                previous.as_deref(),
            )
        })
        .await
        .map_err(|e| StoreError::internal_msg(format!("retrieval: {e}")))??
    } else {
        retrieve(
            store,
            config,
            &tenant,
            &segment,
            &request.message,
            previous_user_message,
        )?
    };
    // A known visitor's conversation is linked to it and its facts inform the LLM; an
    // unknown id is not an error (the widget may hold a stale one) but is not stored either.
    let (visitor_id, visitor_facts) = match request.visitor_id {
        Some(id) => match store.visitor_memory(&tenant.slug, &id).await? {
            Some(facts) => (
                Some(id),
                facts.into_iter().map(|f| (f.key, f.value)).collect(),
            ),
            None => {
                log::info!(
                    "chat: tenant {}: unknown visitorId; the conversation is not linked to a visitor",
                    tenant.slug
                );
                (None, Vec::new())
            }
        },
        None => (None, Vec::new()),
    };
    let tools = store
        .list_tools(&tenant.slug)
        .await?
        .into_iter()
        .filter(|t| t.is_active && t.segment.as_ref().is_none_or(|s| *s == segment.slug))
        .collect();
    let start = NewConversation {
        session_id: request.session_id.clone(),
        segment: segment.slug.clone(),
        channel: request.channel,
        visitor_type: if request.agent_model.is_some() {
            VisitorType::Agent
        } else {
            VisitorType::Human
        },
        agent_model: request.agent_model.clone(),
        visitor_id,
        metadata: request.metadata,
    };
    Ok(Turn {
        stream: request.stream.unwrap_or(request.agent_model.is_none()),
        tenant,
        segment,
        message: request.message,
        session_id: request.session_id,
        agent_model: request.agent_model,
        start,
        user_at: Timestamp::now(),
        max_messages,
        history,
        visitor_facts,
        retrieval,
        tools,
    })
}

fn persona(tenant: &Tenant) -> Persona {
    Persona {
        bot_name: tenant.bot_name.clone(),
        bot_title: tenant.bot_title.clone(),
        bot_lore: tenant.bot_lore.clone(),
        tone: tenant.bot_tone.as_str().to_string(),
        tutoiement: tenant.use_tutoiement,
        emojis: tenant.allow_emojis,
        content_policy: tenant.content_policy,
        age_gate: tenant
            .extra
            .age_gate_enabled
            .then_some(tenant.extra.age_gate_min_age),
        content_warning: tenant.extra.content_warning.clone(),
    }
}

fn segment_info(segment: &Segment) -> SegmentInfo {
    SegmentInfo {
        system_prompt: segment.system_prompt.clone(),
        welcome_message: segment.welcome_message.clone(),
        starters: segment
            .conversation_starters
            .iter()
            .map(|s| match &s.emoji {
                Some(emoji) => format!("{emoji} {}", s.text),
                None => s.text.clone(),
            })
            .collect(),
    }
}

/// Answers small talk, or ranks the segment's and the global entries against the message
/// (read as a follow-up of the previous question when it is short) and builds the retrieval
/// answer, which is also the fallback when an LLM fails.
fn retrieve(
    store: &Store,
    config: &ChatConfig,
    tenant: &Tenant,
    segment: &Segment,
    message: &str,
    previous_user_message: Option<&str>,
) -> Result<Answer, StoreError> {
    let lang = answer::detect_lang(message);
    if let Some(kind) = answer::small_talk(message, lang) {
        return Ok(answer::small_talk_reply(
            kind,
            &persona(tenant),
            lang,
            &segment_info(segment),
        ));
    }
    let sources: Vec<Retrieved> = relevance::retrieve(
        store,
        &relevance::Retrieval {
            tenant: &tenant.slug,
            segment: &segment.slug,
            message,
            previous_user_message,
            max_chars: config.answer_max_chars as usize,
            sensitivity: relevance::Sensitivity(tenant.answer_sensitivity),
        },
    )?;
    Ok(answer::compose(
        &persona(tenant),
        lang,
        sources,
        &segment_info(segment),
    ))
}

/// The LLM client and its cap on concurrent calls. Calls run on threads of their own (one per
/// call, at most `max` at once), never on the blocking pool that store scans use, so a slow
/// or hanging upstream cannot stall the API.
pub struct Llm {
    client: Arc<LlmClient>,
    slots: Arc<tokio::sync::Semaphore>,
    max: u32,
}

/// The right to make one LLM call; the slot is given back when the call has really ended.
pub struct LlmSlot {
    pub(super) client: Arc<LlmClient>,
    pub(super) permit: tokio::sync::OwnedSemaphorePermit,
}

impl Llm {
    pub fn new(client: LlmClient, max: u32) -> Llm {
        Llm {
            client: Arc::new(client),
            slots: Arc::new(tokio::sync::Semaphore::new(max as usize)),
            max,
        }
    }

    /// A slot, or `None` (logged) when `max` calls are running: the caller answers from
    /// retrieval instead of waiting.
    pub fn try_slot(&self) -> Option<LlmSlot> {
        match self.slots.clone().try_acquire_owned() {
            Ok(permit) => Some(LlmSlot {
                client: self.client.clone(),
                permit,
            }),
            Err(_) => {
                log::warn!(
                    "chat: {} LLM calls already running (chat.llm_max_concurrent); answering from retrieval",
                    self.max
                );
                None
            }
        }
    }
}

/// Sets the flag when dropped: the future waiting for the LLM went away (the visitor
/// disconnected), so the call stops at its next delta.
pub(super) struct CancelOnDrop(pub(super) Arc<std::sync::atomic::AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Asks the LLM on a thread of its own, passing each delta to `on_delta` (which stops the
/// call by returning false). Falls back to the retrieval answer when the LLM fails before
/// saying anything. Dropping the returned future stops the call too.
pub async fn generate(
    slot: LlmSlot,
    turn: &Turn,
    mut on_delta: impl FnMut(&str) -> bool + Send + 'static,
) -> (String, LlmSource) {
    let messages: Vec<ChatMessage> = turn.llm_messages();
    let cancelled = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let _cancel = CancelOnDrop(cancelled.clone());
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let spawned = std::thread::Builder::new()
        .name("llm".to_string())
        .spawn(move || {
            let LlmSlot { client, permit } = slot;
            let mut streamed = String::new();
            let result = client.stream_chat(&messages, &mut |delta| {
                if cancelled.load(std::sync::atomic::Ordering::Relaxed) {
                    return false;
                }
                streamed.push_str(delta);
                on_delta(delta)
            });
            drop(permit);
            let _ = done_tx.send((result, streamed));
        });
    if let Err(e) = spawned {
        log::error!("chat: cannot start an LLM thread ({e}); answering from retrieval");
        return (turn.retrieval.text.clone(), LlmSource::Retrieval);
    }
    match done_rx.await {
        Ok((Ok(text), _)) => (text, LlmSource::Llm),
        Ok((Err(e), streamed)) if !streamed.is_empty() => {
            log::warn!(
                "chat: LLM stopped mid-answer ({e}); keeping the {} characters received",
                streamed.chars().count()
            );
            (streamed, LlmSource::Llm)
        }
        Ok((Err(e), _)) => {
            log::warn!("chat: LLM failed ({e}); answering from retrieval");
            (turn.retrieval.text.clone(), LlmSource::Retrieval)
        }
        Err(e) => {
            log::error!("chat: LLM thread failed ({e}); answering from retrieval");
            (turn.retrieval.text.clone(), LlmSource::Retrieval)
        }
    }
}

/// Stores the exchange (one durable commit) and builds the reply.
pub async fn record(
    store: &Store,
    turn: &Turn,
    text: String,
    llm_source: LlmSource,
) -> Result<Reply, TurnError> {
    record_with_tools(store, turn, text, llm_source, ToolsOutcome::default()).await
}

/// [`record`], with what the tools did in the turn (counted on the conversation, shown in
/// the reply).
pub async fn record_with_tools(
    store: &Store,
    turn: &Turn,
    text: String,
    llm_source: LlmSource,
    tools: ToolsOutcome,
) -> Result<Reply, TurnError> {
    let exchange = Exchange {
        start: turn.start.clone(),
        user_message: turn.message.clone(),
        user_at: turn.user_at,
        reply: text.clone(),
        outcome: ExchangeOutcome {
            fell_back: turn.retrieval.kind == AnswerKind::Fallback,
            cited: turn
                .retrieval
                .sources
                .iter()
                .map(|s| s.id.clone())
                .collect(),
        },
        max_messages: turn.max_messages,
        tools: tools.activity.clone(),
    };
    let conversation = match store.record_exchange(&turn.tenant.slug, exchange).await? {
        Recorded::Stored(conversation) => conversation,
        Recorded::QuotaExceeded => return Err(TurnError::QuotaExceeded),
        Recorded::ConversationFull => {
            return Err(TurnError::ConversationFull {
                max: turn.max_messages,
            });
        }
    };
    Ok(Reply {
        message: text,
        session_id: turn.session_id.clone(),
        conversation_id: conversation.id,
        message_count: conversation.message_count,
        visitor_type: turn.start.visitor_type,
        agent_model: turn.agent_model.clone(),
        sources: turn
            .retrieval
            .sources
            .iter()
            .map(|r| SourceRef {
                id: r.id.clone(),
                title: r.title.clone(),
            })
            .collect(),
        llm_source,
        tool_results: tools.results(),
        tool_executions: tools.executions,
        contact_submitted: tools.contact_submitted,
        status: conversation.status,
        form: tools.form,
    })
}

/// The LLM client, when `[chat] llm_base_url` is configured.
pub fn llm_client(config: &ChatConfig) -> Option<LlmClient> {
    let base = config.llm_base_url.as_deref()?;
    let model = config.llm_model.as_deref()?;
    let key = config
        .llm_api_key_env
        .as_deref()
        .and_then(|name| std::env::var(name).ok());
    let total = Duration::from_secs(u64::from(config.llm_timeout_secs));
    let first_byte = total.min(Duration::from_secs(10));
    Some(LlmClient::new(base, model, key, first_byte, total))
}
