//! `/tenants/{slug}/conversations`: what visitors and the bot said, for the tenant to read
//! and export. All under `conversations:read`.

use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{HttpResponse, web};
use serde::Serialize;

use super::AppState;
use super::csv_format;
use super::extract::{PageRequest, Params};
use super::fields::{instant, one_of};
use crate::auth::{Authed, need};
use crate::domain::{
    Channel, Conversation, ConversationFilter, ConversationStatus, Message, Role, ToolType,
    VisitorType,
};
use crate::error::{ApiError, ApiResult};
use crate::store::ExportCursor;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConversationSummary {
    id: String,
    session_id: String,
    segment: String,
    channel: Channel,
    visitor_type: VisitorType,
    message_count: u32,
    started_at: String,
    last_message_at: String,
    preview: String,
    /// Hosted-API names: `createdAt` is `startedAt`, `firstUserMessage` the preview (the
    /// first 120 characters of the visitor's first message), `pageUrl` the page it came from.
    created_at: String,
    first_user_message: String,
    page_url: Option<String>,
    status: ConversationStatus,
    tool_calls_count: u32,
}

impl From<&Conversation> for ConversationSummary {
    fn from(c: &Conversation) -> Self {
        ConversationSummary {
            id: c.id.clone(),
            session_id: c.session_id.clone(),
            segment: c.segment.clone(),
            channel: c.channel,
            visitor_type: c.visitor_type,
            message_count: c.message_count,
            started_at: c.started_at.to_rfc3339(),
            last_message_at: c.last_message_at.to_rfc3339(),
            preview: c.preview.clone(),
            created_at: c.started_at.to_rfc3339(),
            first_user_message: c.preview.clone(),
            page_url: c.metadata.page_url.clone(),
            status: c.status,
            tool_calls_count: c.tool_calls_count,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct MessageView {
    id: String,
    role: Role,
    content: String,
    timestamp: String,
}

impl From<Message> for MessageView {
    fn from(m: Message) -> Self {
        MessageView {
            id: m.id,
            role: m.role,
            content: m.content,
            timestamp: m.timestamp.to_rfc3339(),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MetadataView {
    user_agent: Option<String>,
    referrer: Option<String>,
    page_url: Option<String>,
    /// The hosted API documents the page URL under this name.
    page: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ConversationDetail {
    #[serde(flatten)]
    summary: ConversationSummary,
    agent_model: Option<String>,
    visitor_id: Option<String>,
    messages: Vec<MessageView>,
    metadata: MetadataView,
    pagination: super::Pagination,
}

/// The filters of the list and the export, validated.
pub const FILTERS: [&str; 7] = [
    "from",
    "to",
    "segment",
    "channel",
    "visitorType",
    "visitorId",
    "toolType",
];

pub fn filter_from(params: &Params) -> Result<ConversationFilter, ApiError> {
    let time = |name: &str| params.str(name).map(|t| instant(name, t)).transpose();
    let channel = params
        .str("channel")
        .map(|v| one_of("channel", &v.into(), Channel::parse, &Channel::names()))
        .transpose()?;
    let visitor_type = params
        .str("visitorType")
        .map(|v| {
            one_of(
                "visitorType",
                &v.into(),
                VisitorType::parse,
                &VisitorType::names(),
            )
        })
        .transpose()?;
    let tool_type = params
        .str("toolType")
        .map(|v| one_of("toolType", &v.into(), ToolType::parse, &ToolType::names()))
        .transpose()?;
    Ok(ConversationFilter {
        from: time("from")?,
        to: time("to")?,
        segment: params.str("segment").map(str::to_string),
        visitor_id: params.str("visitorId").map(str::to_string),
        channel,
        visitor_type,
        tool_type,
    })
}

pub async fn list(
    auth: Authed<need::ConversationsRead>,
    state: web::Data<AppState>,
    params: Params,
) -> ApiResult<HttpResponse> {
    let mut known = vec!["page", "limit"];
    known.extend(FILTERS);
    params.only(&known)?;
    let page = PageRequest::from_params(&params)?;
    let filter = filter_from(&params)?;
    let found = state
        .store
        .list_conversations(auth.tenant(), filter, page.offset(), page.limit)
        .await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "conversations": found.conversations.iter().map(ConversationSummary::from).collect::<Vec<_>>(),
        "pagination": page.pagination(found.total),
    })))
}

/// Messages of a transcript per page: a conversation holds at most
/// `chat.max_messages_per_conversation` messages, but a page stays small whatever the setting.
const TRANSCRIPT_DEFAULT_LIMIT: u64 = 100;
const TRANSCRIPT_MAX_LIMIT: u64 = 1000;

/// The conversation with one page of its messages (`?page&limit`, default the first 100),
/// and `pagination` over its `messageCount`.
pub async fn get(
    auth: Authed<need::ConversationsRead>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    params: Params,
) -> ApiResult<HttpResponse> {
    params.only(&["page", "limit"])?;
    let page = PageRequest {
        page: params.int("page", 1, 1, 1_000_000)? as usize,
        limit: params.int("limit", TRANSCRIPT_DEFAULT_LIMIT, 1, TRANSCRIPT_MAX_LIMIT)? as usize,
    };
    let offset = u32::try_from(page.offset()).unwrap_or(u32::MAX);
    let (conversation, messages) = state
        .store
        .get_conversation_page(auth.tenant(), &path.1, offset, page.limit as u32)
        .await?
        .ok_or_else(|| ApiError::not_found("Conversation"))?;
    let metadata = &conversation.metadata;
    Ok(HttpResponse::Ok().json(ConversationDetail {
        summary: ConversationSummary::from(&conversation),
        agent_model: conversation.agent_model.clone(),
        visitor_id: conversation.visitor_id.clone(),
        metadata: MetadataView {
            user_agent: metadata.user_agent.clone(),
            referrer: metadata.referrer.clone(),
            page_url: metadata.page_url.clone(),
            page: metadata.page_url.clone(),
        },
        messages: messages.into_iter().map(MessageView::from).collect(),
        pagination: page.pagination(conversation.message_count as usize),
    }))
}

pub const CSV_HEADER: [&str; 10] = [
    "conversationId",
    "sessionId",
    "segment",
    "channel",
    "visitorType",
    "startedAt",
    "messageId",
    "role",
    "content",
    "timestamp",
];

/// Messages read from the store per chunk of the streamed export.
const EXPORT_CHUNK_MESSAGES: usize = 500;

/// RFC 4180 CSV, one row per message, newest conversation first, messages in order. Streamed:
/// the store is read a chunk of messages at a time, each in its own short read, and the next
/// chunk is read only when the client has taken the previous one, so memory stays bounded
/// whatever the size of the export.
pub async fn export(
    auth: Authed<need::ConversationsRead>,
    state: web::Data<AppState>,
    params: Params,
) -> ApiResult<HttpResponse> {
    params.only(&FILTERS)?;
    let filter = filter_from(&params)?;
    let filename = format!("conversations-{}.csv", auth.tenant());
    let body = export_stream(state.into_inner(), auth.tenant().to_string(), filter);
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{filename}\""),
        ))
        .streaming(body))
}

/// The export as a stream of CSV chunks: the header, then one chunk per store read.
pub fn export_stream(
    state: std::sync::Arc<AppState>,
    tenant: String,
    filter: ConversationFilter,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + 'static {
    struct Progress {
        state: std::sync::Arc<AppState>,
        tenant: String,
        filter: ConversationFilter,
        cursor: ExportCursor,
        header: bool,
        done: bool,
    }
    let start = Progress {
        state,
        tenant,
        filter,
        cursor: ExportCursor::default(),
        header: false,
        done: false,
    };
    futures_util::stream::unfold(start, |mut p| async move {
        if p.done {
            return None;
        }
        let mut writer = csv_format::writer();
        if !p.header {
            p.header = true;
            if let Err(e) = writer.write_record(CSV_HEADER) {
                p.done = true;
                let e = ApiError::internal(format!("csv: {e}"));
                return Some((Err(std::io::Error::other(e.message)), p));
            }
        }
        let chunk = p
            .state
            .store
            .export_chunk(&p.tenant, &p.filter, &mut p.cursor, EXPORT_CHUNK_MESSAGES)
            .await;
        let result = match chunk {
            Ok((rows, done)) => {
                p.done = done;
                write_rows(&mut writer, &rows)
                    .and_then(|()| {
                        writer
                            .into_inner()
                            .map_err(|e| ApiError::internal(format!("csv: {e}")))
                    })
                    .map(Bytes::from)
            }
            Err(e) => Err(ApiError::from(e)),
        };
        if result.is_err() {
            // Nothing more can be sent: the client sees the body cut short (the cause is
            // logged by the error).
            p.done = true;
        }
        Some((result.map_err(|e| std::io::Error::other(e.message)), p))
    })
}

fn write_rows(
    writer: &mut csv::Writer<Vec<u8>>,
    rows: &[(Conversation, Vec<Message>)],
) -> ApiResult<()> {
    for (c, messages) in rows {
        let started = c.started_at.to_rfc3339();
        for m in messages {
            let timestamp = m.timestamp.to_rfc3339();
            let row = [
                c.id.as_str(),
                &c.session_id,
                &c.segment,
                c.channel.as_str(),
                c.visitor_type.as_str(),
                &started,
                &m.id,
                m.role.as_str(),
                &m.content,
                &timestamp,
            ];
            writer
                .write_record(row)
                .map_err(|e| ApiError::internal(format!("csv: {e}")))?;
        }
    }
    Ok(())
}
