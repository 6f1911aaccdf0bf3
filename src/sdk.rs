//! How the function talks to DynamoDB: retries and timeouts chosen for a Lambda behind API
//! Gateway, not the SDK's defaults (whose standard retry backs off from one second).
//!
//! The budget: an attempt may take 1.5 s, three attempts with 25–250 ms backoff fit in the 4 s
//! operation timeout, which leaves the 10 s function timeout (and API Gateway's 30 s) far away:
//! a slow or unreachable DynamoDB becomes a 503 with `Retry-After`, never a hung invocation.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::config::SharedHttpClient;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode, TlsContext, TrustStore};
use aws_smithy_http_client::Builder as HttpClientBuilder;

/// Single-file CA bundles, where the common Linux distributions keep them: Amazon Linux 2023
/// (Lambda's `provided.al2023`) and RHEL first, then Debian/Ubuntu, then Alpine.
const CA_BUNDLES: &[&str] = &[
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/ssl/cert.pem",
];

/// The roots TLS connections to DynamoDB trust: the system's CA bundle file, read once.
///
/// The platform default also walks the CA directory and reads every hashed link in it (on
/// Debian, about 150 files: 3 ms of this function's 5 ms start-up); the bundle file holds the
/// same roots. When `SSL_CERT_FILE` or `SSL_CERT_DIR` is set, or no bundle is found, the
/// platform default applies unchanged.
pub fn trust_store() -> TrustStore {
    let overridden =
        std::env::var_os("SSL_CERT_FILE").is_some() || std::env::var_os("SSL_CERT_DIR").is_some();
    if !overridden {
        for path in CA_BUNDLES {
            if let Ok(pem) = std::fs::read(path) {
                if !pem.is_empty() {
                    return TrustStore::empty().with_pem_certificate(pem);
                }
            }
        }
    }
    TrustStore::default()
}

/// The HTTPS client for DynamoDB: rustls with aws-lc (the SDK's default provider), trusting
/// [`trust_store`].
pub fn http_client() -> SharedHttpClient {
    let builder = HttpClientBuilder::new().tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc));
    match TlsContext::builder()
        .with_trust_store(trust_store())
        .build()
    {
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

#[cfg(test)]
mod tests {
    use super::*;

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
