//! Request metrics and the Prometheus text rendering of `GET /metrics`.

use crate::metrics::{Histogram, HistogramSnapshot, MICROS_BOUNDS};
use crate::EngineStats;
use dashmap::DashMap;
use std::fmt::Write;
use std::sync::atomic::Ordering;

/// Per-route request latency histograms, keyed by (method, route, status).
#[derive(Default)]
pub struct HttpMetrics {
    requests: DashMap<(String, String, u16), Histogram>,
}

/// Collection names whose next path segment is an id.
const ID_AFTER: &[&str] = &["carts", "items", "saved", "reservations", "inventory", "products", "orders", "deals"];

/// The route of a path, ids replaced by `{id}` (keeps label cardinality bounded).
pub fn route_label(path: &str) -> String {
    let mut label = String::with_capacity(path.len());
    let mut previous = "";
    for segment in path.split('/').filter(|segment| !segment.is_empty()) {
        label.push('/');
        let is_id = ID_AFTER.contains(&previous) && segment != "mine";
        label.push_str(if is_id { "{id}" } else { segment });
        previous = segment;
    }
    if label.is_empty() {
        label.push('/');
    }
    label
}

impl HttpMetrics {
    /// Counts the request and writes its structured log line (at debug level
    /// for successes so a load test does not drown in logs; 5xx at warn).
    pub fn observe(&self, info: &warp::log::Info<'_>) {
        let micros = u64::try_from(info.elapsed().as_micros()).unwrap_or(u64::MAX);
        let status = info.status().as_u16();
        if status >= 500 {
            tracing::warn!(method = %info.method(), path = info.path(), status, micros, "request");
        } else {
            tracing::debug!(method = %info.method(), path = info.path(), status, micros, "request");
        }
        let key = (info.method().to_string(), route_label(info.path()), status);
        self.requests.entry(key).or_insert_with(|| Histogram::new(MICROS_BOUNDS)).record(micros);
    }

    /// Renders request metrics and the engine's counters.
    pub fn render(&self, engine: &EngineStats) -> String {
        let mut out = String::with_capacity(8 << 10);
        let _ = writeln!(out, "# TYPE mercato_http_request_duration_seconds histogram");
        let mut rows: Vec<((String, String, u16), HistogramSnapshot)> =
            self.requests.iter().map(|entry| (entry.key().clone(), entry.value().snapshot())).collect();
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        for ((method, route, status), snapshot) in rows {
            let labels = format!("method=\"{method}\",route=\"{route}\",status=\"{status}\"");
            histogram(&mut out, "mercato_http_request_duration_seconds", &labels, &snapshot, 1e-6);
        }
        for (kind, stats) in [("bucket", engine.buckets), ("cart", engine.carts)] {
            let _ = writeln!(out, "mercato_actors_live{{kind=\"{kind}\"}} {}", stats.live);
            let _ = writeln!(out, "mercato_actor_activations_total{{kind=\"{kind}\"}} {}", stats.activations);
            let _ = writeln!(out, "mercato_actor_passivations_total{{kind=\"{kind}\"}} {}", stats.passivations);
            let _ = writeln!(out, "mercato_actor_restarts_total{{kind=\"{kind}\"}} {}", stats.restarts);
        }
        let store = &engine.store;
        let _ = writeln!(out, "mercato_store_writes_total {}", store.writes.load(Ordering::Relaxed));
        let _ = writeln!(out, "mercato_store_flushes_total {}", store.flushes.load(Ordering::Relaxed));
        let _ = writeln!(out, "# TYPE mercato_group_commit_batch_size histogram");
        histogram(&mut out, "mercato_group_commit_batch_size", "", &store.flush_batch_size.snapshot(), 1.0);
        let _ = writeln!(out, "# TYPE mercato_flush_duration_seconds histogram");
        histogram(&mut out, "mercato_flush_duration_seconds", "", &store.flush_micros.snapshot(), 1e-6);
        let _ = writeln!(out, "# TYPE mercato_projection_lag_events gauge");
        for (name, stats) in &engine.projections {
            let label = format!("{{projection=\"{name}\"}}");
            let _ = writeln!(out, "mercato_projection_lag_events{label} {}", stats.lag());
            let _ = writeln!(out, "mercato_projection_offset{label} {}", stats.offset.load(Ordering::Relaxed));
            let _ = writeln!(out, "mercato_projection_commits_total{label} {}", stats.commits.load(Ordering::Relaxed));
            let _ =
                writeln!(out, "mercato_projection_failures_total{label} {}", stats.failures.load(Ordering::Relaxed));
            let _ =
                writeln!(out, "mercato_projection_rebuilds_total{label} {}", stats.rebuilds.load(Ordering::Relaxed));
        }
        out
    }
}

fn histogram(out: &mut String, name: &str, labels: &str, snapshot: &HistogramSnapshot, scale: f64) {
    let separator = if labels.is_empty() { "" } else { "," };
    for (bound, count) in &snapshot.buckets {
        let le = *bound as f64 * scale;
        let _ = writeln!(out, "{name}_bucket{{{labels}{separator}le=\"{le}\"}} {count}");
    }
    let _ = writeln!(out, "{name}_bucket{{{labels}{separator}le=\"+Inf\"}} {}", snapshot.count);
    let braces = if labels.is_empty() { String::new() } else { format!("{{{labels}}}") };
    let _ = writeln!(out, "{name}_sum{braces} {}", snapshot.sum as f64 * scale);
    let _ = writeln!(out, "{name}_count{braces} {}", snapshot.count);
}

#[cfg(test)]
mod tests {
    use super::route_label;

    #[test]
    fn ids_in_paths_become_placeholders() {
        assert_eq!(route_label("/v1/carts/cart_abc/items/SKU-1"), "/v1/carts/{id}/items/{id}");
        assert_eq!(route_label("/v1/carts/mine/merge"), "/v1/carts/mine/merge");
        assert_eq!(route_label("/v1/reservations/res_1/commit"), "/v1/reservations/{id}/commit");
        assert_eq!(route_label("/health"), "/health");
        assert_eq!(route_label("/"), "/");
    }
}
