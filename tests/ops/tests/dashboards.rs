//! The Grafana dashboards in `ops/grafana` are valid JSON whose every panel query is valid
//! PromQL (promtool parses each one as a recording rule's expression). That their metrics
//! exist is `catalog.rs`'s job.

use tributary_ops_tests::{files_under, promtool};

/// Every `expr` of every panel (rows nest panels too), in order.
fn panel_queries(panels: &[serde_json::Value], found: &mut Vec<(String, String)>) {
    for panel in panels {
        let title = panel["title"].as_str().unwrap_or("?").to_owned();
        for target in panel["targets"].as_array().into_iter().flatten() {
            if let Some(expr) = target["expr"].as_str() {
                found.push((title.clone(), expr.to_owned()));
            }
        }
        if let Some(nested) = panel["panels"].as_array() {
            panel_queries(nested, found);
        }
    }
}

#[test]
fn every_dashboard_query_is_valid_promql() {
    let dashboards = files_under("ops/grafana", ".json");
    assert!(
        dashboards.len() >= 2,
        "expected the fleet and connector dashboards"
    );
    let mut rules = String::from("groups:\n  - name: dashboard-queries\n    rules:\n");
    let mut count = 0;
    for (path, text) in &dashboards {
        let dashboard: serde_json::Value =
            serde_json::from_str(text).unwrap_or_else(|error| panic!("{path}: not JSON: {error}"));
        assert!(dashboard["uid"].is_string(), "{path}: no uid");
        let mut queries = Vec::new();
        panel_queries(
            dashboard["panels"].as_array().expect("panels"),
            &mut queries,
        );
        assert!(!queries.is_empty(), "{path}: no queries");
        for (title, expr) in queries {
            // Grafana's variables, as Grafana would fill them in.
            let expr = expr.replace("$connector", "demo");
            assert!(
                !expr.contains('$'),
                "{path}: {title}: unknown variable in {expr}"
            );
            count += 1;
            rules.push_str(&format!(
                "      - record: dashboard:query_{count}:check\n        expr: {}\n",
                serde_json::to_string(&expr).unwrap()
            ));
        }
    }
    let path = std::env::temp_dir().join(format!(
        "tributary-dashboard-queries-{}.yml",
        std::process::id()
    ));
    std::fs::write(&path, rules).unwrap();
    promtool(&["check", "rules", path.to_str().unwrap()]);
    let _ = std::fs::remove_file(&path);
}
