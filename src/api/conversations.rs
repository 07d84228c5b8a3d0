//! `/tenants/{slug}/conversations`: what visitors and the bot said, for the tenant to read
//! and export. All under `conversations:read`.

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use serde::Serialize;

use super::AppState;
use super::csv_format;
use super::extract::{PageRequest, Params};
use super::fields::one_of;
use crate::auth::{Authed, need};
use crate::clock::Timestamp;
use crate::domain::{Channel, Conversation, ConversationFilter, Message, Role, VisitorType};
use crate::error::{ApiError, ApiResult};

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
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MessageView {
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
}

/// The filters of the list and the export, validated.
pub const FILTERS: [&str; 5] = ["from", "to", "segment", "channel", "visitorType"];

pub fn filter_from(params: &Params) -> Result<ConversationFilter, ApiError> {
    let time = |name: &str| {
        params
            .str(name)
            .map(|t| {
                Timestamp::parse_api(t).ok_or_else(|| {
                    ApiError::validation(
                        name,
                        "must be an RFC 3339 timestamp like 2024-01-15T10:30:00Z or a date like 2024-01-15",
                    )
                })
            })
            .transpose()
    };
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
    Ok(ConversationFilter {
        from: time("from")?,
        to: time("to")?,
        segment: params.str("segment").map(str::to_string),
        channel,
        visitor_type,
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

pub async fn get(
    auth: Authed<need::ConversationsRead>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (conversation, messages) = state
        .store
        .get_conversation(auth.tenant(), &path.1)
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

/// RFC 4180 CSV, one row per message, newest conversation first, messages in order.
pub async fn export(
    auth: Authed<need::ConversationsRead>,
    state: web::Data<AppState>,
    params: Params,
) -> ApiResult<HttpResponse> {
    params.only(&FILTERS)?;
    let filter = filter_from(&params)?;
    let filename = format!("conversations-{}.csv", auth.tenant());
    let csv = export_csv(&state, auth.tenant(), filter).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{filename}\""),
        ))
        .body(csv))
}

/// The conversations matching `filter` as CSV, one row per message. Shared with the
/// dashboard.
pub async fn export_csv(
    state: &AppState,
    tenant: &str,
    filter: ConversationFilter,
) -> ApiResult<Vec<u8>> {
    let mut writer = csv_format::writer();
    writer
        .write_record(CSV_HEADER)
        .map_err(|e| ApiError::internal(format!("csv: {e}")))?;
    let writer = state
        .store
        .export_conversations(tenant, filter, writer, |writer, c, messages| {
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
                    .map_err(|e| crate::store::StoreError::internal_msg(format!("csv: {e}")))?;
            }
            Ok(())
        })
        .await?;
    writer
        .into_inner()
        .map_err(|e| ApiError::internal(format!("csv: {e}")))
}
