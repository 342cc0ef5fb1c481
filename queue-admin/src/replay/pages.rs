//! The web pages of replays, edits and discards: `/replays/preview` (the dry run, with the
//! replay and discard forms), `POST /replays`, `/replays` (batches), `/replays/{id}` (progress,
//! refreshing itself while there is something to watch), `POST /dead-letters/discard`, and
//! `/dead-letters/{id}/edit`. Forms carry the filter as hidden fields and the session's CSRF
//! token; every change answers with a redirect (Post/Redirect/Get). No script anywhere.

use super::diff;
use crate::auth::{CsrfForm, Operator, Principal, Role, Viewer};
use crate::dlq::filter_query::FilterQuery;
use crate::error::{AdminError, PageError, PageResult};
use crate::state::AppState;
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use maud::{html, Markup, PreEscaped};
use serde::Deserialize;
use tributary_store::admin::{
    CurrentPayload, DeadLetterFilter, LetterVerdict, ReplayBatch, ReplayPreview,
};

/// The routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/replays/preview", get(preview_page))
        .route("/replays", get(batches_page).post(replay_form))
        .route("/replays/{id}", get(batch_page))
        .route("/dead-letters/discard", post(discard_form))
        .route("/dead-letters/{id}/edit", get(edit_page).post(edit_form))
}

/// Seconds between refreshes of a batch page while it has something to watch.
const REFRESH_SECONDS: u32 = 2;
/// Longest error text shown in a table cell.
const SHORT_REASON: usize = 300;

fn see_other(location: &str) -> Response {
    let location = HeaderValue::from_str(location).unwrap_or(HeaderValue::from_static("/replays"));
    (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response()
}

fn shortened(text: &str) -> String {
    if text.chars().count() <= SHORT_REASON {
        text.to_owned()
    } else {
        let short: String = text.chars().take(SHORT_REASON).collect();
        format!("{short}…")
    }
}

/// The filter's fields as hidden inputs (a form posting the same filter the page shows).
fn hidden_filter(filter: &DeadLetterFilter) -> Markup {
    let query = FilterQuery::filter_query_string(filter);
    html! {
        @for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            input type="hidden" name=(key) value=(value);
        }
    }
}

/// The filter in words, one `key: value` per field.
fn filter_summary(filter: &DeadLetterFilter) -> Markup {
    let query = FilterQuery::filter_query_string(filter);
    html! {
        @if filter.is_empty() {
            span.badge.warn { "every dead letter (the filter narrows nothing)" }
        } @else {
            @for (key, value) in form_urlencoded::parse(query.as_bytes()) {
                span.badge { (key) ": " (value) } " "
            }
        }
    }
}

fn verdict_badge(verdict: LetterVerdict) -> Markup {
    html! {
        @match verdict {
            LetterVerdict::Replayable => span.badge.ok { "replayable" },
            LetterVerdict::Looping => span.badge.warn { "looping" },
            LetterVerdict::Unparseable => span.badge.bad { "edit first" },
            other => span.badge { (other.as_str()) },
        }
    }
}

/// What the redirect after a discard reports.
#[derive(Debug, Default, Deserialize)]
struct Done {
    done: Option<String>,
    count: Option<i64>,
    version: Option<i32>,
}

impl Done {
    fn message(&self) -> Option<String> {
        match self.done.as_deref()? {
            "discarded" => Some(format!(
                "Discarded {} letter(s); they are kept, marked discarded, with your reason.",
                self.count.unwrap_or(0)
            )),
            "saved" => Some(format!(
                "Saved version {} of the payload; a replay now sends it.",
                self.version.unwrap_or(0)
            )),
            _ => None,
        }
    }
}

async fn preview_page(
    State(state): State<AppState>,
    Viewer(principal): Viewer,
    RawQuery(raw): RawQuery,
    Query(done): Query<Done>,
) -> PageResult {
    let query = FilterQuery::parse(raw.as_deref().unwrap_or(""))?;
    let preview = super::preview(&state, &query.filter, query.limit).await?;
    let body = preview_body(&principal, &query.filter, &preview, done.message());
    Ok(crate::ui::page(
        "Replay: dry run",
        "/replays",
        &principal,
        body,
    ))
}

fn preview_body(
    principal: &Principal,
    filter: &DeadLetterFilter,
    preview: &ReplayPreview,
    flash: Option<String>,
) -> Markup {
    let operator = principal.role >= Role::Operator;
    let csrf = crate::ui::csrf_field(principal);
    let narrows_nothing = DeadLetterFilter {
        status: None,
        ..filter.clone()
    }
    .is_empty();
    let pending = preview.replayable + preview.looping + preview.unparseable;
    let too_many = preview.replayable + preview.looping > preview.max_letters;
    html! {
        @if let Some(message) = flash { (crate::ui::flash(&message, false)) }
        p { "Filter: " (filter_summary(filter)) " " a href=(format!("/dead-letters?{}", FilterQuery::filter_query_string(filter))) { "show these letters" } }
        p.muted { "This is a dry run: nothing has changed. Only pending letters are ever replayed or discarded." }
        div.cards {
            div.card #matching { div.muted { "Matching" } div.value { (preview.matching) } }
            div.card #replayable { div.muted { "Would be replayed" } div.value.ok { (preview.replayable) } }
            div.card #looping { div.muted { "Looping (only if forced)" } div.value.warn { (preview.looping) }
                div.muted { "replayed " (preview.loop_limit) "+ times without success" } }
            div.card #unparseable { div.muted { "Not a job (edit first)" } div.value.bad { (preview.unparseable) } }
            div.card #replayed { div.muted { "Already replayed" } div.value { (preview.already_replayed) } }
            div.card #discarded { div.muted { "Discarded" } div.value { (preview.discarded) } }
        }
        @if too_many {
            (crate::ui::flash(&format!("More than {} letters would be replayed: one replay takes at most {}. Narrow the filter (a time range, a class) and replay in slices.", preview.max_letters, preview.max_letters), true))
        }
        @if operator && pending > 0 {
            div.actions {
                @if preview.replayable + preview.looping > 0 && !too_many {
                    form #replay method="post" action="/replays" {
                        (csrf) (hidden_filter(filter))
                        @if narrows_nothing { input type="hidden" name="all" value="true"; }
                        label { "Reason (optional)" input type="text" name="reason" maxlength="1000"; }
                        @if preview.looping > 0 {
                            label { "Force looping letters"
                                input type="checkbox" name="force" value="true"; }
                        }
                        button type="submit" {
                            "Replay " (preview.replayable) " letter" @if preview.replayable != 1 { "s" }
                            @if preview.looping > 0 { " (+" (preview.looping) " looping if forced)" }
                        }
                    }
                }
                form #discard method="post" action="/dead-letters/discard" {
                    (csrf) (hidden_filter(filter))
                    @if narrows_nothing { input type="hidden" name="all" value="true"; }
                    label { "Reason (required)" input type="text" name="reason" required maxlength="1000"; }
                    button.danger type="submit" { "Discard " (pending) " pending letter" @if pending != 1 { "s" } }
                }
            }
        }
        h2 { "Sample (newest " (preview.sample.len()) ")" }
        @if preview.sample.is_empty() {
            p.muted { "No letter matches." }
        } @else {
            table #sample {
                thead { tr {
                    th { "Letter" } th { "Stored" } th { "Connector" } th { "Tenant" } th { "Source / stream" }
                    th { "Class" } th { "Error" } th.num { "Attempts" } th.num { "Generation" } th { "Replay would" }
                } }
                tbody { @for letter in &preview.sample {
                    tr {
                        td { a href=(format!("/dead-letters/{}", letter.id)) { (letter.id) } }
                        td { (crate::ui::time(letter.created_at)) }
                        td { (letter.connector.as_deref().unwrap_or("—")) }
                        td { (letter.tenant.as_deref().unwrap_or("—")) }
                        td { (letter.source.as_deref().unwrap_or("—")) " / " (letter.stream.as_deref().unwrap_or("—")) }
                        td { (letter.class) }
                        td { (shortened(&letter.reason)) }
                        td.num { (letter.attempts) }
                        td.num { (letter.replay_generation) }
                        td {
                            (verdict_badge(letter.verdict))
                            @if letter.edited { " " span.badge { "edited" } }
                            @if operator && matches!(letter.verdict, LetterVerdict::Unparseable | LetterVerdict::Replayable | LetterVerdict::Looping) {
                                " " a href=(format!("/dead-letters/{}/edit", letter.id)) { "edit" }
                            }
                        }
                    }
                } }
            }
        }
    }
}

/// A form's fields: the filter's, plus `reason`, `force`, `all` and `csrf`.
struct ActionForm {
    filter: DeadLetterFilter,
    reason: Option<String>,
    force: bool,
    all: bool,
}

impl ActionForm {
    fn parse(fields: Vec<(String, String)>) -> Result<Self, AdminError> {
        let mut filter_query = form_urlencoded::Serializer::new(String::new());
        let mut form = ActionForm {
            filter: DeadLetterFilter::default(),
            reason: None,
            force: false,
            all: false,
        };
        for (key, value) in fields {
            match key.as_str() {
                "reason" => form.reason = Some(value),
                "force" => form.force = matches!(value.as_str(), "true" | "on" | "1"),
                "all" => form.all = matches!(value.as_str(), "true" | "on" | "1"),
                "csrf" => {}
                _ => {
                    filter_query.append_pair(&key, &value);
                }
            }
        }
        form.filter = FilterQuery::parse(&filter_query.finish())?.filter;
        Ok(form)
    }
}

/// A refused change, shown with the way back to the dry run.
fn refused(
    principal: &Principal,
    title: &str,
    filter: Option<&DeadLetterFilter>,
    error: AdminError,
) -> Response {
    let status = error.status();
    if status.is_server_error()
        || matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN)
    {
        return PageError(error).into_response();
    }
    let message = error.public_message();
    let body = html! {
        (crate::ui::flash(&message, true))
        @if let Some(filter) = filter {
            p { a href=(format!("/replays/preview?{}", FilterQuery::filter_query_string(filter))) { "Back to the dry run" } }
        }
    };
    (status, crate::ui::page(title, "/replays", principal, body)).into_response()
}

async fn replay_form(
    State(state): State<AppState>,
    Operator(principal): Operator,
    CsrfForm(fields): CsrfForm<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let form = ActionForm::parse(fields)?;
    match super::replay(
        &state,
        &principal,
        form.filter.clone(),
        form.all,
        form.reason.as_deref(),
        form.force,
    )
    .await
    {
        Ok((_, created)) => Ok(see_other(&format!("/replays/{}", created.batch_id))),
        Err(error) => Ok(refused(
            &principal,
            "Nothing replayed",
            Some(&form.filter),
            error,
        )),
    }
}

async fn discard_form(
    State(state): State<AppState>,
    Operator(principal): Operator,
    CsrfForm(fields): CsrfForm<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let form = ActionForm::parse(fields)?;
    let reason = form.reason.clone().unwrap_or_default();
    match super::discard(&state, &principal, form.filter.clone(), form.all, &reason).await {
        Ok(discarded) => Ok(see_other(&format!(
            "/replays/preview?{}&done=discarded&count={}",
            FilterQuery::filter_query_string(&form.filter),
            discarded.count
        ))),
        Err(error) => Ok(refused(
            &principal,
            "Nothing discarded",
            Some(&form.filter),
            error,
        )),
    }
}

/// Paging of the batch list.
#[derive(Debug, Default, Deserialize)]
struct BatchPaging {
    after: Option<i64>,
}

async fn batches_page(
    State(state): State<AppState>,
    Viewer(principal): Viewer,
    Query(paging): Query<BatchPaging>,
) -> PageResult {
    const PAGE: i64 = 50;
    let batches = state.store().replay_batches(paging.after, PAGE).await?;
    let body = html! {
        p.muted {
            "Replays start from a dry run: pick letters on the "
            a href="/dead-letters" { "dead letters" } " or " a href="/groups" { "failure groups" }
            " page. Each replay is published in the background at "
            (state.settings().admin.replay_per_second) " jobs per second at most."
        }
        @if batches.is_empty() {
            p.muted { "Nothing was replayed yet." }
        } @else {
            table #batches {
                thead { tr {
                    th { "Batch" } th { "Created" } th { "Who" } th { "Filter" } th.num { "Letters" }
                    th { "Published" } th.num { "Succeeded" } th.num { "Dead again" } th.num { "In flight" }
                    th { "Reason" }
                } }
                tbody { @for batch in &batches {
                    tr {
                        td { a href=(format!("/replays/{}", batch.id)) { "#" (batch.id) } }
                        td { (crate::ui::time(batch.created_at)) }
                        td { (batch.actor) }
                        td { code { (diff::compact(Some(&batch.filter))) } }
                        td.num { (batch.total) }
                        td {
                            (batch.published) " / " (batch.total) " "
                            (state_badge(batch))
                            @if let Some(error) = &batch.last_error { div.bad { (shortened(error)) } }
                        }
                        td.num.ok { (batch.outcomes.succeeded) }
                        td.num.bad[batch.outcomes.dead > 0] { (batch.outcomes.dead) }
                        td.num { (batch.outcomes.in_flight) }
                        td { (batch.reason.as_deref().unwrap_or("")) }
                    }
                } }
            }
            @if batches.len() as i64 == PAGE {
                @if let Some(last) = batches.last() {
                    div.pager { a href=(format!("/replays?after={}", last.id)) { "Older →" } }
                }
            }
        }
    };
    Ok(crate::ui::page("Replays", "/replays", &principal, body))
}

fn state_badge(batch: &ReplayBatch) -> Markup {
    html! {
        @if batch.state == "done" { span.badge.ok { "published" } }
        @else if batch.last_error.is_some() { span.badge.bad { "retrying" } }
        @else { span.badge.warn { "publishing" } }
    }
}

async fn batch_page(
    State(state): State<AppState>,
    Viewer(principal): Viewer,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let batch = state
        .store()
        .replay_batch(id)
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("no replay batch {id}")))?;
    let replays = state.store().batch_replays(id, 200).await?;
    let watching = batch.state != "done" || batch.outcomes.in_flight > 0;
    let filter: Option<DeadLetterFilter> = serde_json::from_value(batch.filter.clone()).ok();
    let outcomes = &batch.outcomes;
    let body = html! {
        p {
            "Created by " (batch.actor) " " (crate::ui::time(batch.created_at))
            @if let Some(reason) = &batch.reason { " — “" (reason) "”" }
        }
        p { "Filter: " @if let Some(filter) = &filter {
                (filter_summary(filter)) " "
                a href=(format!("/replays/preview?{}", FilterQuery::filter_query_string(filter))) { "dry run this filter again" }
            } @else { code { (batch.filter) } } }
        div.cards {
            div.card #published { div.muted { "Published" } div.value { (batch.published) " / " (batch.total) } div { (state_badge(&batch)) } }
            div.card #in-flight { div.muted { "In flight" } div.value { (outcomes.in_flight) } }
            div.card #succeeded { div.muted { "Succeeded" } div.value.ok { (outcomes.succeeded) } }
            div.card #dead { div.muted { "Dead again" } div.value.bad[outcomes.dead > 0] { (outcomes.dead) } }
            div.card #unpublished { div.muted { "Waiting to publish" } div.value { (outcomes.unpublished) }
                @if outcomes.failing > 0 { div.bad { (outcomes.failing) " failing" } } }
        }
        @if let Some(error) = &batch.last_error {
            (crate::ui::flash(&format!("Publishing is being retried: {error}"), true))
        }
        @if watching { p.muted { "This page refreshes every " (REFRESH_SECONDS) " s while replays are publishing or running." } }
        h2 { "Replays" @if (batch.total as usize) > replays.len() { " (first " (replays.len()) ")" } }
        table #replays {
            thead { tr {
                th { "Letter" } th { "Replay job" } th { "Published" } th { "Job status" } th { "Publishing errors" }
            } }
            tbody { @for replay in &replays {
                tr {
                    td { a href=(format!("/dead-letters/{}", replay.dead_letter_id)) { (replay.dead_letter_id) } }
                    td { code { (replay.job_id) } }
                    td { @if let Some(at) = replay.published_at { (crate::ui::time(at)) } @else { span.badge.warn { "waiting" } } }
                    td {
                        @match replay.job_status.as_deref() {
                            Some(status @ ("succeeded" | "superseded")) => span.badge.ok { (status) },
                            Some("dead") => span.badge.bad { "dead" },
                            Some(status) => span.badge { (status) },
                            None => span.muted { "—" },
                        }
                    }
                    td { @if replay.publish_attempts > 0 {
                        (replay.publish_attempts) " × " span.bad { (replay.last_error.as_deref().unwrap_or("")) }
                    } }
                }
            } }
        }
    };
    let page = crate::ui::page(&format!("Replay #{id}"), "/replays", &principal, body);
    let page = if watching {
        // The frame has no head hook; a constant tag goes right after <head>.
        PreEscaped(page.into_string().replacen(
            "<head>",
            &format!("<head><meta http-equiv=\"refresh\" content=\"{REFRESH_SECONDS}\">"),
            1,
        ))
    } else {
        page
    };
    Ok(page.into_response())
}

/// The payload shown in the edit box: pretty JSON when it is JSON, else the text as stored.
fn editable_text(payload: &[u8]) -> String {
    match serde_json::from_slice::<serde_json::Value>(payload) {
        Ok(value) => serde_json::to_string_pretty(&value).expect("a JSON value always serializes"),
        Err(_) => String::from_utf8_lossy(payload).into_owned(),
    }
}

/// What a failed save re-shows: the operator's text and reason, and what was wrong.
struct Draft<'a> {
    payload: &'a str,
    reason: &'a str,
    error: String,
}

async fn edit_view(
    state: &AppState,
    principal: &Principal,
    id: i64,
    draft: Option<Draft<'_>>,
    flash: Option<String>,
) -> Result<Markup, PageError> {
    let current: CurrentPayload = state
        .store()
        .dead_letter_payload(id)
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("no dead letter {id}")))?;
    let edits = state.store().dead_letter_edits(id).await?;
    let operator = principal.role >= Role::Operator;
    let pending = current.status == "pending";
    let text = draft.as_ref().map_or_else(
        || editable_text(&current.current),
        |draft| draft.payload.to_owned(),
    );
    let body = html! {
        @if let Some(message) = flash { (crate::ui::flash(&message, false)) }
        @if let Some(draft) = &draft { (crate::ui::flash(&draft.error, true)) }
        p {
            a href=(format!("/dead-letters/{id}")) { "Dead letter " (id) } " · status " (current.status)
            " · " @if current.version == 0 { "never edited" } @else { "version " (current.version) }
            " · " a href=(format!("/replays/preview?ids={id}")) { "dry-run a replay of it" }
        }
        @if !pending {
            (crate::ui::flash(&format!("This letter is {}: only pending letters can be edited.", current.status), true))
        }
        @if operator && pending {
            form #edit method="post" action=(format!("/dead-letters/{id}/edit")) {
                (crate::ui::csrf_field(principal))
                input type="hidden" name="base_version" value=(current.version);
                label { "Payload (a job envelope; the job id, lineage and enqueue time are replaced when it is replayed)"
                    textarea name="payload" required spellcheck="false" { (text) } }
                div.actions {
                    label { "Reason (required)" input type="text" name="reason" required maxlength="1000"
                        value=(draft.as_ref().map_or("", |draft| draft.reason)); }
                    button type="submit" { "Save version " (current.version + 1) }
                }
            }
        } @else {
            h2 { "Current payload" }
            pre { (text) }
        }
        h2 { "Edits" }
        @if edits.is_empty() {
            p.muted { "Not edited yet." }
        } @else {
            table #edits {
                thead { tr { th { "Version" } th { "When" } th { "Who" } th { "Why" } th { "Changes" } } }
                tbody { @for edit in &edits {
                    tr {
                        td.num { (edit.version) }
                        td { (crate::ui::time(edit.created_at)) }
                        td { (edit.actor) }
                        td { (edit.reason) }
                        td { pre { (serde_json::from_value::<Vec<diff::Change>>(edit.diff.clone())
                            .map(|changes| diff::render_text(&changes))
                            .unwrap_or_else(|_| edit.diff.to_string())) } }
                    }
                } }
            }
        }
        details {
            summary { "Original payload (kept as received)" }
            pre { (editable_text(&current.original)) }
        }
    };
    Ok(crate::ui::page(
        &format!("Edit dead letter {id}"),
        "/dead-letters",
        principal,
        body,
    ))
}

async fn edit_page(
    State(state): State<AppState>,
    Viewer(principal): Viewer,
    Path(id): Path<i64>,
    Query(done): Query<Done>,
) -> PageResult {
    edit_view(&state, &principal, id, None, done.message()).await
}

/// The edit form.
#[derive(Debug, Deserialize)]
struct EditForm {
    #[serde(default)]
    payload: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    base_version: Option<i32>,
}

async fn edit_form(
    State(state): State<AppState>,
    Operator(principal): Operator,
    Path(id): Path<i64>,
    CsrfForm(form): CsrfForm<EditForm>,
) -> Result<Response, PageError> {
    let outcome = match serde_json::from_str::<serde_json::Value>(&form.payload) {
        Ok(payload) => {
            super::edit(
                &state,
                &principal,
                id,
                &payload,
                &form.reason,
                form.base_version,
            )
            .await
        }
        Err(error) => Err(AdminError::BadRequest(format!(
            "payload: not valid JSON: {error}"
        ))),
    };
    match outcome {
        Ok(edit) => Ok(see_other(&format!(
            "/dead-letters/{id}/edit?done=saved&version={}",
            edit.version
        ))),
        Err(error @ (AdminError::BadRequest(_) | AdminError::Conflict(_))) => {
            // Keep what the operator typed: show the form again with the problem.
            let status = error.status();
            let draft = Draft {
                payload: &form.payload,
                reason: &form.reason,
                error: error.public_message(),
            };
            let page = edit_view(&state, &principal, id, Some(draft), None).await?;
            Ok((status, page).into_response())
        }
        Err(error) => Err(error.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_forms_split_the_filter_from_the_rest() {
        let form = ActionForm::parse(vec![
            ("csrf".into(), "t".into()),
            ("class".into(), "auth".into()),
            ("ids".into(), "3".into()),
            ("ids".into(), "4".into()),
            ("reason".into(), "shop fixed".into()),
            ("force".into(), "true".into()),
        ])
        .unwrap();
        assert_eq!(form.filter.class.as_deref(), Some("auth"));
        assert_eq!(form.filter.ids, Some(vec![3, 4]));
        assert_eq!(form.reason.as_deref(), Some("shop fixed"));
        assert!(form.force);
        assert!(!form.all);
        let error = ActionForm::parse(vec![("min_attempts".into(), "x".into())])
            .err()
            .unwrap()
            .to_string();
        assert!(error.starts_with("min_attempts:"), "{error}");
    }

    #[test]
    fn hidden_fields_carry_the_filter_escaped() {
        let filter = DeadLetterFilter {
            search: Some("\"quoted\" <b>".into()),
            ids: Some(vec![1, 2]),
            ..Default::default()
        };
        let html = hidden_filter(&filter).into_string();
        assert!(
            html.contains(r#"name="q" value="&quot;quoted&quot; &lt;b&gt;""#),
            "{html}"
        );
        assert!(html.contains(r#"name="ids" value="1,2""#), "{html}");
    }

    #[test]
    fn the_edit_box_shows_json_pretty_and_other_bytes_as_text() {
        assert_eq!(editable_text(br#"{"a":1}"#), "{\n  \"a\": 1\n}");
        assert_eq!(editable_text(b"{broken"), "{broken");
    }
}
