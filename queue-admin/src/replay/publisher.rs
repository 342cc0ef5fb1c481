//! (being written) The replay publisher: publishes committed, pending replays with confirms at
//! the configured rate, marks them published, and resumes after a crash.

use crate::state::AppState;
use tokio::sync::watch;

/// Runs until `stop` turns true.
pub async fn run(_state: AppState, mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopped| *stopped).await;
}
