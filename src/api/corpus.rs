//! `/tenants/{slug}/corpus`: the knowledge base the bot answers from.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Deserializer, Serialize};

use super::AppState;
use super::extract::{ApiJson, PageRequest, Params};
use super::fields::non_blank;
use crate::auth::{Authed, need};
use crate::domain::corpus::DEFAULT_PRIORITY;
use crate::domain::segment::is_segment_slug;
use crate::domain::{CorpusEntry, CorpusPatch, NewCorpus};
use crate::error::{ApiError, ApiResult};
use crate::search::{self, SegmentFilter};

const MAX_TITLE: usize = 200;
const MAX_CONTENT: usize = 50_000;
const MAX_TAGS: usize = 20;
const MAX_TAG: usize = 50;
const MAX_SEARCH: usize = 1_000;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CorpusView {
    id: String,
    title: String,
    content: String,
    segment: Option<String>,
    priority: u8,
    tags: Vec<String>,
    created_at: String,
    updated_at: String,
}

impl From<CorpusEntry> for CorpusView {
    fn from(e: CorpusEntry) -> Self {
        CorpusView {
            id: e.id,
            title: e.title,
            content: e.content,
            segment: e.segment,
            priority: e.priority,
            tags: e.tags,
            created_at: e.created_at.to_rfc3339(),
            updated_at: e.updated_at.to_rfc3339(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorpusFields {
    title: Option<String>,
    content: Option<String>,
    /// Absent: unchanged (PATCH) or none (POST); `null`: none.
    #[serde(default, deserialize_with = "present")]
    segment: Option<Option<String>>,
    priority: Option<i64>,
    #[serde(default, deserialize_with = "present")]
    tags: Option<Option<Vec<String>>>,
}

/// Distinguishes a field sent as `null` (`Some(None)`) from one not sent (`None`).
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

impl CorpusFields {
    /// Validates each field present.
    fn into_patch(self) -> Result<CorpusPatch, ApiError> {
        Ok(CorpusPatch {
            title: self
                .title
                .map(|t| non_blank("title", t, MAX_TITLE))
                .transpose()?,
            content: self
                .content
                .map(|c| non_blank("content", c, MAX_CONTENT))
                .transpose()?,
            segment: self
                .segment
                .map(|s| s.map(|s| validate_segment(&s)).transpose())
                .transpose()?,
            priority: self.priority.map(validate_priority).transpose()?,
            tags: self
                .tags
                .map(|t| validate_tags(t.unwrap_or_default()))
                .transpose()?,
        })
    }

    /// A complete new entry: title and content are required.
    fn into_new(self) -> Result<NewCorpus, ApiError> {
        if self.title.is_none() {
            return Err(ApiError::validation("title", "is required"));
        }
        if self.content.is_none() {
            return Err(ApiError::validation("content", "is required"));
        }
        let patch = self.into_patch()?;
        Ok(NewCorpus {
            title: patch
                .title
                .ok_or_else(|| ApiError::validation("title", "is required"))?,
            content: patch
                .content
                .ok_or_else(|| ApiError::validation("content", "is required"))?,
            segment: patch.segment.flatten(),
            priority: patch.priority.unwrap_or(DEFAULT_PRIORITY),
            tags: patch.tags.unwrap_or_default(),
        })
    }
}

fn validate_priority(priority: i64) -> Result<u8, ApiError> {
    u8::try_from(priority)
        .ok()
        .filter(|p| (1..=10).contains(p))
        .ok_or_else(|| ApiError::validation("priority", "must be a whole number from 1 to 10"))
}

fn validate_segment(segment: &str) -> Result<String, ApiError> {
    if is_segment_slug(segment) {
        Ok(segment.to_string())
    } else {
        Err(ApiError::validation(
            "segment",
            "must be a segment slug (1-63 characters of a-z, 0-9 and -)",
        ))
    }
}

fn validate_tags(tags: Vec<String>) -> Result<Vec<String>, ApiError> {
    if tags.len() > MAX_TAGS {
        return Err(ApiError::validation(
            "tags",
            format!("must have at most {MAX_TAGS} entries"),
        ));
    }
    tags.into_iter()
        .enumerate()
        .map(|(i, tag)| non_blank(&format!("tags[{i}]"), tag, MAX_TAG))
        .collect()
}

pub async fn list(
    auth: Authed<need::CorpusRead>,
    state: web::Data<AppState>,
    params: Params,
) -> ApiResult<HttpResponse> {
    let page = PageRequest::from_params(&params)?;
    let segment = params.str("segment").map(validate_segment).transpose()?;
    let search_text = params
        .str("search")
        .map(str::trim)
        .filter(|s| !s.is_empty());
    if search_text.is_some_and(|s| s.chars().count() > MAX_SEARCH) {
        return Err(ApiError::validation(
            "search",
            format!("must be at most {MAX_SEARCH} characters"),
        ));
    }
    let result = match search_text {
        Some(text) => {
            let filter = segment
                .as_deref()
                .map_or(SegmentFilter::Any, SegmentFilter::Exact);
            let query = search::analyze_query(text);
            state
                .store
                .search_corpus(auth.tenant(), &query, filter, page.offset(), page.limit)
                .await?
                .0
        }
        None => {
            state
                .store
                .list_corpus(auth.tenant(), segment.as_deref(), page.offset(), page.limit)
                .await?
        }
    };
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "corpus": result.entries.into_iter().map(CorpusView::from).collect::<Vec<_>>(),
        "pagination": page.pagination(result.total),
    })))
}

pub async fn get(
    auth: Authed<need::CorpusRead>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let entry = state
        .store
        .get_corpus(auth.tenant(), &path.1)
        .await?
        .ok_or_else(|| ApiError::not_found("Corpus entry"))?;
    Ok(HttpResponse::Ok().json(CorpusView::from(entry)))
}

pub async fn create(
    auth: Authed<need::CorpusWrite>,
    state: web::Data<AppState>,
    body: ApiJson<CorpusFields>,
) -> ApiResult<HttpResponse> {
    let new = body.0.into_new()?;
    let entry = state.store.create_corpus(auth.tenant(), new).await?;
    Ok(HttpResponse::Created().json(CorpusView::from(entry)))
}

pub async fn update(
    auth: Authed<need::CorpusWrite>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: ApiJson<CorpusFields>,
) -> ApiResult<HttpResponse> {
    let patch = body.0.into_patch()?;
    let entry = state
        .store
        .update_corpus(auth.tenant(), &path.1, patch)
        .await?;
    Ok(HttpResponse::Ok().json(CorpusView::from(entry)))
}

pub async fn delete(
    auth: Authed<need::CorpusWrite>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let id = &path.1;
    state.store.delete_corpus(auth.tenant(), id).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({"deleted": true, "id": id})))
}
