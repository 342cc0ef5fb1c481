//! The metrics catalog, the rules and the dashboards agree with the code: every metric a rule,
//! a recording rule, a promtool test or a dashboard reads is emitted by our processes (or is
//! the broker's, from an explicit list) and is in
//! `docs/metrics.md`; every metric the code emits is in the catalog; every alert has a runbook
//! and a firing and a quiet promtool case.

use std::collections::BTreeSet;
use tributary_ops_tests::{
    alert_test_cases, alerts, catalog_metrics, emitted_metrics, files_under, histogram_base, read,
    recording_rules, references, repo_root, BROKER_METRICS,
};

const CATALOG: &str = "docs/metrics.md";

/// Every file whose metric names must be real: rules, their tests, dashboards, scrape configs,
/// the monitoring host's template in Terraform.
fn referencing_files() -> Vec<(String, String)> {
    let mut files = files_under("ops/prometheus", ".yml");
    files.extend(files_under("ops/grafana", ".json"));
    files.extend(files_under("ops/k8s", ".yaml"));
    // The monitoring host's queries (the depth the worker fleet scales on).
    files.extend(files_under("terraform/modules/monitoring", ".tftpl"));
    files
}

/// Why `name` is acceptable in a rule or dashboard, or `None` when it is not.
fn known(name: &str, emitted: &BTreeSet<String>) -> Option<&'static str> {
    if emitted.contains(name) {
        return Some("emitted");
    }
    if histogram_base(name).is_some_and(|base| emitted.contains(base)) {
        return Some("a histogram's series");
    }
    if BROKER_METRICS.contains(&name) {
        return Some("the broker's");
    }
    None
}

#[test]
fn every_metric_referenced_by_rules_and_dashboards_is_emitted_and_catalogued() {
    let emitted: BTreeSet<String> = emitted_metrics().into_keys().collect();
    let catalog = catalog_metrics(&read(CATALOG));
    let mut defined = BTreeSet::new();
    for (_, text) in files_under("ops/prometheus/rules", ".yml") {
        defined.extend(recording_rules(&text));
    }
    let files = referencing_files();
    assert!(
        files
            .iter()
            .any(|(path, _)| path.ends_with("tributary-alerts.yml")),
        "the alert rules were not found under ops/prometheus"
    );

    let mut problems = Vec::new();
    for (path, text) in &files {
        let found = references(text);
        for name in &found.metrics {
            if known(name, &emitted).is_none() {
                problems.push(format!("{path}: `{name}` is not emitted by worker/, runtime/, scheduler/ or queue-admin/ (nor a listed broker or pending metric)"));
            }
            let catalogued = histogram_base(name).is_some_and(|base| catalog.contains(base));
            if !catalog.contains(name) && !catalogued {
                problems.push(format!("{path}: `{name}` is missing from {CATALOG}"));
            }
        }
        for name in &found.recorded {
            if !defined.contains(name) {
                problems.push(format!(
                    "{path}: `{name}` is not a recording rule of ops/prometheus/rules"
                ));
            }
            if !catalog.contains(name) {
                problems.push(format!(
                    "{path}: recording rule `{name}` is missing from {CATALOG}"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

#[test]
fn every_emitted_metric_is_in_the_catalog_and_the_catalog_invents_none() {
    let emitted = emitted_metrics();
    let catalog = catalog_metrics(&read(CATALOG));
    let mut problems = Vec::new();
    for (name, path) in &emitted {
        if !catalog.contains(name) {
            problems.push(format!(
                "`{name}` (emitted in {path}) is missing from {CATALOG}"
            ));
        }
    }
    for name in &catalog {
        let recording = name.split(':').count() == 3;
        let allowed =
            emitted.contains_key(name) || BROKER_METRICS.contains(&name.as_str()) || recording;
        if !allowed {
            problems.push(format!("{CATALOG} lists `{name}`, which no code emits"));
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
    assert!(
        emitted.len() > 30,
        "the scan found only {} metrics: is it broken?",
        emitted.len()
    );
}

#[test]
fn every_alert_has_its_runbook_and_a_firing_and_a_quiet_test_case() {
    let rules = read("ops/prometheus/rules/tributary-alerts.yml");
    let alerts = alerts(&rules);
    assert!(alerts.len() >= 15, "found only {} alerts", alerts.len());
    let mut cases = std::collections::BTreeMap::new();
    for (_, text) in files_under("ops/prometheus/tests", ".test.yml") {
        for (name, (fires, quiet)) in alert_test_cases(&text) {
            let entry: &mut (bool, bool) = cases.entry(name).or_default();
            entry.0 |= fires;
            entry.1 |= quiet;
        }
    }
    let mut problems = Vec::new();
    for alert in &alerts {
        let runbook = format!("ops/runbooks/{}.md", alert.name);
        match &alert.runbook_url {
            Some(url) if url.ends_with(&format!("/{runbook}")) => {}
            other => problems.push(format!(
                "{}: runbook_url {other:?} does not end with /{runbook}",
                alert.name
            )),
        }
        if !repo_root().join(&runbook).is_file() {
            problems.push(format!("{}: {runbook} does not exist", alert.name));
        }
        match cases.get(&alert.name) {
            Some((true, true)) => {}
            Some((fires, quiet)) => problems.push(format!(
                "{}: promtool cases: fires {fires}, stays quiet {quiet}; both are needed",
                alert.name
            )),
            None => problems.push(format!("{}: no promtool test case", alert.name)),
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

#[test]
fn the_promtool_tests_evaluate_every_group_recording_rules_first() {
    // promtool's default group order is random; an unlisted group is evaluated in any order.
    let mut expected =
        tributary_ops_tests::rule_groups(&read("ops/prometheus/rules/tributary-recording.yml"));
    expected.extend(tributary_ops_tests::rule_groups(&read(
        "ops/prometheus/rules/tributary-alerts.yml",
    )));
    for (path, text) in files_under("ops/prometheus/tests", ".test.yml") {
        let listed: Vec<String> = text
            .lines()
            .skip_while(|line| *line != "group_eval_order:")
            .skip(1)
            .map_while(|line| line.strip_prefix("- "))
            .map(|name| name.trim().to_owned())
            .collect();
        assert_eq!(
            listed, expected,
            "{path}: group_eval_order must list every rule group, recording rules first"
        );
    }
}
