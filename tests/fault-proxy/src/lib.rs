//! A TCP proxy for fault-injection tests: put it between a process and RabbitMQ or PostgreSQL,
//! then cut the network on command — refuse new connections, add latency, black-hole traffic
//! (a half-open partition: bytes are read and never forwarded, nothing is closed), or reset
//! every connection with an RST — and restore it. Tokio only; knows nothing about AMQP, SQL or
//! Tributary.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let proxy = tributary_fault_proxy::FaultProxy::start("127.0.0.1:5673".parse().unwrap()).await?;
//! // connect the system under test to proxy.addr() instead of the broker ...
//! proxy.black_hole();
//! proxy.reset_all();
//! proxy.restore();
//! # Ok(()) }
//! ```
//!
//! A mode applies to every connection at once, old and new, the way a network fault would.
//! Reading never stops in any mode, so the peers' TCP windows never fill: a black-holed peer
//! keeps writing into the void until its own heartbeat or timeout gives up, as on a real
//! partition.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What the proxy does with traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Forward everything as it comes.
    Pass,
    /// Reset every new connection as soon as it is accepted (existing ones keep passing).
    DropNew,
    /// Forward everything, each chunk after this latency.
    Delay(Duration),
    /// Accept and read, never forward, never answer, never close: a half-open partition.
    BlackHole,
}

/// The control state every connection task watches.
#[derive(Debug, Clone, Copy)]
struct Control {
    mode: Mode,
    /// Bumped by [`FaultProxy::reset_all`]: every connection older than the bump is reset.
    resets: u64,
}

/// A running proxy. Dropping it resets every connection it carries and stops listening.
#[derive(Debug)]
pub struct FaultProxy {
    addr: SocketAddr,
    target: SocketAddr,
    control: watch::Sender<Control>,
    live: Arc<AtomicUsize>,
    accept_task: JoinHandle<()>,
}

/// Chunk size for forwarding; also the granularity of [`Mode::Delay`].
const CHUNK: usize = 16 * 1024;

impl FaultProxy {
    /// Listens on 127.0.0.1 on a free port and forwards each connection to `target`.
    pub async fn start(target: SocketAddr) -> io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (control, _) = watch::channel(Control {
            mode: Mode::Pass,
            resets: 0,
        });
        let live = Arc::new(AtomicUsize::new(0));
        let accept_task =
            tokio::spawn(accept_loop(listener, target, control.clone(), live.clone()));
        Ok(Self {
            addr,
            target,
            control,
            live,
            accept_task,
        })
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where traffic goes.
    pub fn target(&self) -> SocketAddr {
        self.target
    }

    /// The current mode.
    pub fn mode(&self) -> Mode {
        self.control.borrow().mode
    }

    /// Connections currently carried (accepted and not yet closed or reset).
    pub fn connections(&self) -> usize {
        self.live.load(Ordering::SeqCst)
    }

    /// Sets the mode for every connection, existing and new.
    pub fn set_mode(&self, mode: Mode) {
        self.control.send_modify(|control| control.mode = mode);
    }

    /// Forward everything again (the same as [`FaultProxy::restore`]).
    pub fn pass(&self) {
        self.set_mode(Mode::Pass);
    }

    /// Reset new connections at once; existing ones keep working.
    pub fn drop_new(&self) {
        self.set_mode(Mode::DropNew);
    }

    /// Add `latency` before each forwarded chunk.
    pub fn delay(&self, latency: Duration) {
        self.set_mode(Mode::Delay(latency));
    }

    /// Read and discard in both directions; answer nothing, close nothing.
    pub fn black_hole(&self) {
        self.set_mode(Mode::BlackHole);
    }

    /// Reset (RST, via `SO_LINGER` 0) every connection carried right now, on both sides. The
    /// mode is unchanged: with [`Mode::Pass`] clients can reconnect at once.
    pub fn reset_all(&self) {
        self.control.send_modify(|control| control.resets += 1);
    }

    /// Back to [`Mode::Pass`]. Connections that were black-holed stay open and resume
    /// forwarding, if their peers have not given up on them.
    pub fn restore(&self) {
        self.pass();
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.accept_task.abort();
        // Every connection task sees the bump (or the closed channel) and resets.
        self.control.send_modify(|control| control.resets += 1);
    }
}

async fn accept_loop(
    listener: TcpListener,
    target: SocketAddr,
    control: watch::Sender<Control>,
    live: Arc<AtomicUsize>,
) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        let receiver = control.subscribe();
        let state = *receiver.borrow();
        if state.mode == Mode::DropNew {
            reset(&client);
            continue;
        }
        let live = Arc::clone(&live);
        tokio::spawn(async move {
            live.fetch_add(1, Ordering::SeqCst);
            carry(client, target, receiver, state.resets).await;
            live.fetch_sub(1, Ordering::SeqCst);
        });
    }
}

/// Closes a socket with an RST instead of a FIN. `set_linger` is deprecated because a *positive*
/// linger blocks the thread on drop; a zero linger never waits, it discards and resets.
#[allow(deprecated)]
fn reset(stream: &TcpStream) {
    let _ = stream.set_linger(Some(Duration::ZERO));
}

/// Which side a chunk came from.
#[derive(Clone, Copy)]
enum Side {
    Client,
    Upstream,
}

/// Carries one connection until both sides close, either fails, or a reset is ordered.
async fn carry(
    mut client: TcpStream,
    target: SocketAddr,
    mut control: watch::Receiver<Control>,
    resets_at_start: u64,
) {
    // Black-holed from the start: do not even reach the target until restored, so the target
    // sees nothing at all, as behind a real partition.
    let mut upstream = loop {
        let mode = control.borrow().mode;
        if mode != Mode::BlackHole {
            match TcpStream::connect(target).await {
                Ok(upstream) => break upstream,
                Err(_) => {
                    reset(&client);
                    return;
                }
            }
        }
        let mut discard = vec![0u8; CHUNK];
        tokio::select! {
            read = client.read(&mut discard) => match read {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            },
            changed = control.changed() => {
                if changed.is_err() || control.borrow().resets != resets_at_start {
                    reset(&client);
                    return;
                }
            }
        }
    };
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);

    let mut from_client = vec![0u8; CHUNK];
    let mut from_upstream = vec![0u8; CHUNK];
    let mut client_done = false;
    let mut upstream_done = false;
    loop {
        if client_done && upstream_done {
            return;
        }
        let (side, read) = tokio::select! {
            read = client.read(&mut from_client), if !client_done => (Side::Client, read),
            read = upstream.read(&mut from_upstream), if !upstream_done => (Side::Upstream, read),
            changed = control.changed() => {
                if changed.is_err() || control.borrow().resets != resets_at_start {
                    reset(&client);
                    reset(&upstream);
                    return;
                }
                continue;
            }
        };
        let mode = control.borrow().mode;
        let (bytes, to) = match side {
            Side::Client => (&from_client, &mut upstream),
            Side::Upstream => (&from_upstream, &mut client),
        };
        match read {
            Err(_) => {
                reset(&client);
                reset(&upstream);
                return;
            }
            Ok(0) => {
                match side {
                    Side::Client => client_done = true,
                    Side::Upstream => upstream_done = true,
                }
                // Behind a black hole a close is not seen either.
                if mode != Mode::BlackHole {
                    let _ = to.shutdown().await;
                }
            }
            Ok(n) => {
                let forwarded = match mode {
                    Mode::BlackHole => Ok(()),
                    Mode::Delay(latency) => {
                        tokio::time::sleep(latency).await;
                        to.write_all(&bytes[..n]).await
                    }
                    Mode::Pass | Mode::DropNew => to.write_all(&bytes[..n]).await,
                };
                if forwarded.is_err() {
                    reset(&client);
                    reset(&upstream);
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// An echo server; returns its address.
    async fn echo_server() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buffer = vec![0u8; 1024];
                    while let Ok(n) = stream.read(&mut buffer).await {
                        if n == 0 || stream.write_all(&buffer[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        addr
    }

    async fn round_trip(stream: &mut TcpStream, message: &[u8]) -> io::Result<Vec<u8>> {
        stream.write_all(message).await?;
        let mut answer = vec![0u8; message.len()];
        stream.read_exact(&mut answer).await?;
        Ok(answer)
    }

    /// Nothing arrives on `stream` within `within`.
    async fn silent(stream: &mut TcpStream, within: Duration) -> bool {
        let mut buffer = [0u8; 16];
        tokio::time::timeout(within, stream.read(&mut buffer))
            .await
            .is_err()
    }

    async fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !condition() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test]
    async fn passes_traffic_both_ways() {
        let proxy = FaultProxy::start(echo_server().await).await.unwrap();
        let mut stream = TcpStream::connect(proxy.addr()).await.unwrap();
        assert_eq!(round_trip(&mut stream, b"hello").await.unwrap(), b"hello");
        assert_eq!(proxy.connections(), 1);
        assert_eq!(proxy.mode(), Mode::Pass);
    }

    #[tokio::test]
    async fn drop_new_resets_new_connections_and_spares_existing_ones() {
        let proxy = FaultProxy::start(echo_server().await).await.unwrap();
        let mut existing = TcpStream::connect(proxy.addr()).await.unwrap();
        round_trip(&mut existing, b"a").await.unwrap();
        proxy.drop_new();
        let mut refused = TcpStream::connect(proxy.addr()).await.unwrap();
        let error = round_trip(&mut refused, b"b").await;
        assert!(error.is_err(), "a new connection is cut: {error:?}");
        assert_eq!(round_trip(&mut existing, b"c").await.unwrap(), b"c");
        proxy.restore();
        let mut fresh = TcpStream::connect(proxy.addr()).await.unwrap();
        assert_eq!(round_trip(&mut fresh, b"d").await.unwrap(), b"d");
    }

    #[tokio::test]
    async fn delay_adds_latency_to_every_chunk() {
        let proxy = FaultProxy::start(echo_server().await).await.unwrap();
        let mut stream = TcpStream::connect(proxy.addr()).await.unwrap();
        proxy.delay(Duration::from_millis(150));
        let started = Instant::now();
        assert_eq!(round_trip(&mut stream, b"slow").await.unwrap(), b"slow");
        // Once on the way there, once on the way back.
        assert!(
            started.elapsed() >= Duration::from_millis(300),
            "{:?}",
            started.elapsed()
        );
        proxy.restore();
        let started = Instant::now();
        round_trip(&mut stream, b"fast").await.unwrap();
        assert!(
            started.elapsed() < Duration::from_millis(150),
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn black_hole_swallows_traffic_without_closing_and_restore_resumes() {
        let proxy = FaultProxy::start(echo_server().await).await.unwrap();
        let mut existing = TcpStream::connect(proxy.addr()).await.unwrap();
        round_trip(&mut existing, b"a").await.unwrap();
        proxy.black_hole();
        existing.write_all(b"lost").await.unwrap();
        assert!(silent(&mut existing, Duration::from_millis(300)).await);
        // A new connection is accepted and read from, and gets no answer either.
        let mut new = TcpStream::connect(proxy.addr()).await.unwrap();
        new.write_all(b"hello?").await.unwrap();
        assert!(silent(&mut new, Duration::from_millis(300)).await);
        assert_eq!(proxy.connections(), 2, "nothing was closed");
        proxy.restore();
        // The swallowed bytes are gone; new traffic flows again on both.
        assert_eq!(round_trip(&mut existing, b"b").await.unwrap(), b"b");
        assert_eq!(round_trip(&mut new, b"c").await.unwrap(), b"c");
    }

    #[tokio::test]
    async fn reset_all_sends_rst_to_every_connection_and_keeps_accepting() {
        let proxy = FaultProxy::start(echo_server().await).await.unwrap();
        let mut first = TcpStream::connect(proxy.addr()).await.unwrap();
        let mut second = TcpStream::connect(proxy.addr()).await.unwrap();
        round_trip(&mut first, b"1").await.unwrap();
        round_trip(&mut second, b"2").await.unwrap();
        proxy.reset_all();
        for stream in [&mut first, &mut second] {
            let mut buffer = [0u8; 8];
            let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buffer))
                .await
                .expect("the reset arrives");
            let error = read.expect_err("an RST is an error, not an orderly EOF");
            assert_eq!(error.kind(), io::ErrorKind::ConnectionReset, "{error:?}");
        }
        wait_until("the reset connections to be gone", || {
            proxy.connections() == 0
        })
        .await;
        let mut again = TcpStream::connect(proxy.addr()).await.unwrap();
        assert_eq!(round_trip(&mut again, b"3").await.unwrap(), b"3");
    }

    #[tokio::test]
    async fn an_unreachable_target_resets_the_client() {
        // A port nobody listens on: bind, learn it, close.
        let target = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap();
        let proxy = FaultProxy::start(target).await.unwrap();
        let mut stream = TcpStream::connect(proxy.addr()).await.unwrap();
        assert!(round_trip(&mut stream, b"x").await.is_err());
    }

    #[tokio::test]
    async fn dropping_the_proxy_resets_what_it_carries() {
        let proxy = FaultProxy::start(echo_server().await).await.unwrap();
        let mut stream = TcpStream::connect(proxy.addr()).await.unwrap();
        round_trip(&mut stream, b"a").await.unwrap();
        drop(proxy);
        let mut buffer = [0u8; 8];
        let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buffer))
            .await
            .expect("the reset arrives");
        assert!(read.is_err(), "{read:?}");
    }
}
