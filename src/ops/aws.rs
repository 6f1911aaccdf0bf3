//! How the functions talk to AWS services (DynamoDB, EventBridge): retries and timeouts chosen
//! for a Lambda behind API Gateway, not the SDK's defaults (whose standard retry backs off from
//! one second); the roots TLS trusts; and how an SDK error may be logged.
//!
//! The budget: an attempt may take 1.5 s, three attempts with 25–250 ms backoff fit in the 4 s
//! operation timeout, which leaves the 10 s function timeout (and API Gateway's 30 s) far away:
//! a slow or unreachable DynamoDB becomes a 503 with `Retry-After`, never a hung invocation.
//!
//! Every call names the X-Ray trace of the invocation it is made for ([`InvocationTrace`]).

use std::future::Future;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode, TlsContext, TrustStore};
use aws_smithy_http_client::Builder as HttpClientBuilder;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextMut;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use aws_types::request_id::RequestId;

/// Single-file CA bundles, where the common Linux distributions keep them: Amazon Linux 2023
/// (Lambda's `provided.al2023`) and RHEL first, then Debian/Ubuntu, then Alpine.
const CA_BUNDLES: &[&str] = &[
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/ssl/cert.pem",
];

/// The roots AWS's own endpoints chain to (Amazon Root CA 1–4, Starfield Services Root G2).
const AMAZON_ROOTS: &[u8] = include_bytes!("amazon-roots.pem");

/// The roots TLS connections to DynamoDB trust. At AWS's own endpoints (no endpoint override
/// in `AWS_ENDPOINT_URL_DYNAMODB` or `AWS_ENDPOINT_URL`, and neither `SSL_CERT_FILE` nor
/// `SSL_CERT_DIR` set), the five roots those endpoints chain to, built in: no bundle is read
/// or parsed during init. Otherwise one CA bundle file, read once: the file `SSL_CERT_FILE`
/// names, else the system's.
///
/// The platform default also walks the CA directory and reads every hashed link in it (on
/// Debian, about 150 files: 3 ms of this function's 5 ms start-up); the bundle file holds the
/// same roots. When `SSL_CERT_DIR` is set, or no bundle is found, the platform default applies
/// unchanged. Certificates the TLS stack cannot use are skipped with a warning (the HTTP
/// client would otherwise panic on them while opening the first connection).
pub fn trust_store() -> TrustStore {
    if std::env::var_os("SSL_CERT_DIR").is_some() {
        return TrustStore::default();
    }
    let overridden = [
        "SSL_CERT_FILE",
        "AWS_ENDPOINT_URL_DYNAMODB",
        "AWS_ENDPOINT_URL",
    ]
    .iter()
    .any(|name| std::env::var_os(name).is_some_and(|v| !v.is_empty()));
    if !overridden {
        return TrustStore::empty().with_pem_certificate(AMAZON_ROOTS);
    }
    let named = std::env::var_os("SSL_CERT_FILE").map(std::path::PathBuf::from);
    let candidates: Vec<std::path::PathBuf> = match named {
        Some(path) => vec![path],
        None => CA_BUNDLES.iter().map(std::path::PathBuf::from).collect(),
    };
    for path in candidates {
        if let Ok(pem) = std::fs::read(&path) {
            let (usable, skipped) = usable_certificates(&pem);
            if skipped > 0 {
                tracing::warn!(
                    bundle = %path.display(),
                    skipped,
                    "CA bundle entries the TLS stack cannot use were skipped"
                );
            }
            if !usable.is_empty() {
                return TrustStore::empty().with_pem_certificate(usable);
            }
        }
    }
    TrustStore::default()
}

/// The certificates of a PEM bundle that parse as trust anchors, re-encoded as PEM, and how
/// many entries were skipped. A malformed PEM section ends the reading there.
pub fn usable_certificates(pem: &[u8]) -> (Vec<u8>, usize) {
    use base64::Engine;
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::CertificateDer;

    let mut usable = Vec::with_capacity(pem.len());
    let mut skipped = 0;
    for entry in CertificateDer::pem_slice_iter(pem) {
        let Ok(der) = entry else {
            skipped += 1;
            break;
        };
        if webpki::anchor_from_trusted_cert(&der).is_err() {
            skipped += 1;
            continue;
        }
        let encoded = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
        usable.extend_from_slice(b"-----BEGIN CERTIFICATE-----\n");
        for line in encoded.as_bytes().chunks(64) {
            usable.extend_from_slice(line);
            usable.push(b'\n');
        }
        usable.extend_from_slice(b"-----END CERTIFICATE-----\n");
    }
    (usable, skipped)
}

/// The HTTPS client for DynamoDB: rustls with aws-lc (the SDK's default provider), trusting
/// [`trust_store`].
pub fn http_client() -> SharedHttpClient {
    http_client_trusting(trust_store())
}

/// The HTTPS client for DynamoDB trusting `store`.
pub fn http_client_trusting(store: TrustStore) -> SharedHttpClient {
    let builder = HttpClientBuilder::new().tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc));
    match TlsContext::builder().with_trust_store(store).build() {
        Ok(context) => builder.tls_context(context).build_https(),
        Err(_) => builder.build_https(),
    }
}

/// Retry and timeout settings for the DynamoDB client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdkSettings {
    pub connect_timeout: Duration,
    pub attempt_timeout: Duration,
    pub operation_timeout: Duration,
    pub max_attempts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for SdkSettings {
    fn default() -> Self {
        SdkSettings {
            connect_timeout: Duration::from_millis(500),
            attempt_timeout: Duration::from_millis(1500),
            operation_timeout: Duration::from_secs(4),
            max_attempts: 3,
            initial_backoff: Duration::from_millis(25),
            max_backoff: Duration::from_millis(250),
        }
    }
}

impl SdkSettings {
    /// For the events function, which runs off the request path: more patience with
    /// EventBridge (a failed batch is retried by Lambda from the stream anyway).
    pub fn events() -> Self {
        SdkSettings {
            connect_timeout: Duration::from_secs(1),
            attempt_timeout: Duration::from_secs(3),
            operation_timeout: Duration::from_secs(20),
            max_attempts: 5,
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(2),
        }
    }

    pub fn retry_config(&self) -> RetryConfig {
        RetryConfig::standard()
            .with_max_attempts(self.max_attempts)
            .with_initial_backoff(self.initial_backoff)
            .with_max_backoff(self.max_backoff)
    }

    pub fn timeout_config(&self) -> TimeoutConfig {
        TimeoutConfig::builder()
            .connect_timeout(self.connect_timeout)
            .operation_attempt_timeout(self.attempt_timeout)
            .operation_timeout(self.operation_timeout)
            .build()
    }

    /// The SDK configuration from the standard chain (region, credentials, endpoint such as
    /// `AWS_ENDPOINT_URL_DYNAMODB`) with these settings.
    pub async fn load(&self) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .http_client(http_client())
            .retry_config(self.retry_config())
            .timeout_config(self.timeout_config())
            .load()
            .await
    }
}

/// An SDK error as the logs may show it: its kind, the service's error code and the request
/// id. Never the message or a `Debug` rendering, which can hold a reply body (a record's
/// names, emails and phones when a reply cannot be parsed).
pub fn describe_sdk_error<E, R>(error: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata,
    SdkError<E, R>: RequestId,
{
    let kind = match error {
        SdkError::ConstructionFailure(_) => "construction",
        SdkError::TimeoutError(_) => "timeout",
        SdkError::DispatchFailure(failure) if failure.is_timeout() => "dispatch-timeout",
        SdkError::DispatchFailure(failure) if failure.is_io() => "dispatch-io",
        SdkError::DispatchFailure(_) => "dispatch",
        SdkError::ResponseError(_) => "unreadable-response",
        SdkError::ServiceError(_) => "service",
        _ => "other",
    };
    format!(
        "kind={kind} code={} aws_request_id={}",
        error.code().unwrap_or("-"),
        error.request_id().unwrap_or("-")
    )
}

tokio::task_local! {
    /// The X-Ray trace header of the invocation a task serves.
    static INVOCATION_TRACE: String;
}

/// Runs `work` for the invocation traced by `trace_id`: the AWS calls it makes through a client
/// with [`InvocationTrace`] send that trace header.
pub async fn traced<F: Future>(trace_id: Option<String>, work: F) -> F::Output {
    match trace_id {
        Some(trace_id) => INVOCATION_TRACE.scope(trace_id, work).await,
        None => work.await,
    }
}

/// Sends the X-Ray trace header (`X-Amzn-Trace-Id`) of the invocation a call is made for
/// ([`traced`]), so the AWS service's side joins its trace. The SDK sends the one in
/// `_X_AMZN_TRACE_ID`, which the Lambda runtime sets only where one invocation runs at a time:
/// one variable cannot name the traces of invocations served at once.
#[derive(Debug, Clone, Copy, Default)]
pub struct InvocationTrace;

impl Intercept for InvocationTrace {
    fn name(&self) -> &'static str {
        "InvocationTrace"
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let _ = INVOCATION_TRACE.try_with(|trace_id| {
            // A trace id no header can hold is left off, not sent broken.
            let _ = context
                .request_mut()
                .headers_mut()
                .try_insert("x-amzn-trace-id", trace_id.clone());
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_roots_are_the_five_amazon_trust_services_anchors() {
        let (usable, skipped) = usable_certificates(AMAZON_ROOTS);
        assert_eq!(skipped, 0);
        assert_eq!(
            usable.windows(11).filter(|w| *w == b"-----BEGIN ").count(),
            5
        );
    }

    #[test]
    fn retries_fit_inside_the_operation_timeout_and_that_inside_the_function_timeout() {
        let s = SdkSettings::default();
        let worst_case = s.attempt_timeout * s.max_attempts + s.max_backoff * (s.max_attempts - 1);
        assert!(
            s.operation_timeout <= worst_case,
            "the operation timeout is the binding one"
        );
        // template.yaml gives the function 10 s; leave room to answer.
        assert!(s.operation_timeout * 2 < Duration::from_secs(10));
        assert!(s.connect_timeout < s.attempt_timeout);
    }
}
