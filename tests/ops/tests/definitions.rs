//! `ops/rabbitmq/definitions.json` is what the code declares: the topology the worker builds
//! from the default settings and the registered connectors, as `tributary-worker topology`
//! prints it. Regenerate it with `tributary-worker topology > ops/rabbitmq/definitions.json`
//! (with no `TRIBUTARY_AMQP__*` variables set) after changing queues, tiers or connectors.

use tributary_ops_tests::read;

#[test]
fn the_definitions_file_matches_the_declared_topology() {
    let settings = tributary_worker::config::Settings::default();
    let kinds = tributary_worker::connectors::registry().kinds();
    let declared = tributary_worker::app::topology(&settings, &kinds)
        .expect("the default settings make a topology")
        .definitions("/");
    let checked_in: serde_json::Value =
        serde_json::from_str(&read("ops/rabbitmq/definitions.json"))
            .expect("ops/rabbitmq/definitions.json is JSON");
    assert!(
        checked_in == declared,
        "ops/rabbitmq/definitions.json differs from the topology the code declares; regenerate it:\n  \
         env -u TRIBUTARY_AMQP__PREFIX cargo run -q -p tributary-worker -- topology > ops/rabbitmq/definitions.json\n\
         declared:\n{}",
        serde_json::to_string_pretty(&declared).unwrap()
    );
    // Every registered connector has its work queue, with the crash-loop guard.
    let queues = declared["queues"].as_array().expect("queues");
    for kind in &kinds {
        let name = format!("tributary.work.{kind}");
        let queue = queues
            .iter()
            .find(|queue| queue["name"] == name.as_str())
            .unwrap_or_else(|| panic!("no work queue {name}"));
        assert_eq!(queue["arguments"]["x-queue-type"], "quorum", "{name}");
        assert!(queue["arguments"]["x-delivery-limit"].is_number(), "{name}");
    }
}
