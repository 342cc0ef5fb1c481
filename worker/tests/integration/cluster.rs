//! The production shape in miniature: a worker given all three nodes of a RabbitMQ cluster of
//! the test's own (`own_cluster`), quorum queues replicated on every node, the steady load of
//! `faults_under_load` running, and the node the worker consumes from taken away — stopped
//! gracefully or SIGKILLed. The worker must fail over to another node within a stated time, the
//! checker must find nothing lost, nothing applied twice, nothing unexpected, and the node must
//! come back into the cluster with its queue members online. The cluster is the test's own, so
//! these are not `serial_*`.

use crate::faults_under_load::{
    assert_in_flight, settle_and_check, slow_shop, start_load, steady_app_with, wait_for_pages,
    RECOVERY,
};
use crate::helpers::{wait_for, TestApp};
use crate::own_cluster::{OwnCluster, NODES};
use std::time::{Duration, Instant};
use tributary_connector::ConnectorKind;

/// How long the worker may take to consume again from a surviving node once its node is gone
/// (measured: a few seconds — the refused node is skipped at once, and the queue's new leader
/// is elected within seconds; generous for a loaded 2-core machine).
const FAILOVER: Duration = Duration::from_secs(45);

/// How a node is taken away.
#[derive(Debug, Clone, Copy)]
enum NodeFault {
    /// `rabbitmqctl stop`: clients are told, queue leadership moves.
    Stop,
    /// SIGKILL of the Erlang VM: connections just end.
    Kill,
}

/// The steady load on a cluster of the test's own, with a worker given every node.
async fn app_on_cluster(cluster: &OwnCluster) -> TestApp {
    let database = std::env::var("TRIBUTARY_DATABASE__URL").expect("eval \"$(ops/dev env)\"");
    let mut app = steady_app_with(TestApp::new_on(slow_shop(), &cluster.urls(), &database).await);
    app.settings.worker.name = Some(format!("{}-worker", app.settings.amqp.prefix));
    // A dead node is refused at once; the timeout is for one that does not answer.
    app.settings.amqp.connect_timeout = "3s".into();
    assert_eq!(app.settings.amqp.url.entries().len(), NODES);
    app
}

/// Asserts that `queue` has a member on every node, all online, as node `asking` reports.
async fn assert_replicated_everywhere(cluster: &OwnCluster, asking: usize, queue: &str) {
    let deadline = Duration::from_secs(60);
    let started = Instant::now();
    loop {
        let (members, online) = cluster.quorum_members(asking, queue).await;
        assert_eq!(
            members.len(),
            NODES,
            "{queue} has a member on every node: {members:?}"
        );
        if online == NODES {
            return;
        }
        assert!(
            started.elapsed() < deadline,
            "{queue}: only {online} of {NODES} members online after {deadline:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn node_lost_under_load(fault: NodeFault, test: &str) {
    let mut cluster = OwnCluster::start().await;
    let mut app = app_on_cluster(&cluster).await;
    let work_queue = app
        .topology
        .work_queue(&ConnectorKind::new("demo").unwrap());
    assert_replicated_everywhere(&cluster, 0, &work_queue).await;

    app.start_worker().await;
    let consume = format!(
        "{} consume",
        app.settings.worker.name.as_deref().expect("named")
    );
    let history = start_load(&app).await;
    wait_for_pages(&app, 8).await;

    let port = wait_for(
        "the worker's consuming connection to be listed",
        Duration::from_secs(30),
        || cluster.connection_port(0, &consume),
    )
    .await;
    let victim = cluster.index_of_port(port).expect("a node of the cluster");
    let witness = (victim + 1) % NODES;
    println!("{test}: the worker consumes from node {victim}; taking it away ({fault:?})");
    let faulted_at = Instant::now();
    match fault {
        NodeFault::Stop => cluster.node_mut(victim).stop_async().await,
        NodeFault::Kill => cluster.node_mut(victim).kill().await,
    }
    assert_in_flight(&app, test).await;

    let new_port = wait_for(
        "the worker to consume from a surviving node",
        FAILOVER,
        || async {
            let port_now = cluster.connection_port(witness, &consume).await?;
            (port_now != port).then_some(port_now)
        },
    )
    .await;
    println!(
        "{test}: consuming from node {} {:?} after the fault",
        cluster
            .index_of_port(new_port)
            .expect("a node of the cluster"),
        faulted_at.elapsed()
    );

    settle_and_check(&app, &history, RECOVERY, test).await;

    // The node comes back into the cluster, and its replica of the work queue with it.
    let relaunched_at = Instant::now();
    cluster.node_mut(victim).launch().await;
    cluster.wait_for_running_nodes_seen_by(victim, NODES).await;
    assert_replicated_everywhere(&cluster, witness, &work_queue).await;
    println!(
        "{test}: node {victim} back in the cluster {:?} after its relaunch",
        relaunched_at.elapsed()
    );
    app.stop_workers().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_node_stopped_under_load_fails_over_and_loses_nothing() {
    node_lost_under_load(NodeFault::Stop, "cluster_node_stop").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_node_killed_under_load_fails_over_and_loses_nothing() {
    node_lost_under_load(NodeFault::Kill, "cluster_node_kill").await;
}
