//! `/tenants/{slug}/corpus`: the knowledge base the bot answers from.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Deserializer, Serialize};

use super::AppState;
use super::csv_format::{self, unguard};
use super::extract::{ApiJson, PageRequest, Params, read_body};
use super::fields::non_blank;
use crate::auth::{Authed, need};
use crate::domain::corpus::DEFAULT_PRIORITY;
use crate::domain::segment::is_segment_slug;
use crate::domain::{CorpusEntry, CorpusPage, CorpusPatch, NewCorpus};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::search::{self, SegmentFilter};

const MAX_TITLE: usize = 200;
const MAX_CONTENT: usize = 50_000;
const MAX_SUMMARY: usize = 1_000;
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
    summary: Option<String>,
    is_active: bool,
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
            summary: e.summary,
            is_active: e.is_active,
            created_at: e.created_at.to_rfc3339(),
            updated_at: e.updated_at.to_rfc3339(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorpusFields {
    /// Absent: unchanged (PATCH) or missing (POST); `null` is refused, not read as absent.
    #[serde(default, deserialize_with = "not_null")]
    title: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    content: Option<String>,
    /// Absent: unchanged (PATCH) or none (POST); `null`: none.
    #[serde(default, deserialize_with = "present")]
    segment: Option<Option<String>>,
    #[serde(default, deserialize_with = "not_null")]
    priority: Option<i64>,
    #[serde(default, deserialize_with = "present")]
    tags: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "present")]
    summary: Option<Option<String>>,
    #[serde(rename = "isActive", default, deserialize_with = "not_null")]
    is_active: Option<bool>,
}

/// A field that may be absent but not `null` (serde reads `null` as absent for an `Option`).
fn not_null<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
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
    /// Fields from the dashboard's form: every one present (an empty segment is none, tags
    /// are `;`-separated), validated like the API's body.
    pub fn from_form(
        title: String,
        content: String,
        segment: &str,
        priority: i64,
        tags: &str,
    ) -> Self {
        CorpusFields {
            title: Some(title),
            content: Some(content),
            segment: Some(Some(segment.trim().to_string()).filter(|s| !s.is_empty())),
            priority: Some(priority),
            tags: Some(Some(split_tags(tags))),
            summary: None,
            is_active: None,
        }
    }

    /// Validates each field present.
    pub fn into_patch(self) -> Result<CorpusPatch, ApiError> {
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
            summary: self
                .summary
                .map(|s| s.map(|s| non_blank("summary", s, MAX_SUMMARY)).transpose())
                .transpose()?,
            is_active: self.is_active,
        })
    }

    /// A complete new entry: title and content are required.
    pub fn into_new(self) -> Result<NewCorpus, ApiError> {
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
            summary: patch.summary.flatten(),
            is_active: patch.is_active.unwrap_or(true),
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

fn split_tags(tags: &str) -> Vec<String> {
    tags.split(';')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

pub async fn list(
    auth: Authed<need::CorpusRead>,
    state: web::Data<AppState>,
    params: Params,
) -> ApiResult<HttpResponse> {
    params.only(&["page", "limit", "segment", "search"])?;
    let page = PageRequest::from_params(&params)?;
    let result = query(
        &state,
        auth.tenant(),
        params.str("segment"),
        params.str("search"),
        &page,
    )
    .await?;
    // A typed body, not `json!`: a page is serialised straight from the entries, without
    // building a `Value` tree of 20 entries first.
    #[derive(Serialize)]
    struct CorpusPageView {
        corpus: Vec<CorpusView>,
        pagination: super::Pagination,
    }
    Ok(HttpResponse::Ok().json(CorpusPageView {
        corpus: result.entries.into_iter().map(CorpusView::from).collect(),
        pagination: page.pagination(result.total),
    }))
}

/// One page of the corpus, filtered by segment and, with `search`, ranked by relevance.
/// Shared by the API and the dashboard.
pub async fn query(
    state: &AppState,
    tenant: &str,
    segment: Option<&str>,
    search: Option<&str>,
    page: &PageRequest,
) -> ApiResult<CorpusPage> {
    let segment = segment.map(validate_segment).transpose()?;
    let search_text = search.map(str::trim).filter(|s| !s.is_empty());
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
                .search_corpus(tenant, &query, filter, page.offset(), page.limit)
                .await?
                .0
        }
        None => {
            state
                .store
                .list_corpus(tenant, segment.as_deref(), page.offset(), page.limit)
                .await?
        }
    };
    Ok(result)
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

/// The columns of the corpus CSV, in order.
pub const CSV_COLUMNS: [&str; 5] = ["title", "content", "segment", "priority", "tags"];
/// Written by exports after [`CSV_COLUMNS`] and optional in imports, so an export imports
/// back to the same entries while five-column files keep working.
pub const CSV_EXTRA_COLUMNS: [&str; 2] = ["summary", "isActive"];

/// One refused row of an import.
#[derive(Serialize, Debug, PartialEq)]
pub struct RowError {
    /// 1-based, not counting the header.
    pub row: usize,
    pub field: String,
    pub message: String,
}

/// The rows of an import that passed validation (with their row numbers), and the others.
pub struct ParsedImport {
    pub good: Vec<(usize, NewCorpus)>,
    pub bad: Vec<RowError>,
}

/// Parses and validates every row like a single create; rows in error are reported, not
/// fatal. Segments must be among `segments`.
pub fn parse_import(body: &[u8], segments: &[String]) -> Result<ParsedImport, ApiError> {
    let body = body.strip_prefix("\u{feff}".as_bytes()).unwrap_or(body);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(body);
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| csv_error(&e))?
        .iter()
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    let extra_columns = CSV_EXTRA_COLUMNS.map(str::to_ascii_lowercase);
    let extended = header.len() == CSV_COLUMNS.len() + CSV_EXTRA_COLUMNS.len()
        && header[CSV_COLUMNS.len()..] == extra_columns;
    if header[..header.len().min(CSV_COLUMNS.len())] != CSV_COLUMNS
        || !(header.len() == CSV_COLUMNS.len() || extended)
    {
        return Err(ApiError::validation(
            "header",
            format!(
                "the first line must be exactly {} (optionally followed by ,{}) (got {})",
                CSV_COLUMNS.join(","),
                CSV_EXTRA_COLUMNS.join(","),
                header.join(",")
            ),
        ));
    }
    let mut good = Vec::new();
    let mut bad = Vec::new();
    for (index, record) in reader.records().enumerate() {
        let row = index + 1;
        let record = record.map_err(|e| csv_error(&e))?;
        let cell = |i: usize| unguard(record.get(i).unwrap_or("")).to_string();
        let fields = CorpusFields {
            title: Some(cell(0)),
            content: Some(cell(1)),
            segment: Some(Some(cell(2)).filter(|s| !s.trim().is_empty())),
            priority: None,
            tags: Some(Some(split_tags(&cell(4)))),
            summary: extended.then(|| Some(cell(5)).filter(|s| !s.trim().is_empty())),
            is_active: None,
        };
        let is_active = match cell(6).trim() {
            _ if !extended => Ok(true),
            "" | "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(ApiError::validation("isActive", "must be true or false")),
        };
        let priority = cell(3);
        let parsed = match priority.trim() {
            "" => Ok(DEFAULT_PRIORITY),
            p => p
                .parse::<i64>()
                .map_err(|_| {
                    ApiError::validation("priority", "must be a whole number from 1 to 10")
                })
                .and_then(validate_priority),
        }
        .and_then(|priority| {
            let mut new = fields.into_new()?;
            new.priority = priority;
            new.is_active = is_active.clone()?;
            match &new.segment {
                Some(s) if !segments.contains(s) => Err(ApiError::validation(
                    "segment",
                    format!("no segment '{s}'; create it under /segments first"),
                )),
                _ => Ok(new),
            }
        });
        match parsed {
            Ok(new) => good.push((row, new)),
            Err(e) => {
                let (field, message) = e
                    .message
                    .split_once(": ")
                    .map_or(("row".to_string(), e.message.clone()), |(f, m)| {
                        (f.to_string(), m.to_string())
                    });
                bad.push(RowError {
                    row,
                    field,
                    message,
                });
            }
        }
    }
    Ok(ParsedImport { good, bad })
}

fn csv_error(e: &csv::Error) -> ApiError {
    let at = e
        .position()
        .map(|p| format!(" (line {})", p.line()))
        .unwrap_or_default();
    match e.kind() {
        csv::ErrorKind::Utf8 { .. } => {
            ApiError::validation("body", format!("must be UTF-8 text{at}"))
        }
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => ApiError::validation(
            "body",
            format!("every row must have {expected_len} cells, one has {len}{at}"),
        ),
        _ => ApiError::validation("body", format!("is not valid CSV{at}")),
    }
}

/// `POST /tenants/{slug}/corpus/import`: CSV rows created in one transaction. All or
/// nothing by default; `?mode=partial` writes the good rows and reports the others.
pub async fn import(
    auth: Authed<need::CorpusWrite>,
    state: web::Data<AppState>,
    params: Params,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    params.only(&["mode"])?;
    let partial = match params.str("mode") {
        None | Some("all") => false,
        Some("partial") => true,
        Some(_) => return Err(ApiError::validation("mode", "must be all or partial")),
    };
    let body = read_body(payload, state.config.import_max_body_bytes()).await?;
    let segments: Vec<String> = state
        .store
        .list_segments(auth.tenant())
        .await?
        .into_iter()
        .map(|s| s.slug)
        .collect();
    let ParsedImport { good, bad: errors } = parse_import(&body, &segments)?;
    if !errors.is_empty() && !partial {
        return Ok(HttpResponse::BadRequest().json(serde_json::json!({
            "error": format!(
                "{} of {} rows have errors; nothing was imported",
                errors.len(),
                errors.len() + good.len()
            ),
            "code": ErrorCode::ValidationFailed.as_str(),
            "errors": errors,
        })));
    }
    let rows: Vec<usize> = good.iter().map(|(row, _)| *row).collect();
    let created = state
        .store
        .import_corpus(
            auth.tenant(),
            good.into_iter().map(|(_, n)| n).collect(),
            auth.principal.actor(),
        )
        .await?;
    Ok(HttpResponse::Created().json(serde_json::json!({
        "created": created.len(),
        "failed": errors.len(),
        "ids": created.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
        "rows": rows,
        "errors": errors,
    })))
}

/// `GET /tenants/{slug}/corpus/export`: every entry as CSV, oldest first, in the import's
/// columns, so an export imports back to the same entries.
pub async fn export(
    auth: Authed<need::CorpusRead>,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let entries = state.store.all_corpus(auth.tenant()).await?;
    let body = export_csv(entries)?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            actix_web::http::header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"corpus-{}.csv\"", auth.tenant()),
        ))
        .body(body))
}

/// Entries as the corpus CSV (formula-looking cells guarded). Shared with the dashboard.
pub fn export_csv(entries: Vec<CorpusEntry>) -> ApiResult<Vec<u8>> {
    let csv_failed = |e: csv::Error| ApiError::internal(format!("csv: {e}"));
    let mut writer = csv_format::writer();
    writer
        .write_record(CSV_COLUMNS.iter().chain(&CSV_EXTRA_COLUMNS))
        .map_err(csv_failed)?;
    for e in entries {
        let priority = e.priority.to_string();
        let tags = e.tags.join(";");
        let segment = e.segment.unwrap_or_default();
        let summary = e.summary.unwrap_or_default();
        csv_format::write_guarded(
            &mut writer,
            [
                e.title.as_str(),
                &e.content,
                &segment,
                &priority,
                &tags,
                &summary,
                if e.is_active { "true" } else { "false" },
            ],
        )
        .map_err(csv_failed)?;
    }
    writer
        .into_inner()
        .map_err(|e| ApiError::internal(format!("csv: {e}")))
}
