//! Knowledge Base: list with search, segment filter and pagination; add, edit, delete; CSV
//! import with a preview and a per-row report; CSV export.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, web};
use maud::{Markup, html};

use super::{html, html_status, nav, see_other, when};
use crate::api::AppState;
use crate::api::corpus::{CorpusFields, ParsedImport, export_csv, parse_import, query};
use crate::api::extract::{PageRequest, Params};
use crate::auth::need;
use crate::domain::{CorpusEntry, Scope, Segment};
use crate::error::ApiError;
use crate::web::WebError;
use crate::web::form::{FieldErrors, FormData};
use crate::web::layout::{csrf_field, field_error, form_error, page};
use crate::web::session::{Dash, PageNeed};

const PAGE_SIZE: usize = 20;

fn base(t: &str) -> String {
    format!("/dashboard/{t}/corpus")
}

pub async fn list(
    dash: Dash<need::CorpusRead>,
    state: web::Data<AppState>,
    params: Params,
) -> Result<HttpResponse, WebError> {
    let t = dash.tenant.as_str();
    let search = params.str("search").unwrap_or_default().to_string();
    let segment = params.str("segment").unwrap_or_default().to_string();
    let page_no = params.int("page", 1, 1, 1_000_000)? as usize;
    let request = PageRequest {
        page: page_no,
        limit: PAGE_SIZE,
    };
    let segments = state.store.list_segments(t).await?;
    let result = query(
        &state,
        t,
        Some(segment.as_str()).filter(|s| !s.is_empty()),
        Some(search.as_str()),
        &request,
    )
    .await?;
    let pages = result.total.div_ceil(PAGE_SIZE).max(1);
    let link = |p: usize| {
        let mut q = vec![format!("page={p}")];
        if !search.is_empty() {
            q.push(format!("search={}", urlencode(&search)));
        }
        if !segment.is_empty() {
            q.push(format!("segment={}", urlencode(&segment)));
        }
        format!("{}?{}", base(t), q.join("&"))
    };
    let notice = match params.str("done") {
        Some("deleted") => Some("The entry was deleted."),
        Some("saved") => Some("The entry was saved."),
        _ => None,
    };
    let writable = dash.can(Scope::CorpusWrite);
    let can = |s| dash.can(s);
    let body = html! {
        @if let Some(text) = notice { p.notice role="status" { (text) } }
        div.actions {
            @if writable {
                a.button href={ (base(t)) "/new" } { "Add entry" }
                a.button.secondary href={ (base(t)) "/import" } { "Import CSV" }
            }
            a.button.secondary href={ (base(t)) "/export" } download { "Export CSV" }
        }
        form.filters method="get" action=(base(t)) role="search" {
            div {
                label for="search" { "Search" }
                input #search type="search" name="search" value=(search) maxlength="1000";
            }
            div {
                label for="segment" { "Segment" }
                (segment_select("segment", &segments, &segment, "All segments"))
            }
            button type="submit" { "Filter" }
        }
        div.table-wrap {
            table {
                caption { (super::count(result.total, "entry", "entries")) @if !search.is_empty() { " matching “" (search) "”" } }
                thead { tr {
                    th scope="col" { "Title" } th scope="col" { "Segment" } th scope="col" { "Priority" }
                    th scope="col" { "Tags" } th scope="col" { "Updated" }
                } }
                tbody {
                    @for e in &result.entries {
                        tr {
                            td {
                                @if writable { a href={ (base(t)) "/" (e.id) "/edit" } { (e.title) } }
                                @else { (e.title) }
                            }
                            td { (e.segment.as_deref().unwrap_or("all")) }
                            td { (e.priority) }
                            td { (e.tags.join(", ")) }
                            td { (when(e.updated_at)) }
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
        "Knowledge Base",
        &nav(&dash, &can, "corpus"),
        body,
    )))
}

pub fn urlencode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn segment_select(name: &str, segments: &[Segment], chosen: &str, none: &str) -> Markup {
    html! {
        select id=(name) name=(name) aria-describedby={ (name) "-error" } {
            option value="" selected[chosen.is_empty()] { (none) }
            @for s in segments {
                option value=(s.slug) selected[s.slug == chosen] { (s.name) " (" (s.slug) ")" }
            }
        }
    }
}

/// The values of the entry form.
#[derive(Default)]
struct Draft {
    title: String,
    content: String,
    segment: String,
    priority: String,
    tags: String,
}

impl From<&CorpusEntry> for Draft {
    fn from(e: &CorpusEntry) -> Self {
        Draft {
            title: e.title.clone(),
            content: e.content.clone(),
            segment: e.segment.clone().unwrap_or_default(),
            priority: e.priority.to_string(),
            tags: e.tags.join("; "),
        }
    }
}

impl Draft {
    fn read(form: &FormData) -> Self {
        Draft {
            title: form.text("title"),
            content: form.text("content"),
            segment: form.text("segment"),
            priority: form.text("priority"),
            tags: form.text("tags"),
        }
    }

    fn fields(&self) -> Result<CorpusFields, ApiError> {
        let priority =
            self.priority.trim().parse::<i64>().map_err(|_| {
                ApiError::validation("priority", "must be a whole number from 1 to 10")
            })?;
        Ok(CorpusFields::from_form(
            self.title.clone(),
            self.content.clone(),
            &self.segment,
            priority,
            &self.tags,
        ))
    }
}

fn entry_form(
    action: &str,
    csrf: &str,
    segments: &[Segment],
    draft: &Draft,
    errors: &FieldErrors,
) -> Markup {
    let priority = if draft.priority.is_empty() {
        "5"
    } else {
        draft.priority.as_str()
    };
    html! {
        form.card method="post" action=(action) {
            (form_error(errors))
            (csrf_field(csrf))
            label for="title" { "Title" }
            input #title name="title" required maxlength="200" value=(draft.title) aria-describedby="title-error";
            (field_error(errors, "title"))
            label for="content" { "Content" }
            textarea #content name="content" required rows="10" aria-describedby="content-error" { (draft.content) }
            (field_error(errors, "content"))
            div.row {
                div {
                    label for="segment" { "Segment" }
                    (segment_select("segment", segments, &draft.segment, "All segments"))
                    (field_error(errors, "segment"))
                }
                div {
                    label for="priority" { "Priority (1-10)" }
                    input #priority type="number" name="priority" min="1" max="10" value=(priority) aria-describedby="priority-error";
                    (field_error(errors, "priority"))
                }
            }
            label for="tags" { "Tags (separated by ;)" }
            input #tags name="tags" value=(draft.tags) aria-describedby="tags-error";
            (field_error(errors, "tags"))
            button type="submit" { "Save" }
        }
    }
}

async fn form_page<N: PageNeed>(
    dash: &Dash<N>,
    state: &AppState,
    title: &str,
    action: &str,
    draft: &Draft,
    errors: &FieldErrors,
    extra: Markup,
) -> Result<Markup, WebError> {
    let segments = state.store.list_segments(&dash.tenant).await?;
    let can = |s| dash.can(s);
    let body = html! {
        (entry_form(action, &dash.csrf, &segments, draft, errors))
        (extra)
    };
    Ok(page(title, &nav(dash, &can, "corpus"), body))
}

pub async fn new_form(
    dash: Dash<need::CorpusWrite>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, WebError> {
    let action = format!("{}/new", base(&dash.tenant));
    let markup = form_page(
        &dash,
        &state,
        "Add entry",
        &action,
        &Draft::default(),
        &FieldErrors::default(),
        html! {},
    )
    .await?;
    Ok(html(markup))
}

pub async fn create(
    dash: Dash<need::CorpusWrite>,
    state: web::Data<AppState>,
    form: FormData,
) -> Result<HttpResponse, WebError> {
    dash.check_csrf(form.csrf())?;
    let draft = Draft::read(&form);
    let created: Result<_, ApiError> = async {
        let new = draft.fields().and_then(CorpusFields::into_new)?;
        Ok(state.store.create_corpus(&dash.tenant, new).await?)
    }
    .await;
    match created {
        Ok(_) => Ok(see_other(format!("{}?done=saved", base(&dash.tenant)))),
        Err(e) => {
            let errors = FieldErrors::from_api(e)?;
            let action = format!("{}/new", base(&dash.tenant));
            let markup = form_page(
                &dash,
                &state,
                "Add entry",
                &action,
                &draft,
                &errors,
                html! {},
            )
            .await?;
            Ok(html_status(StatusCode::BAD_REQUEST, markup))
        }
    }
}

fn delete_form(t: &str, id: &str, csrf: &str) -> Markup {
    html! {
        form.danger-zone method="post" action={ (base(t)) "/" (id) "/delete" }
            data-confirm="Delete this entry? The bot stops using it at once." {
            (csrf_field(csrf))
            button.danger type="submit" { "Delete entry" }
        }
    }
}

pub async fn edit_form(
    dash: Dash<need::CorpusWrite>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, WebError> {
    let entry = state
        .store
        .get_corpus(&dash.tenant, &path.1)
        .await?
        .ok_or_else(|| WebError::NotFound("No such entry.".into()))?;
    let action = format!("{}/{}/edit", base(&dash.tenant), entry.id);
    let markup = form_page(
        &dash,
        &state,
        "Edit entry",
        &action,
        &Draft::from(&entry),
        &FieldErrors::default(),
        delete_form(&dash.tenant, &entry.id, &dash.csrf),
    )
    .await?;
    Ok(html(markup))
}

pub async fn update(
    dash: Dash<need::CorpusWrite>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    form: FormData,
) -> Result<HttpResponse, WebError> {
    dash.check_csrf(form.csrf())?;
    let id = &path.1;
    let draft = Draft::read(&form);
    let updated: Result<_, ApiError> = async {
        let patch = draft.fields().and_then(CorpusFields::into_patch)?;
        Ok(state.store.update_corpus(&dash.tenant, id, patch).await?)
    }
    .await;
    match updated {
        Ok(_) => Ok(see_other(format!("{}?done=saved", base(&dash.tenant)))),
        Err(e) => {
            let errors = FieldErrors::from_api(e)?;
            let action = format!("{}/{id}/edit", base(&dash.tenant));
            let markup = form_page(
                &dash,
                &state,
                "Edit entry",
                &action,
                &draft,
                &errors,
                delete_form(&dash.tenant, id, &dash.csrf),
            )
            .await?;
            Ok(html_status(StatusCode::BAD_REQUEST, markup))
        }
    }
}

pub async fn delete(
    dash: Dash<need::CorpusWrite>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    form: FormData,
) -> Result<HttpResponse, WebError> {
    dash.check_csrf(form.csrf())?;
    state.store.delete_corpus(&dash.tenant, &path.1).await?;
    Ok(see_other(format!("{}?done=deleted", base(&dash.tenant))))
}

fn import_form(t: &str, csrf: &str, csv: &str, partial: bool, error: Option<&str>) -> Markup {
    html! {
        form.card method="post" action={ (base(t)) "/import" } {
            @if let Some(text) = error { p.notice.error role="alert" { (text) } }
            (csrf_field(csrf))
            p.help {
                "The first line must be " code { "title,content,segment,priority,tags" }
                " (tags separated by ;). Choose a file or paste the text."
            }
            label for="file" { "CSV file" }
            input #file type="file" accept=".csv,text/csv" data-load-into="csv";
            label for="csv" { "CSV text" }
            textarea #csv.mono name="csv" rows="12" required spellcheck="false" { (csv) }
            fieldset {
                legend { "If some rows have errors" }
                label.check { input type="radio" name="mode" value="all" checked[!partial]; "Import nothing (all or nothing)" }
                label.check { input type="radio" name="mode" value="partial" checked[partial]; "Import the good rows" }
            }
            div.actions {
                button type="submit" name="action" value="preview" { "Preview" }
                button.secondary type="submit" name="action" value="import" { "Import now" }
            }
        }
    }
}

fn import_form_page(dash: &Dash<need::CorpusWrite>) -> Markup {
    let can = |s| dash.can(s);
    page(
        "Import CSV",
        &nav(dash, &can, "corpus"),
        import_form(&dash.tenant, &dash.csrf, "", false, None),
    )
}

pub async fn import_page(dash: Dash<need::CorpusWrite>) -> Result<HttpResponse, WebError> {
    Ok(html(import_form_page(&dash)))
}

fn report(parsed: &ParsedImport) -> Markup {
    html! {
        @if !parsed.bad.is_empty() {
            div.table-wrap {
                table.errors {
                    caption { (parsed.bad.len()) " rows with errors" }
                    thead { tr { th scope="col" { "Row" } th scope="col" { "Field" } th scope="col" { "Problem" } } }
                    tbody {
                        @for e in &parsed.bad {
                            tr { td { (e.row) } td { code { (e.field) } } td { (e.message) } }
                        }
                    }
                }
            }
        }
    }
}

/// `POST .../corpus/import`: `action=preview` shows what would be created and every
/// refused row; `action=import` writes (all or nothing, or the good rows with `mode=partial`).
pub async fn import(
    dash: Dash<need::CorpusWrite>,
    state: web::Data<AppState>,
    form: FormData,
) -> Result<HttpResponse, WebError> {
    dash.check_csrf(form.csrf())?;
    let t = dash.tenant.clone();
    let csv = form.text("csv");
    let partial = form.get("mode") == Some("partial");
    let preview = form.get("action") != Some("import");
    let can = |s| dash.can(s);
    let segments: Vec<String> = state
        .store
        .list_segments(&t)
        .await?
        .into_iter()
        .map(|s| s.slug)
        .collect();
    let parsed = match parse_import(csv.as_bytes(), &segments) {
        Ok(parsed) => parsed,
        Err(e) => {
            let markup = page(
                "Import CSV",
                &nav(&dash, &can, "corpus"),
                import_form(&t, &dash.csrf, &csv, partial, Some(&e.message)),
            );
            return Ok(html_status(StatusCode::BAD_REQUEST, markup));
        }
    };
    let blocked = !parsed.bad.is_empty() && !partial;
    if preview || blocked {
        let total = parsed.good.len() + parsed.bad.len();
        let body = html! {
            @if blocked && !preview {
                p.notice.error role="alert" { (parsed.bad.len()) " of " (total) " rows have errors; nothing was imported." }
            } @else {
                p.notice role="status" { (parsed.good.len()) " of " (total) " rows are ready to import." }
            }
            (report(&parsed))
            @if !parsed.good.is_empty() {
                div.table-wrap {
                    table.preview {
                        caption { "Entries that will be created" }
                        thead { tr { th scope="col" { "Row" } th scope="col" { "Title" } th scope="col" { "Segment" } th scope="col" { "Priority" } th scope="col" { "Tags" } } }
                        tbody {
                            @for (row, new) in parsed.good.iter().take(200) {
                                tr { td { (row) } td { (new.title) } td { (new.segment.as_deref().unwrap_or("all")) } td { (new.priority) } td { (new.tags.join(", ")) } }
                            }
                        }
                    }
                }
                @if parsed.good.len() > 200 { p.help { "(the first 200 are shown)" } }
            }
            (import_form(&t, &dash.csrf, &csv, partial, None))
        };
        let status = if blocked && !preview {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::OK
        };
        return Ok(html_status(
            status,
            page("Import preview", &nav(&dash, &can, "corpus"), body),
        ));
    }
    let failed = parsed.bad.len();
    let created = state
        .store
        .import_corpus(
            &t,
            parsed.good.iter().map(|(_, n)| n.clone()).collect(),
            dash.actor.clone(),
        )
        .await?;
    let body = html! {
        p.notice role="status" {
            "Imported " (created.len()) " entries."
            @if failed > 0 { " " (failed) " rows were skipped:" }
        }
        (report(&parsed))
        p { a.button href=(base(&t)) { "Back to the knowledge base" } }
    };
    Ok(html_status(
        StatusCode::CREATED,
        page("Import done", &nav(&dash, &can, "corpus"), body),
    ))
}

pub async fn export(
    dash: Dash<need::CorpusRead>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, WebError> {
    let entries = state.store.all_corpus(&dash.tenant).await?;
    let body = export_csv(entries)?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"corpus-{}.csv\"", dash.tenant),
        ))
        .body(body))
}
