//! `/metrics`: the member's measurements (`metrics.rs`) in Prometheus' text format, under
//! ZooKeeper's names. Gauges and counts are read at scrape time from where they live;
//! summaries are fed as they are recorded (`telemetry::Summary`).

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
        export(&collect(&self.server));
        self.handle.render()
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

/// Hands the gauges and counts to the recorder (summaries are in it already).
fn export(samples: &[Sample]) {
    ::metrics::describe_histogram!(
        "raftzk_request_latency",
        "Request latency by operation, ms (the _count is the request count)"
    );
    for sample in samples {
        let name = sample.name.to_string();
        let labels: Vec<::metrics::Label> = sample
            .labels
            .iter()
            .map(|(k, v)| ::metrics::Label::new(*k, v.clone()))
            .collect();
        match &sample.value {
            Value::Int(v) => {
                ::metrics::describe_gauge!(name.clone(), sample.help);
                ::metrics::gauge!(name, labels).set(*v as f64);
            }
            Value::Float(v) => {
                ::metrics::describe_gauge!(name.clone(), sample.help);
                ::metrics::gauge!(name, labels).set(*v);
            }
            Value::Counter(v) => {
                ::metrics::describe_counter!(name.clone(), sample.help);
                ::metrics::counter!(name, labels).absolute(*v);
            }
            Value::Summary(..) => {
                ::metrics::describe_histogram!(name, sample.help);
            }
            Value::Text(_) => {}
        }
    }
}
