//! Prometheus metrics for the HTTP edge: requests by route and status, latency, open
//! connections, and the database pool. Rendered as text at `/metrics`.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    pub http_requests: IntCounterVec,
    pub http_duration: HistogramVec,
    pub http_in_flight: IntGauge,
    pub open_connections: IntGauge,
    pub db_pool_size: IntGauge,
    pub db_pool_idle: IntGauge,
    pub db_pool_max: IntGauge,
    pub ws_connections: IntGauge,
    pub ws_requests: IntCounter,
    pub hub_deliveries: IntCounter,
    pub ws_slow_consumers: IntCounter,
    pub urgent_reminders: IntCounter,
    pub urgent_escalations: IntCounter,
    pub signin_failures: IntCounterVec,
    pub connections_refused: IntCounterVec,
    pub upload_bytes: IntCounter,
    pub files_stored: IntCounterVec,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    pub fn new() -> Result<Metrics, prometheus::Error> {
        let registry = Registry::new_custom(Some("parley".into()), None)?;
        let http_requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests answered, by route, method and status.",
            ),
            &["route", "method", "status"],
        )?;
        let http_duration = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "Time to answer an HTTP request.",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
            ]),
            &["route", "method"],
        )?;
        let http_in_flight =
            IntGauge::new("http_requests_in_flight", "HTTP requests being answered.")?;
        let open_connections = IntGauge::new(
            "http_open_connections",
            "Open HTTP connections (TCP or TLS).",
        )?;
        let db_pool_size = IntGauge::new(
            "db_pool_connections",
            "Database connections open in the pool.",
        )?;
        let db_pool_idle = IntGauge::new(
            "db_pool_idle_connections",
            "Database connections idle in the pool.",
        )?;
        let db_pool_max = IntGauge::new("db_pool_max_connections", "The pool's connection limit.")?;
        registry.register(Box::new(http_requests.clone()))?;
        registry.register(Box::new(http_duration.clone()))?;
        registry.register(Box::new(http_in_flight.clone()))?;
        registry.register(Box::new(open_connections.clone()))?;
        registry.register(Box::new(db_pool_size.clone()))?;
        registry.register(Box::new(db_pool_idle.clone()))?;
        registry.register(Box::new(db_pool_max.clone()))?;
        let ws_connections =
            IntGauge::new("ws_connections", "Open messaging WebSocket connections.")?;
        let ws_requests = IntCounter::new(
            "ws_requests_total",
            "Messaging WebSocket requests accepted for handling.",
        )?;
        let hub_deliveries = IntCounter::new(
            "hub_deliveries_total",
            "Events and notices queued for connections by the hub.",
        )?;
        let ws_slow_consumers = IntCounter::new(
            "ws_slow_consumer_disconnects_total",
            "Connections dropped for not reading fast enough.",
        )?;
        registry.register(Box::new(ws_connections.clone()))?;
        registry.register(Box::new(ws_requests.clone()))?;
        registry.register(Box::new(hub_deliveries.clone()))?;
        registry.register(Box::new(ws_slow_consumers.clone()))?;
        let urgent_reminders =
            IntCounter::new("urgent_reminders_total", "Urgent-ping reminders sent.")?;
        let urgent_escalations = IntCounter::new(
            "urgent_escalations_total",
            "Unacknowledged ping recipients escalated to the webhook.",
        )?;
        registry.register(Box::new(urgent_reminders.clone()))?;
        registry.register(Box::new(urgent_escalations.clone()))?;
        let signin_failures = IntCounterVec::new(
            Opts::new(
                "auth_signin_failures_total",
                "Sign-ins refused: wrong_password (or no such account), or throttled after repeated failures.",
            ),
            &["reason"],
        )?;
        let connections_refused = IntCounterVec::new(
            Opts::new(
                "http_connections_refused_total",
                "Connections refused at accept because too many were open: in all (total) or from one address (per_address).",
            ),
            &["limit"],
        )?;
        registry.register(Box::new(signin_failures.clone()))?;
        registry.register(Box::new(connections_refused.clone()))?;
        let upload_bytes = IntCounter::new(
            "upload_bytes_total",
            "File bytes received by uploads (tus and plain), kept in staging until complete.",
        )?;
        let files_stored = IntCounterVec::new(
            Opts::new(
                "files_stored_total",
                "Completed uploads, by whether their content was new or already stored (deduplicated).",
            ),
            &["content"],
        )?;
        registry.register(Box::new(upload_bytes.clone()))?;
        registry.register(Box::new(files_stored.clone()))?;
        Ok(Metrics {
            registry,
            http_requests,
            http_duration,
            http_in_flight,
            open_connections,
            db_pool_size,
            db_pool_idle,
            db_pool_max,
            ws_connections,
            ws_requests,
            hub_deliveries,
            ws_slow_consumers,
            urgent_reminders,
            urgent_escalations,
            signin_failures,
            connections_refused,
            upload_bytes,
            files_stored,
        })
    }

    pub fn file_bytes_received(&self, bytes: i64) {
        self.upload_bytes.inc_by(u64::try_from(bytes).unwrap_or(0));
    }

    /// A completed upload: `new` content, or content already stored.
    pub fn file_stored(&self, new: bool) {
        let content = if new { "new" } else { "duplicate" };
        self.files_stored.with_label_values(&[content]).inc();
    }

    /// The exposition text of every metric.
    /// Where other parts (the media workers) register their own figures.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    pub fn render(&self) -> Result<String, prometheus::Error> {
        let mut buffer = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut buffer)?;
        String::from_utf8(buffer).map_err(|e| prometheus::Error::Msg(e.to_string()))
    }
}
