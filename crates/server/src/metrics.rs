//! Prometheus metrics, served on `GET /metrics` in the text exposition format: requests,
//! errors and latency by operation, throttles by stage, connections, requests in flight and
//! the audit log's lag. Counters are atomics on the request path; errors by code take one
//! uncontended lock per failed request. Labels come from fixed lists (operation names a client
//! sends that are not on them count as `unknown`), so a client cannot grow the series.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::admin::OPERATIONS as ADMIN_OPERATIONS;
use coffer::Operation;

use crate::protocol::{Named, AWS_OPERATIONS};

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 14] = [
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// Where a request was throttled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ThrottleStage {
    /// The failure budget of a source address (spent by refused requests only).
    SourceIp,
    /// The failure budget of an access key id claimed from one source address.
    AccessKey,
    /// The account's request quota (the facade's ThrottlingException).
    Quota,
}

impl ThrottleStage {
    const ALL: [ThrottleStage; 3] = [Self::SourceIp, Self::AccessKey, Self::Quota];

    fn label(self) -> &'static str {
        match self {
            Self::SourceIp => "source_ip",
            Self::AccessKey => "access_key",
            Self::Quota => "quota",
        }
    }
}

/// Why a connection was closed on accept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Rejection {
    /// The server-wide connection cap.
    Total,
    /// The per-source-address cap.
    PerIp,
}

/// The label of an operation: an index into the label table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct OpLabel(usize);

#[derive(Default)]
struct OpStats {
    count: AtomicU64,
    /// Per bucket (not cumulative); the last is +Inf.
    buckets: [AtomicU64; BUCKETS.len() + 1],
    sum_micros: AtomicU64,
}

/// The server's metrics.
pub(crate) struct Metrics {
    started: Instant,
    labels: Vec<String>,
    ops: Box<[OpStats]>,
    errors: Mutex<BTreeMap<(usize, &'static str), u64>>,
    throttled: [AtomicU64; 3],
    refusals_summarised: AtomicU64,
    rejected: [AtomicU64; 2],
    connections_open: AtomicI64,
    connections_total: AtomicU64,
    in_flight: AtomicI64,
}

impl Metrics {
    pub(crate) fn new() -> Self {
        // Index 0: requests that named no operation (health checks aside: GET, bad target).
        let mut labels = vec!["none".to_owned(), "unknown".to_owned()];
        labels.extend(AWS_OPERATIONS.iter().map(|op| (*op).to_owned()));
        labels.extend(
            ADMIN_OPERATIONS
                .iter()
                .map(|op| format!("CofferAdmin.{op}")),
        );
        let ops = (0..labels.len()).map(|_| OpStats::default()).collect();
        Self {
            started: Instant::now(),
            labels,
            ops,
            errors: Mutex::new(BTreeMap::new()),
            throttled: Default::default(),
            refusals_summarised: AtomicU64::new(0),
            rejected: Default::default(),
            connections_open: AtomicI64::new(0),
            connections_total: AtomicU64::new(0),
            in_flight: AtomicI64::new(0),
        }
    }

    /// The label for a request that named no operation.
    pub(crate) const NONE: OpLabel = OpLabel(0);

    /// The label of a KMS operation name (`unknown` if it is not one): the name is parsed
    /// into its [`Named`] operation, whose slot is its index in the table.
    pub(crate) fn kms_op(op: &str) -> OpLabel {
        Named::parse(op).map_or(OpLabel(1), Self::kms_named)
    }

    /// The label of an operation of the table (for a caller that holds it typed; the
    /// admission path labels by name before authentication).
    #[allow(dead_code)]
    pub(crate) fn kms_operation(op: Operation) -> OpLabel {
        Self::kms_named(Named::Table(op))
    }

    fn kms_named(op: Named) -> OpLabel {
        OpLabel(2 + op.index())
    }

    /// The label of an admin operation name (`unknown` if it is not one).
    pub(crate) fn admin_op(op: &str) -> OpLabel {
        ADMIN_OPERATIONS
            .iter()
            .position(|o| *o == op)
            .map_or(OpLabel(1), |i| OpLabel(2 + AWS_OPERATIONS.len() + i))
    }

    /// The label's text.
    pub(crate) fn label(&self, op: OpLabel) -> &str {
        self.labels.get(op.0).map_or("unknown", String::as_str)
    }

    /// Counts one finished request: its operation, latency and error code (if it failed).
    pub(crate) fn request(&self, op: OpLabel, elapsed: Duration, error: Option<&'static str>) {
        if let Some(stats) = self.ops.get(op.0) {
            stats.count.fetch_add(1, Ordering::Relaxed);
            let secs = elapsed.as_secs_f64();
            let bucket = BUCKETS
                .iter()
                .position(|le| secs <= *le)
                .unwrap_or(BUCKETS.len());
            if let Some(b) = stats.buckets.get(bucket) {
                b.fetch_add(1, Ordering::Relaxed);
            }
            let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
            stats.sum_micros.fetch_add(micros, Ordering::Relaxed);
        }
        if let Some(code) = error {
            *self.errors.lock().entry((op.0, code)).or_insert(0) += 1;
            // The facade's quota refusal, named by its error table.
            if code == coffer::Error::throttling(String::new()).code() {
                self.throttled(ThrottleStage::Quota);
            }
        }
    }

    /// Counts a refused request that the audit log will hold in a summary, not a record of
    /// its own.
    pub(crate) fn refusal_summarised(&self) {
        self.refusals_summarised.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a request throttled at `stage` (quota throttles are counted by [`Self::request`]).
    pub(crate) fn throttled(&self, stage: ThrottleStage) {
        let i = ThrottleStage::ALL
            .iter()
            .position(|s| *s == stage)
            .unwrap_or(0);
        if let Some(c) = self.throttled.get(i) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts a connection closed on accept.
    pub(crate) fn rejected(&self, why: Rejection) {
        let i = usize::from(why == Rejection::PerIp);
        if let Some(c) = self.rejected.get(i) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A connection opened; the guard counts it closed when dropped.
    pub(crate) fn connection(self: &std::sync::Arc<Self>) -> Gauge {
        self.connections_total.fetch_add(1, Ordering::Relaxed);
        self.connections_open.fetch_add(1, Ordering::Relaxed);
        Gauge {
            metrics: self.clone(),
            which: GaugeKind::Connections,
        }
    }

    /// A request started; the guard counts it finished when dropped.
    pub(crate) fn in_flight(self: &std::sync::Arc<Self>) -> Gauge {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        Gauge {
            metrics: self.clone(),
            which: GaugeKind::InFlight,
        }
    }

    /// Requests in flight now.
    pub(crate) fn requests_in_flight(&self) -> i64 {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Requests answered, errors and throttles so far, over every operation (the web
    /// console's history samples these).
    pub(crate) fn totals(&self) -> Totals {
        Totals {
            requests: self
                .ops
                .iter()
                .map(|s| s.count.load(Ordering::Relaxed))
                .sum(),
            errors: self.errors.lock().values().sum(),
            throttles: self
                .throttled
                .iter()
                .map(|c| c.load(Ordering::Relaxed))
                .sum(),
        }
    }

    /// Each operation that has been asked for: its label, requests, errors and throttles
    /// (errors answered ThrottlingException), in label order.
    pub(crate) fn by_operation(&self) -> Vec<(&str, Totals)> {
        let throttling = coffer::Error::throttling(String::new()).code();
        let errors = self.errors.lock();
        self.ops
            .iter()
            .enumerate()
            .filter_map(|(i, stats)| {
                let requests = stats.count.load(Ordering::Relaxed);
                (requests > 0).then(|| {
                    let of_op = errors.range((i, "")..).take_while(|((op, _), _)| *op == i);
                    let (mut errs, mut throttles) = (0, 0);
                    for ((_, code), n) in of_op {
                        errs += n;
                        if *code == throttling {
                            throttles += n;
                        }
                    }
                    (
                        self.label(OpLabel(i)),
                        Totals {
                            requests,
                            errors: errs,
                            throttles,
                        },
                    )
                })
            })
            .collect()
    }

    /// The text exposition, with the audit log's figures read by the caller.
    pub(crate) fn render(&self, audit_unsynced: u64, audit_lost: u64) -> String {
        let mut out = String::with_capacity(16 * 1024);
        let w = &mut out;
        single(
            w,
            "cofferd_uptime_seconds",
            "gauge",
            "Seconds since the server started.",
            self.started.elapsed().as_secs_f64(),
        );
        header(
            w,
            "cofferd_requests_total",
            "counter",
            "Requests answered, by operation.",
        );
        for (i, stats) in self.ops.iter().enumerate() {
            let n = stats.count.load(Ordering::Relaxed);
            if n > 0 {
                let _ = writeln!(
                    w,
                    "cofferd_requests_total{{operation=\"{}\"}} {n}",
                    self.label(OpLabel(i))
                );
            }
        }
        header(
            w,
            "cofferd_errors_total",
            "counter",
            "Requests answered with an error, by operation and AWS error code.",
        );
        for ((op, code), n) in self.errors.lock().iter() {
            let _ = writeln!(
                w,
                "cofferd_errors_total{{operation=\"{}\",code=\"{code}\"}} {n}",
                self.label(OpLabel(*op))
            );
        }
        header(
            w,
            "cofferd_request_duration_seconds",
            "histogram",
            "Time from the request's head to its response, by operation.",
        );
        for (i, stats) in self.ops.iter().enumerate() {
            let count = stats.count.load(Ordering::Relaxed);
            if count == 0 {
                continue;
            }
            let op = self.label(OpLabel(i));
            let mut cumulative = 0u64;
            for (b, le) in BUCKETS.iter().enumerate() {
                cumulative += stats
                    .buckets
                    .get(b)
                    .map_or(0, |c| c.load(Ordering::Relaxed));
                let _ = writeln!(
                    w,
                    "cofferd_request_duration_seconds_bucket{{operation=\"{op}\",le=\"{le}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                w,
                "cofferd_request_duration_seconds_bucket{{operation=\"{op}\",le=\"+Inf\"}} {count}"
            );
            let sum = stats.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
            let _ = writeln!(
                w,
                "cofferd_request_duration_seconds_sum{{operation=\"{op}\"}} {sum}"
            );
            let _ = writeln!(
                w,
                "cofferd_request_duration_seconds_count{{operation=\"{op}\"}} {count}"
            );
        }
        header(
            w,
            "cofferd_throttled_total",
            "counter",
            "Requests refused with ThrottlingException, by stage.",
        );
        for (stage, c) in ThrottleStage::ALL.iter().zip(&self.throttled) {
            let _ = writeln!(
                w,
                "cofferd_throttled_total{{stage=\"{}\"}} {}",
                stage.label(),
                c.load(Ordering::Relaxed)
            );
        }
        single(
            w,
            "cofferd_refusals_summarised_total",
            "counter",
            "Requests refused before an operation that the audit log counts in a summary \
             record instead of recording each.",
            self.refusals_summarised.load(Ordering::Relaxed),
        );
        single(
            w,
            "cofferd_connections_open",
            "gauge",
            "Client connections open now.",
            self.connections_open.load(Ordering::Relaxed),
        );
        single(
            w,
            "cofferd_connections_total",
            "counter",
            "Client connections accepted.",
            self.connections_total.load(Ordering::Relaxed),
        );
        header(
            w,
            "cofferd_connections_rejected_total",
            "counter",
            "Connections closed on accept, by the cap they hit.",
        );
        for (reason, c) in ["total", "per_ip"].iter().zip(&self.rejected) {
            let _ = writeln!(
                w,
                "cofferd_connections_rejected_total{{cap=\"{reason}\"}} {}",
                c.load(Ordering::Relaxed)
            );
        }
        single(
            w,
            "cofferd_requests_in_flight",
            "gauge",
            "Requests being served now.",
            self.requests_in_flight(),
        );
        single(
            w,
            "cofferd_audit_unsynced_records",
            "gauge",
            "Audit records appended but not yet fsynced (the audit log's lag).",
            audit_unsynced,
        );
        single(
            w,
            "cofferd_audit_lost_events_total",
            "counter",
            "Audit events lost while failing open.",
            audit_lost,
        );
        out
    }
}

/// Counts of requests, errors and throttles.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Totals {
    pub(crate) requests: u64,
    pub(crate) errors: u64,
    pub(crate) throttles: u64,
}

/// A metric without labels: its header and its one sample.
fn single(w: &mut String, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
    header(w, name, kind, help);
    let _ = writeln!(w, "{name} {value}");
}

fn header(w: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(w, "# HELP {name} {help}");
    let _ = writeln!(w, "# TYPE {name} {kind}");
}

#[derive(Debug)]
enum GaugeKind {
    Connections,
    InFlight,
}

/// Decrements its gauge when dropped.
pub(crate) struct Gauge {
    metrics: std::sync::Arc<Metrics>,
    which: GaugeKind,
}

impl Drop for Gauge {
    fn drop(&mut self) {
        let g = match self.which {
            GaugeKind::Connections => &self.metrics.connections_open,
            GaugeKind::InFlight => &self.metrics.in_flight,
        };
        g.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// The value of the sample `name` (with its labels) in `text`.
    fn sample(text: &str, name: &str) -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
    }

    #[test]
    fn counts_render_in_the_exposition_format() {
        let m = Arc::new(Metrics::new());
        let enc = Metrics::kms_op("Encrypt");
        m.request(enc, Duration::from_micros(300), None);
        m.request(enc, Duration::from_millis(3), Some("NotFoundException"));
        m.request(enc, Duration::from_secs(10), Some("ThrottlingException"));
        m.request(Metrics::kms_op("NoSuchThing"), Duration::ZERO, None);
        m.request(
            Metrics::admin_op("CreateCredential"),
            Duration::ZERO,
            Some("AccessDeniedException"),
        );
        m.throttled(ThrottleStage::SourceIp);
        m.refusal_summarised();
        m.rejected(Rejection::PerIp);
        let conn = m.connection();
        let req = m.in_flight();
        let text = m.render(3, 1);
        let get = |name: &str| sample(&text, name).unwrap_or_else(|| panic!("{name}\n{text}"));
        assert_eq!(get("cofferd_requests_total{operation=\"Encrypt\"}"), 3.0);
        assert_eq!(get("cofferd_requests_total{operation=\"unknown\"}"), 1.0);
        assert_eq!(
            get("cofferd_errors_total{operation=\"Encrypt\",code=\"NotFoundException\"}"),
            1.0
        );
        assert_eq!(
            get("cofferd_errors_total{operation=\"CofferAdmin.CreateCredential\",code=\"AccessDeniedException\"}"),
            1.0
        );
        // Cumulative buckets: 300 µs falls at le=0.0005, 3 ms at le=0.005, 10 s only at +Inf.
        assert_eq!(
            get("cofferd_request_duration_seconds_bucket{operation=\"Encrypt\",le=\"0.00025\"}"),
            0.0
        );
        assert_eq!(
            get("cofferd_request_duration_seconds_bucket{operation=\"Encrypt\",le=\"0.0005\"}"),
            1.0
        );
        assert_eq!(
            get("cofferd_request_duration_seconds_bucket{operation=\"Encrypt\",le=\"0.005\"}"),
            2.0
        );
        assert_eq!(
            get("cofferd_request_duration_seconds_bucket{operation=\"Encrypt\",le=\"2.5\"}"),
            2.0
        );
        assert_eq!(
            get("cofferd_request_duration_seconds_bucket{operation=\"Encrypt\",le=\"+Inf\"}"),
            3.0
        );
        assert_eq!(
            get("cofferd_request_duration_seconds_count{operation=\"Encrypt\"}"),
            3.0
        );
        assert_eq!(get("cofferd_throttled_total{stage=\"source_ip\"}"), 1.0);
        assert_eq!(get("cofferd_throttled_total{stage=\"quota\"}"), 1.0);
        assert_eq!(get("cofferd_refusals_summarised_total"), 1.0);
        assert_eq!(
            get("cofferd_connections_rejected_total{cap=\"per_ip\"}"),
            1.0
        );
        assert_eq!(get("cofferd_connections_open"), 1.0);
        assert_eq!(get("cofferd_requests_in_flight"), 1.0);
        assert_eq!(get("cofferd_audit_unsynced_records"), 3.0);
        assert_eq!(get("cofferd_audit_lost_events_total"), 1.0);
        drop((conn, req));
        let text = m.render(0, 0);
        assert_eq!(sample(&text, "cofferd_connections_open"), Some(0.0));
        assert_eq!(sample(&text, "cofferd_requests_in_flight"), Some(0.0));
        // Every sample line is `name{labels} value` or `name value`; no label a client chose.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            assert!(line.starts_with("cofferd_"), "{line}");
            assert!(!line.contains("NoSuchThing"), "{line}");
        }
    }
}
