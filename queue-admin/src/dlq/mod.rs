//! Browsing dead letters: the list with filters and full-text search, groups by error signature,
//! and one letter in full (envelope, headers, payload, every attempt, lineage, edits, replay) —
//! as JSON API ([`api`]) and web pages ([`pages`]) over the same functions here, so both show
//! the same letters. Changing letters (replay, edit, discard) is [`crate::replay`]'s.

pub mod api;
pub mod filter_query;
pub mod pages;
pub mod wire;

use crate::error::AdminError;
use crate::state::AppState;
use axum::Router;
use filter_query::FilterQuery;
use tributary_store::admin::{DeadLetterStatus, GroupOrder};
use utoipa_axum::router::OpenApiRouter;
use wire::{DeadLetterItem, DeadLetterPage, DeadLetterView, GroupItem, GroupList};

/// The JSON API routes.
pub fn api_routes() -> OpenApiRouter<AppState> {
    api::routes()
}

/// The web UI routes.
pub fn ui_routes() -> Router<AppState> {
    pages::routes()
}

/// One page of letters under `query`'s filter, newest first, with the cursor of the next.
pub async fn list(state: &AppState, query: &FilterQuery) -> Result<DeadLetterPage, AdminError> {
    // One more than asked: whether it exists decides `next`.
    let mut rows = state
        .store()
        .list_dead_letters(&query.filter, query.after, query.limit + 1)
        .await?;
    let has_more = rows.len() as i64 > query.limit;
    rows.truncate(query.limit as usize);
    let next = if has_more {
        rows.last().map(|row| row.id)
    } else {
        None
    };
    let loop_limit = state.settings().admin.replay_loop_limit;
    Ok(DeadLetterPage {
        items: rows
            .into_iter()
            .map(|row| DeadLetterItem::from_summary(row, loop_limit))
            .collect(),
        next,
    })
}

/// The groups of letters under `query`'s filter, at most `query.limit`, in `order`.
pub async fn groups(
    state: &AppState,
    query: &FilterQuery,
    order: GroupOrder,
) -> Result<GroupList, AdminError> {
    let mut rows = state
        .store()
        .dead_letter_groups(&query.filter, order, query.limit + 1)
        .await?;
    let more = rows.len() as i64 > query.limit;
    rows.truncate(query.limit as usize);
    Ok(GroupList {
        items: rows.into_iter().map(GroupItem::from).collect(),
        more,
        sort: order.as_str().to_owned(),
    })
}

/// One letter in full; 404 when there is none with this id.
pub async fn detail(state: &AppState, id: &str) -> Result<DeadLetterView, AdminError> {
    let id: i64 = id.parse().map_err(|_| {
        AdminError::BadRequest("id: must be a dead letter id (a whole number)".into())
    })?;
    let detail = state
        .store()
        .dead_letter(id)
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("there is no dead letter {id}")))?;
    Ok(DeadLetterView::from_detail(
        detail,
        state.settings().admin.replay_loop_limit,
    ))
}

/// The `sort` parameter of the groups: `recent` (default) or `largest`.
pub fn group_order(raw_query: &str) -> Result<GroupOrder, AdminError> {
    let mut order = GroupOrder::default();
    for (key, value) in form_urlencoded::parse(raw_query.as_bytes()) {
        if key == "sort" && !value.trim().is_empty() {
            order = GroupOrder::parse(value.trim())
                .ok_or_else(|| AdminError::BadRequest("sort: must be recent or largest".into()))?;
        }
    }
    Ok(order)
}

/// A query from a web page: as [`FilterQuery::parse`], except that a query without `status`
/// shows pending letters (what needs a human); `status=any` shows every state.
pub fn page_query(raw_query: &str) -> Result<FilterQuery, AdminError> {
    let mut query = FilterQuery::parse(raw_query)?;
    let names_status = form_urlencoded::parse(raw_query.as_bytes()).any(|(key, _)| key == "status");
    if !names_status {
        query.filter.status = Some(DeadLetterStatus::Pending);
    }
    Ok(query)
}

/// The filter as a query string for links from web pages: [`FilterQuery::filter_query_string`],
/// plus `status=any` when no status narrows it (so that the page it links to, which would
/// default to pending letters, shows the same letters).
pub fn page_filter_query_string(query: &FilterQuery) -> String {
    let filter = FilterQuery::filter_query_string(&query.filter);
    match (query.filter.status, filter.is_empty()) {
        (Some(_), _) => filter,
        (None, true) => "status=any".to_owned(),
        (None, false) => format!("status=any&{filter}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_default_to_pending_and_links_keep_any() {
        let query = page_query("connector=demo").unwrap();
        assert_eq!(query.filter.status, Some(DeadLetterStatus::Pending));
        let query = page_query("status=any&connector=demo").unwrap();
        assert_eq!(query.filter.status, None);
        assert_eq!(
            page_filter_query_string(&query),
            "status=any&connector=demo"
        );
        let again = page_query(&page_filter_query_string(&query)).unwrap();
        assert_eq!(again.filter, query.filter);
        let query = page_query("status=discarded").unwrap();
        assert_eq!(page_filter_query_string(&query), "status=discarded");
    }

    #[test]
    fn group_order_names_its_field() {
        assert_eq!(group_order("").unwrap(), GroupOrder::Recent);
        assert_eq!(group_order("sort=largest").unwrap(), GroupOrder::Largest);
        let error = group_order("sort=biggest").unwrap_err().to_string();
        assert!(error.starts_with("sort:"), "{error}");
    }
}
