//! Changing dead letters and sources: replay (dry run first, then one transaction that fixes
//! the new jobs; throttled, confirmed publishing in the background; a loop guard; never twice),
//! payload edits (versioned, the original kept, the diff shown, a reason required), discards
//! (a reason required), pausing and resuming sources, and the audit log — the same operations
//! behind the JSON API ([`api`]), the web pages ([`pages`]) and, through the API, the CLI.
//!
//! The operations here check what the caller may not get wrong (a filter that narrows nothing,
//! a payload that is not a job, an identifier that cannot be a source) and leave atomicity and
//! the audit row to the store. This module knows the job envelope (to build a replay's job and
//! to validate an edit) but no connector.

pub mod api;
pub mod audit;
pub mod diff;
pub mod pages;
pub mod publisher;
pub mod sources;

use crate::auth::Principal;
use crate::error::AdminError;
use crate::state::AppState;
use axum::Router;
use chrono::Utc;
use tributary_broker::{JobEnvelope, Lineage};
use tributary_connector::{JobId, SourceId, TenantId};
use tributary_store::admin::{
    ChangeError, CreatedReplay, DeadLetterEdit, DeadLetterFilter, DeadLetterStatus, Discarded,
    EditRequest, ReplayLetter, ReplayPreview, ReplayRequest, MAX_LETTERS_PER_ACTION,
};
use tributary_store::{NewJob, SourcePause, ALL_TENANTS};
use utoipa_axum::router::OpenApiRouter;

/// The JSON API routes.
pub fn api_routes() -> OpenApiRouter<AppState> {
    api::routes()
        .merge(sources::api_routes())
        .merge(audit::api_routes())
}

/// The web UI routes.
pub fn ui_routes() -> Router<AppState> {
    pages::routes()
        .merge(sources::ui_routes())
        .merge(audit::ui_routes())
}

impl From<ChangeError> for AdminError {
    fn from(error: ChangeError) -> Self {
        match error {
            ChangeError::Invalid(message) => AdminError::BadRequest(message),
            ChangeError::NotFound(message) => AdminError::NotFound(message),
            ChangeError::Conflict(message) => AdminError::Conflict(message),
            ChangeError::Store(error) => error.into(),
        }
    }
}

/// The new job replaying a letter: the letter's payload (its latest edit, else the original)
/// with a new id, a fresh run of its own (a replay starts its window over; the checkpoint
/// makes that idempotent), `replay_of` naming the job that died, and a fresh enqueue time.
pub fn replay_job(letter: &ReplayLetter<'_>) -> Result<NewJob, String> {
    let old = JobEnvelope::parse(letter.payload).map_err(|error| error.to_string())?;
    // The job that died is the letter's; an edit may have changed the payload's job id.
    let replay_of = letter.job_id.map(JobId::from_uuid).unwrap_or(old.job_id);
    let job = JobEnvelope {
        job_id: JobId::new(),
        lineage: Lineage {
            parent: None,
            root: None,
            replay_of: Some(replay_of),
        },
        traceparent: None,
        enqueued_at: Utc::now(),
        ..old
    };
    Ok(ledger_row(&job))
}

/// The ledger row of a job about to be published.
fn ledger_row(job: &JobEnvelope) -> NewJob {
    NewJob {
        id: job.job_id.as_uuid(),
        root_id: job.root().as_uuid(),
        parent_id: job.lineage.parent.map(|id| id.as_uuid()),
        replay_of: job.lineage.replay_of.map(|id| id.as_uuid()),
        kind: job.kind.as_str().to_owned(),
        connector: job.connector.to_string(),
        tenant: job.tenant.to_string(),
        source: job.source.to_string(),
        stream: job.stream.to_string(),
        envelope: serde_json::to_value(job).expect("an envelope always serializes"),
    }
}

/// The dry run.
pub async fn preview(
    state: &AppState,
    filter: &DeadLetterFilter,
    sample: i64,
) -> Result<ReplayPreview, AdminError> {
    filter.validate()?;
    Ok(state
        .store()
        .replay_preview(filter, state.settings().admin.replay_loop_limit, sample)
        .await?)
}

/// Refuses a filter that narrows nothing unless `all` says that is meant; then makes the
/// filter explicit about taking pending letters (what the audit row and the batch will show).
fn checked_action_filter(
    mut filter: DeadLetterFilter,
    all: bool,
    action: &str,
) -> Result<DeadLetterFilter, AdminError> {
    filter.validate()?;
    let narrowing = DeadLetterFilter {
        status: None,
        ..filter.clone()
    };
    if narrowing.is_empty() && !all {
        return Err(AdminError::BadRequest(format!(
            "filter: it narrows nothing, so it would {action} every pending dead letter; \
             say so with all=true (or narrow it)"
        )));
    }
    if filter.status.is_none() {
        filter.status = Some(DeadLetterStatus::Pending);
    }
    Ok(filter)
}

/// Replays the pending letters matching `filter` and wakes the publisher.
pub async fn replay(
    state: &AppState,
    principal: &Principal,
    filter: DeadLetterFilter,
    all: bool,
    reason: Option<&str>,
    force_looping: bool,
) -> Result<(DeadLetterFilter, CreatedReplay), AdminError> {
    let filter = checked_action_filter(filter, all, "replay")?;
    let created = state
        .store()
        .create_replay(
            &ReplayRequest {
                filter: &filter,
                actor: &principal.actor,
                reason,
                force_looping,
                loop_limit: state.settings().admin.replay_loop_limit,
                max_letters: MAX_LETTERS_PER_ACTION,
            },
            replay_job,
        )
        .await?;
    state.replay_wakeup().notify_one();
    tracing::info!(actor = %principal.actor, batch = created.batch_id, letters = created.total,
        "replay created");
    Ok((filter, created))
}

/// Discards the pending letters matching `filter`.
pub async fn discard(
    state: &AppState,
    principal: &Principal,
    filter: DeadLetterFilter,
    all: bool,
    reason: &str,
) -> Result<Discarded, AdminError> {
    let filter = checked_action_filter(filter, all, "discard")?;
    Ok(state
        .store()
        .discard_dead_letters(&filter, &principal.actor, reason, MAX_LETTERS_PER_ACTION)
        .await?)
}

/// Stores an edit of a pending letter's payload. The payload must be a job envelope (so an
/// edit never makes a letter impossible to replay); it is stored as compact JSON, and the diff
/// is taken against the letter's current payload inside the store's transaction.
pub async fn edit(
    state: &AppState,
    principal: &Principal,
    dead_letter_id: i64,
    payload: &serde_json::Value,
    reason: &str,
    base_version: Option<i32>,
) -> Result<DeadLetterEdit, AdminError> {
    let bytes = serde_json::to_vec(payload).map_err(|error| AdminError::Internal(error.into()))?;
    JobEnvelope::parse(&bytes)
        .map_err(|error| AdminError::BadRequest(format!("payload: {error}")))?;
    let edited = state
        .store()
        .edit_dead_letter(
            &EditRequest {
                dead_letter_id,
                payload: &bytes,
                actor: &principal.actor,
                reason,
                base_version,
            },
            |current| {
                let before = serde_json::from_slice(current).unwrap_or_else(|_| {
                    serde_json::Value::String(String::from_utf8_lossy(current).into_owned())
                });
                let changes = diff::diff(&before, payload);
                if changes.is_empty() {
                    return Err("payload: unchanged; there is nothing to save".to_owned());
                }
                Ok(serde_json::to_value(&changes).expect("changes always serialize"))
            },
        )
        .await?;
    Ok(edited)
}

/// A source id and tenant (`None` or `*`: every tenant) as the store takes them.
pub fn source_and_tenant(
    source: &str,
    tenant: Option<&str>,
) -> Result<(SourceId, String), AdminError> {
    let source = SourceId::new(source)
        .map_err(|error| AdminError::BadRequest(format!("source: {error}")))?;
    let tenant = match tenant.map(str::trim).filter(|tenant| !tenant.is_empty()) {
        None => ALL_TENANTS.to_owned(),
        Some(tenant) if tenant == ALL_TENANTS => ALL_TENANTS.to_owned(),
        Some(tenant) => TenantId::new(tenant)
            .map_err(|error| AdminError::BadRequest(format!("tenant: {error}")))?
            .to_string(),
    };
    Ok((source, tenant))
}

/// Pauses a source.
pub async fn pause(
    state: &AppState,
    principal: &Principal,
    source: &str,
    tenant: Option<&str>,
    reason: &str,
) -> Result<SourcePause, AdminError> {
    let (source, tenant) = source_and_tenant(source, tenant)?;
    Ok(state
        .store()
        .pause_source(source.as_str(), &tenant, reason, &principal.actor)
        .await?)
}

/// Resumes a source.
pub async fn resume(
    state: &AppState,
    principal: &Principal,
    source: &str,
    tenant: Option<&str>,
    reason: Option<&str>,
) -> Result<SourcePause, AdminError> {
    let (source, tenant) = source_and_tenant(source, tenant)?;
    Ok(state
        .store()
        .resume_source(source.as_str(), &tenant, &principal.actor, reason)
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tributary_broker::JobKind;
    use tributary_connector::{ConnectorKind, StreamName, Window};
    use uuid::Uuid;

    fn dead_job() -> JobEnvelope {
        let mut job = JobEnvelope::new_root(
            JobKind::Pull,
            ConnectorKind::new("demo").unwrap(),
            TenantId::new("acme").unwrap(),
            SourceId::new("shop").unwrap(),
            StreamName::new("orders").unwrap(),
            Window::default(),
        );
        // A continuation that died: the replay must not stay in its old run.
        job.lineage.root = Some(JobId::new());
        job.lineage.parent = job.lineage.root;
        job.traceparent = Some("00-abc-def-01".into());
        job
    }

    #[test]
    fn a_replay_is_a_new_run_of_the_same_work() {
        let old = dead_job();
        let payload = old.to_bytes();
        let row = replay_job(&ReplayLetter {
            dead_letter_id: 1,
            job_id: Some(old.job_id.as_uuid()),
            payload: &payload,
            edit_id: None,
        })
        .unwrap();
        assert_ne!(row.id, old.job_id.as_uuid());
        assert_eq!(row.root_id, row.id);
        assert_eq!(row.parent_id, None);
        assert_eq!(row.replay_of, Some(old.job_id.as_uuid()));
        let new: JobEnvelope = serde_json::from_value(row.envelope).unwrap();
        assert_eq!(new.job_id.as_uuid(), row.id);
        assert_eq!(new.lineage.replay_of, Some(old.job_id));
        assert_eq!(new.lineage.root, None);
        assert_eq!(new.traceparent, None);
        assert!(new.enqueued_at >= old.enqueued_at);
        assert_eq!(
            (
                new.connector,
                new.tenant,
                new.source,
                new.stream,
                new.window
            ),
            (
                old.connector,
                old.tenant,
                old.source,
                old.stream,
                old.window
            )
        );
    }

    #[test]
    fn the_dead_job_is_the_letters_even_when_an_edit_changed_the_id() {
        let old = dead_job();
        let letter_job = Uuid::now_v7();
        let payload = old.to_bytes();
        let row = replay_job(&ReplayLetter {
            dead_letter_id: 1,
            job_id: Some(letter_job),
            payload: &payload,
            edit_id: Some(3),
        })
        .unwrap();
        assert_eq!(row.replay_of, Some(letter_job));
    }

    #[test]
    fn a_payload_that_is_not_a_job_is_refused_with_why() {
        let why = replay_job(&ReplayLetter {
            dead_letter_id: 1,
            job_id: None,
            payload: b"{not json",
            edit_id: None,
        })
        .unwrap_err();
        assert!(why.starts_with("message body is not valid JSON"), "{why}");
    }

    #[test]
    fn an_empty_filter_needs_all_and_actions_default_to_pending_letters() {
        let error = checked_action_filter(DeadLetterFilter::default(), false, "replay")
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("filter: it narrows nothing"), "{error}");
        // A status alone narrows nothing either.
        let only_status = DeadLetterFilter {
            status: Some(DeadLetterStatus::Pending),
            ..Default::default()
        };
        assert!(checked_action_filter(only_status, false, "discard").is_err());
        let all = checked_action_filter(DeadLetterFilter::default(), true, "replay").unwrap();
        assert_eq!(all.status, Some(DeadLetterStatus::Pending));
        let narrowed = DeadLetterFilter {
            class: Some("auth".into()),
            ..Default::default()
        };
        assert_eq!(
            checked_action_filter(narrowed, false, "replay")
                .unwrap()
                .status,
            Some(DeadLetterStatus::Pending)
        );
    }

    #[test]
    fn sources_and_tenants_are_identifiers_or_every_tenant() {
        let (source, tenant) = source_and_tenant("demo_shop", None).unwrap();
        assert_eq!((source.as_str(), tenant.as_str()), ("demo_shop", "*"));
        assert_eq!(source_and_tenant("s", Some(" * ")).unwrap().1, "*");
        assert_eq!(source_and_tenant("s", Some("acme")).unwrap().1, "acme");
        let error = source_and_tenant("bad source", None)
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("source: invalid source id"), "{error}");
        let error = source_and_tenant("s", Some("a/b")).unwrap_err().to_string();
        assert!(error.starts_with("tenant: invalid tenant id"), "{error}");
    }
}
