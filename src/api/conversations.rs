//! `/tenants/{slug}/conversations`: what visitors and the bot said, for the tenant to read
//! and export. All under `conversations:read`.

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use serde::Serialize;

use super::extract::{PageRequest, Params};
use crate::app::AppState;
use crate::auth::{Authed, need};
use crate::clock::{parse_rfc3339, to_rfc3339};
use crate::error::{ApiError, ApiResult};
use crate::store::conversations::{Conversation, ConversationFilter, Message};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConversationSummary {
    id: String,
    session_id: String,
    segment: String,
    channel: String,
    visitor_type: String,
    message_count: u32,
    started_at: String,
    last_message_at: String,
    preview: String,
}

impl From<&Conversation> for ConversationSummary {
    fn from(c: &Conversation) -> Self {
        ConversationSummary {
            id: c.id.clone(),
            session_id: c.session_id.clone(),
            segment: c.segment.clone(),
            channel: c.channel.clone(),
            visitor_type: c.visitor_type.clone(),
            message_count: c.message_count,
            started_at: to_rfc3339(c.started_us / 1000),
            last_message_at: to_rfc3339(c.last_message_at),
            preview: c.preview.clone(),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MessageView {
    id: String,
    role: String,
    content: String,
    timestamp: String,
}

impl From<Message> for MessageView {
    fn from(m: Message) -> Self {
        MessageView {
            id: m.id,
            role: m.role,
            content: m.content,
            timestamp: to_rfc3339(m.timestamp),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MetadataView {
    user_agent: Option<String>,
    referrer: Option<String>,
    page_url: Option<String>,
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
fn filter_from(params: &Params) -> Result<ConversationFilter, ApiError> {
    let time = |name: &str| {
        params
            .str(name)
            .map(|t| {
                parse_rfc3339(t).ok_or_else(|| {
                    ApiError::validation(
                        name,
                        "must be an RFC 3339 timestamp like 2024-01-15T10:30:00Z",
                    )
                })
            })
            .transpose()
    };
    let choice = |name: &str, allowed: &[&str]| match params.str(name) {
        Some(v) if !allowed.contains(&v) => Err(ApiError::validation(
            name,
            format!("must be one of {}", allowed.join(", ")),
        )),
        v => Ok(v.map(str::to_string)),
    };
    Ok(ConversationFilter {
        from_ms: time("from")?,
        to_ms: time("to")?,
        segment: params.str("segment").map(str::to_string),
        channel: choice("channel", &["widget", "api"])?,
        visitor_type: choice("visitorType", &["human", "agent"])?,
    })
}

pub async fn list(
    auth: Authed<need::ConversationsRead>,
    state: web::Data<AppState>,
    params: Params,
) -> ApiResult<HttpResponse> {
    let page = PageRequest::from_params(&params)?;
    let filter = filter_from(&params)?;
    let tenant = auth.tenant().to_string();
    let (offset, limit) = (page.offset(), page.limit);
    let (total, conversations) = state
        .store
        .blocking(move |s| s.list_conversations(&tenant, &filter, offset, limit))
        .await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "conversations": conversations.iter().map(ConversationSummary::from).collect::<Vec<_>>(),
        "pagination": page.pagination(total),
    })))
}

pub async fn get(
    auth: Authed<need::ConversationsRead>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let tenant = auth.tenant().to_string();
    let id = path.into_inner().1;
    let (conversation, messages) = state
        .store
        .blocking(move |s| s.get_conversation(&tenant, &id))
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
    let filter = filter_from(&params)?;
    let tenant = auth.tenant().to_string();
    let filename = format!("conversations-{tenant}.csv");
    let csv = state
        .store
        .blocking(move |s| -> ApiResult<Vec<u8>> {
            let mut writer = csv::WriterBuilder::new()
                .terminator(csv::Terminator::CRLF)
                .from_writer(Vec::new());
            let csv_error = |e: csv::Error| ApiError::internal(format!("csv: {e}"));
            writer.write_record(CSV_HEADER).map_err(csv_error)?;
            let mut failure = None;
            s.scan_conversations(&tenant, &filter, |c| {
                let started = to_rfc3339(c.started_us / 1000);
                for m in s.messages(&c.id)? {
                    let timestamp = to_rfc3339(m.timestamp);
                    let row = [
                        c.id.as_str(),
                        &c.session_id,
                        &c.segment,
                        &c.channel,
                        &c.visitor_type,
                        &started,
                        &m.id,
                        &m.role,
                        &m.content,
                        &timestamp,
                    ];
                    if let Err(e) = writer.write_record(row) {
                        failure.get_or_insert(e);
                    }
                }
                Ok(())
            })?;
            if let Some(e) = failure {
                return Err(csv_error(e));
            }
            writer
                .into_inner()
                .map_err(|e| ApiError::internal(format!("csv: {e}")))
        })
        .await?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{filename}\""),
        ))
        .body(csv))
}
