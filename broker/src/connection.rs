//! Opening AMQP connections with a name the broker's management UI shows.

use lapin::{Connection, ConnectionProperties};

/// Why a connection could not be opened. The URL is never part of the message: it may hold a
/// password.
#[derive(Debug, thiserror::Error)]
#[error("cannot connect to the AMQP broker as `{name}`: {source}")]
pub struct ConnectError {
    name: String,
    #[source]
    source: lapin::Error,
}

/// Opens a connection named `name` (shown in the management UI, e.g. `worker-3 consume`).
/// Publishing and consuming use separate connections: a publisher blocked by a broker alarm also
/// blocks acks on its connection.
pub async fn connect(url: &str, name: &str) -> Result<Connection, ConnectError> {
    let properties = ConnectionProperties::default().with_connection_name(name.to_owned().into());
    Connection::connect(url, properties)
        .await
        .map_err(|source| ConnectError {
            name: name.to_owned(),
            source,
        })
}
