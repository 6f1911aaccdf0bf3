//! Conditional requests (docs/API.md §7): `If-Match` against the record's strong `ETag`, the
//! quoted `version`.

use lambda_http::http::{header, HeaderMap};

use crate::engine::expression::MAX_MATCHED_VERSIONS;
use crate::engine::Precondition;

/// The `ETag` of a record version.
pub fn etag(version: u64) -> String {
    format!("\"{version}\"")
}

/// The precondition `If-Match` asks for: none sent or `*` → the record must exist; a list of
/// our strong ETags → its version must be one of them. A weak or malformed tag, `*` beside
/// tags, or more than [`MAX_MATCHED_VERSIONS`] tags is an error naming what to send.
pub fn precondition(headers: &HeaderMap) -> Result<Precondition, &'static str> {
    const MALFORMED: &str =
        "If-Match must be * or a list of ETags exactly as this API sent them, such as \"3\".";
    const WEAK: &str = "If-Match takes strong ETags only; send the ETag without W/.";
    let values: Vec<&str> = headers
        .get_all(header::IF_MATCH)
        .iter()
        .map(|v| v.to_str().map_err(|_| MALFORMED))
        .collect::<Result<_, _>>()?;
    if values.is_empty() {
        return Ok(Precondition::Exists);
    }
    let mut any = false;
    let mut versions = Vec::new();
    for item in values.iter().flat_map(|v| v.split(',')).map(str::trim) {
        if item.is_empty() {
            continue;
        }
        if item == "*" {
            any = true;
            continue;
        }
        if item.starts_with("W/") || item.starts_with("w/") {
            return Err(WEAK);
        }
        let digits = item
            .strip_prefix('"')
            .and_then(|rest| rest.strip_suffix('"'))
            .filter(|d| !d.is_empty() && d.len() <= 19 && d.bytes().all(|b| b.is_ascii_digit()))
            .ok_or(MALFORMED)?;
        versions.push(digits.parse::<u64>().map_err(|_| MALFORMED)?);
    }
    match (any, versions.is_empty()) {
        (true, true) => Ok(Precondition::Exists),
        (true, false) | (false, true) => Err(MALFORMED),
        (false, false) if versions.len() > MAX_MATCHED_VERSIONS => {
            Err("If-Match lists more than 100 ETags.")
        }
        (false, false) => {
            versions.sort_unstable();
            versions.dedup();
            Ok(Precondition::VersionIn(versions))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::http::HeaderValue;

    fn parse(values: &[&str]) -> Result<Precondition, &'static str> {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append(header::IF_MATCH, HeaderValue::from_str(v).unwrap());
        }
        precondition(&headers)
    }

    #[test]
    fn accepted_forms() {
        assert_eq!(parse(&[]), Ok(Precondition::Exists));
        assert_eq!(parse(&["*"]), Ok(Precondition::Exists));
        assert_eq!(parse(&["\"3\""]), Ok(Precondition::VersionIn(vec![3])));
        assert_eq!(
            parse(&["\"4\", \"3\" ,\"4\""]),
            Ok(Precondition::VersionIn(vec![3, 4]))
        );
        assert_eq!(
            parse(&["\"3\"", "\"5\""]),
            Ok(Precondition::VersionIn(vec![3, 5]))
        );
    }

    #[test]
    fn refused_forms() {
        for bad in [
            "",
            "3",
            "W/\"3\"",
            "w/\"3\"",
            "\"3",
            "3\"",
            "\"\"",
            "\"a\"",
            "\"-1\"",
            "\"3\" \"4\"",
            "*, \"3\"",
            "\"99999999999999999999\"",
        ] {
            assert!(parse(&[bad]).is_err(), "{bad:?}");
        }
        let many: Vec<String> = (0..101).map(|i| format!("\"{i}\"")).collect();
        assert!(parse(&[&many.join(",")]).is_err());
    }

    #[test]
    fn etags_are_quoted_versions() {
        assert_eq!(etag(12), "\"12\"");
        assert_eq!(parse(&[&etag(12)]), Ok(Precondition::VersionIn(vec![12])));
    }
}
