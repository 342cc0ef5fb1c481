//! `tributary-demo-shop`: runs the demo shop on a loopback port until SIGTERM or Ctrl-C.
//!
//! Prints exactly one line to stdout once bound, `demo shop listening on http://ADDR`, so a
//! script can start it with `--listen 127.0.0.1:0` and read the real port.

use anyhow::{bail, Context};
use clap::Parser;
use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;
use tributary_demo_shop::{Faults, RateBudget, ShopConfig, ShopServer};

/// A mock e-commerce API serving deterministic orders, customers and products per tenant.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Address to listen on. Use port 0 for any free port (the real one is printed).
    #[arg(long, env = "TRIBUTARY_SHOP_LISTEN", default_value = "127.0.0.1:8089")]
    listen: SocketAddr,
    /// Allow a non-loopback listen address. The shop has no authentication: its admin routes
    /// change its behaviour, so it only binds loopback unless told otherwise.
    #[arg(long, env = "TRIBUTARY_SHOP_ALLOW_REMOTE")]
    allow_remote: bool,
    /// Seed of all generated data and random faults.
    #[arg(long, env = "TRIBUTARY_SHOP_SEED", default_value_t = tributary_demo_shop::DEFAULT_SEED)]
    seed: u64,
    /// Orders per tenant.
    #[arg(long, env = "TRIBUTARY_SHOP_ORDERS", default_value_t = tributary_demo_shop::DEFAULT_ORDERS)]
    orders: u64,
    /// Customers per tenant.
    #[arg(long, env = "TRIBUTARY_SHOP_CUSTOMERS", default_value_t = tributary_demo_shop::DEFAULT_CUSTOMERS)]
    customers: u64,
    /// Products per tenant.
    #[arg(long, env = "TRIBUTARY_SHOP_PRODUCTS", default_value_t = tributary_demo_shop::DEFAULT_PRODUCTS)]
    products: u64,
    /// Latency added to every data response, in milliseconds.
    #[arg(long, env = "TRIBUTARY_SHOP_LATENCY_MS", default_value_t = 0)]
    latency_ms: u64,
    /// Probability of answering a data request with 429.
    #[arg(long, env = "TRIBUTARY_SHOP_P429", default_value_t = 0.0)]
    p429: f64,
    /// Retry-After seconds of random 429s.
    #[arg(long, env = "TRIBUTARY_SHOP_RETRY_AFTER_SECS", default_value_t = 1)]
    retry_after_secs: u64,
    /// Probability of answering a data request with 503.
    #[arg(long, env = "TRIBUTARY_SHOP_P5XX", default_value_t = 0.0)]
    p5xx: f64,
    /// Probability of answering a data request with a truncated JSON body.
    #[arg(long, env = "TRIBUTARY_SHOP_PMALFORMED", default_value_t = 0.0)]
    pmalformed: f64,
    /// Requests per tenant and window advertised in X-RateLimit-* headers.
    #[arg(long, env = "TRIBUTARY_SHOP_RATE_LIMIT", default_value_t = 6_000)]
    rate_limit: u64,
    /// Length of the rate-limit window, in seconds.
    #[arg(long, env = "TRIBUTARY_SHOP_RATE_WINDOW_SECS", default_value_t = 60)]
    rate_window_secs: u64,
    /// Answer 429 once a tenant's budget for the window is spent.
    #[arg(long, env = "TRIBUTARY_SHOP_ENFORCE_RATE_LIMIT")]
    enforce_rate_limit: bool,
    /// Entries kept in the in-memory request log.
    #[arg(long, env = "TRIBUTARY_SHOP_REQUEST_LOG_CAPACITY", default_value_t = tributary_demo_shop::DEFAULT_REQUEST_LOG_CAPACITY)]
    request_log_capacity: usize,
}

impl Cli {
    fn config(&self) -> ShopConfig {
        ShopConfig {
            seed: self.seed,
            orders: self.orders,
            customers: self.customers,
            products: self.products,
            faults: Faults {
                latency: Duration::from_millis(self.latency_ms),
                p429: self.p429,
                retry_after_secs: self.retry_after_secs,
                p5xx: self.p5xx,
                pmalformed: self.pmalformed,
            },
            rate_budget: RateBudget {
                limit: self.rate_limit,
                window: Duration::from_secs(self.rate_window_secs),
                enforce: self.enforce_rate_limit,
            },
            request_log_capacity: self.request_log_capacity,
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if !cli.listen.ip().is_loopback() && !cli.allow_remote {
        bail!(
            "refusing to listen on non-loopback address {}: the demo shop has no authentication; pass --allow-remote to do it anyway",
            cli.listen
        );
    }
    let stop = stop_signal()?;
    let server = ShopServer::bind(cli.listen, cli.config())
        .await
        .with_context(|| format!("failed to start the demo shop on {}", cli.listen))?;
    let addr = server
        .local_addr()
        .context("failed to read the bound address")?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "demo shop listening on http://{addr}")
        .context("failed to write to stdout")?;
    stdout.flush().context("failed to flush stdout")?;
    drop(stdout);
    server
        .run_until_stopped(stop)
        .await
        .context("the demo shop's server failed")
}

/// Installs the SIGTERM and SIGINT (Ctrl-C) handlers *now*, before the address is announced,
/// so a supervisor that signals as soon as it reads the line still gets a graceful stop; the
/// returned future resolves on either signal.
fn stop_signal() -> anyhow::Result<impl std::future::Future<Output = ()> + Send + 'static> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut terminate =
            signal(SignalKind::terminate()).context("failed to install the SIGTERM handler")?;
        let mut interrupt =
            signal(SignalKind::interrupt()).context("failed to install the SIGINT handler")?;
        Ok(async move {
            tokio::select! {
                _ = terminate.recv() => {}
                _ = interrupt.recv() => {}
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            // Without a handler only killing stops us; that is what Ctrl-C does then anyway.
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}
