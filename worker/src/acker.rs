//! Settling deliveries with the broker, batched: completions arrive from job tasks in any order;
//! a contiguous run of acknowledged delivery tags is settled with one `multiple` ack. Acks above
//! a gap (a slow job still running) are sent individually once they have waited a moment or pile
//! up, so one long job never holds the prefetch window hostage.
//!
//! Awaiting each ack inline caps a consumer at ~10–16k msg/s on this class of machine; batched
//! `multiple` acks reach far more (DESIGN.md, measured facts).

use std::collections::BTreeMap;
use std::time::Duration;
use tokio::sync::mpsc;
use tributary_broker::lapin::options::{BasicAckOptions, BasicNackOptions};
use tributary_broker::lapin::Channel;

/// How a delivery is to be settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settle {
    /// Its outcome is recorded: remove it from the queue.
    Ack,
    /// Its outcome could not be recorded: give it back to the broker.
    Requeue,
}

/// How long an ack above a gap may wait for the gap to close before it is sent on its own.
const OUT_OF_ORDER_WAIT: Duration = Duration::from_millis(50);

/// Runs until every sender is dropped (then flushes) or the channel fails.
pub async fn run(
    channel: Channel,
    mut completions: mpsc::UnboundedReceiver<(u64, Settle)>,
    prefetch: u16,
) {
    // Every tag <= `settled_upto` has been settled with the broker.
    let mut settled_upto: u64 = 0;
    // Tags above `settled_upto` whose outcome is known; `true` once sent to the broker.
    let mut known: BTreeMap<u64, bool> = BTreeMap::new();
    let pile_up_limit = (usize::from(prefetch) / 4).max(1);
    loop {
        let first = match tokio::time::timeout(OUT_OF_ORDER_WAIT, completions.recv()).await {
            Ok(Some(completion)) => Some(completion),
            Ok(None) => {
                let _ = flush_out_of_order(&channel, &mut known).await;
                return;
            }
            Err(_) => None,
        };
        let mut batch: Vec<(u64, Settle)> = first.into_iter().collect();
        while let Ok(completion) = completions.try_recv() {
            batch.push(completion);
        }
        for (tag, settle) in batch {
            match settle {
                Settle::Requeue => {
                    let options = BasicNackOptions {
                        multiple: false,
                        requeue: true,
                    };
                    if let Err(error) = channel.basic_nack(tag, options).await {
                        tracing::warn!(%error, "cannot hand a delivery back; the channel is gone");
                        return;
                    }
                    known.insert(tag, true);
                }
                Settle::Ack => {
                    known.insert(tag, false);
                }
            }
        }
        // Walk the contiguous run above what is settled.
        let mut upto = settled_upto;
        let mut last_unsent_ack = None;
        while let Some(sent) = known.remove(&(upto + 1)) {
            upto += 1;
            if !sent {
                last_unsent_ack = Some(upto);
            }
        }
        if let Some(tag) = last_unsent_ack {
            if let Err(error) = channel
                .basic_ack(tag, BasicAckOptions { multiple: true })
                .await
            {
                tracing::warn!(%error, "cannot acknowledge; the channel is gone");
                return;
            }
        }
        settled_upto = upto;
        let unsent = known.values().filter(|sent| !**sent).count();
        if (first.is_none() || unsent >= pile_up_limit)
            && flush_out_of_order(&channel, &mut known).await.is_err()
        {
            return;
        }
    }
}

/// Sends every not-yet-sent ack above the gap individually.
async fn flush_out_of_order(
    channel: &Channel,
    known: &mut BTreeMap<u64, bool>,
) -> Result<(), tributary_broker::lapin::Error> {
    for (tag, sent) in known.iter_mut() {
        if !*sent {
            channel
                .basic_ack(*tag, BasicAckOptions { multiple: false })
                .await?;
            *sent = true;
        }
    }
    Ok(())
}
