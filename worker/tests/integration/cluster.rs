//! The production shape in miniature: a worker given all three nodes of a RabbitMQ cluster of
//! the test's own (`own_cluster`), quorum queues replicated on every node, the steady load of
//! `faults_under_load` running, and the node the worker consumes from taken away — stopped
//! gracefully or SIGKILLed — in two rounds, one node at a time, the first node back in the
//! cluster before the second goes. Each round the worker must fail over to another node within
//! a stated time, the checker must find nothing lost, nothing applied twice, nothing unexpected
//! over every round so far, and the node must come back with its queue member online. The cluster is the test's own, so
//! these are not `serial_*`.

use crate::checker::{Expected, History};
use crate::faults_under_load::{
    pages_committed, settle_and_check, slow_shop, steady_app_with, LOAD_PAGES, RECOVERY,
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

/// The tenants of each round's load (`faults_under_load`'s shape: three tenants, three streams
/// each): each round has tenants of its own, so its runs start at the beginning of their streams.
const ROUND_TENANTS: [[&str; 3]; 2] = [
    ["acme", "globex", "initech"],
    ["umbrella", "hooli", "wayne"],
];

/// Enqueues one round's load (every publish confirmed) and adds it to `history`.
async fn start_round(app: &TestApp, round: usize, history: &mut History) {
    let mut jobs = Vec::new();
    for tenant in ROUND_TENANTS[round] {
        for stream in ["orders", "customers", "products"] {
            jobs.push(app.pull_job(tenant, stream));
        }
    }
    app.enqueue(&jobs).await;
    for job in jobs {
        history.confirmed(job, Expected::Effect);
    }
}

/// One round: the load running, the node the worker consumes from taken away, failover, the
/// checker over every round so far, the node relaunched and back in the cluster.
async fn round(
    cluster: &mut OwnCluster,
    app: &TestApp,
    history: &mut History,
    round: usize,
    fault: NodeFault,
    test: &str,
) {
    let test = format!("{test}#{round}");
    // Which node the worker consumes from is looked up before the load starts: a
    // `rabbitmqctl` call takes seconds on a loaded machine, long enough for the load to finish
    // before the fault. The connection stays put until the fault moves it.
    let consume = format!(
        "{} consume",
        app.settings.worker.name.as_deref().expect("named")
    );
    let port = wait_for(
        "the worker's consuming connection to be listed",
        Duration::from_secs(30),
        || cluster.connection_port(0, &consume),
    )
    .await;
    let victim = cluster.index_of_port(port).expect("a node of the cluster");
    let witness = (victim + 1) % NODES;
    let pages_before = pages_committed(app).await;
    start_round(app, round, history).await;
    wait_for(
        "the round's load to commit pages",
        Duration::from_secs(60),
        || async { (pages_committed(app).await >= pages_before + 8).then_some(()) },
    )
    .await;

    println!("{test}: the worker consumes from node {victim}; taking it away ({fault:?})");
    // Checked as the fault starts: a graceful stop returns only once the node is down, and
    // the worker, having failed over, may finish the load meanwhile.
    let pages = pages_committed(app).await;
    assert!(
        pages < pages_before + LOAD_PAGES,
        "{test}: the fault landed after the round's load had finished ({pages} pages)"
    );
    let faulted_at = Instant::now();
    match fault {
        NodeFault::Stop => cluster.node_mut(victim).stop_async().await,
        NodeFault::Kill => cluster.node_mut(victim).kill().await,
    }

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

    settle_and_check(app, history, RECOVERY, &test).await;

    // The node comes back into the cluster, and its replica of the work queue with it, before
    // the next node is taken away.
    let relaunched_at = Instant::now();
    cluster.node_mut(victim).launch().await;
    cluster.wait_for_running_nodes_seen_by(victim, NODES).await;
    let work_queue = app
        .topology
        .work_queue(&ConnectorKind::new("demo").unwrap());
    assert_replicated_everywhere(cluster, witness, &work_queue).await;
    println!(
        "{test}: node {victim} back in the cluster {:?} after its relaunch",
        relaunched_at.elapsed()
    );
}

/// Two rounds of `fault`, one node at a time: the node the worker consumes from is taken away,
/// and once it is back in the cluster, the node the worker consumes from then.
async fn nodes_lost_one_at_a_time(fault: NodeFault, test: &str) {
    let started = Instant::now();
    let mut cluster = OwnCluster::start().await;
    let mut app = app_on_cluster(&cluster).await;
    let work_queue = app
        .topology
        .work_queue(&ConnectorKind::new("demo").unwrap());
    assert_replicated_everywhere(&cluster, 0, &work_queue).await;
    app.start_worker().await;
    let mut history = History::default();
    for number in 0..ROUND_TENANTS.len() {
        round(&mut cluster, &app, &mut history, number, fault, test).await;
    }
    app.stop_workers().await;
    println!("{test}: {:?} in all", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_nodes_stopped_one_at_a_time_under_load_fail_over_and_lose_nothing() {
    nodes_lost_one_at_a_time(NodeFault::Stop, "cluster_node_stop").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_nodes_killed_one_at_a_time_under_load_fail_over_and_lose_nothing() {
    nodes_lost_one_at_a_time(NodeFault::Kill, "cluster_node_kill").await;
}
