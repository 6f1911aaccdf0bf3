//! Routing by the request path itself, so one binary serves an HTTP API route, a REST API
//! resource (whose stage may prefix the path), a `/{proxy+}` catch-all, a function URL and
//! `cargo lambda watch` alike.

use crate::dialect::{Dialect, DIALECTS};

/// A matched route: the dialect and the raw (percent-decoded) `{personId}` segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub dialect: &'static Dialect,
    pub person_id: String,
}

/// Why no route was matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoRoute {
    /// No route at this path (404).
    NotFound,
    /// The path is a route, the method is not PATCH (405); carries the dialect for the
    /// problem's style.
    MethodNotAllowed(&'static Dialect),
}

/// How many leading segments may stand before a route: a REST API stage name.
const MAX_PREFIX_SEGMENTS: usize = 1;

/// Matches `path` (as received, percent-encoded) and `method` against the dialects' routes.
/// `path_parameters` are the event's own, where present: `personId`, or `proxy` for a
/// catch-all resource; when they do not agree with the path, nothing matches.
pub fn route<'a>(
    method: &str,
    path: &str,
    mut path_parameter: impl FnMut(&str) -> Option<&'a str>,
) -> Result<Route, NoRoute> {
    let Some(rest) = path.strip_prefix('/') else {
        return Err(NoRoute::NotFound);
    };
    let segments: Vec<&str> = rest.split('/').collect();
    for dialect in DIALECTS {
        let route_len = dialect.route.len() + 1;
        let Some(prefix_len) = segments.len().checked_sub(route_len) else {
            continue;
        };
        if prefix_len > MAX_PREFIX_SEGMENTS {
            continue;
        }
        let (prefix, tail) = segments.split_at(prefix_len);
        let Some((id_segment, literals)) = tail.split_last() else {
            continue;
        };
        if literals != dialect.route || prefix.iter().any(|s| s.is_empty()) {
            continue;
        }
        let Some(person_id) = percent_decode(id_segment) else {
            return Err(NoRoute::NotFound);
        };
        if person_id.is_empty() {
            return Err(NoRoute::NotFound);
        }
        if let Some(declared) = path_parameter("personId") {
            // Gateways differ in whether path parameters arrive percent-decoded.
            if declared != person_id && declared != *id_segment {
                return Err(NoRoute::NotFound);
            }
        }
        if let Some(proxy) = path_parameter("proxy") {
            let tail_path = tail.join("/");
            let proxy = proxy.trim_start_matches('/');
            if !(tail_path == proxy || percent_decode(&tail_path).as_deref() == Some(proxy)) {
                return Err(NoRoute::NotFound);
            }
        }
        if method != "PATCH" {
            return Err(NoRoute::MethodNotAllowed(dialect));
        }
        return Ok(Route { dialect, person_id });
    }
    Err(NoRoute::NotFound)
}

/// Decodes `%XX` escapes; `None` for a broken escape or a result that is not UTF-8.
fn percent_decode(segment: &str) -> Option<String> {
    if !segment.contains('%') {
        return Some(segment.to_owned());
    }
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "3f2b8c1e-8a4d-4e7b-9c6a-1d2e3f4a5b6c";

    fn plain(method: &str, path: &str) -> Result<Route, NoRoute> {
        route(method, path, |_| None)
    }

    #[test]
    fn matches_with_and_without_a_stage() {
        for path in [
            format!("/v1/persons/{ID}"),
            format!("/prod/v1/persons/{ID}"),
        ] {
            let r = plain("PATCH", &path).unwrap();
            assert_eq!(r.dialect.name, "contacts-v1");
            assert_eq!(r.person_id, ID);
        }
    }

    #[test]
    fn unknown_paths() {
        for path in [
            "",
            "/",
            "/v1/persons",
            "/v1/persons/",
            "/v1/persons/x/",
            "/v1/persons/x/extra",
            "/a/b/v1/persons/x",
            "//v1/persons/x",
            "/V1/persons/x",
            "/v2/persons/x",
            "/v1/persons/%zz",
            "/v1/persons/%ff",
        ] {
            assert_eq!(plain("PATCH", path), Err(NoRoute::NotFound), "{path}");
        }
    }

    #[test]
    fn other_methods() {
        assert!(matches!(
            plain("GET", &format!("/v1/persons/{ID}")),
            Err(NoRoute::MethodNotAllowed(_))
        ));
        assert!(matches!(
            plain("DELETE", "/stage/v1/persons/x"),
            Err(NoRoute::MethodNotAllowed(_))
        ));
    }

    #[test]
    fn decodes_the_id_segment() {
        let r = plain("PATCH", "/v1/persons/a%2Fb").unwrap();
        assert_eq!(r.person_id, "a/b");
    }

    #[test]
    fn path_parameters_must_agree() {
        let path = format!("/v1/persons/{ID}");
        assert!(route("PATCH", &path, |k| (k == "personId").then_some(ID)).is_ok());
        assert_eq!(
            route("PATCH", &path, |k| (k == "personId").then_some("other")),
            Err(NoRoute::NotFound)
        );
        for declared in ["a%2Fb", "a/b"] {
            let r = route("PATCH", "/v1/persons/a%2Fb", |k| {
                (k == "personId").then_some(declared)
            });
            assert_eq!(r.unwrap().person_id, "a/b");
        }
        let proxy = format!("v1/persons/{ID}");
        assert!(route("PATCH", &path, |k| (k == "proxy").then_some(proxy.as_str())).is_ok());
        let slashed = format!("/v1/persons/{ID}");
        assert!(route("PATCH", &path, |k| (k == "proxy")
            .then_some(slashed.as_str()))
        .is_ok());
        assert_eq!(
            route("PATCH", &path, |k| (k == "proxy")
                .then_some("v1/persons/zzz")),
            Err(NoRoute::NotFound)
        );
    }
}
