//! Request metrics and the Prometheus text rendering of `GET /metrics`.

use crate::metrics::{Histogram, HistogramSnapshot, MICROS_BOUNDS};
use crate::EngineStats;
use dashmap::DashMap;
use std::fmt::Write;
use std::sync::atomic::Ordering;

/// Per-route request latency histograms, keyed by (method, route template,
/// status). Every part of the key comes from a bounded set: the methods the
/// routes use (anything else is `other`), the templates of the route table
/// (anything else is `unmatched`) and the three-digit statuses, so no request
/// can add a series of its own, and no id, code or token reaches a label.
#[derive(Default)]
pub struct HttpMetrics {
    requests: DashMap<(&'static str, &'static str, u16), Histogram, foldhash::fast::RandomState>,
}

/// The label of every path no route template matches.
pub const UNMATCHED: &str = "unmatched";

/// The route templates of the table as a tree of path segments, for naming
/// a request's route without its ids: a request walks it once, segment by
/// segment (literals before `{name}` placeholders), instead of trying every
/// template.
#[derive(Debug, Default, Clone)]
pub struct RouteIndex {
    root: Node,
}

#[derive(Debug, Default, Clone)]
struct Node {
    literals: Vec<(&'static str, Node)>,
    param: Option<Box<Node>>,
    /// The templates that end here, with their methods.
    ends: Vec<(&'static str, &'static str)>,
}

impl Node {
    /// The template `segments` reach from here, preferring one of `method`,
    /// with the number of literal segments it matched.
    fn find(&self, method: &str, segments: &[&str]) -> Option<(bool, &'static str)> {
        let Some((first, rest)) = segments.split_first() else {
            let exact = self.ends.iter().find(|(route_method, _)| *route_method == method);
            return exact.map(|(_, template)| (true, *template)).or(self.ends.first().map(|(_, t)| (false, *t)));
        };
        let literal =
            self.literals.iter().find(|(segment, _)| segment == first).and_then(|(_, node)| node.find(method, rest));
        if let Some((true, template)) = literal {
            return Some((true, template));
        }
        let param = self.param.as_ref().and_then(|node| node.find(method, rest));
        match (literal, param) {
            (_, Some((true, template))) => Some((true, template)),
            (Some(found), _) => Some(found),
            (None, param) => param,
        }
    }
}

impl RouteIndex {
    /// The index of `(method, template)` pairs such as `("GET", "/v1/orders/{id}")`.
    pub fn new(routes: impl IntoIterator<Item = (&'static str, &'static str)>) -> Self {
        let mut root = Node::default();
        for (method, template) in routes {
            let mut node = &mut root;
            for segment in template.split('/').filter(|s| !s.is_empty()) {
                node = if segment.starts_with('{') {
                    node.param.get_or_insert_with(Box::default)
                } else {
                    let at = match node.literals.iter().position(|(literal, _)| *literal == segment) {
                        Some(at) => at,
                        None => {
                            node.literals.push((segment, Node::default()));
                            node.literals.len() - 1
                        }
                    };
                    &mut node.literals[at].1
                };
            }
            node.ends.push((method, template));
        }
        RouteIndex { root }
    }

    /// The template `path` matches (`{name}` matches any one segment,
    /// literals win over placeholders), preferring one of `method` (a
    /// template of another method names a 405); a path that matches none is
    /// [`UNMATCHED`].
    pub fn template(&self, method: &str, path: &str) -> &'static str {
        let mut segments = [""; 8];
        let mut count = 0;
        for segment in path.split('/').filter(|s| !s.is_empty()) {
            if count == segments.len() {
                return UNMATCHED;
            }
            segments[count] = segment;
            count += 1;
        }
        self.root.find(method, &segments[..count]).map_or(UNMATCHED, |(_, template)| template)
    }
}

/// A method as a label: the ones routes use, or `other`.
pub fn method_label(method: &warp::http::Method) -> &'static str {
    use warp::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// A label value as the text format wants it: backslash, double quote and
/// line feed escaped.
pub fn escape_label(value: &str) -> std::borrow::Cow<'_, str> {
    if !value.contains(['\\', '"', '\n']) {
        return std::borrow::Cow::Borrowed(value);
    }
    let mut escaped = String::with_capacity(value.len() + 8);
    for c in value.chars() {
        match c {
            '\\' => escaped.push_str("\\\\"),
            '"' => escaped.push_str("\\\""),
            '\n' => escaped.push_str("\\n"),
            c => escaped.push(c),
        }
    }
    std::borrow::Cow::Owned(escaped)
}

impl HttpMetrics {
    /// Counts one answered request.
    pub fn record(&self, method: &'static str, route: &'static str, status: u16, micros: u64) {
        let key = (method, route, status);
        if let Some(histogram) = self.requests.get(&key) {
            histogram.record(micros);
            return;
        }
        self.requests.entry(key).or_insert_with(|| Histogram::new(MICROS_BOUNDS)).record(micros);
    }

    /// How many (method, route, status) series there are.
    pub fn series(&self) -> usize {
        self.requests.len()
    }

    /// Renders the request histograms.
    fn render_requests(&self, out: &mut String) {
        let _ = writeln!(out, "# TYPE mercato_http_request_duration_seconds histogram");
        let mut rows: Vec<((&str, &str, u16), HistogramSnapshot)> =
            self.requests.iter().map(|entry| (*entry.key(), entry.value().snapshot())).collect();
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        for ((method, route, status), snapshot) in rows {
            let (method, route) = (escape_label(method), escape_label(route));
            let labels = format!("method=\"{method}\",route=\"{route}\",status=\"{status}\"");
            histogram(out, "mercato_http_request_duration_seconds", &labels, &snapshot, 1e-6);
        }
    }

    /// Renders request metrics and the engine's counters.
    pub fn render(&self, engine: &EngineStats) -> String {
        let mut out = String::with_capacity(8 << 10);
        self.render_requests(&mut out);
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
            let label = format!("{{projection=\"{}\"}}", escape_label(name));
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
    use super::*;

    fn index() -> RouteIndex {
        RouteIndex::new([
            ("GET", "/health"),
            ("POST", "/v1/carts"),
            ("GET", "/v1/carts/{id}"),
            ("POST", "/v1/carts/{id}/items"),
            ("PUT", "/v1/carts/{id}/items/{sku}"),
            ("POST", "/v1/carts/mine/merge"),
            ("POST", "/v1/reservations/{id}/commit"),
        ])
    }

    #[test]
    fn a_path_is_named_by_the_template_it_matches() {
        let index = index();
        assert_eq!(index.template("PUT", "/v1/carts/cart_abc/items/SKU-1"), "/v1/carts/{id}/items/{sku}");
        assert_eq!(index.template("POST", "/v1/carts/mine/merge"), "/v1/carts/mine/merge");
        assert_eq!(index.template("POST", "/v1/reservations/res_1/commit"), "/v1/reservations/{id}/commit");
        assert_eq!(index.template("GET", "/health"), "/health");
        assert_eq!(index.template("GET", "/v1/carts/c1/"), "/v1/carts/{id}");
    }

    #[test]
    fn a_template_of_another_method_names_a_405_and_anything_else_is_unmatched() {
        let index = index();
        assert_eq!(index.template("DELETE", "/v1/carts/c1"), "/v1/carts/{id}");
        assert_eq!(index.template("GET", "/"), UNMATCHED);
        assert_eq!(index.template("GET", "/v1/gift-cards/gc_secret"), UNMATCHED);
        assert_eq!(index.template("GET", "/v1/carts/c1/items/x/y/z"), UNMATCHED);
        assert_eq!(index.template("GET", "/health\"/x"), UNMATCHED);
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label("plain"), "plain");
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn requests_of_unknown_routes_share_one_series() {
        let metrics = HttpMetrics::default();
        let index = index();
        for n in 0..1_000 {
            let path = format!("/random/{n}");
            metrics.record("GET", index.template("GET", &path), 404, 10);
        }
        assert_eq!(metrics.series(), 1);
        let mut text = String::new();
        metrics.render_requests(&mut text);
        assert!(text.contains("route=\"unmatched\""), "{text}");
        assert!(!text.contains("/random/"), "{text}");
    }
}
