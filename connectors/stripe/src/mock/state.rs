//! The mock's shared state: the dataset, the fault script, counters and the request log.
//!
//! Everything here is synchronous and quick; locks are `std` mutexes held for a few
//! instructions and never across an `.await`. HTTP lives in `http`.

use super::data::{Dataset, Rng};
use super::{MockConfig, MockFault, MockFaultKind, MockRequest, MockStats, PerStream};
use crate::StripeStream;
use chrono::Utc;
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::sync::watch;

/// Locks a mutex, ignoring poisoning: every critical section here leaves the data consistent.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The platform account's objects and each connected account's.
#[derive(Debug)]
struct Accounts {
    platform: Dataset,
    connected: BTreeMap<String, Dataset>,
}

/// FNV-1a: a stable hash of an account id, so each connected account gets its own data.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// State shared by the handle and every request.
pub(crate) struct Shared {
    pub(crate) config: MockConfig,
    data: Mutex<Accounts>,
    script: Mutex<VecDeque<MockFault>>,
    requests: AtomicU64,
    pages: AtomicU64,
    faults: AtomicU64,
    records: [AtomicU64; 3],
    statuses: Mutex<BTreeMap<u16, u64>>,
    log: Mutex<VecDeque<MockRequest>>,
    /// Numbers requests, for their `Request-Id`.
    request_seq: AtomicU64,
    /// Flips to `true` when the server stops, so hangs end early.
    shutdown: watch::Sender<bool>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Shared {
    pub(crate) fn new(config: MockConfig) -> Self {
        let reference = config.reference_time.timestamp();
        let platform = Dataset::generate(
            config.seed,
            reference,
            config.charges,
            config.customers,
            config.invoices,
            false,
        );
        let connected = config
            .connected_accounts
            .iter()
            .map(|account| {
                let data = Dataset::generate(
                    config.seed ^ fnv1a(account.id.as_bytes()),
                    reference,
                    account.charges,
                    account.customers,
                    account.invoices,
                    account.max_metadata,
                );
                (account.id.clone(), data)
            })
            .collect();
        Self {
            config,
            data: Mutex::new(Accounts {
                platform,
                connected,
            }),
            script: Mutex::new(VecDeque::new()),
            requests: AtomicU64::new(0),
            pages: AtomicU64::new(0),
            faults: AtomicU64::new(0),
            records: [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)],
            statuses: Mutex::new(BTreeMap::new()),
            log: Mutex::new(VecDeque::new()),
            request_seq: AtomicU64::new(0),
            shutdown: watch::Sender::new(false),
        }
    }

    /// Whether the mock knows this connected account.
    pub(crate) fn has_account(&self, account: &str) -> bool {
        lock(&self.data).connected.contains_key(account)
    }

    /// Reads one account's objects (`None`: the platform's); `None` if there is no such account.
    pub(crate) fn with_data<T>(
        &self,
        account: Option<&str>,
        read: impl FnOnce(&Dataset) -> T,
    ) -> Option<T> {
        let accounts = lock(&self.data);
        match account {
            None => Some(read(&accounts.platform)),
            Some(id) => accounts.connected.get(id).map(read),
        }
    }

    /// Changes one account's objects (`None`: the platform's); `None` if there is no such
    /// account.
    pub(crate) fn with_data_mut<T>(
        &self,
        account: Option<&str>,
        write: impl FnOnce(&mut Dataset) -> T,
    ) -> Option<T> {
        let mut accounts = lock(&self.data);
        match account {
            None => Some(write(&mut accounts.platform)),
            Some(id) => accounts.connected.get_mut(id).map(write),
        }
    }

    pub(crate) fn script(&self, faults: impl IntoIterator<Item = MockFault>) {
        lock(&self.script).extend(faults);
    }

    pub(crate) fn scripted_remaining(&self) -> usize {
        lock(&self.script).len()
    }

    /// The next scripted fault, if any, counted as served.
    pub(crate) fn next_fault(&self) -> Option<MockFault> {
        let fault = lock(&self.script).pop_front()?;
        self.faults.fetch_add(1, Ordering::Relaxed);
        Some(fault)
    }

    pub(crate) fn count_page(&self, stream: StripeStream, records: usize) {
        self.pages.fetch_add(1, Ordering::Relaxed);
        let slot = match stream {
            StripeStream::Charges => 0,
            StripeStream::Customers => 1,
            StripeStream::Invoices => 2,
        };
        self.records[slot].fetch_add(records as u64, Ordering::Relaxed);
    }

    pub(crate) fn stats(&self) -> MockStats {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        MockStats {
            requests: load(&self.requests),
            pages: load(&self.pages),
            records: PerStream {
                charges: load(&self.records[0]),
                customers: load(&self.records[1]),
                invoices: load(&self.records[2]),
            },
            faults: load(&self.faults),
            responses_by_status: lock(&self.statuses).clone(),
        }
    }

    pub(crate) fn request_log(&self) -> Vec<MockRequest> {
        lock(&self.log).iter().cloned().collect()
    }

    pub(crate) fn clear_request_log(&self) {
        lock(&self.log).clear();
    }

    pub(crate) fn begin_shutdown(&self) {
        self.shutdown.send_replace(true);
    }

    /// Waits `duration`; `false` if the server began shutting down first.
    pub(crate) async fn pause(&self, duration: Duration) -> bool {
        let mut stopping = self.shutdown.subscribe();
        if *stopping.borrow() {
            return false;
        }
        tokio::select! {
            () = tokio::time::sleep(duration) => true,
            _ = stopping.wait_for(|stopping| *stopping) => false,
        }
    }

    /// Starts the log entry of one request, with a fresh `Request-Id`.
    pub(crate) fn begin_request(
        self: &Arc<Self>,
        method: &str,
        path: &str,
        stripe_account: Option<String>,
        stripe_version: Option<String>,
    ) -> Recorder {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let sequence = self.request_seq.fetch_add(1, Ordering::Relaxed);
        let request_id = format!(
            "req_{}",
            Rng::new(self.config.seed ^ sequence.rotate_left(32)).alphanumeric(14)
        );
        Recorder {
            shared: Arc::clone(self),
            entry: Some(MockRequest {
                at: Utc::now(),
                method: method.to_owned(),
                path: path.chars().take(2048).collect(),
                // Until an answer is set, the client is assumed to have gone away.
                status: 499,
                request_id,
                stripe_account,
                stripe_version,
                fault: None,
            }),
        }
    }

    fn finish_request(&self, entry: MockRequest) {
        *lock(&self.statuses).entry(entry.status).or_default() += 1;
        let mut log = lock(&self.log);
        if self.config.request_log_capacity == 0 {
            return;
        }
        while log.len() >= self.config.request_log_capacity {
            log.pop_front();
        }
        log.push_back(entry);
    }
}

/// One request's log entry; written when dropped, so a request the client abandoned mid-hang
/// is logged too (as 499).
#[derive(Debug)]
pub(crate) struct Recorder {
    shared: Arc<Shared>,
    entry: Option<MockRequest>,
}

impl Recorder {
    pub(crate) fn request_id(&self) -> &str {
        self.entry
            .as_ref()
            .map(|entry| entry.request_id.as_str())
            .unwrap_or_default()
    }

    pub(crate) fn set_status(&mut self, status: u16) {
        if let Some(entry) = &mut self.entry {
            entry.status = status;
        }
    }

    pub(crate) fn set_fault(&mut self, fault: MockFaultKind) {
        if let Some(entry) = &mut self.entry {
            entry.fault = Some(fault);
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        if let Some(entry) = self.entry.take() {
            self.shared.finish_request(entry);
        }
    }
}
