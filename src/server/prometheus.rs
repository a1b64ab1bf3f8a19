//! `/metrics`: the member's measurements (`metrics.rs`) in Prometheus' text format, under
//! ZooKeeper's names. Gauges and counts are rendered from the list collected at scrape time,
//! so a gauge that stops applying (a deposed leader's `learners`) disappears as ZooKeeper
//! unregisters it; summaries come from the exporter, fed as they are recorded
//! (`telemetry::Summary`).

use std::sync::Arc;

use metrics_exporter_prometheus::PrometheusHandle;

use super::http::{HttpResponse, Routes};
use super::metrics::{collect, Sample, Value};
use super::Server;

/// The Prometheus endpoint.
pub struct MetricsEndpoint {
    server: Arc<Server>,
    handle: PrometheusHandle,
}

impl MetricsEndpoint {
    /// An endpoint rendering through `handle`.
    pub fn new(server: Arc<Server>, handle: PrometheusHandle) -> MetricsEndpoint {
        MetricsEndpoint { server, handle }
    }

    /// The text a scrape gets.
    pub fn render(&self) -> String {
        let mut text = render_samples(&collect(&self.server));
        text.push_str(&self.handle.render());
        text
    }

    /// Drains the summaries' recent samples into their windows (the exporter's upkeep).
    pub fn upkeep(&self) {
        self.handle.run_upkeep();
    }
}

impl Routes for MetricsEndpoint {
    fn get(&self, path: &str, _query: &str) -> HttpResponse {
        match path {
            "/metrics" | "/" => {
                HttpResponse::ok("text/plain; version=0.0.4; charset=utf-8", self.render())
            }
            _ => HttpResponse::error(404, "not found: metrics are at /metrics"),
        }
    }
}

/// A summary rendered from raftzk's own values: quantiles 0.5, 0.9 and 0.99 of the recent
/// samples, `_sum` and `_count` since start. `sets` holds (label value, values); an empty
/// `label` means one unlabelled summary.
fn summary_text(
    out: &mut String,
    sample: &Sample,
    sets: &[(String, crate::telemetry::SummaryValues)],
    label: &str,
) {
    use std::fmt::Write;
    let name = &sample.name;
    let _ = writeln!(out, "# HELP {name} {}", sample.help);
    let _ = writeln!(out, "# TYPE {name} summary");
    for (key, v) in sets {
        let key = key
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n");
        let (with_q, plain) = if label.is_empty() {
            (String::new(), String::new())
        } else {
            (
                format!("{label}=\"{key}\","),
                format!("{{{label}=\"{key}\"}}"),
            )
        };
        for (q, value) in [("0.5", v.p50), ("0.9", v.p90), ("0.99", v.p99)] {
            let _ = writeln!(out, "{name}{{{with_q}quantile=\"{q}\"}} {value}");
        }
        let _ = writeln!(out, "{name}_sum{plain} {}", v.total_sum);
        let _ = writeln!(out, "{name}_count{plain} {}", v.total_count);
    }
}

/// Gauges and counts in the text format, one `# HELP`/`# TYPE` per name; summaries only get
/// their description registered (the exporter renders them).
fn render_samples(samples: &[Sample]) -> String {
    use std::fmt::Write;
    // One group per name, in first-seen order (a name's samples need not be adjacent).
    let mut order: Vec<&str> = Vec::new();
    let mut groups: std::collections::HashMap<&str, Vec<&Sample>> = Default::default();
    let mut own_summaries = String::new();
    for sample in samples {
        match &sample.value {
            Value::Summary(_, _) if sample.by_exporter => {
                ::metrics::describe_histogram!(sample.name.to_string(), sample.help);
                continue;
            }
            Value::Summary(v, _) => {
                summary_text(&mut own_summaries, sample, &[(String::new(), *v)], "");
                continue;
            }
            Value::SummarySet(sets, _, label) => {
                summary_text(&mut own_summaries, sample, sets, label);
                continue;
            }
            Value::CountSet(counts, label) => {
                let name = &sample.name;
                let _ = writeln!(own_summaries, "# HELP {name} {}", sample.help);
                let _ = writeln!(own_summaries, "# TYPE {name} counter");
                for (key, v) in counts {
                    let key = key.replace('\\', "\\\\").replace('"', "\\\"");
                    let _ = writeln!(own_summaries, "{name}{{{label}=\"{key}\"}} {v}");
                }
                continue;
            }
            Value::Text(_) => continue,
            _ => {}
        }
        let group = groups.entry(&sample.name).or_default();
        if group.is_empty() {
            order.push(&sample.name);
        }
        group.push(sample);
    }
    let mut out = String::new();
    for name in order {
        let Some(group) = groups.get(name) else {
            continue;
        };
        let Some(first) = group.first() else {
            continue;
        };
        let kind = match first.value {
            Value::Counter(_) => "counter",
            _ => "gauge",
        };
        let _ = writeln!(out, "# HELP {name} {}", first.help);
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for sample in group {
            let value = match sample.value {
                Value::Int(v) => v as f64,
                Value::Float(v) => v,
                Value::Counter(v) => v as f64,
                _ => continue,
            };
            out.push_str(name);
            if !sample.labels.is_empty() {
                out.push('{');
                for (i, (k, v)) in sample.labels.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    let escaped = v
                        .replace('\\', "\\\\")
                        .replace('"', "\\\"")
                        .replace('\n', "\\n");
                    let _ = write!(out, "{k}=\"{escaped}\"");
                }
                out.push('}');
            }
            let _ = writeln!(out, " {value}");
        }
    }
    out.push_str(&own_summaries);
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    #[test]
    fn renders_gauges_and_counters_once_per_name_with_labels() {
        let sample = |name: &'static str, labels: Vec<(&'static str, String)>, value| Sample {
            name: Cow::Borrowed(name),
            help: "h",
            labels,
            value,
            zookeeper: true,
            by_exporter: false,
            in_mntr: true,
        };
        let text = render_samples(&[
            sample("znode_count", vec![], Value::Int(5)),
            sample("lag", vec![("peer", "2".into())], Value::Int(1)),
            sample("closed", vec![], Value::Counter(7)),
            sample("lag", vec![("peer", "3\"x".into())], Value::Int(0)),
            sample("version", vec![], Value::Text("v".into())),
        ]);
        assert_eq!(
            text,
            "# HELP znode_count h\n# TYPE znode_count gauge\nznode_count 5\n\
             # HELP lag h\n# TYPE lag gauge\nlag{peer=\"2\"} 1\nlag{peer=\"3\\\"x\"} 0\n\
             # HELP closed h\n# TYPE closed counter\nclosed 7\n\n"
        );
    }

    #[test]
    fn own_summaries_and_sets_render_quantiles_sum_and_count() {
        use crate::telemetry::{Summary, SummarySet};
        let s = Summary::local("node_changed_watch_count", "h", false);
        s.record(2.0);
        s.record(4.0);
        s.reset();
        s.record(3.0);
        let set = SummarySet::new("raftzk_request_latency", "op", "h", true);
        set.record("getData", 1.5);
        let own = |name: &'static str, value| Sample {
            name: Cow::Borrowed(name),
            help: "h",
            labels: Vec::new(),
            value,
            zookeeper: true,
            by_exporter: false,
            in_mntr: true,
        };
        let text = render_samples(&[
            own(s.name, Value::Summary(s.values(), false)),
            own(set.name, Value::SummarySet(set.values(), true, set.label)),
        ]);
        assert!(
            text.contains("# TYPE node_changed_watch_count summary\n"),
            "{text}"
        );
        // srst restarts the quantiles, never the count and sum.
        assert!(
            text.contains("node_changed_watch_count_count 3\n"),
            "{text}"
        );
        assert!(text.contains("node_changed_watch_count_sum 9\n"), "{text}");
        assert!(
            text.contains("node_changed_watch_count{quantile=\"0.5\"} 3\n"),
            "{text}"
        );
        assert!(
            text.contains("raftzk_request_latency{op=\"getData\",quantile=\"0.99\"} 1.5\n"),
            "{text}"
        );
        assert!(
            text.contains("raftzk_request_latency_sum{op=\"getData\"} 1.5\n"),
            "{text}"
        );
        assert!(
            text.contains("raftzk_request_latency_count{op=\"getData\"} 1\n"),
            "{text}"
        );
    }
}
