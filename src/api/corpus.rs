//! `/tenants/{slug}/corpus`: the knowledge base the bot answers from.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Deserializer, Serialize};

use super::extract::{ApiJson, PageRequest, Params};
use super::fields::non_blank;
use crate::app::AppState;
use crate::auth::token::new_id;
use crate::auth::{Authed, need};
use crate::clock::{now_ms, to_rfc3339, unique_now_us};
use crate::error::{ApiError, ApiResult};
use crate::search::{self, SegmentFilter};
use crate::store::Store;
use crate::store::corpus::CorpusEntry;
use crate::store::segments::is_segment_slug;

const MAX_TITLE: usize = 200;
const MAX_CONTENT: usize = 50_000;
const MAX_TAGS: usize = 20;
const MAX_TAG: usize = 50;
const MAX_SEARCH: usize = 1_000;
const DEFAULT_PRIORITY: u8 = 5;

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
            created_at: to_rfc3339(e.created_us / 1000),
            updated_at: to_rfc3339(e.updated_at),
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
    /// Applies the fields present to `entry`, validating each.
    fn apply(self, entry: &mut CorpusEntry) -> Result<(), ApiError> {
        if let Some(title) = self.title {
            entry.title = non_blank("title", title, MAX_TITLE)?;
        }
        if let Some(content) = self.content {
            entry.content = non_blank("content", content, MAX_CONTENT)?;
        }
        if let Some(segment) = self.segment {
            entry.segment = segment.map(|s| validate_segment(&s)).transpose()?;
        }
        if let Some(priority) = self.priority {
            entry.priority = u8::try_from(priority)
                .ok()
                .filter(|p| (1..=10).contains(p))
                .ok_or_else(|| {
                    ApiError::validation("priority", "must be a whole number from 1 to 10")
                })?;
        }
        if let Some(tags) = self.tags {
            entry.tags = validate_tags(tags.unwrap_or_default())?;
        }
        Ok(())
    }
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

/// Entries may only name a segment the tenant has (absent = every segment).
fn check_segment_exists(store: &Store, tenant: &str, entry: &CorpusEntry) -> Result<(), ApiError> {
    let Some(slug) = &entry.segment else {
        return Ok(());
    };
    match store.find_segment(tenant, slug)? {
        Some(segment) if segment.slug == *slug => Ok(()),
        _ => Err(ApiError::validation(
            "segment",
            format!("no segment '{slug}'; create it under /segments first"),
        )),
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
    let query = search_text.map(search::analyze_query);
    let tenant = auth.tenant().to_string();
    let (offset, limit) = (page.offset(), page.limit);
    let result = state
        .store
        .blocking(move |s| {
            let filter = segment
                .as_deref()
                .map_or(SegmentFilter::Any, SegmentFilter::Exact);
            match &query {
                Some(query) => s
                    .search_corpus(&tenant, query, filter, offset, limit)
                    .map(|(p, _)| p),
                None => s.list_corpus(&tenant, segment.as_deref(), offset, limit),
            }
        })
        .await?;
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
    let tenant = auth.tenant().to_string();
    let id = path.into_inner().1;
    let entry = state
        .store
        .blocking(move |s| s.get_corpus(&tenant, &id))
        .await?
        .ok_or_else(|| ApiError::not_found("Corpus entry"))?;
    Ok(HttpResponse::Ok().json(CorpusView::from(entry)))
}

pub async fn create(
    auth: Authed<need::CorpusWrite>,
    state: web::Data<AppState>,
    body: ApiJson<CorpusFields>,
) -> ApiResult<HttpResponse> {
    let fields = body.0;
    if fields.title.is_none() {
        return Err(ApiError::validation("title", "is required"));
    }
    if fields.content.is_none() {
        return Err(ApiError::validation("content", "is required"));
    }
    let now_us = unique_now_us();
    let now = now_us / 1000;
    let mut entry = CorpusEntry {
        id: new_id("corp_"),
        title: String::new(),
        content: String::new(),
        segment: None,
        priority: DEFAULT_PRIORITY,
        tags: Vec::new(),
        created_us: now_us,
        updated_at: now,
    };
    fields.apply(&mut entry)?;
    let tenant = auth.tenant().to_string();
    let entry = state
        .store
        .blocking(move |s| {
            check_segment_exists(s, &tenant, &entry)?;
            // Analysis happens here, on the blocking pool, outside the write lock.
            let terms = entry.analyze();
            s.insert_corpus(&tenant, &entry, &terms)?;
            Ok::<_, ApiError>(entry)
        })
        .await?;
    Ok(HttpResponse::Created().json(CorpusView::from(entry)))
}

pub async fn update(
    auth: Authed<need::CorpusWrite>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: ApiJson<CorpusFields>,
) -> ApiResult<HttpResponse> {
    let tenant = auth.tenant().to_string();
    let id = path.into_inner().1;
    let fields = body.0;
    let entry = state
        .store
        .blocking(move |s| -> ApiResult<CorpusEntry> {
            let mut entry = s
                .get_corpus(&tenant, &id)?
                .ok_or_else(|| ApiError::not_found("Corpus entry"))?;
            fields.apply(&mut entry)?;
            check_segment_exists(s, &tenant, &entry)?;
            entry.updated_at = now_ms().max(entry.created_us / 1000);
            let terms = entry.analyze();
            if s.replace_corpus(&tenant, &entry, &terms)? {
                Ok(entry)
            } else {
                Err(ApiError::not_found("Corpus entry"))
            }
        })
        .await?;
    Ok(HttpResponse::Ok().json(CorpusView::from(entry)))
}

pub async fn delete(
    auth: Authed<need::CorpusWrite>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let tenant = auth.tenant().to_string();
    let id = path.into_inner().1;
    let lookup = id.clone();
    let existed = state
        .store
        .blocking(move |s| s.delete_corpus(&tenant, &lookup))
        .await?;
    if !existed {
        return Err(ApiError::not_found("Corpus entry"));
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({"deleted": true, "id": id})))
}
