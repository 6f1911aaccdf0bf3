//! Who is calling, and which customers they may act for (docs/API.md §3).
//!
//! Two ways in:
//! - **HTTP Basic** (`client-id:secret`), verified against the client's hash in the clients
//!   table: a SHA-256 for generated secrets ([`crate::auth::secrets`], microseconds), argon2id for
//!   secrets people chose ([`basic`]). Which is used follows the presented secret's form,
//!   never the stored client, and an unknown, disabled or hashless client is refused in the
//!   time a verification of that kind takes, so timing tells nothing of which ids exist.
//!   argon2id refusals are answered at the time the costliest accepted hash would take
//!   ([`MAX_ARGON2_UNITS`]), so the stored hash's parameters do not show either; once the
//!   container has timed one, an id without a hash computes none and waits on a timer. A
//!   successful verification of a hash with other parameters re-hashes it with the
//!   deployment's. argon2id runs on a bounded blocking pool, never on the scheduler thread
//!   ([`pool`]). Successes are cached in the warm container for [`CACHE_TTL`] ([`cache`]),
//!   keyed by a SHA-256 of the credential (whatever the header's form); failures never are.
//! - **A JWT verified by API Gateway** (HTTP API `authorizer.jwt`, REST API
//!   `authorizer.claims`): the principal is its `client_id` (else `sub`) claim, its scopes the
//!   token's, its customers those of its clients-table entry. A `Bearer` header without such a
//!   context is never trusted.
//!
//! Requests served at once that need the same client share one clients-table lookup
//! ([`flight`]).

pub mod basic;
pub mod cache;
pub mod clients;
pub mod flight;
pub mod pool;
pub mod secrets;

pub use basic::{
    check_basic, refusal_padding, verifies_the_dummy, Checked, CostliestClock, MAX_ARGON2_UNITS,
};
pub use cache::{basic_cache_key, cache_key, VerificationCache, CACHE_TTL};

use std::sync::Mutex;
use std::time::Instant;

use base64::Engine;
use lambda_http::http::{header, HeaderMap};
use lambda_http::request::RequestContext;
use serde_json::Value as Json;
use sha2::{Digest, Sha256};
use tokio::time::sleep;

use crate::auth::clients::{hash_password, MAX_CLIENT_ID_CHARS};
use crate::auth::flight::LookupFlights;
use crate::auth::pool::HashPool;
use crate::store::clients::ClientDirectory;
use crate::store::{ApiClient, ClientLookup, DirectoryError};
use crate::table::CustomerId;

/// The scope both routes require.
pub const WRITE_SCOPE: &str = "contacts:persons:write";

/// Which Basic secrets a deployment accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthPolicy {
    /// Secrets people chose (argon2id hashes). Off, only generated secrets and JWT principals
    /// are accepted, and no request ever computes argon2id.
    pub accept_passwords: bool,
}

impl Default for AuthPolicy {
    fn default() -> Self {
        AuthPolicy {
            accept_passwords: true,
        }
    }
}

/// The environment variable that refuses argon2id secrets: `PASSWORD_SECRETS=refuse`.
pub const PASSWORD_SECRETS_ENV: &str = "PASSWORD_SECRETS";

impl AuthPolicy {
    /// From `PASSWORD_SECRETS` (`accept`, the default, or `refuse`).
    pub fn from_env() -> Result<AuthPolicy, String> {
        match std::env::var(PASSWORD_SECRETS_ENV)
            .as_deref()
            .map(str::trim)
        {
            Err(_) | Ok("") | Ok("accept") => Ok(AuthPolicy::default()),
            Ok("refuse") => Ok(AuthPolicy {
                accept_passwords: false,
            }),
            Ok(_) => Err(format!(
                "{PASSWORD_SECRETS_ENV} must be 'accept' or 'refuse'"
            )),
        }
    }
}

/// The customers a principal may act for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The API client id (or token `client_id` / `sub`); safe to log.
    pub id: String,
    pub scopes: Vec<String>,
    pub customers: Vec<CustomerId>,
}

impl Principal {
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    pub fn may_act_for(&self, customer: CustomerId) -> bool {
        self.customers.contains(&customer)
    }

    /// The principal's customer when it has exactly one.
    pub fn only_customer(&self) -> Option<CustomerId> {
        match self.customers.as_slice() {
            [only] => Some(*only),
            _ => None,
        }
    }
}

/// What the `Authorization` header holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    Basic { client_id: String, secret: String },
    Bearer,
}

/// Why a request is not authenticated; each is a 401 whose detail tells the caller what to
/// send, without saying whether a client id exists.
pub mod refusal {
    pub const NONE: &str = "Send credentials: HTTP Basic with your API client id and secret, or a bearer token on a route with the API gateway's JWT authorizer.";
    pub const MALFORMED: &str = "The Authorization header is malformed: send 'Basic ' followed by the base64 of client-id:secret.";
    pub const SCHEME: &str = "Unsupported authorization scheme: send HTTP Basic credentials.";
    pub const BEARER: &str = "Bearer tokens are accepted only on routes with the API gateway's JWT authorizer; send HTTP Basic credentials here.";
    pub const REJECTED: &str = "The credentials were not accepted.";
    pub const NO_SUBJECT: &str =
        "The token names no client: it has neither a client_id nor a sub claim.";
}

/// Why a request is not authenticated, or could not be; `http` turns it into an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// A 401 whose detail is `reason` (one of [`refusal`]); for a refused Basic login, what
    /// the logs may say of the client id it presented.
    Refused {
        reason: &'static str,
        presented: Option<PresentedId>,
    },
    /// The clients table is throttling or cannot be reached.
    Unavailable,
    /// The clients table answered in a way it never should.
    Failed,
}

impl AuthError {
    fn refused(reason: &'static str) -> AuthError {
        AuthError::Refused {
            reason,
            presented: None,
        }
    }
}

/// What the logs say of the client id a refused Basic login presented. Ids are not secrets,
/// and credential stuffing shows in them; but a caller who swaps id and secret, or types the
/// secret into the id, sends a secret there. So an id is logged in clear only when the
/// clients table knows it (and it does not have a generated secret's form); any other value
/// is logged as a short keyed fingerprint: equal ids give equal fingerprints (distinct ids can
/// be counted), and nothing of the value can be read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PresentedId {
    Known(String),
    Fingerprint(String),
}

impl std::fmt::Display for PresentedId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PresentedId::Known(id) => f.write_str(id),
            PresentedId::Fingerprint(print) => write!(f, "fp:{print}"),
        }
    }
}

/// The environment variable holding the key of presented-id fingerprints (the template sets
/// it to the stack's id); unset, a built-in key is used.
pub const LOG_FINGERPRINT_KEY_ENV: &str = "LOG_FINGERPRINT_KEY";

/// The key fingerprints use when the deployment gives none.
const DEFAULT_LOG_KEY: &str = "person-patch presented ids";

/// The fingerprint of a presented id: 32 bits of SHA-256 over the key and the id, as 8 hex
/// characters. Enough to tell a few thousand ids apart; far too few bits, and keyed, to
/// confirm a guessed secret against.
pub fn fingerprint(key: &[u8], presented: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update((key.len() as u64).to_be_bytes());
    hasher.update(key);
    hasher.update(presented.as_bytes());
    let digest = hasher.finalize();
    digest.iter().take(4).map(|b| format!("{b:02x}")).collect()
}

/// Parses the `Authorization` header; `Ok(None)` when there is none.
pub fn parse_authorization(headers: &HeaderMap) -> Result<Option<Credentials>, &'static str> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let value = match (values.next(), values.next()) {
        (None, _) => return Ok(None),
        (Some(value), None) => value,
        (Some(_), Some(_)) => return Err(refusal::MALFORMED),
    };
    let text = value.to_str().map_err(|_| refusal::MALFORMED)?.trim();
    let (scheme, token) = text.split_once(' ').unwrap_or((text, ""));
    let token = token.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        return Ok(Some(Credentials::Bearer));
    }
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(refusal::SCHEME);
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(token)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(token))
        .map_err(|_| refusal::MALFORMED)?;
    let decoded = String::from_utf8(decoded).map_err(|_| refusal::MALFORMED)?;
    let (client_id, secret) = decoded.split_once(':').ok_or(refusal::MALFORMED)?;
    if client_id.is_empty()
        || client_id.chars().count() > MAX_CLIENT_ID_CHARS
        || client_id.chars().any(char::is_control)
    {
        return Err(refusal::MALFORMED);
    }
    Ok(Some(Credentials::Basic {
        client_id: client_id.to_owned(),
        secret: secret.to_owned(),
    }))
}

/// Claims of a JWT that API Gateway verified, as its authorizer context carries them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedToken {
    pub subject: Option<String>,
    pub scopes: Vec<String>,
}

/// The verified token in the request context, if the route has a JWT authorizer.
pub fn verified_token(context: Option<&RequestContext>) -> Option<VerifiedToken> {
    match context? {
        RequestContext::ApiGatewayV2(context) => {
            let jwt = context.authorizer.as_ref()?.jwt.as_ref()?;
            let claim = |name: &str| jwt.claims.get(name).filter(|v| !v.is_empty()).cloned();
            let scopes = match &jwt.scopes {
                Some(scopes) if !scopes.is_empty() => scopes.clone(),
                _ => split_scopes(claim("scope").as_deref()),
            };
            Some(VerifiedToken {
                subject: claim("client_id").or_else(|| claim("sub")),
                scopes,
            })
        }
        RequestContext::ApiGatewayV1(context) => {
            let claims = context.authorizer.fields.get("claims")?.as_object()?;
            let claim = |name: &str| match claims.get(name) {
                Some(Json::String(s)) if !s.is_empty() => Some(s.clone()),
                _ => None,
            };
            Some(VerifiedToken {
                subject: claim("client_id").or_else(|| claim("sub")),
                scopes: split_scopes(claim("scope").as_deref()),
            })
        }
        _ => None,
    }
}

fn split_scopes(scope: Option<&str>) -> Vec<String> {
    scope
        .unwrap_or("")
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

/// Authenticates requests against the clients table (or any [`ClientLookup`]).
pub struct Authenticator<D = ClientDirectory> {
    directory: D,
    /// One lookup per client id at a time, however many requests need it at once.
    lookups: LookupFlights,
    cache: Mutex<VerificationCache>,
    policy: AuthPolicy,
    /// The key of presented-id fingerprints ([`fingerprint`]).
    log_key: Vec<u8>,
    /// How long the costliest argon2id verification takes here.
    costliest: CostliestClock,
    /// Where argon2id runs: never on the scheduler thread ([`pool`]).
    hashing: HashPool,
}

/// How an authentication attempt ended, for tests and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Cache,
    Verified,
}

impl<D: ClientLookup> Authenticator<D> {
    pub fn new(directory: D) -> Self {
        Authenticator {
            directory,
            lookups: LookupFlights::default(),
            cache: Mutex::new(VerificationCache::default()),
            policy: AuthPolicy::default(),
            log_key: DEFAULT_LOG_KEY.as_bytes().to_vec(),
            costliest: CostliestClock::default(),
            hashing: HashPool::for_environment(),
        }
    }

    /// Fingerprints presented ids with `key` (the deployment's own, so fingerprints cannot be
    /// computed ahead of it); an empty key keeps the built-in one.
    pub fn with_log_key(mut self, key: &str) -> Self {
        if !key.trim().is_empty() {
            self.log_key = key.trim().as_bytes().to_vec();
        }
        self
    }

    /// Accepts the Basic secrets `policy` allows.
    pub fn with_policy(mut self, policy: AuthPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The principal behind a request.
    pub async fn authenticate(
        &self,
        headers: &HeaderMap,
        context: Option<&RequestContext>,
    ) -> Result<(Principal, Source), AuthError> {
        if let Some(token) = verified_token(context) {
            return self.token_principal(token).await;
        }
        match parse_authorization(headers).map_err(AuthError::refused)? {
            None => Err(AuthError::refused(refusal::NONE)),
            Some(Credentials::Bearer) => Err(AuthError::refused(refusal::BEARER)),
            Some(Credentials::Basic { client_id, secret }) => {
                // The credential itself, not the header: one entry whatever the scheme's case,
                // the spaces or the base64 padding.
                let key = basic_cache_key(&client_id, &secret);
                if let Some(principal) = self.cached(&key) {
                    return Ok((principal, Source::Cache));
                }
                let client = self
                    .lookups
                    .find(&self.directory, &client_id)
                    .await
                    .map_err(directory_error)?;
                // A request served at once with this one may have verified the same
                // credential while the lookup was in flight.
                if let Some(principal) = self.cached(&key) {
                    return Ok((principal, Source::Cache));
                }
                let started = Instant::now();
                let checked = match self.refused_without_hashing(&secret, client.as_ref()) {
                    Some(refused) => refused,
                    None => {
                        let (secret, stored, policy) =
                            (secret.clone(), client.clone(), self.policy);
                        let (checked, computing) = self
                            .hashing
                            .run(move || {
                                let started = Instant::now();
                                let checked = check_basic(&secret, stored.as_ref(), policy);
                                (checked, started.elapsed())
                            })
                            .await
                            .map_err(|_| AuthError::Failed)?;
                        if checked.against_dummy {
                            self.costliest.observe(computing);
                        }
                        checked
                    }
                };
                // Waiting for a turn counts: a refusal ends when the costliest hash would have
                // ended, counted from when the verification was asked for.
                let took = started.elapsed();
                let client = match client {
                    Some(client) if checked.accepted => client,
                    known => {
                        if let Some(units) = checked.argon2_units {
                            let estimate = self.costliest.estimate();
                            sleep(refusal_padding(took, units, estimate)).await;
                        }
                        return Err(AuthError::Refused {
                            reason: refusal::REJECTED,
                            presented: Some(self.presented(&client_id, known.is_some())),
                        });
                    }
                };
                if checked.needs_rehash {
                    self.rehash(&client, &secret).await;
                }
                let principal = Principal {
                    id: client.id,
                    scopes: client.scopes,
                    customers: client.customers,
                };
                self.remember(key, &principal);
                Ok((principal, Source::Verified))
            }
        }
    }

    /// A gateway-verified token's principal: scopes from the token, customers from the
    /// clients table (none when the client is unknown or disabled).
    async fn token_principal(
        &self,
        token: VerifiedToken,
    ) -> Result<(Principal, Source), AuthError> {
        let subject = token
            .subject
            .filter(|s| s.chars().count() <= MAX_CLIENT_ID_CHARS)
            .ok_or(AuthError::refused(refusal::NO_SUBJECT))?;
        let key = cache_key("token-customers", subject.as_bytes());
        let (customers, source) = match self.cached(&key) {
            Some(cached) => (cached.customers, Source::Cache),
            None => {
                let client = self
                    .lookups
                    .find(&self.directory, &subject)
                    .await
                    .map_err(directory_error)?;
                let customers = client
                    .filter(|c| c.enabled)
                    .map(|c| c.customers)
                    .unwrap_or_default();
                if !customers.is_empty() {
                    let entry = Principal {
                        id: subject.clone(),
                        scopes: Vec::new(),
                        customers: customers.clone(),
                    };
                    self.remember(key, &entry);
                }
                (customers, Source::Verified)
            }
        };
        Ok((
            Principal {
                id: subject,
                scopes: token.scopes,
                customers,
            },
            source,
        ))
    }

    /// Replaces an accepted argon2id hash of other parameters by one with the deployment's,
    /// so every stored hash comes to cost the same (best effort: a failure is logged).
    async fn rehash(&self, client: &ApiClient, secret: &str) {
        let secret = secret.to_owned();
        let hashed = self.hashing.run(move || hash_password(&secret)).await;
        let (Some(old), Ok(Ok(new))) = (client.secret_hash.as_deref(), hashed) else {
            return;
        };
        if let Err(error) = self.directory.replace_hash(&client.id, old, &new).await {
            tracing::warn!(principal = %client.id, reason = %error, "re-hashing a secret failed");
        }
    }

    /// A Basic password refusal that needs no hash computed: the id has no argon2id hash to
    /// verify against (unknown, disabled, hashless, or outside the bounds), and this container
    /// has timed the costliest verification, so the padding timer alone makes the refusal
    /// take what a real verification's would. Until then, the dummy is verified (on the pool)
    /// to time it.
    fn refused_without_hashing(&self, secret: &str, client: Option<&ApiClient>) -> Option<Checked> {
        if !verifies_the_dummy(secret, client, self.policy) {
            return None;
        }
        self.costliest.estimate()?;
        Some(Checked {
            accepted: false,
            argon2_units: Some(MAX_ARGON2_UNITS),
            needs_rehash: false,
            against_dummy: true,
        })
    }

    /// What the logs may say of a refused login's client id: the id when the clients table
    /// knows it, else its fingerprint; a value of a generated secret's form never in clear.
    fn presented(&self, client_id: &str, known: bool) -> PresentedId {
        if known && !client_id.starts_with(secrets::PREFIX) {
            PresentedId::Known(client_id.to_owned())
        } else {
            PresentedId::Fingerprint(fingerprint(&self.log_key, client_id))
        }
    }

    fn cached(&self, key: &[u8; 32]) -> Option<Principal> {
        self.cache
            .lock()
            .map(|mut cache| cache.get(key, Instant::now()))
            .unwrap_or(None)
    }

    fn remember(&self, key: [u8; 32], principal: &Principal) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.put(key, principal.clone(), Instant::now());
        }
    }
}

fn directory_error(error: DirectoryError) -> AuthError {
    match error {
        DirectoryError::Unavailable(why) => {
            tracing::warn!(reason = %why, "clients table unavailable");
            AuthError::Unavailable
        }
        DirectoryError::Failed(why) => {
            tracing::error!(reason = %why, "clients table failure");
            AuthError::Failed
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::http::HeaderValue;

    fn with_authorization(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append(header::AUTHORIZATION, HeaderValue::from_str(v).unwrap());
        }
        headers
    }

    fn basic(raw: &[u8]) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }

    #[test]
    fn parses_basic_credentials() {
        let parsed = parse_authorization(&with_authorization(&["Basic YmVxYTRhcGk6YmVxYTRhcGk="]));
        assert_eq!(
            parsed,
            Ok(Some(Credentials::Basic {
                client_id: "beqa4api".into(),
                secret: "beqa4api".into()
            }))
        );
        // The secret may itself hold colons; the scheme is case-insensitive.
        let parsed = parse_authorization(&with_authorization(&[
            &basic(b"id:a:b").replace("Basic", "bAsIc")
        ]));
        assert_eq!(
            parsed,
            Ok(Some(Credentials::Basic {
                client_id: "id".into(),
                secret: "a:b".into()
            }))
        );
        assert_eq!(parse_authorization(&HeaderMap::new()), Ok(None));
        assert_eq!(
            parse_authorization(&with_authorization(&["Bearer abc.def.ghi"])),
            Ok(Some(Credentials::Bearer))
        );
    }

    #[test]
    fn malformed_headers_are_refusals() {
        let long_id = format!("{}:x", "i".repeat(MAX_CLIENT_ID_CHARS + 1));
        for header in [
            "Basic".to_owned(),
            "Basic !!!not-base64!!!".to_owned(),
            basic(b"no-colon"),
            basic(b":secret-without-id"),
            basic(b"\xff\xfe:x"),
            basic(long_id.as_bytes()),
            basic(b"a\x01b:x"),
            "Digest username=x".to_owned(),
            "YmVxYTRhcGk6YmVxYTRhcGk=".to_owned(),
        ] {
            assert!(
                parse_authorization(&with_authorization(&[&header])).is_err(),
                "{header}"
            );
        }
        assert!(parse_authorization(&with_authorization(&[
            "Basic YmVxYTRhcGk6YmVxYTRhcGk=",
            "Basic YmVxYTRhcGk6YmVxYTRhcGk="
        ]))
        .is_err());
    }

    #[test]
    fn refused_ids_are_logged_only_when_known() {
        let authenticator =
            Authenticator::new(crate::store::memory::MemoryClients::new(Vec::new()));
        let secret = secrets::generate();
        assert_eq!(
            authenticator.presented("acme-crm", true),
            PresentedId::Known("acme-crm".into())
        );
        for (presented, known) in [
            ("acme-crm", false),
            (secret.as_str(), false),
            (secret.as_str(), true),
            ("ppsk_truncated", true),
            ("S3cr3t-Sentinel-Pass", false),
        ] {
            let logged = authenticator.presented(presented, known).to_string();
            assert!(logged.starts_with("fp:") && logged.len() == 11, "{logged}");
            assert!(!logged.contains(presented));
        }
        // Equal ids, equal fingerprints; the key makes them the deployment's own.
        assert_eq!(
            authenticator.presented("x", false),
            authenticator.presented("x", false)
        );
        assert_ne!(
            authenticator.presented("x", false),
            authenticator.presented("y", false)
        );
        assert_ne!(
            Authenticator::new(crate::store::memory::MemoryClients::new(Vec::new()))
                .with_log_key("stack-1")
                .presented("x", false),
            authenticator.presented("x", false)
        );
    }
}
