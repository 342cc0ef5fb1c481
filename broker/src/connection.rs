//! Opening AMQP connections with a name the broker's management UI shows, within a deadline.

use lapin::{Connection, ConnectionProperties};
use std::time::Duration;

/// The most a connection may take to open: TCP, TLS and the AMQP handshake. A broker that is
/// booting, recovering its vhost after a crash, or behind a black-holed link can accept the TCP
/// connection and then never finish the handshake (and lapin's `connect` does not always
/// resolve when the broker refuses `connection.open`); without a deadline the caller's
/// reconnect loop would wait forever instead of trying again.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(20);

/// Why a connection could not be opened. The URL is never part of the message: it may hold a
/// password.
#[derive(Debug, thiserror::Error)]
#[error("cannot connect to the AMQP broker as `{name}`: {cause}")]
pub struct ConnectError {
    name: String,
    #[source]
    cause: ConnectCause,
}

/// What went wrong while opening a connection.
#[derive(Debug, thiserror::Error)]
pub enum ConnectCause {
    /// The broker refused, or the network failed.
    #[error(transparent)]
    Broker(#[from] lapin::Error),
    /// The handshake did not finish within [`HANDSHAKE_TIMEOUT`].
    #[error("the connection did not open within {0:?}")]
    TimedOut(Duration),
}

/// Opens a connection named `name` (shown in the management UI, e.g. `worker-3 consume`)
/// within [`HANDSHAKE_TIMEOUT`]. Publishing and consuming use separate connections: a publisher
/// blocked by a broker alarm also blocks acks on its connection.
pub async fn connect(url: &str, name: &str) -> Result<Connection, ConnectError> {
    connect_within(url, name, HANDSHAKE_TIMEOUT).await
}

/// [`connect`] with another deadline.
pub async fn connect_within(
    url: &str,
    name: &str,
    deadline: Duration,
) -> Result<Connection, ConnectError> {
    let properties = ConnectionProperties::default().with_connection_name(name.to_owned().into());
    let fail = |cause: ConnectCause| ConnectError {
        name: name.to_owned(),
        cause,
    };
    match tokio::time::timeout(deadline, Connection::connect(url, properties)).await {
        Ok(Ok(connection)) => Ok(connection),
        Ok(Err(error)) => Err(fail(error.into())),
        Err(_) => Err(fail(ConnectCause::TimedOut(deadline))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_broker_that_accepts_and_never_answers_times_out() {
        // A listener that takes the TCP connection and says nothing, as a broker still
        // recovering (or a black-holed link) can.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let silent = tokio::spawn(async move {
            let mut held = Vec::new();
            loop {
                let (socket, _) = listener.accept().await.unwrap();
                held.push(socket);
            }
        });
        let started = std::time::Instant::now();
        let error = connect_within(
            &format!("amqp://user:hunter2@{addr}/%2f"),
            "test",
            Duration::from_millis(500),
        )
        .await
        .expect_err("nothing answered");
        assert!(
            matches!(error.cause, ConnectCause::TimedOut(_)),
            "{error:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(10));
        let message = error.to_string();
        assert!(message.contains("did not open within"), "{message}");
        assert!(!message.contains("hunter2"), "{message}");
        silent.abort();
    }
}
