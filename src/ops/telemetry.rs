//! What operators see: structured logs without personal data, and CloudWatch metrics as
//! Embedded Metric Format (EMF) lines.
//!
//! Logs follow the Lambda runtime's conventions (`AWS_LAMBDA_LOG_FORMAT=JSON` for JSON lines,
//! `AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG`, for the level). Whatever the level, the AWS SDK's
//! and the HTTP stack's own events are capped at INFO: at DEBUG and TRACE they print request
//! and response bodies, which hold personal data. The function's own events carry names
//! (routes, field names, principal ids, customer ids), never values.
//!
//! EMF is written by hand: the format is one small, documented JSON shape
//! (<https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>),
//! and one line per request needs no metrics registry or aggregation.

use std::io::Write;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value as Json};
use tracing_subscriber::filter::{Directive, EnvFilter, LevelFilter};
use tracing_subscriber::fmt::MakeWriter;

/// The CloudWatch namespace of the function's metrics.
pub const NAMESPACE: &str = "PersonPatch";

/// Targets whose events may hold request or response bodies: capped at INFO. A target is a
/// prefix: `aws_sdk_` covers every AWS service client crate.
const QUIET_TARGETS: &[&str] = &[
    "aws_smithy_runtime",
    "aws_smithy_runtime_api",
    "aws_smithy_http_client",
    "aws_smithy_types",
    "aws_sdk_",
    "aws_runtime",
    "aws_sigv4",
    "aws_config",
    "hyper",
    "hyper_util",
    "h2",
    "rustls",
    "lambda_runtime",
    "lambda_runtime_api_client",
    "lambda_http",
];

/// The target of each invocation's span ([`invocation_span`]), enabled at every log level.
const INVOCATION_TARGET: &str = "invocation";

/// The span every line an invocation logs is written in: its Lambda request id and X-Ray
/// trace id stand in each such line (`span` and `spans` in JSON), so the lines of invocations
/// that run at once in one environment are told apart. Its target is enabled whatever the
/// level, so a line at `WARN` carries them too.
pub fn invocation_span(request_id: &str, trace_id: Option<&str>) -> tracing::Span {
    tracing::info_span!(
        target: INVOCATION_TARGET,
        "invocation",
        requestId = request_id,
        traceId = trace_id.unwrap_or("-")
    )
}

/// Reports a panic as one log line naming where it happened, without its message (a message
/// may hold a value the request carried); the request is answered 500 by the event adapter.
pub fn log_panics() {
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map_or_else(|| "-".to_owned(), |l| format!("{}:{}", l.file(), l.line()));
        tracing::error!(%location, "panic");
    }));
}

/// Installs the log subscriber, writing to stdout.
pub fn init_logging() {
    init_logging_with_writer(std::io::stdout);
}

/// Installs the log subscriber with `writer` (tests capture the output this way).
pub fn init_logging_with_writer<W>(writer: W)
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok()
        .and_then(|l| level_filter(&l))
        .unwrap_or(LevelFilter::INFO);
    let mut filter = EnvFilter::builder()
        .with_default_directive(level.into())
        .parse_lossy("");
    if let Ok(directive) = Directive::from_str(&format!("{INVOCATION_TARGET}=info")) {
        filter = filter.add_directive(directive);
    }
    for target in QUIET_TARGETS {
        if let Ok(directive) = Directive::from_str(&format!("{target}=info")) {
            filter = filter.add_directive(directive);
        }
    }
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt()
        .with_target(false)
        .without_time()
        .with_env_filter(filter)
        .with_writer(writer);
    let installed = if json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
    if installed.is_err() {
        tracing::debug!("a log subscriber was already installed");
    }
}

/// A level name as Lambda (`TRACE`, `DEBUG`, `INFO`, `WARN`, `ERROR`, `FATAL`) or `RUST_LOG`
/// spells it, in any case. `FATAL` has no tracing level of its own: it keeps errors only.
pub fn level_filter(name: &str) -> Option<LevelFilter> {
    match name.trim().to_ascii_lowercase().as_str() {
        "fatal" | "critical" => Some(LevelFilter::ERROR),
        "warning" => Some(LevelFilter::WARN),
        other => LevelFilter::from_str(other).ok(),
    }
}

/// What one request contributes to the metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestMetrics {
    /// The dialect name, or `unmatched` for requests no route matched.
    pub route: &'static str,
    pub status: u16,
    /// Milliseconds from the request's arrival to its answer.
    pub latency_ms: f64,
    /// Milliseconds spent in DynamoDB calls, when any were made.
    pub store_latency_ms: Option<f64>,
    pub auth_failed: bool,
    pub validation_failed: bool,
    pub throttled: bool,
    /// The Lambda request id and X-Ray trace id of the invocation, written beside the metrics
    /// (as `requestId` and `traceId`), so a metric line is traced to its invocation.
    pub invocation: Option<(String, Option<String>)>,
}

/// Where EMF lines go.
#[derive(Debug, Clone)]
pub enum MetricsSink {
    /// Standard output, which Lambda sends to CloudWatch Logs (which extracts the metrics).
    Stdout,
    /// Kept in memory (tests).
    Memory(Arc<Mutex<Vec<String>>>),
    /// Nowhere.
    Off,
}

/// Emits one EMF line per request; knows whether this container has answered yet.
#[derive(Debug)]
pub struct Metrics {
    sink: MetricsSink,
    warm: AtomicBool,
    /// The function version running (Lambda's `AWS_LAMBDA_FUNCTION_VERSION`), when it is a
    /// published one: every metric is then also dimensioned by it, so a deployment's alarms
    /// can watch the new version alone.
    version: Option<String>,
}

/// Lambda's environment variable naming the running version (`$LATEST` or a number).
pub const FUNCTION_VERSION_ENV: &str = "AWS_LAMBDA_FUNCTION_VERSION";

impl Metrics {
    pub fn new(sink: MetricsSink) -> Self {
        let version = std::env::var(FUNCTION_VERSION_ENV)
            .ok()
            .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()));
        Metrics {
            sink,
            warm: AtomicBool::new(false),
            version,
        }
    }

    pub fn record(&self, request: &RequestMetrics) {
        if matches!(self.sink, MetricsSink::Off) {
            return;
        }
        let cold = !self.warm.swap(true, Ordering::Relaxed);
        let line = emf_line(request, cold, self.version.as_deref(), now_millis()).to_string();
        self.sink.write(&line);
    }
}

impl MetricsSink {
    /// Writes one EMF line.
    pub fn write(&self, line: &str) {
        match self {
            MetricsSink::Stdout => {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{line}");
            }
            MetricsSink::Memory(lines) => {
                if let Ok(mut lines) = lines.lock() {
                    lines.push(line.to_owned());
                }
            }
            MetricsSink::Off => {}
        }
    }
}

fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// One request's EMF document: every metric dimensioned by `Route`, and by `FunctionVersion`
/// too when `version` is given.
pub fn emf_line(
    request: &RequestMetrics,
    cold_start: bool,
    version: Option<&str>,
    timestamp_ms: u64,
) -> Json {
    let class = match request.status {
        200..=299 => "2xx",
        400..=499 => "4xx",
        _ => "5xx",
    };
    let count = |flag: bool| json!(u8::from(flag));
    let mut metrics: Vec<(&str, &str, Json)> = vec![
        ("Requests", "Count", json!(1)),
        ("Status2xx", "Count", count(class == "2xx")),
        ("Status4xx", "Count", count(class == "4xx")),
        ("Status5xx", "Count", count(class == "5xx")),
        ("Latency", "Milliseconds", json!(round3(request.latency_ms))),
        ("ColdStart", "Count", count(cold_start)),
        ("AuthFailures", "Count", count(request.auth_failed)),
        (
            "ValidationFailures",
            "Count",
            count(request.validation_failed),
        ),
        ("Throttles", "Count", count(request.throttled)),
    ];
    if let Some(store) = request.store_latency_ms {
        metrics.push(("DynamoDBLatency", "Milliseconds", json!(round3(store))));
    }
    let route = ("Route", request.route);
    let mut document = match version {
        Some(version) => emf_document_at(
            &[route, ("FunctionVersion", version)],
            &metrics,
            timestamp_ms,
        ),
        None => emf_document_at(&[route], &metrics, timestamp_ms),
    };
    if let (Some((request_id, trace_id)), Some(fields)) =
        (&request.invocation, document.as_object_mut())
    {
        fields.insert("requestId".into(), json!(request_id));
        if let Some(trace_id) = trace_id {
            fields.insert("traceId".into(), json!(trace_id));
        }
    }
    document
}

/// An EMF document, now, with one dimension: `metrics` as (name, unit, value).
pub fn emf_document(dimension: (&str, &str), metrics: &[(&str, &str, Json)]) -> Json {
    emf_document_at(&[dimension], metrics, now_millis())
}

/// An EMF document whose metrics are dimensioned by each of `dimensions` on its own.
fn emf_document_at(
    dimensions: &[(&str, &str)],
    metrics: &[(&str, &str, Json)],
    timestamp_ms: u64,
) -> Json {
    let definitions: Vec<Json> = metrics
        .iter()
        .map(|(name, unit, _)| json!({"Name": name, "Unit": unit}))
        .collect();
    let mut document = Map::new();
    document.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": dimensions.iter().map(|(name, _)| json!([name])).collect::<Vec<_>>(),
                "Metrics": definitions,
            }],
        }),
    );
    for (name, value) in dimensions {
        document.insert((*name).into(), json!(value));
    }
    for (name, _, value) in metrics {
        document.insert((*name).into(), value.clone());
    }
    Json::Object(document)
}

fn round3(ms: f64) -> f64 {
    (ms * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_lambda_log_level_maps() {
        for (name, level) in [
            ("TRACE", LevelFilter::TRACE),
            ("DEBUG", LevelFilter::DEBUG),
            ("INFO", LevelFilter::INFO),
            ("WARN", LevelFilter::WARN),
            ("ERROR", LevelFilter::ERROR),
            ("FATAL", LevelFilter::ERROR),
            ("fatal", LevelFilter::ERROR),
            ("warning", LevelFilter::WARN),
            ("off", LevelFilter::OFF),
        ] {
            assert_eq!(level_filter(name), Some(level), "{name}");
        }
        assert_eq!(level_filter("loud"), None);
    }

    fn sample(status: u16) -> RequestMetrics {
        RequestMetrics {
            route: "contacts-v1",
            status,
            latency_ms: 12.34567,
            store_latency_ms: Some(8.0),
            auth_failed: false,
            validation_failed: status == 422,
            throttled: false,
            invocation: Some(("lambda-1".into(), Some("Root=1-a-b".into()))),
        }
    }

    #[test]
    fn status_classes_and_flags() {
        let line = emf_line(&sample(422), true, None, 1);
        assert_eq!(line["Status4xx"], 1);
        assert_eq!(line["Status2xx"], 0);
        assert_eq!(line["ValidationFailures"], 1);
        assert_eq!(line["ColdStart"], 1);
        assert_eq!(line["Latency"], 12.346);
        assert_eq!(line["Route"], "contacts-v1");
        assert!(line.get("FunctionVersion").is_none());
        assert_eq!(line["requestId"], "lambda-1");
        assert_eq!(line["traceId"], "Root=1-a-b");
    }

    #[test]
    fn a_published_version_is_a_dimension_too() {
        let line = emf_line(&sample(503), false, Some("7"), 1);
        assert_eq!(line["FunctionVersion"], "7");
        assert_eq!(
            line["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["Route"], ["FunctionVersion"]])
        );
        assert_eq!(line["Status5xx"], 1);
    }

    #[test]
    fn cold_start_counts_once_per_container() {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let metrics = Metrics::new(MetricsSink::Memory(Arc::clone(&lines)));
        metrics.record(&sample(204));
        metrics.record(&sample(204));
        let lines = lines.lock().unwrap();
        let first: Json = serde_json::from_str(&lines[0]).unwrap();
        let second: Json = serde_json::from_str(&lines[1]).unwrap();
        assert_eq!(first["ColdStart"], 1);
        assert_eq!(second["ColdStart"], 0);
    }
}
