//! What the handler reads from a request's headers: the tenant, the media type, the request
//! id; and the body's bytes.

use lambda_http::http::{header, HeaderMap, HeaderValue};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt};

use crate::auth::Principal;
use crate::dialect::CustomerHeader;
use crate::http::problem::ApiError;
use crate::table::CustomerId;

/// Marks a request from which the event adapter took a header HTTP does not allow (a control
/// character in its value, say), naming it; answered with a 400.
#[derive(Debug, Clone)]
pub struct InvalidHeader(pub String);

/// The header naming the tenant.
pub const CUSTOMER_ID_HEADER: &str = "customer-id";

/// The tenant: the `Customer-Id` header, or the principal's only customer where the dialect
/// allows leaving the header out.
pub fn customer_of(
    headers: &HeaderMap,
    rule: CustomerHeader,
    principal: &Principal,
) -> Result<CustomerId, ApiError> {
    if principal.customers.is_empty() {
        return Err(ApiError::Forbidden(
            "Your credentials are not allowed to act for any customer.",
        ));
    }
    let mut values = headers.get_all(CUSTOMER_ID_HEADER).iter();
    let customer = match (values.next(), values.next()) {
        (Some(_), Some(_)) => {
            return Err(ApiError::BadRequest(
                "Send the Customer-Id header once.".into(),
            ))
        }
        (Some(value), None) => parse_customer_id(value)?,
        (None, _) => match (rule, principal.only_customer()) {
            (CustomerHeader::OptionalForSingleCustomer, Some(only)) => only,
            (CustomerHeader::OptionalForSingleCustomer, None) => return Err(ApiError::BadRequest(
                "Send the Customer-Id header: your credentials may act for more than one customer."
                    .into(),
            )),
            (CustomerHeader::Required, _) => {
                return Err(ApiError::BadRequest(
                    "The Customer-Id header is required.".into(),
                ))
            }
        },
    };
    if principal.may_act_for(customer) {
        Ok(customer)
    } else {
        Err(ApiError::Forbidden(
            "Your credentials may not act for this customer.",
        ))
    }
}

pub fn parse_customer_id(value: &HeaderValue) -> Result<CustomerId, ApiError> {
    let malformed =
        || ApiError::BadRequest("The Customer-Id header must be a positive 64-bit integer.".into());
    let text = value.to_str().map_err(|_| malformed())?;
    let digits = text.trim_matches(|c| c == ' ' || c == '\t');
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed());
    }
    // Leading zeros are allowed, however many: only the significant digits must fit.
    let significant = digits.trim_start_matches('0');
    let digits = if significant.is_empty() {
        "0"
    } else {
        significant
    };
    if digits.len() > 19 {
        return Err(malformed());
    }
    digits
        .parse::<i64>()
        .ok()
        .filter(|n| *n >= 1)
        .map(CustomerId)
        .ok_or_else(malformed)
}

/// JSON media types: `application/json`, `text/json`, `application/*+json`, with parameters;
/// a charset, if named, must be UTF-8 (JSON's only encoding, RFC 8259).
pub fn check_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let mut values = headers.get_all(header::CONTENT_TYPE).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return Err(ApiError::UnsupportedMediaType);
    };
    let text = value.to_str().map_err(|_| ApiError::UnsupportedMediaType)?;
    let mut parts = text.split(';');
    let essence = parts.next().unwrap_or("").trim().to_ascii_lowercase();
    let json = essence == "application/json"
        || essence == "text/json"
        || essence
            .strip_prefix("application/")
            .and_then(|subtype| subtype.strip_suffix("+json"))
            .is_some_and(|stem| !stem.is_empty() && !stem.contains('/'));
    let charset_ok = parts.all(|parameter| match parameter.split_once('=') {
        Some((name, value)) if name.trim().eq_ignore_ascii_case("charset") => {
            let charset = value.trim().trim_matches('"');
            charset.eq_ignore_ascii_case("utf-8") || charset.eq_ignore_ascii_case("utf8")
        }
        _ => true,
    });
    if json && charset_ok {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType)
    }
}

/// The request id callers and logs share: API Gateway's, else the Lambda invocation's.
pub fn request_id(request: &Request) -> String {
    let gateway = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => context.request_id.clone(),
        Some(RequestContext::ApiGatewayV1(context)) => context.request_id.clone(),
        _ => None,
    };
    gateway
        .filter(|id| !id.is_empty())
        .or_else(|| request.lambda_context_ref().map(|c| c.request_id.clone()))
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// The request's body bytes (empty when there is none).
pub fn body_bytes(request: &Request) -> &[u8] {
    match request.body() {
        Body::Empty => &[],
        Body::Text(text) => text.as_bytes(),
        Body::Binary(bytes) => bytes,
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                lambda_http::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    #[test]
    fn json_media_types() {
        for ok in [
            "application/json",
            "Application/JSON; charset=utf-8",
            "text/json",
            "application/merge-patch+json",
            "application/json;charset=\"UTF-8\"",
        ] {
            assert!(
                check_content_type(&headers(&[("content-type", ok)])).is_ok(),
                "{ok}"
            );
        }
        for bad in [
            "",
            "text/plain",
            "application/xml",
            "application/+json",
            "application/json; charset=latin1",
            "multipart/form-data",
        ] {
            assert!(
                check_content_type(&headers(&[("content-type", bad)])).is_err(),
                "{bad}"
            );
        }
        assert!(check_content_type(&headers(&[])).is_err());
        assert!(check_content_type(&headers(&[
            ("content-type", "application/json"),
            ("content-type", "application/json")
        ]))
        .is_err());
    }

    #[test]
    fn customer_ids() {
        for (raw, expected) in [
            ("14532", Some(14532)),
            (" 14532 ", Some(14532)),
            ("9223372036854775807", Some(i64::MAX)),
            ("00014532", Some(14532)),
            ("0000000000000000000000000014532", Some(14532)),
            ("00000000000000000009223372036854775807", Some(i64::MAX)),
            ("000", None),
            ("0", None),
            ("-5", None),
            ("+5", None),
            ("1.0", None),
            ("9223372036854775808", None),
            ("abc", None),
            ("", None),
        ] {
            let got = parse_customer_id(&HeaderValue::from_str(raw).unwrap()).ok();
            assert_eq!(got, expected.map(CustomerId), "{raw:?}");
        }
    }
}
