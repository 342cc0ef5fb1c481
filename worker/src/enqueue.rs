//! Enqueueing jobs from the CLI (and the demo): ledger rows first, then a confirmed publish, so
//! every job the broker holds is known to the ledger.

use crate::config::Settings;
use crate::handler::ledger_row;
use anyhow::Context;
use tributary_broker::{JobEnvelope, Publisher, Topology};
use tributary_store::Store;

/// Connections for enqueueing.
#[derive(Debug)]
pub struct Enqueuer {
    store: Store,
    publisher: Publisher,
    topology: Topology,
}

impl Enqueuer {
    /// Connects to PostgreSQL and RabbitMQ and declares the topology.
    pub async fn connect(settings: &Settings) -> anyhow::Result<Self> {
        let store = settings.database.store(4)?;
        store
            .ping()
            .await
            .context("cannot reach PostgreSQL (database.url)")?;
        if settings.database.migrate_on_start {
            store.migrate().await?;
        }
        let registry = crate::connectors::registry();
        let topology = crate::app::topology(settings, &registry.kinds())?;
        let nodes = settings.amqp.nodes()?;
        let connection = tributary_broker::connect(&nodes, "tributary enqueue").await?;
        topology.declare(&connection).await?;
        let _ = connection.close(200, "declared".into()).await;
        let publisher = Publisher::new(nodes, "tributary enqueue");
        publisher.connect().await?;
        Ok(Self {
            store,
            publisher,
            topology,
        })
    }

    /// Records and publishes `jobs` (pipelined confirms, in chunks).
    pub async fn enqueue(&self, jobs: &[JobEnvelope]) -> anyhow::Result<()> {
        for chunk in jobs.chunks(1000) {
            let rows: Vec<_> = chunk.iter().map(ledger_row).collect();
            self.store
                .insert_jobs(&rows)
                .await
                .context("cannot record the jobs in the ledger")?;
            self.publisher
                .publish_jobs(&self.topology, chunk)
                .await
                .context("cannot publish the jobs")?;
        }
        Ok(())
    }

    /// The store (the demo reads progress from it).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Closes the publishing connection after outstanding confirms.
    pub async fn close(&self) {
        self.publisher.close().await;
    }
}
