//! The JSON API of replays, edits and discards: `GET /api/v1/replays/preview` (the dry run),
//! `POST /api/v1/replays`, `GET /api/v1/replays`, `GET /api/v1/replays/{id}`,
//! `POST /api/v1/dead-letters/discard`, `GET|POST /api/v1/dead-letters/{id}/edits`. Reading
//! needs a viewer, changing an operator.

use super::diff::Change;
use crate::auth::{Operator, Viewer};
use crate::dlq::filter_query::FilterQuery;
use crate::error::{AdminError, ApiError, ApiResult};
use crate::state::AppState;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tributary_store::admin as store;
use tributary_store::admin::DeadLetterFilter;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

/// The routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(preview_api))
        .routes(routes!(create_replay_api, list_replays_api))
        .routes(routes!(replay_api))
        .routes(routes!(discard_api))
        .routes(routes!(create_edit_api, list_edits_api))
}

/// The dry run of a replay.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Preview {
    /// The filter, as a replay would store it.
    #[schema(value_type = Object)]
    pub filter: DeadLetterFilter,
    /// Letters matching the filter.
    pub matching: i64,
    /// Pending letters a replay would take.
    pub replayable: i64,
    /// Pending letters replayed `loop_limit` times or more without success: taken only with
    /// `force`.
    pub looping: i64,
    /// Pending letters whose payload is not a job envelope: never taken (edit them first).
    pub unparseable: i64,
    /// Letters already replayed.
    pub already_replayed: i64,
    /// Letters discarded.
    pub discarded: i64,
    /// The loop guard's limit.
    pub loop_limit: i32,
    /// Most letters one replay takes.
    pub max_letters: i64,
    /// The newest matching letters and what a replay would do with each.
    pub sample: Vec<PreviewLetter>,
}

/// One letter of a dry run.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PreviewLetter {
    /// Letter id.
    pub id: i64,
    /// When it was stored.
    pub created_at: DateTime<Utc>,
    /// Connector kind.
    pub connector: Option<String>,
    /// Tenant.
    pub tenant: Option<String>,
    /// Source.
    pub source: Option<String>,
    /// Stream.
    pub stream: Option<String>,
    /// Failure class.
    pub class: String,
    /// Why it failed.
    pub reason: String,
    /// Failed attempts.
    pub attempts: i32,
    /// Replays of replays behind it.
    pub replay_generation: i32,
    /// Whether its payload was edited.
    pub edited: bool,
    /// `replayable`, `looping`, `unparseable`, `replayed` or `discarded`.
    pub verdict: String,
}

impl Preview {
    /// The API view of a store preview.
    pub fn new(filter: DeadLetterFilter, preview: store::ReplayPreview) -> Self {
        Self {
            filter,
            matching: preview.matching,
            replayable: preview.replayable,
            looping: preview.looping,
            unparseable: preview.unparseable,
            already_replayed: preview.already_replayed,
            discarded: preview.discarded,
            loop_limit: preview.loop_limit,
            max_letters: preview.max_letters,
            sample: preview
                .sample
                .into_iter()
                .map(|letter| PreviewLetter {
                    id: letter.id,
                    created_at: letter.created_at,
                    connector: letter.connector,
                    tenant: letter.tenant,
                    source: letter.source,
                    stream: letter.stream,
                    class: letter.class,
                    reason: letter.reason,
                    attempts: letter.attempts,
                    replay_generation: letter.replay_generation,
                    edited: letter.edited,
                    verdict: letter.verdict.as_str().to_owned(),
                })
                .collect(),
        }
    }
}

/// A replay to make.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayBody {
    /// Which letters (the fields of the dead-letter list's filter; `status` defaults to
    /// `pending`, and only pending letters are ever taken).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub filter: DeadLetterFilter,
    /// Why (kept in the audit log).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Also replay looping letters (replayed `loop_limit` times or more without success).
    #[serde(default)]
    pub force: bool,
    /// Required (true) when the filter narrows nothing, i.e. to replay every pending letter.
    #[serde(default)]
    pub all: bool,
}

/// A created replay (published in the background; follow `GET /api/v1/replays/{batch_id}`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreatedReplay {
    /// The batch.
    pub batch_id: i64,
    /// Letters replayed.
    pub total: i64,
    /// Looping letters left out (replay them with `force`).
    pub skipped_looping: i64,
    /// Letters left out because their payload is not a job envelope.
    pub skipped_unparseable: Vec<SkippedLetter>,
    /// The first replays (at most 100).
    pub replays: Vec<ReplayedLetter>,
    /// The filter as stored with the batch.
    #[schema(value_type = Object)]
    pub filter: DeadLetterFilter,
}

/// A letter left out of a replay.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SkippedLetter {
    /// Letter id.
    pub id: i64,
    /// Why.
    pub why: String,
}

/// One replayed letter.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReplayedLetter {
    /// Letter id.
    pub dead_letter_id: i64,
    /// The job replaying it.
    pub job_id: Uuid,
}

/// A replay batch and its progress.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReplayBatch {
    /// Batch id.
    pub id: i64,
    /// Who asked.
    pub actor: String,
    /// The filter that chose the letters.
    #[schema(value_type = Object)]
    pub filter: serde_json::Value,
    /// Why.
    pub reason: Option<String>,
    /// Letters replayed.
    pub total: i32,
    /// Replays published so far.
    pub published: i32,
    /// `publishing` or `done`.
    pub state: String,
    /// The latest publishing failure, while not done.
    pub last_error: Option<String>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When its last replay was published.
    pub finished_at: Option<DateTime<Utc>>,
    /// Not yet published.
    pub unpublished: i64,
    /// Of those, failed to publish at least once.
    pub failing: i64,
    /// Published, not finished.
    pub in_flight: i64,
    /// Replay jobs that succeeded.
    pub succeeded: i64,
    /// Replay jobs that died again.
    pub dead: i64,
    /// The replays, by letter (at most 200; present on `GET /api/v1/replays/{id}`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replays: Vec<BatchReplay>,
}

impl From<store::ReplayBatch> for ReplayBatch {
    fn from(batch: store::ReplayBatch) -> Self {
        Self {
            id: batch.id,
            actor: batch.actor,
            filter: batch.filter,
            reason: batch.reason,
            total: batch.total,
            published: batch.published,
            state: batch.state,
            last_error: batch.last_error,
            created_at: batch.created_at,
            finished_at: batch.finished_at,
            unpublished: batch.outcomes.unpublished,
            failing: batch.outcomes.failing,
            in_flight: batch.outcomes.in_flight,
            succeeded: batch.outcomes.succeeded,
            dead: batch.outcomes.dead,
            replays: Vec::new(),
        }
    }
}

/// One replay of a batch.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BatchReplay {
    /// The letter.
    pub dead_letter_id: i64,
    /// The replay job.
    pub job_id: Uuid,
    /// `pending` (not yet published) or `published`.
    pub state: String,
    /// The job's status in the ledger.
    pub job_status: Option<String>,
    /// Failed publishing attempts.
    pub publish_attempts: i32,
    /// The latest publishing failure.
    pub last_error: Option<String>,
    /// When it was published.
    pub published_at: Option<DateTime<Utc>>,
}

impl From<store::BatchReplay> for BatchReplay {
    fn from(replay: store::BatchReplay) -> Self {
        Self {
            dead_letter_id: replay.dead_letter_id,
            job_id: replay.job_id,
            state: replay.state,
            job_status: replay.job_status,
            publish_attempts: replay.publish_attempts,
            last_error: replay.last_error,
            published_at: replay.published_at,
        }
    }
}

/// A page of replay batches, newest first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReplayBatchPage {
    /// The batches.
    pub items: Vec<ReplayBatch>,
    /// `after` for the next page, when there may be one.
    pub next: Option<i64>,
}

/// Paging of a newest-first list.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Paging {
    /// Only items older than this id (the `next` of the page before).
    pub after: Option<i64>,
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<i64>,
}

/// Page size from a `limit` parameter: default 50, at most 200.
pub fn page_size(limit: Option<i64>) -> Result<i64, AdminError> {
    match limit {
        None => Ok(50),
        Some(limit) if (1..=200).contains(&limit) => Ok(limit),
        Some(_) => Err(AdminError::BadRequest("limit: must be 1 to 200".into())),
    }
}

/// Letters to discard.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DiscardBody {
    /// Which letters (as for a replay; only pending letters are discarded).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub filter: DeadLetterFilter,
    /// Why (required; kept with the letters and in the audit log).
    pub reason: String,
    /// Required (true) when the filter narrows nothing.
    #[serde(default)]
    pub all: bool,
}

/// What a discard did.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Discarded {
    /// Letters discarded.
    pub count: i64,
    /// The first of them (at most 100).
    pub ids: Vec<i64>,
}

/// A payload edit.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EditBody {
    /// The new payload: a job envelope, as JSON.
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    /// Why (required).
    pub reason: String,
    /// The version you edited (0: the original); when another edit came first, the edit is
    /// refused (409) instead of silently replacing it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_version: Option<i32>,
}

/// One stored edit.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Edit {
    /// Edit id.
    pub id: i64,
    /// The letter.
    pub dead_letter_id: i64,
    /// 1 for the first edit, then 2, ...
    pub version: i32,
    /// What changed against the version before.
    pub diff: Vec<Change>,
    /// Why.
    pub reason: String,
    /// Who.
    pub actor: String,
    /// When.
    pub created_at: DateTime<Utc>,
    /// The payload as edited.
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
}

impl From<store::DeadLetterEdit> for Edit {
    fn from(edit: store::DeadLetterEdit) -> Self {
        Self {
            id: edit.id,
            dead_letter_id: edit.dead_letter_id,
            version: edit.version,
            diff: serde_json::from_value(edit.diff).unwrap_or_default(),
            reason: edit.reason,
            actor: edit.actor,
            created_at: edit.created_at,
            payload: serde_json::from_slice(&edit.payload).unwrap_or_else(|_| {
                serde_json::Value::String(String::from_utf8_lossy(&edit.payload).into_owned())
            }),
        }
    }
}

/// A letter's edits, newest first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EditList {
    /// The edits.
    pub items: Vec<Edit>,
}

/// The dry run of a replay of the letters matching the filter (`status`, `connector`,
/// `tenant`, `source`, `class`, `signature`, `q`, `since`, `until`, `min_attempts`,
/// `max_attempts`, `ids`; `limit` is the sample size). Changes nothing.
#[utoipa::path(get, path = "/api/v1/replays/preview", tag = "replays",
    params(
        ("status" = Option<String>, Query, description = "pending, replayed, discarded or any"),
        ("connector" = Option<String>, Query), ("tenant" = Option<String>, Query),
        ("source" = Option<String>, Query), ("class" = Option<String>, Query),
        ("signature" = Option<String>, Query, description = "error signature (group key)"),
        ("q" = Option<String>, Query, description = "full-text search over the error"),
        ("since" = Option<String>, Query), ("until" = Option<String>, Query),
        ("min_attempts" = Option<i32>, Query), ("max_attempts" = Option<i32>, Query),
        ("ids" = Option<String>, Query, description = "letter ids, comma-separated or repeated"),
        ("limit" = Option<i64>, Query, description = "sample size, 1 to 200 (default 50)"),
    ),
    responses(
        (status = 200, description = "What a replay would take", body = Preview),
        (status = 400, description = "A bad filter value (the message names the field)"),
    ))]
async fn preview_api(
    State(state): State<AppState>,
    _viewer: Viewer,
    RawQuery(query): RawQuery,
) -> ApiResult<Preview> {
    let query = FilterQuery::parse(query.as_deref().unwrap_or(""))?;
    let preview = super::preview(&state, &query.filter, query.limit).await?;
    Ok(Json(Preview::new(query.filter, preview)))
}

/// Replays the pending letters matching the filter: one transaction creates their jobs (new
/// ids, `replay_of` the dead job) and marks them replayed; publishing follows in the
/// background at `admin.replay_per_second`. A letter is never replayed twice: when nothing is
/// left to replay the answer is 409 saying why (already replayed by which batch, discarded,
/// looping, not a job envelope).
#[utoipa::path(post, path = "/api/v1/replays", tag = "replays", request_body = ReplayBody,
    responses(
        (status = 202, description = "Replay created; publishing in the background", body = CreatedReplay),
        (status = 400, description = "A bad filter, a filter narrowing nothing without all=true, too many letters"),
        (status = 403, description = "Not an operator"),
        (status = 409, description = "Nothing to replay, and why"),
    ))]
async fn create_replay_api(
    State(state): State<AppState>,
    Operator(principal): Operator,
    body: Result<Json<ReplayBody>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<CreatedReplay>), ApiError> {
    let Json(body) = body.map_err(json_error)?;
    let (filter, created) = super::replay(
        &state,
        &principal,
        body.filter,
        body.all,
        body.reason.as_deref(),
        body.force,
    )
    .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(CreatedReplay {
            batch_id: created.batch_id,
            total: created.total,
            skipped_looping: created.skipped_looping,
            skipped_unparseable: created
                .skipped_unparseable
                .into_iter()
                .map(|(id, why)| SkippedLetter { id, why })
                .collect(),
            replays: created
                .replays
                .into_iter()
                .map(|replay| ReplayedLetter {
                    dead_letter_id: replay.dead_letter_id,
                    job_id: replay.job_id,
                })
                .collect(),
            filter,
        }),
    ))
}

/// A JSON body that did not parse: 400 with serde's message (which names the field).
pub fn json_error(rejection: axum::extract::rejection::JsonRejection) -> ApiError {
    ApiError(AdminError::BadRequest(rejection.body_text()))
}

/// Replay batches, newest first, with their progress.
#[utoipa::path(get, path = "/api/v1/replays", tag = "replays", params(Paging),
    responses((status = 200, description = "Replay batches", body = ReplayBatchPage)))]
async fn list_replays_api(
    State(state): State<AppState>,
    _viewer: Viewer,
    paging: Result<axum::extract::Query<Paging>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<ReplayBatchPage> {
    let axum::extract::Query(paging) =
        paging.map_err(|rejection| AdminError::BadRequest(rejection.body_text()))?;
    let limit = page_size(paging.limit)?;
    let batches = state.store().replay_batches(paging.after, limit).await?;
    let next = (batches.len() as i64 == limit)
        .then(|| batches.last().map(|batch| batch.id))
        .flatten();
    Ok(Json(ReplayBatchPage {
        items: batches.into_iter().map(ReplayBatch::from).collect(),
        next,
    }))
}

/// One replay batch: progress (published, in flight, succeeded, dead), the latest publishing
/// error, and its replays by letter.
#[utoipa::path(get, path = "/api/v1/replays/{id}", tag = "replays",
    params(("id" = i64, Path, description = "Batch id")),
    responses(
        (status = 200, description = "The batch", body = ReplayBatch),
        (status = 404, description = "No such batch"),
    ))]
async fn replay_api(
    State(state): State<AppState>,
    _viewer: Viewer,
    Path(id): Path<i64>,
) -> ApiResult<ReplayBatch> {
    let batch = state
        .store()
        .replay_batch(id)
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("no replay batch {id}")))?;
    let mut view = ReplayBatch::from(batch);
    view.replays = state
        .store()
        .batch_replays(id, 200)
        .await?
        .into_iter()
        .map(BatchReplay::from)
        .collect();
    Ok(Json(view))
}

/// Discards the pending letters matching the filter, with a reason. They stay stored, marked
/// discarded (who, when, why).
#[utoipa::path(post, path = "/api/v1/dead-letters/discard", tag = "dead letters",
    request_body = DiscardBody,
    responses(
        (status = 200, description = "Discarded", body = Discarded),
        (status = 400, description = "A bad filter, no reason, a filter narrowing nothing without all=true"),
        (status = 403, description = "Not an operator"),
        (status = 409, description = "No matching letter is pending, and why"),
    ))]
async fn discard_api(
    State(state): State<AppState>,
    Operator(principal): Operator,
    body: Result<Json<DiscardBody>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<Discarded> {
    let Json(body) = body.map_err(json_error)?;
    let discarded = super::discard(&state, &principal, body.filter, body.all, &body.reason).await?;
    Ok(Json(Discarded {
        count: discarded.count,
        ids: discarded.ids,
    }))
}

/// Stores a new version of a pending letter's payload (it must be a job envelope); the
/// original is kept; the answer carries the diff against the version before. A replay then
/// sends the latest version.
#[utoipa::path(post, path = "/api/v1/dead-letters/{id}/edits", tag = "dead letters",
    params(("id" = i64, Path, description = "Letter id")),
    request_body = EditBody,
    responses(
        (status = 201, description = "Edit stored", body = Edit),
        (status = 400, description = "Not a job envelope, unchanged, or no reason"),
        (status = 403, description = "Not an operator"),
        (status = 404, description = "No such letter"),
        (status = 409, description = "The letter is not pending, or was edited since base_version"),
    ))]
async fn create_edit_api(
    State(state): State<AppState>,
    Operator(principal): Operator,
    Path(id): Path<i64>,
    body: Result<Json<EditBody>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<Edit>), ApiError> {
    let Json(body) = body.map_err(json_error)?;
    let edit = super::edit(
        &state,
        &principal,
        id,
        &body.payload,
        &body.reason,
        body.base_version,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(Edit::from(edit))))
}

/// A letter's payload edits, newest first.
#[utoipa::path(get, path = "/api/v1/dead-letters/{id}/edits", tag = "dead letters",
    params(("id" = i64, Path, description = "Letter id")),
    responses(
        (status = 200, description = "Edits", body = EditList),
        (status = 404, description = "No such letter"),
    ))]
async fn list_edits_api(
    State(state): State<AppState>,
    _viewer: Viewer,
    Path(id): Path<i64>,
) -> ApiResult<EditList> {
    if state.store().dead_letter_payload(id).await?.is_none() {
        return Err(AdminError::NotFound(format!("no dead letter {id}")).into());
    }
    let edits = state.store().dead_letter_edits(id).await?;
    Ok(Json(EditList {
        items: edits.into_iter().map(Edit::from).collect(),
    }))
}
