//! DynamoDB's errors told apart: the store's classification of an SDK failure.

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::RequestId;

use super::StoreError;
use crate::ops::aws::describe_sdk_error;

/// What DynamoDB says, in an update's `ValidationException`, when the update would take the
/// item past 400 KB.
pub const ITEM_TOO_LARGE: &str = "Item size to update has exceeded";

/// Any other operation's failure, by its error code.
pub fn classify_other<E, R>(error: &SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata,
    SdkError<E, R>: RequestId,
{
    let text = describe_sdk_error(error);
    match error.code() {
        Some(
            "ProvisionedThroughputExceededException"
            | "RequestLimitExceeded"
            | "ThrottlingException",
        ) => StoreError::Throttled,
        Some("InternalServerError" | "TransactionConflictException") => {
            StoreError::Unavailable(text)
        }
        _ if error.as_service_error().is_none() => StoreError::Unavailable(text),
        _ => StoreError::Failed(text),
    }
}

#[cfg(test)]
mod tests {
    use aws_config::retry::RetryConfig;
    use aws_smithy_http_client::tls::TrustStore;

    use crate::ops::aws::{http_client_trusting, usable_certificates};

    #[test]
    fn unusable_bundle_entries_are_skipped_and_a_client_still_builds() {
        let system = std::fs::read("/etc/ssl/certs/ca-certificates.crt").unwrap_or_default();
        let (good, skipped) = usable_certificates(&system);
        assert_eq!(skipped, 0);
        let count = |pem: &[u8]| pem.windows(11).filter(|w| *w == b"-----BEGIN ").count();
        assert_eq!(count(&good), count(&system));
        // A certificate whose body is not DER, then a good one.
        let mut mixed = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".to_vec();
        mixed.extend_from_slice(&good);
        let (usable, skipped) = usable_certificates(&mixed);
        assert_eq!(skipped, 1);
        assert_eq!(count(&usable), count(&good));
        // The HTTP client opens connections with what remains (it panics on a certificate it
        // cannot parse when it builds its first connector): a closed port is an error, not a
        // panic.
        let store = TrustStore::empty().with_pem_certificate(usable);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let result = runtime.block_on(async {
            let config = aws_sdk_dynamodb::Config::builder()
                .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
                .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
                .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                    "local", "local", None, None, "test",
                ))
                .endpoint_url("https://127.0.0.1:1")
                .http_client(http_client_trusting(store))
                .retry_config(RetryConfig::disabled())
                .build();
            aws_sdk_dynamodb::Client::from_conf(config)
                .list_tables()
                .send()
                .await
        });
        assert!(result.is_err());
    }
}
