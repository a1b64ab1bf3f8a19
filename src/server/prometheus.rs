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

/// Gauges and counts in the text format, one `# HELP`/`# TYPE` per name; summaries only get
/// their description registered (the exporter renders them).
fn render_samples(samples: &[Sample]) -> String {
    use std::fmt::Write;
    ::metrics::describe_histogram!(
        "raftzk_request_latency",
        "Request latency by operation, ms (the _count is the request count)"
    );
    // One group per name, in first-seen order (a name's samples need not be adjacent).
    let mut order: Vec<&str> = Vec::new();
    let mut groups: std::collections::HashMap<&str, Vec<&Sample>> = Default::default();
    let mut own_summaries = String::new();
    for sample in samples {
        if let Value::Summary(v, _) = &sample.value {
            if sample.name.ends_with("_count") {
                let name = &sample.name;
                let _ = writeln!(own_summaries, "# HELP {name} {}", sample.help);
                let _ = writeln!(own_summaries, "# TYPE {name} summary");
                for (q, value) in [("0.5", v.p50), ("0.9", v.p90), ("0.99", v.p99)] {
                    let _ = writeln!(own_summaries, "{name}{{quantile=\"{q}\"}} {value}");
                }
                let _ = writeln!(own_summaries, "{name}_sum {}", v.sum);
                let _ = writeln!(own_summaries, "{name}_count {}", v.count);
            } else {
                ::metrics::describe_histogram!(sample.name.to_string(), sample.help);
            }
            continue;
        }
        if let Value::Text(_) = sample.value {
            continue;
        }
        if let Value::SummarySet(..) = sample.value {
            ::metrics::describe_histogram!(sample.name.to_string(), sample.help);
            continue;
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
    fn a_summary_named_count_gets_its_count_series() {
        let s = crate::telemetry::Summary::new("node_changed_watch_count", "h", false);
        s.record(2.0);
        s.record(4.0);
        let text = render_samples(&[Sample {
            name: Cow::Borrowed(s.name),
            help: s.help,
            labels: Vec::new(),
            value: Value::Summary(s.values(), false),
            zookeeper: true,
        }]);
        assert!(
            text.contains("# TYPE node_changed_watch_count summary\n"),
            "{text}"
        );
        assert!(
            text.contains("node_changed_watch_count_count 2\n"),
            "{text}"
        );
        assert!(text.contains("node_changed_watch_count_sum 6\n"), "{text}");
        assert!(
            text.contains("node_changed_watch_count{quantile=\"0.5\"} 2\n"),
            "{text}"
        );
    }
}
