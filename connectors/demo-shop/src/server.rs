//! Serving the shop: bind, then run until a shutdown future resolves; and [`spawn`] for tests,
//! which runs it in the background on a loopback port and hands back a [`ShopHandle`].

use crate::config::{Faults, InvalidConfig, ScriptedFault, ShopConfig};
use crate::data::{Stream, UpdatedRange};
use crate::shop::{RequestLogEntry, Shop, Stats};
use chrono::{DateTime, Utc};
use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A shop bound to a socket, not yet serving. `bind` then `run_until_stopped`, so a caller can
/// learn the real address (for `127.0.0.1:0`) before requests flow.
#[derive(Debug)]
pub struct ShopServer {
    listener: TcpListener,
    shop: Shop,
}

impl ShopServer {
    /// Validates `config` and binds `addr`.
    pub async fn bind(addr: SocketAddr, config: ShopConfig) -> io::Result<Self> {
        let shop = Shop::new(config)
            .map_err(|error: InvalidConfig| io::Error::new(io::ErrorKind::InvalidInput, error))?;
        let listener = TcpListener::bind(addr).await?;
        Ok(Self { listener, shop })
    }

    /// The address actually bound (with the real port when asked for port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The shop being served.
    pub fn shop(&self) -> &Shop {
        &self.shop
    }

    /// Serves until `shutdown` resolves, then stops accepting, cuts pending hangs and latency
    /// short, and returns once in-flight requests have been answered.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> io::Result<()> {
        let shop = self.shop.clone();
        let signal = async move {
            shutdown.await;
            shop.begin_shutdown();
        };
        axum::serve(self.listener, self.shop.router())
            .with_graceful_shutdown(signal)
            .await
    }
}

/// Starts a shop on `127.0.0.1` with an OS-chosen port, serving in a background task of the
/// current Tokio runtime. The shop stops when the handle is dropped or [`ShopHandle::shutdown`]
/// is awaited.
pub async fn spawn(config: ShopConfig) -> io::Result<ShopHandle> {
    let server = ShopServer::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), config).await?;
    let addr = server.local_addr()?;
    let shop = server.shop().clone();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(server.run_until_stopped(async move {
        // Resolves on `send` and also when the handle is dropped without sending.
        let _ = stopped.await;
    }));
    Ok(ShopHandle {
        shop,
        addr,
        stop: Some(stop),
        task: Some(task),
    })
}

/// A shop serving in the background (see [`spawn`]). Dropping it stops the server.
#[derive(Debug)]
pub struct ShopHandle {
    shop: Shop,
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<io::Result<()>>>,
}

impl ShopHandle {
    /// The base URL, such as `http://127.0.0.1:41234` (no trailing slash).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The shop itself, for the parts of its API not mirrored here.
    pub fn shop(&self) -> &Shop {
        &self.shop
    }

    /// A snapshot of the counters. See [`Shop::stats`].
    pub fn stats(&self) -> Stats {
        self.shop.stats()
    }

    /// Replaces the random fault settings. See [`Shop::set_faults`].
    pub fn set_faults(&self, faults: Faults) -> Result<(), InvalidConfig> {
        self.shop.set_faults(faults)
    }

    /// Queues one fault for each of the next data requests. See [`Shop::script`].
    pub fn script(&self, faults: impl IntoIterator<Item = ScriptedFault>) {
        self.shop.script(faults);
    }

    /// Starts the next mutation epoch and returns it. See [`Shop::bump_epoch`].
    pub fn bump_epoch(&self) -> u64 {
        self.shop.bump_epoch()
    }

    /// The current mutation epoch.
    pub fn epoch(&self) -> u64 {
        self.shop.epoch()
    }

    /// Records of `stream` for `tenant`. See [`Shop::total`].
    pub fn total(&self, tenant: &str, stream: Stream) -> u64 {
        self.shop.total(tenant, stream)
    }

    /// Records of `stream` for `tenant` within `range`, as of now. See [`Shop::count`].
    pub fn count(&self, tenant: &str, stream: Stream, range: UpdatedRange) -> u64 {
        self.shop.count(tenant, stream, range)
    }

    /// The shop's fixed "now". See [`Shop::reference_time`].
    pub fn reference_time(&self) -> DateTime<Utc> {
        self.shop.reference_time()
    }

    /// The data API's request log, oldest first. See [`Shop::request_log`].
    pub fn request_log(&self) -> Vec<RequestLogEntry> {
        self.shop.request_log()
    }

    /// Stops the server and waits until in-flight requests are answered.
    pub async fn shutdown(mut self) -> io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => task.await.map_err(io::Error::other)?,
            None => Ok(()),
        }
    }
}

impl Drop for ShopHandle {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
