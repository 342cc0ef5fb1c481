//! Group commit: requests from many concurrent tasks are gathered and written in one statement.
//!
//! One flush runs at a time per batcher; while it runs, new requests queue up and form the next
//! batch. Under light load a batch is a single request (no added latency); under heavy load
//! batches grow to `max_batch` and the per-request cost of a round trip and a commit shrinks.

use crate::StoreError;
use std::future::Future;
use tokio::sync::{mpsc, oneshot};

type Reply<R> = oneshot::Sender<Result<R, StoreError>>;

/// A handle to a batching task.
#[derive(Debug)]
pub(crate) struct Batcher<Q, R> {
    sender: mpsc::Sender<(Q, Reply<R>)>,
}

impl<Q, R> Clone for Batcher<Q, R> {
    fn clone(&self) -> Self {
        Self {
            sender: self.sender.clone(),
        }
    }
}

impl<Q: Send + 'static, R: Send + 'static> Batcher<Q, R> {
    /// Spawns the task. `flush` gets a batch and must return one result per request, in order.
    pub(crate) fn spawn<F, Fut>(max_batch: usize, flush: F) -> Self
    where
        F: Fn(Vec<Q>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Vec<R>, StoreError>> + Send,
    {
        let (sender, mut receiver) = mpsc::channel::<(Q, Reply<R>)>(max_batch * 4);
        tokio::spawn(async move {
            let mut requests = Vec::with_capacity(max_batch);
            let mut replies = Vec::with_capacity(max_batch);
            while let Some((request, reply)) = receiver.recv().await {
                requests.push(request);
                replies.push(reply);
                while requests.len() < max_batch {
                    match receiver.try_recv() {
                        Ok((request, reply)) => {
                            requests.push(request);
                            replies.push(reply);
                        }
                        Err(_) => break,
                    }
                }
                let expected = requests.len();
                match flush(std::mem::take(&mut requests)).await {
                    Ok(results) if results.len() == expected => {
                        for (reply, result) in replies.drain(..).zip(results) {
                            let _ = reply.send(Ok(result));
                        }
                    }
                    Ok(_) => {
                        for reply in replies.drain(..) {
                            let _ = reply.send(Err(StoreError::Config {
                                message: "batch flush returned the wrong number of results".into(),
                            }));
                        }
                    }
                    Err(error) => {
                        for reply in replies.drain(..) {
                            let _ = reply.send(Err(error.clone()));
                        }
                    }
                }
            }
        });
        Self { sender }
    }

    /// Submits one request and waits for its result.
    pub(crate) async fn submit(&self, request: Q) -> Result<R, StoreError> {
        let (reply, result) = oneshot::channel();
        self.sender
            .send((request, reply))
            .await
            .map_err(|_| StoreError::Stopped)?;
        result.await.map_err(|_| StoreError::Stopped)?
    }
}
