//! `GET /tenants/{slug}/stats`: what visitors asked and what the bot could not answer, read
//! from per-day rows the chat keeps up to date (never from the messages themselves).

use actix_web::{HttpResponse, web};
use serde::Serialize;

use super::AppState;
use super::extract::Params;
use super::fields::instant;
use crate::auth::{Authed, need};
use crate::clock::Timestamp;
use crate::domain::stats::{DayStats, day_of, day_start};
use crate::error::{ApiError, ApiResult};

/// The longest range one report covers.
const MAX_DAYS: i32 = 366;
/// Without `from`: the last 30 days.
const DEFAULT_DAYS: i32 = 30;
const TOP_CITED: usize = 10;
const TOP_UNANSWERED: usize = 20;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Report {
    from: String,
    to: String,
    segment: Option<String>,
    totals: Totals,
    per_day: Vec<DayView>,
    top_cited_entries: Vec<CitedView>,
    unanswered_questions: Vec<QuestionView>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Totals {
    conversations: u64,
    messages: u64,
    answers: u64,
    fallbacks: u64,
    /// Share of answers that fell back (0 when there were none).
    fallback_share: f64,
    human_conversations: u64,
    agent_conversations: u64,
}

#[derive(Serialize)]
struct DayView {
    date: String,
    conversations: u64,
    messages: u64,
}

#[derive(Serialize)]
struct CitedView {
    id: String,
    /// `null` when the entry was deleted since.
    title: Option<String>,
    count: u64,
}

#[derive(Serialize)]
struct QuestionView {
    question: String,
    count: u64,
}

fn day_param(params: &Params, name: &str) -> ApiResult<Option<i32>> {
    params
        .str(name)
        .map(|text| instant(name, text).map(day_of))
        .transpose()
}

/// The `n` largest counts, ties in key order.
fn top(map: std::collections::BTreeMap<String, u64>, n: usize) -> Vec<(String, u64)> {
    let mut all: Vec<(String, u64)> = map.into_iter().collect();
    all.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    all.truncate(n);
    all
}

pub async fn get(
    auth: Authed<need::StatsRead>,
    state: web::Data<AppState>,
    params: Params,
) -> ApiResult<HttpResponse> {
    params.only(&["from", "to", "segment"])?;
    let to = day_param(&params, "to")?.unwrap_or_else(|| day_of(Timestamp::now()));
    let from = day_param(&params, "from")?.unwrap_or(to - (DEFAULT_DAYS - 1));
    if from > to {
        return Err(ApiError::validation("from", "must not be after to"));
    }
    if to - from >= MAX_DAYS {
        return Err(ApiError::validation(
            "from",
            format!("the range must be at most {MAX_DAYS} days"),
        ));
    }
    let segment = params.str("segment").filter(|s| !s.is_empty());
    let rows = state
        .store
        .usage_stats(auth.tenant(), from, to, segment)
        .await?;
    let mut total = DayStats::default();
    let mut per_day: Vec<DayView> = (from..=to)
        .map(|day| DayView {
            date: day_start(day).to_rfc3339()[..10].to_string(),
            conversations: 0,
            messages: 0,
        })
        .collect();
    for (day, stats) in &rows {
        if let Some(view) = per_day.get_mut((day - from) as usize) {
            view.conversations += stats.conversations;
            view.messages += stats.messages;
        }
        total.add(stats);
    }
    let cited = top(std::mem::take(&mut total.cited), TOP_CITED);
    let mut top_cited_entries = Vec::with_capacity(cited.len());
    for (id, count) in cited {
        let title = state
            .store
            .get_corpus(auth.tenant(), &id)
            .await?
            .map(|e| e.title);
        top_cited_entries.push(CitedView { id, title, count });
    }
    let unanswered_questions = top(std::mem::take(&mut total.unanswered), TOP_UNANSWERED)
        .into_iter()
        .map(|(question, count)| QuestionView { question, count })
        .collect();
    let fallback_share = match total.answers {
        0 => 0.0,
        n => total.fallbacks as f64 / n as f64,
    };
    Ok(HttpResponse::Ok().json(Report {
        from: day_start(from).to_rfc3339(),
        to: day_start(to + 1).plus_secs(-1).to_rfc3339(),
        segment: segment.map(str::to_string),
        totals: Totals {
            conversations: total.conversations,
            messages: total.messages,
            answers: total.answers,
            fallbacks: total.fallbacks,
            fallback_share,
            human_conversations: total.human_conversations,
            agent_conversations: total.agent_conversations,
        },
        per_day,
        top_cited_entries,
        unanswered_questions,
    }))
}
