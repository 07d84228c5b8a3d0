//! Conversations: list with filters, a transcript page, CSV export.

use std::collections::HashMap;

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use maud::html;

use super::{html, nav, when};
use crate::api::AppState;
use crate::api::conversations::{export_stream, filter_from};
use crate::api::extract::Params;
use crate::auth::need;
use crate::domain::{Channel, ConversationFilter, Role, VisitorType};
use crate::web::WebError;
use crate::web::layout::page;
use crate::web::session::Dash;

const PAGE_SIZE: usize = 20;

/// The form's filters: dates (`YYYY-MM-DD`, UTC) become the API's RFC 3339 bounds, so the
/// API's own parser validates them.
struct Filters {
    from: String,
    to: String,
    segment: String,
    channel: String,
    visitor_type: String,
}

impl Filters {
    fn read(params: &Params) -> Filters {
        let get = |name: &str| params.str(name).unwrap_or_default().trim().to_string();
        Filters {
            from: get("from"),
            to: get("to"),
            segment: get("segment"),
            channel: get("channel"),
            visitor_type: get("visitorType"),
        }
    }

    fn to_filter(&self) -> Result<ConversationFilter, WebError> {
        let mut map = HashMap::new();
        let mut put = |name: &str, value: String| {
            if !value.is_empty() {
                map.insert(name.to_string(), value);
            }
        };
        put("from", day(&self.from, "00:00:00"));
        put("to", day(&self.to, "23:59:59"));
        put("segment", self.segment.clone());
        put("channel", self.channel.clone());
        put("visitorType", self.visitor_type.clone());
        filter_from(&Params::new(map)).map_err(|e| {
            WebError::BadRequest(format!(
                "{} (dates are YYYY-MM-DD).",
                e.message.trim_end_matches('.')
            ))
        })
    }

    fn query(&self) -> String {
        [
            ("from", &self.from),
            ("to", &self.to),
            ("segment", &self.segment),
            ("channel", &self.channel),
            ("visitorType", &self.visitor_type),
        ]
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}", super::corpus::urlencode(v)))
        .collect::<Vec<_>>()
        .join("&")
    }
}

fn day(date: &str, time: &str) -> String {
    if date.is_empty() {
        String::new()
    } else {
        format!("{date}T{time}Z")
    }
}

pub async fn list(
    dash: Dash<need::ConversationsRead>,
    state: web::Data<AppState>,
    params: Params,
) -> Result<HttpResponse, WebError> {
    let t = dash.tenant.as_str();
    let filters = Filters::read(&params);
    let page_no = params.int("page", 1, 1, 1_000_000)? as usize;
    let found = state
        .store
        .list_conversations(
            t,
            filters.to_filter()?,
            (page_no - 1) * PAGE_SIZE,
            PAGE_SIZE,
        )
        .await?;
    let segments = state.store.list_segments(t).await?;
    let pages = found.total.div_ceil(PAGE_SIZE).max(1);
    let query = filters.query();
    let link = |p: usize| {
        let sep = if query.is_empty() { "" } else { "&" };
        format!("/dashboard/{t}/conversations?page={p}{sep}{query}")
    };
    let can = |s| dash.can(s);
    let option = |value: &str, chosen: &str| (value.to_string(), value == chosen);
    let body = html! {
        form.filters method="get" action={ "/dashboard/" (t) "/conversations" } {
            div { label for="from" { "From (UTC)" } input #from type="date" name="from" value=(filters.from); }
            div { label for="to" { "To (UTC)" } input #to type="date" name="to" value=(filters.to); }
            div {
                label for="segment" { "Segment" }
                select #segment name="segment" {
                    option value="" { "All" }
                    @for s in &segments { option value=(s.slug) selected[s.slug == filters.segment] { (s.name) } }
                }
            }
            div {
                label for="channel" { "Channel" }
                select #channel name="channel" {
                    option value="" { "All" }
                    @for c in Channel::ALL { @let (v, on) = option(c.as_str(), &filters.channel); option value=(v) selected[on] { (v) } }
                }
            }
            div {
                label for="visitorType" { "Visitor" }
                select #visitorType name="visitorType" {
                    option value="" { "All" }
                    @for c in VisitorType::ALL { @let (v, on) = option(c.as_str(), &filters.visitor_type); option value=(v) selected[on] { (v) } }
                }
            }
            button type="submit" { "Filter" }
        }
        div.actions {
            a.button.secondary href={ "/dashboard/" (t) "/conversations/export" @if !query.is_empty() { "?" (query) } } download { "Export CSV" }
        }
        div.table-wrap {
            table {
                caption { (super::count(found.total, "conversation", "conversations")) }
                thead { tr {
                    th scope="col" { "Started" } th scope="col" { "First message" } th scope="col" { "Segment" }
                    th scope="col" { "Channel" } th scope="col" { "Visitor" } th scope="col" { "Messages" }
                } }
                tbody {
                    @for c in &found.conversations {
                        tr {
                            td { (when(c.started_at)) }
                            td { a href={ "/dashboard/" (t) "/conversations/" (c.id) } { (c.preview) } }
                            td { (c.segment) } td { (c.channel.as_str()) } td { (c.visitor_type.as_str()) }
                            td { (c.message_count) }
                        }
                    }
                }
            }
        }
        nav.pager aria-label="Pages" {
            @if page_no > 1 { a href=(link(page_no - 1)) rel="prev" { "← Previous" } }
            span { "Page " (page_no) " of " (pages) }
            @if page_no < pages { a href=(link(page_no + 1)) rel="next" { "Next →" } }
        }
    };
    Ok(html(page(
        "Conversations",
        &nav(&dash, &can, "conversations"),
        body,
    )))
}

/// A transcript page shows this many messages (the whole conversation under the default
/// `chat.max_messages_per_conversation`); the API pages through longer ones.
const TRANSCRIPT_MESSAGES: u32 = 1000;

pub async fn transcript(
    dash: Dash<need::ConversationsRead>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, WebError> {
    let t = dash.tenant.as_str();
    let (c, messages) = state
        .store
        .get_conversation_page(t, &path.1, 0, TRANSCRIPT_MESSAGES)
        .await?
        .ok_or_else(|| WebError::NotFound("No such conversation.".into()))?;
    let can = |s| dash.can(s);
    let body = html! {
        dl.facts {
            dt { "Started" } dd { (when(c.started_at)) }
            dt { "Segment" } dd { (c.segment) }
            dt { "Channel" } dd { (c.channel.as_str()) }
            dt { "Visitor" } dd { (c.visitor_type.as_str()) @if let Some(m) = &c.agent_model { " (" (m) ")" } }
            @if let Some(url) = &c.metadata.page_url { dt { "Page" } dd { (url) } }
        }
        ol.transcript {
            @for m in &messages {
                @let who = if m.role == Role::User { "Visitor" } else { "Bot" };
                li class=(m.role.as_str()) {
                    p.meta { strong { (who) } " · " (when(m.timestamp)) }
                    p.text { (m.content) }
                }
            }
        }
        p { a href={ "/dashboard/" (t) "/conversations" } { "← All conversations" } }
    };
    Ok(html(page(
        "Transcript",
        &nav(&dash, &can, "conversations"),
        body,
    )))
}

pub async fn export(
    dash: Dash<need::ConversationsRead>,
    state: web::Data<AppState>,
    params: Params,
) -> Result<HttpResponse, WebError> {
    let filter = Filters::read(&params).to_filter()?;
    let body = export_stream(state.clone().into_inner(), dash.tenant.clone(), filter);
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"conversations-{}.csv\"", dash.tenant),
        ))
        .streaming(body))
}
