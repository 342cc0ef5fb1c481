//! Support for the ops tests: where the repository's ops files are, which metric names the code
//! emits and which the rules, dashboards and catalog mention, a reader of the Prometheus text
//! format, and `promtool`. Plain text scanning, no YAML or regex crate: the rule files are
//! ours, and their shape (`- alert:`, `record:`, `runbook_url:`) is stable.
//!
//! It knows nothing of the processes themselves; the tests bring them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The broker's own metrics (the `rabbitmq_prometheus` plugin) that rules and dashboards may
/// read. Explicit, so a typo in a `rabbitmq_*` name fails like a typo in one of ours.
pub const BROKER_METRICS: [&str; 7] = [
    "rabbitmq_queue_messages_ready",
    "rabbitmq_queue_messages_unacked",
    "rabbitmq_queue_consumers",
    "rabbitmq_alarms_memory_used_watermark",
    "rabbitmq_alarms_free_disk_space_watermark",
    "rabbitmq_process_resident_memory_bytes",
    "rabbitmq_disk_space_available_bytes",
];

/// The crates whose `src/` holds the metrics our processes emit.
const EMITTING_CRATES: [&str; 6] = [
    "worker",
    "runtime",
    "scheduler",
    "queue-admin",
    "broker",
    "store",
];

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the repository root exists")
}

/// A file of the repository, as text.
pub fn read(relative: &str) -> String {
    let path = repo_root().join(relative);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()))
}

/// Files under a directory of the repository (recursively) whose names end with `suffix`,
/// as (path relative to the root, text), sorted.
pub fn files_under(relative_dir: &str, suffix: &str) -> Vec<(String, String)> {
    let root = repo_root();
    let mut found = Vec::new();
    let mut pending = vec![root.join(relative_dir)];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("a readable directory entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if path.to_string_lossy().ends_with(suffix) {
                let text = std::fs::read_to_string(&path).expect("a readable file");
                let relative = path
                    .strip_prefix(&root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                found.push((relative, text));
            }
        }
    }
    found.sort();
    found
}

/// Metric names the code registers: the first string literal of every `counter!(`, `gauge!(`
/// and `histogram!(` in the emitting crates' `src/`, with the file that does it.
pub fn emitted_metrics() -> BTreeMap<String, String> {
    let mut emitted = BTreeMap::new();
    for krate in EMITTING_CRATES {
        for (path, text) in files_under(&format!("{krate}/src"), ".rs") {
            for macro_name in ["counter!(", "gauge!(", "histogram!("] {
                for (start, _) in text.match_indices(macro_name) {
                    let rest = text[start + macro_name.len()..].trim_start();
                    if let Some(literal) = rest.strip_prefix('"') {
                        let name: String = literal.chars().take_while(|c| *c != '"').collect();
                        emitted.entry(name).or_insert_with(|| path.clone());
                    }
                }
            }
        }
    }
    emitted
}

/// What a rule file, a dashboard or a test file mentions.
#[derive(Debug, Default)]
pub struct References {
    /// `tributary_*` and `rabbitmq_*` names.
    pub metrics: BTreeSet<String>,
    /// `level:metric:operations` names (recording rules).
    pub recorded: BTreeSet<String>,
}

/// The names mentioned in `text`: every identifier-like token (`[A-Za-z0-9_:]+`) that starts
/// with `tributary_` or `rabbitmq_`, or has the `a:b:c` shape of a recording rule.
pub fn references(text: &str) -> References {
    let mut found = References::default();
    let is_name_char = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    for token in text.split(|c: char| !is_name_char(c)) {
        let parts: Vec<&str> = token.split(':').collect();
        if parts.len() == 3 && parts.iter().all(|part| !part.is_empty()) {
            found.recorded.insert(token.to_owned());
        } else if parts.len() == 1
            && (token.starts_with("tributary_") || token.starts_with("rabbitmq_"))
        {
            found.metrics.insert(token.to_owned());
        }
    }
    found
}

/// A histogram's series name without its `_bucket`, `_sum` or `_count` suffix, if it has one.
pub fn histogram_base(name: &str) -> Option<&str> {
    ["_bucket", "_sum", "_count"]
        .iter()
        .find_map(|suffix| name.strip_suffix(suffix))
}

/// The names a recording rule file defines (`record: name` lines).
pub fn recording_rules(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|line| {
            line.trim()
                .strip_prefix("- record:")
                .or_else(|| line.trim().strip_prefix("record:"))
        })
        .map(|name| name.trim().to_owned())
        .collect()
}

/// The group names of a rule file (`  - name:` lines), in order.
pub fn rule_groups(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| line.strip_prefix("  - name:"))
        .map(|name| name.trim().to_owned())
        .collect()
}

/// An alert of a rule file: its name and its `runbook_url` annotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    /// `alert:` name.
    pub name: String,
    /// The `runbook_url` annotation, unquoted.
    pub runbook_url: Option<String>,
}

/// The alerts of a rule file, in order.
pub fn alerts(text: &str) -> Vec<Alert> {
    let mut alerts: Vec<Alert> = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if let Some(name) = line.strip_prefix("- alert:") {
            alerts.push(Alert {
                name: name.trim().to_owned(),
                runbook_url: None,
            });
        } else if let Some(url) = line.strip_prefix("runbook_url:") {
            let alert = alerts
                .last_mut()
                .expect("a runbook_url belongs to an alert");
            alert.runbook_url = Some(url.trim().trim_matches('"').to_owned());
        }
    }
    alerts
}

/// An alert's annotations as written in a rule file (`key: "template"` lines of its
/// `annotations:` block), in order.
pub fn alert_annotations(text: &str, alert: &str) -> Vec<(String, String)> {
    let mut annotations = Vec::new();
    let mut in_alert = false;
    let mut in_annotations = false;
    for line in text.lines() {
        let trimmed = line.trim();
        if let Some(name) = trimmed.strip_prefix("- alert:") {
            in_alert = name.trim() == alert;
            in_annotations = false;
        } else if in_alert && trimmed == "annotations:" {
            in_annotations = true;
        } else if in_annotations {
            match trimmed.split_once(": ") {
                Some((key, value)) if !key.contains(' ') && value.starts_with('"') => {
                    annotations.push((key.to_owned(), value.trim_matches('"').to_owned()));
                }
                _ => in_annotations = false,
            }
        }
    }
    annotations
}

/// Fills the `{{ $labels.name }}` placeholders of an annotation template.
pub fn render_annotation(template: &str, labels: &[(&str, &str)]) -> String {
    let mut rendered = template.to_owned();
    for (name, value) in labels {
        rendered = rendered.replace(&format!("{{{{ $labels.{name} }}}}"), value);
    }
    rendered
}

/// For each alert name in a `promtool test rules` file: (has a case expecting it to fire,
/// has a case expecting silence). Reads `alertname:` followed by `exp_alerts: []` (quiet) or a
/// non-empty `exp_alerts:` (fires).
pub fn alert_test_cases(text: &str) -> BTreeMap<String, (bool, bool)> {
    let mut cases: BTreeMap<String, (bool, bool)> = BTreeMap::new();
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    for (index, line) in lines.iter().enumerate() {
        let Some(name) = line
            .strip_prefix("alertname:")
            .or_else(|| line.strip_prefix("- alertname:"))
        else {
            continue;
        };
        let Some(expected) = lines[index + 1..]
            .iter()
            .find(|next| next.starts_with("exp_alerts:"))
        else {
            continue;
        };
        let entry = cases.entry(name.trim().to_owned()).or_default();
        if expected.trim_end() == "exp_alerts: []" {
            entry.1 = true;
        } else {
            entry.0 = true;
        }
    }
    cases
}

/// The metric names of the catalog (`docs/metrics.md`): the first backquoted name of each
/// table row.
pub fn catalog_metrics(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|rest| rest.split('`').next())
        .map(str::to_owned)
        .collect()
}

/// One sample of the Prometheus text format.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Metric name.
    pub name: String,
    /// Labels, in the order given.
    pub labels: Vec<(String, String)>,
    /// Value.
    pub value: f64,
}

impl Sample {
    /// A label's value.
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// The series in promtool's notation, with `extra` labels first: `name{a="b",...}`.
    pub fn series(&self, extra: &[(&str, &str)]) -> String {
        let escape = |value: &str| {
            value
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n")
        };
        let labels: Vec<String> = extra
            .iter()
            .map(|(key, value)| format!("{key}=\"{}\"", escape(value)))
            .chain(
                self.labels
                    .iter()
                    .map(|(key, value)| format!("{key}=\"{}\"", escape(value))),
            )
            .collect();
        format!("{}{{{}}}", self.name, labels.join(","))
    }
}

/// Parses the Prometheus text exposition format (what `/metrics` serves): comments skipped,
/// timestamps ignored.
pub fn parse_exposition(text: &str) -> Vec<Sample> {
    let mut samples = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, labels, rest) = match line.find('{') {
            Some(open) if line[..open].find(' ').is_none() => {
                let (labels, after) = parse_labels(&line[open + 1..]);
                (&line[..open], labels, after)
            }
            _ => {
                let (name, rest) = line.split_once(' ').unwrap_or((line, ""));
                (name, Vec::new(), rest)
            }
        };
        let value = rest.split_whitespace().next().unwrap_or("");
        let value = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            other => match other.parse::<f64>() {
                Ok(value) => value,
                Err(_) => continue,
            },
        };
        samples.push(Sample {
            name: name.to_owned(),
            labels,
            value,
        });
    }
    samples
}

/// Parses `a="b",c="d"} rest` into the labels and `rest`.
fn parse_labels(text: &str) -> (Vec<(String, String)>, &str) {
    let mut labels = Vec::new();
    let mut chars = text.char_indices().peekable();
    let mut key = String::new();
    while let Some((index, c)) = chars.next() {
        match c {
            '}' => return (labels, &text[index + 1..]),
            ',' | ' ' => {}
            '=' => {
                // A quoted value with \\, \" and \n escapes.
                let mut value = String::new();
                let _ = chars.next(); // the opening quote
                while let Some((_, c)) = chars.next() {
                    match c {
                        '\\' => match chars.next().map(|(_, c)| c) {
                            Some('n') => value.push('\n'),
                            Some(other) => value.push(other),
                            None => {}
                        },
                        '"' => break,
                        other => value.push(other),
                    }
                }
                labels.push((std::mem::take(&mut key), value));
            }
            other => key.push(other),
        }
    }
    (labels, "")
}

/// Runs `promtool` with `args`; panics with its output unless it succeeds. Returns stdout.
pub fn promtool(args: &[&str]) -> String {
    let output = std::process::Command::new("promtool")
        .args(args)
        .current_dir(repo_root())
        .output()
        .unwrap_or_else(|error| {
            panic!("cannot run promtool ({error}); install it with `apt-get install prometheus` (ops/dev up does)")
        });
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "promtool {} failed:\n{stdout}\n{stderr}",
        args.join(" ")
    );
    stdout
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_text_format() {
        let samples = parse_exposition(
            "# TYPE x counter\nx_total{a=\"1\",b=\"q\\\"z\"} 3\nup 1\nh_bucket{le=\"+Inf\"} 2 1700000000\n",
        );
        assert_eq!(samples.len(), 3);
        assert_eq!(samples[0].name, "x_total");
        assert_eq!(samples[0].label("b"), Some("q\"z"));
        assert_eq!(samples[0].value, 3.0);
        assert_eq!(samples[1].name, "up");
        assert_eq!(samples[2].label("le"), Some("+Inf"));
        assert_eq!(
            samples[0].series(&[("job", "w")]),
            "x_total{job=\"w\",a=\"1\",b=\"q\\\"z\"}"
        );
    }

    #[test]
    fn finds_names_but_not_urls_or_label_values() {
        let found = references(
            "expr: max by (queue) (tributary_queue_consumers{queue=~\"x\"}) and a:tributary_x:rate5m\n\
             runbook_url: \"https://example.com/tributary/ops/runbooks/X.md\" job=\"tributary-worker\"",
        );
        assert_eq!(
            found.metrics,
            BTreeSet::from(["tributary_queue_consumers".to_owned()])
        );
        assert_eq!(
            found.recorded,
            BTreeSet::from(["a:tributary_x:rate5m".to_owned()])
        );
    }
}
