//! Every way a request can fail, and the one place each becomes an HTTP answer: RFC 9457
//! problem details, or ASP.NET Core's shapes for the Persons v2 dialect.

use lambda_http::http::{header, HeaderValue, StatusCode};
use lambda_http::{Body, Response};
use serde_json::{json, Map, Value as JsonValue};

use crate::dialect::ProblemStyle;
use crate::engine::validate::BODY_PATH;
use crate::engine::{ErrorClass, Rejection};

pub const PROBLEM_JSON: &str = "application/problem+json";

/// The `WWW-Authenticate` challenge sent with every 401.
pub const BASIC_CHALLENGE: &str = "Basic realm=\"persons\", charset=\"UTF-8\"";

/// The patch document types both routes accept (RFC 5789's `Accept-Patch`, sent with a 415).
pub const ACCEPT_PATCH: &str = "application/json, application/merge-patch+json, text/json";

/// How long a caller should wait after a 503 before retrying, in seconds.
pub const RETRY_AFTER_SECONDS: u32 = 1;

/// Why a request was not carried out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// No route matches the path.
    RouteNotFound,
    /// The route exists, but not for this method.
    MethodNotAllowed,
    /// No credentials, or credentials that do not authenticate; says what to send.
    Unauthenticated(&'static str),
    /// Authenticated, but without the scope or the customer the request needs.
    Forbidden(&'static str),
    /// A header or the path is missing or malformed (`Customer-Id`, `{personId}`, `If-Match`).
    BadRequest(String),
    /// The body's media type is not JSON.
    UnsupportedMediaType,
    /// The body is larger than the service accepts.
    PayloadTooLarge { limit_bytes: usize },
    /// The update would make the stored record larger than DynamoDB's item limit.
    RecordTooLarge,
    /// The body is not one valid JSON document (syntax, encoding, duplicate keys).
    MalformedBody(String),
    /// The body is JSON but its content breaks the field rules.
    Rejected(Rejection),
    /// No such person for this customer.
    PersonNotFound,
    /// `If-Match` did not match the stored version.
    PreconditionFailed { current_version: Option<u64> },
    /// The stored record holds this attribute in a type another tool wrote and this service
    /// cannot update without losing data (a `customFields` that is not a map, a `version` that
    /// is not a number); nothing was written.
    StoredRecordConflict(&'static str),
    /// The Idempotency-Key was used before for another request.
    IdempotencyKeyReused,
    /// The request with this Idempotency-Key is still being carried out.
    IdempotencyKeyInFlight { retry_after_seconds: u64 },
    /// The first request with this Idempotency-Key may have been applied, its answer was
    /// lost, and the person changed since: what it did cannot be told (docs/API.md §7a).
    IdempotencyOutcomeUnknown,
    /// DynamoDB is throttling or unavailable after the SDK's retries.
    Unavailable,
    /// Anything else; the details stay in the logs.
    Internal,
}

/// What every problem body names besides its own content.
#[derive(Debug, Clone)]
pub struct RequestMeta {
    /// The request id (API Gateway's, else Lambda's), also in the logs.
    pub request_id: String,
    /// The request path, the problem's `instance`.
    pub instance: String,
}

/// A stable, machine-readable identifier for each kind of problem.
fn problem_type(slug: &str) -> String {
    format!("urn:person-patch:problem:{slug}")
}

impl ApiError {
    /// The HTTP status in a dialect's style: Persons v2 answers every field error with 400.
    pub fn status(&self, style: ProblemStyle) -> StatusCode {
        match self {
            ApiError::RouteNotFound | ApiError::PersonNotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::BadRequest(_) | ApiError::MalformedBody(_) => StatusCode::BAD_REQUEST,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::PayloadTooLarge { .. } | ApiError::RecordTooLarge => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            ApiError::Rejected(rejection) => match (style, rejection.class()) {
                (ProblemStyle::Rfc9457, ErrorClass::Invalid) => StatusCode::UNPROCESSABLE_ENTITY,
                _ => StatusCode::BAD_REQUEST,
            },
            ApiError::PreconditionFailed { .. } => StatusCode::PRECONDITION_FAILED,
            ApiError::StoredRecordConflict(_)
            | ApiError::IdempotencyKeyInFlight { .. }
            | ApiError::IdempotencyOutcomeUnknown => StatusCode::CONFLICT,
            ApiError::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A short name for logs and metrics.
    pub fn slug(&self) -> &'static str {
        match self {
            ApiError::RouteNotFound => "route-not-found",
            ApiError::MethodNotAllowed => "method-not-allowed",
            ApiError::Unauthenticated(_) => "unauthenticated",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::BadRequest(_) => "bad-request",
            ApiError::UnsupportedMediaType => "unsupported-media-type",
            ApiError::PayloadTooLarge { .. } => "payload-too-large",
            ApiError::RecordTooLarge => "record-too-large",
            ApiError::MalformedBody(_) => "malformed-body",
            ApiError::Rejected(rejection) => match rejection.class() {
                ErrorClass::Malformed => "malformed-body",
                ErrorClass::Invalid => "validation-failed",
            },
            ApiError::PersonNotFound => "person-not-found",
            ApiError::PreconditionFailed { .. } => "precondition-failed",
            ApiError::StoredRecordConflict(_) => "stored-record-conflict",
            ApiError::IdempotencyKeyReused => "idempotency-key-reused",
            ApiError::IdempotencyKeyInFlight { .. } => "idempotency-key-in-flight",
            ApiError::IdempotencyOutcomeUnknown => "idempotency-outcome-unknown",
            ApiError::Unavailable => "service-unavailable",
            ApiError::Internal => "internal-error",
        }
    }

    fn title(&self) -> &'static str {
        match self {
            ApiError::RouteNotFound => "No such resource",
            ApiError::MethodNotAllowed => "Method not allowed",
            ApiError::Unauthenticated(_) => "Authentication required",
            ApiError::Forbidden(_) => "Forbidden",
            ApiError::BadRequest(_) => "Bad request",
            ApiError::UnsupportedMediaType => "Unsupported media type",
            ApiError::PayloadTooLarge { .. } => "Request body too large",
            ApiError::RecordTooLarge => "Record too large",
            ApiError::MalformedBody(_) => "Malformed request body",
            ApiError::Rejected(rejection) => match rejection.class() {
                ErrorClass::Malformed => "Malformed request body",
                ErrorClass::Invalid => "Validation failed",
            },
            ApiError::PersonNotFound => "Person not found",
            ApiError::PreconditionFailed { .. } => "Precondition failed",
            ApiError::StoredRecordConflict(_) => "Stored record cannot be updated",
            ApiError::IdempotencyKeyReused => "Idempotency-Key reused",
            ApiError::IdempotencyKeyInFlight { .. } => {
                "Request with this Idempotency-Key in progress"
            }
            ApiError::IdempotencyOutcomeUnknown => {
                "Outcome of the request with this Idempotency-Key unknown"
            }
            ApiError::Unavailable => "Service unavailable",
            ApiError::Internal => "Internal server error",
        }
    }

    fn detail(&self) -> String {
        match self {
            ApiError::RouteNotFound => {
                "No resource at this path. Persons are updated with PATCH /v1/persons/{personId} or PATCH /api/v2/persons/{personId}."
                    .into()
            }
            ApiError::MethodNotAllowed => "This resource only accepts PATCH.".into(),
            ApiError::Unauthenticated(why) | ApiError::Forbidden(why) => (*why).into(),
            ApiError::BadRequest(why) | ApiError::MalformedBody(why) => why.clone(),
            ApiError::UnsupportedMediaType => {
                "Send the body as JSON: Content-Type application/json, text/json or application/*+json."
                    .into()
            }
            ApiError::PayloadTooLarge { limit_bytes } => {
                format!("The request body must be at most {limit_bytes} bytes.")
            }
            ApiError::RecordTooLarge => {
                "The change would make the stored person larger than the 400 KB the store allows; send shorter values."
                    .into()
            }
            ApiError::Rejected(rejection) => {
                let mut detail = match rejection.class() {
                    ErrorClass::Malformed => {
                        "The body has values of the wrong JSON type or out of range; see errors."
                    }
                    ErrorClass::Invalid => "The body breaks the field rules; see errors.",
                }
                .to_owned();
                if rejection.omitted > 0 {
                    detail.push_str(&format!(" {} more errors were not listed.", rejection.omitted));
                }
                detail
            }
            ApiError::PersonNotFound => "No person with this id exists for this customer.".into(),
            ApiError::PreconditionFailed { .. } => {
                "The person was changed since the version named in If-Match; fetch it again and retry."
                    .into()
            }
            ApiError::StoredRecordConflict(attribute) => format!(
                "The stored person's {attribute} attribute was written by another tool in a type this service cannot update without losing data; nothing was changed. The record needs repair by its owner before this change can be applied."
            ),
            ApiError::IdempotencyKeyReused => {
                "This Idempotency-Key was used for a different request (method, path, If-Match or body); send a new key for a new request.".into()
            }
            ApiError::IdempotencyKeyInFlight { .. } => {
                "The first request with this Idempotency-Key is still being carried out; retry after the Retry-After delay to get its answer.".into()
            }
            ApiError::IdempotencyOutcomeUnknown => {
                "The first request with this Idempotency-Key was interrupted after it may have changed the person, and the person has changed since, so whether that change was made cannot be told; nothing was changed now. Read the person, and send any change still wanted with a new key.".into()
            }
            ApiError::Unavailable => {
                "The person store is busy or unavailable; retry after the Retry-After delay.".into()
            }
            ApiError::Internal => {
                "An unexpected error occurred; quote the requestId when reporting it.".into()
            }
        }
    }

    /// The problem response for this error, in the dialect's style.
    pub fn to_response(&self, style: ProblemStyle, meta: &RequestMeta) -> Response<Body> {
        let status = self.status(style);
        let mut body = Map::new();
        match style {
            ProblemStyle::Rfc9457 => {
                body.insert("type".into(), json!(problem_type(self.slug())));
                body.insert("title".into(), json!(self.title()));
            }
            ProblemStyle::AspNetCore => {
                let (type_uri, title) = aspnet_type_and_title(status, self);
                body.insert("type".into(), json!(type_uri));
                body.insert("title".into(), json!(title));
            }
        }
        body.insert("status".into(), json!(status.as_u16()));
        body.insert("detail".into(), json!(self.detail()));
        body.insert("instance".into(), json!(meta.instance));
        match (self, style) {
            (ApiError::Rejected(rejection), _) => {
                body.insert("errors".into(), errors_object(rejection, style));
            }
            // ASP.NET Core reports an unreadable body as a validation error of the body as a
            // whole.
            (ApiError::MalformedBody(why), ProblemStyle::AspNetCore) => {
                body.insert("errors".into(), json!({ BODY_PATH: [why] }));
            }
            _ => {}
        }
        body.insert("requestId".into(), json!(meta.request_id));
        if style == ProblemStyle::AspNetCore {
            body.insert("traceId".into(), json!(meta.request_id));
            // ASP.NET Core's `type` and `title` follow the status alone: the kind of conflict
            // is told by an extension member, which ProblemDetails reads into `Extensions`.
            if status == StatusCode::CONFLICT {
                body.insert(CODE_MEMBER.into(), json!(self.slug()));
            }
        }

        let text = JsonValue::Object(body).to_string();
        let mut response = Response::new(Body::Text(text));
        *response.status_mut() = status;
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        match self {
            ApiError::MethodNotAllowed => {
                headers.insert(header::ALLOW, HeaderValue::from_static("PATCH"));
            }
            ApiError::UnsupportedMediaType => {
                headers.insert("accept-patch", HeaderValue::from_static(ACCEPT_PATCH));
            }
            ApiError::Unauthenticated(_) => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(BASIC_CHALLENGE),
                );
            }
            ApiError::Unavailable => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
            }
            ApiError::IdempotencyKeyInFlight {
                retry_after_seconds,
            } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_seconds));
            }
            ApiError::PreconditionFailed {
                current_version: Some(version),
            } => {
                if let Ok(etag) = HeaderValue::from_str(&crate::http::conditional::etag(*version)) {
                    headers.insert(header::ETAG, etag);
                }
            }
            _ => {}
        }
        response
    }
}

/// The extension member naming the kind of a Persons v2 409 (its problem slug):
/// `idempotency-key-in-flight`, `idempotency-outcome-unknown` or `stored-record-conflict`.
pub const CODE_MEMBER: &str = "code";

/// `errors`: property path → messages, in the order found.
fn errors_object(rejection: &Rejection, style: ProblemStyle) -> JsonValue {
    let mut errors: Map<String, JsonValue> = Map::new();
    // Contacts v1 answers 400 for malformed input: only the malformed properties are listed,
    // as the rule violations may be artefacts of them.
    let wanted = rejection.class();
    for error in &rejection.errors {
        if style == ProblemStyle::Rfc9457 && error.class != wanted {
            continue;
        }
        let entry = errors
            .entry(error.property.clone())
            .or_insert_with(|| JsonValue::Array(Vec::new()));
        if let JsonValue::Array(messages) = entry {
            messages.push(json!(error.message));
        }
    }
    JsonValue::Object(errors)
}

/// ASP.NET Core's default `type` and `title` for a status (its ProblemDetails defaults), and
/// the ValidationProblemDetails title for field errors.
fn aspnet_type_and_title(status: StatusCode, error: &ApiError) -> (&'static str, &'static str) {
    if matches!(error, ApiError::Rejected(_) | ApiError::MalformedBody(_)) {
        return (
            "https://tools.ietf.org/html/rfc9110#section-15.5.1",
            "One or more validation errors occurred.",
        );
    }
    match status.as_u16() {
        400 => (
            "https://tools.ietf.org/html/rfc9110#section-15.5.1",
            "Bad Request",
        ),
        401 => (
            "https://tools.ietf.org/html/rfc9110#section-15.5.2",
            "Unauthorized",
        ),
        403 => (
            "https://tools.ietf.org/html/rfc9110#section-15.5.4",
            "Forbidden",
        ),
        404 => (
            "https://tools.ietf.org/html/rfc9110#section-15.5.5",
            "Not Found",
        ),
        405 => (
            "https://tools.ietf.org/html/rfc9110#section-15.5.6",
            "Method Not Allowed",
        ),
        412 => (
            "https://tools.ietf.org/html/rfc9110#section-15.5.13",
            "Precondition Failed",
        ),
        413 => (
            "https://tools.ietf.org/html/rfc9110#section-15.5.14",
            "Content Too Large",
        ),
        409 => (
            "https://tools.ietf.org/html/rfc9110#section-15.5.10",
            "Conflict",
        ),
        422 => (
            "https://tools.ietf.org/html/rfc4918#section-11.2",
            "Unprocessable Entity",
        ),
        415 => (
            "https://tools.ietf.org/html/rfc9110#section-15.5.16",
            "Unsupported Media Type",
        ),
        503 => (
            "https://tools.ietf.org/html/rfc9110#section-15.6.4",
            "Service Unavailable",
        ),
        _ => (
            "https://tools.ietf.org/html/rfc9110#section-15.6.1",
            "An error occurred while processing your request.",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::FieldError;

    fn meta() -> RequestMeta {
        RequestMeta {
            request_id: "req-1".into(),
            instance: "/v1/persons/x".into(),
        }
    }

    fn body_of(response: &Response<Body>) -> JsonValue {
        match response.body() {
            Body::Text(t) => serde_json::from_str(t).unwrap(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rfc9457_shape() {
        let response = ApiError::PersonNotFound.to_response(ProblemStyle::Rfc9457, &meta());
        assert_eq!(response.status(), 404);
        assert_eq!(response.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
        let body = body_of(&response);
        assert_eq!(body["type"], "urn:person-patch:problem:person-not-found");
        assert_eq!(body["status"], 404);
        assert_eq!(body["instance"], "/v1/persons/x");
        assert_eq!(body["requestId"], "req-1");
        assert!(body["detail"].as_str().unwrap().len() > 10);
    }

    #[test]
    fn validation_errors_grouped_by_property() {
        let rejection = Rejection {
            errors: vec![
                FieldError {
                    property: "forename".into(),
                    message: "a".into(),
                    class: ErrorClass::Invalid,
                },
                FieldError {
                    property: "forename".into(),
                    message: "b".into(),
                    class: ErrorClass::Invalid,
                },
            ],
            omitted: 0,
        };
        let response =
            ApiError::Rejected(rejection.clone()).to_response(ProblemStyle::Rfc9457, &meta());
        assert_eq!(response.status(), 422);
        assert_eq!(
            body_of(&response)["errors"],
            json!({"forename": ["a", "b"]})
        );

        let v2 = ApiError::Rejected(rejection).to_response(ProblemStyle::AspNetCore, &meta());
        assert_eq!(v2.status(), 400);
        let body = body_of(&v2);
        assert_eq!(body["title"], "One or more validation errors occurred.");
        assert_eq!(body["traceId"], "req-1");
    }

    #[test]
    fn headers_per_problem() {
        let r = ApiError::MethodNotAllowed.to_response(ProblemStyle::Rfc9457, &meta());
        assert_eq!(r.headers()[header::ALLOW], "PATCH");
        let r = ApiError::Unauthenticated("x").to_response(ProblemStyle::Rfc9457, &meta());
        assert_eq!(r.headers()[header::WWW_AUTHENTICATE], BASIC_CHALLENGE);
        let r = ApiError::Unavailable.to_response(ProblemStyle::Rfc9457, &meta());
        assert_eq!(r.headers()[header::RETRY_AFTER], "1");
        let r = ApiError::PreconditionFailed {
            current_version: Some(4),
        }
        .to_response(ProblemStyle::Rfc9457, &meta());
        assert_eq!(r.headers()[header::ETAG], "\"4\"");
    }

    #[test]
    fn internal_errors_say_nothing_of_internals() {
        let body = body_of(&ApiError::Internal.to_response(ProblemStyle::Rfc9457, &meta()));
        let text = body.to_string().to_lowercase();
        for leak in ["dynamo", "table", "sdk", "exception", "panic"] {
            assert!(!text.contains(leak), "{leak}");
        }
    }

    #[test]
    fn persons_v2_conflicts_say_which_in_a_member_of_their_own() {
        let meta = RequestMeta {
            request_id: "r".into(),
            instance: "/api/v2/persons/16".into(),
        };
        let body = |error: ApiError| -> JsonValue {
            let response = error.to_response(ProblemStyle::AspNetCore, &meta);
            match response.body() {
                Body::Text(text) => serde_json::from_str(text).unwrap(),
                _ => panic!("no body"),
            }
        };
        let in_flight = body(ApiError::IdempotencyKeyInFlight {
            retry_after_seconds: 1,
        });
        let unknown = body(ApiError::IdempotencyOutcomeUnknown);
        assert_eq!(in_flight["type"], unknown["type"]);
        assert_eq!(in_flight[CODE_MEMBER], "idempotency-key-in-flight");
        assert_eq!(unknown[CODE_MEMBER], "idempotency-outcome-unknown");
        let not_found = body(ApiError::PersonNotFound);
        assert!(not_found.get(CODE_MEMBER).is_none());
    }
}
