//! Who is calling, and which customers they may act for (docs/API.md §3).
//!
//! Two ways in:
//! - **HTTP Basic** (`client-id:secret`), verified against the client's hash in the clients
//!   table: a SHA-256 for generated secrets ([`crate::auth::secrets`], microseconds), argon2id for
//!   secrets people chose. Which is used follows the presented secret's form, never the stored
//!   client, and an unknown, disabled or hashless client is verified against a dummy of that
//!   same kind, so timing tells nothing of which ids exist. argon2id refusals are answered at
//!   the time the costliest accepted hash would take ([`MAX_ARGON2_UNITS`]), so the stored
//!   hash's parameters do not show either; a successful verification of a hash with other
//!   parameters re-hashes it with the deployment's. Successes are cached in the warm container
//!   for [`CACHE_TTL`], keyed by a SHA-256 of the credential (whatever the header's form);
//!   failures never are.
//! - **A JWT verified by API Gateway** (HTTP API `authorizer.jwt`, REST API
//!   `authorizer.claims`): the principal is its `client_id` (else `sub`) claim, its scopes the
//!   token's, its customers those of its clients-table entry. A `Bearer` header without such a
//!   context is never trusted.
//!
//! Requests served at once that need the same client share one clients-table lookup
//! ([`flight`]).

pub mod clients;
pub mod flight;
pub mod pool;
pub mod secrets;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::{Argon2, PasswordHash, PasswordVerifier};
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

/// How long a successful verification is reused in a warm container.
pub const CACHE_TTL: Duration = Duration::from_secs(300);

/// The most verifications kept, and the most bytes they may hold; past either, expired
/// entries go first, then the ones closest to expiry, one at a time.
const CACHE_CAPACITY: usize = 1024;
const CACHE_MAX_BYTES: usize = 512 * 1024;
/// The most entries one principal may hold, so no client can crowd the others out.
const CACHE_PER_PRINCIPAL: usize = 4;

/// A hash with the deployment's own parameters (argon2's defaults): what `hash_password`
/// writes, and what a verification is compared with to tell a foreign hash. Its output is
/// random bytes, the hash of no secret.
const OWN_PARAMETERS_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$DXZ3rjyShPCjS1XYcftEEQ$EbSEAdeGMx56pbV06mWRBhVQBHjpgtXxfhynTQtU4d0";

/// The hash verified when the client is unknown, disabled or has no usable argon2id hash: the
/// costliest accepted parameters (64 MiB, 3 passes, 4 lanes: [`MAX_ARGON2_UNITS`] of work in
/// the most lanes accepted, which cost a little more again), so that such a refusal takes
/// what a real client's costliest hash takes. Its output is random bytes, the hash of no
/// secret.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=65536,t=3,p=4$EZXQAKk1ydL4cIUpLDi5GA$bVTG1TIA8iElxFElwz+rqlc8kf7RlZCvHNXK3GVqnRc";

/// Compared against when the presented secret has the generated form but the client is
/// unknown, disabled or has no SHA-256 hash: the digest of nothing anyone holds.
const DUMMY_DIGEST: [u8; 32] = [0x5a; 32];

/// Stored hashes asking for more than this are refused rather than computed (a bound on the
/// memory and time one request can cost): at most 64 MiB, 4 lanes, and at most
/// [`MAX_ARGON2_UNITS`] of work.
const MAX_HASH_MEMORY_KIB: u32 = 64 * 1024;
const MAX_HASH_LANES: u32 = 4;

/// The work of the costliest argon2id hash accepted, in KiB × passes (what one verification
/// computes, whatever its lanes, on one thread): RFC 9106's second recommended option,
/// m = 64 MiB and t = 3, which is also argon2-cffi's default.
pub const MAX_ARGON2_UNITS: u64 = 64 * 1024 * 3;

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

/// A stored argon2id hash within the bounds, and the work verifying it takes.
fn argon2_within_bounds(phc: &str) -> Option<(PasswordHash<'_>, u64)> {
    let hash = PasswordHash::new(phc).ok()?;
    if hash.algorithm.as_str() != "argon2id" {
        return None;
    }
    let params = argon2::Params::try_from(&hash).ok()?;
    let units = u64::from(params.m_cost()) * u64::from(params.t_cost());
    (params.m_cost() <= MAX_HASH_MEMORY_KIB
        && params.p_cost() <= MAX_HASH_LANES
        && units <= MAX_ARGON2_UNITS)
        .then_some((hash, units))
}

/// The outcome of checking a Basic secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checked {
    pub accepted: bool,
    /// The work of the argon2id verification computed, if one was.
    pub argon2_units: Option<u64>,
    /// Accepted against an argon2id hash with other parameters than the deployment's.
    pub needs_rehash: bool,
    /// Verified against the dummy (the costliest accepted parameters), not a real hash.
    pub against_dummy: bool,
}

/// Verifies a Basic secret against what the directory holds for that id. The kind of
/// verification follows the secret's form: a generated secret costs one SHA-256, anything else
/// exactly one argon2id verification (unless the policy refuses such secrets: then none),
/// whether the client exists, is enabled, or has a hash of that kind.
pub fn check_basic(secret: &str, client: Option<&ApiClient>, policy: AuthPolicy) -> Checked {
    let stored = client
        .filter(|c| c.enabled)
        .and_then(|c| c.secret_hash.as_deref());
    if secrets::is_generated(secret) {
        let real = stored.and_then(secrets::stored_digest);
        let verified = secrets::verify(secret, real.as_ref().unwrap_or(&DUMMY_DIGEST));
        return Checked {
            accepted: verified && real.is_some(),
            argon2_units: None,
            needs_rehash: false,
            against_dummy: false,
        };
    }
    if !policy.accept_passwords {
        return Checked {
            accepted: false,
            argon2_units: None,
            needs_rehash: false,
            against_dummy: false,
        };
    }
    let real = stored.and_then(argon2_within_bounds);
    let is_real = real.is_some();
    let (hash, units) = match real {
        Some(found) => found,
        None => match PasswordHash::new(DUMMY_HASH) {
            Ok(dummy) => (dummy, MAX_ARGON2_UNITS),
            Err(_) => {
                return Checked {
                    accepted: false,
                    argon2_units: None,
                    needs_rehash: false,
                    against_dummy: false,
                }
            }
        },
    };
    let verified = Argon2::default()
        .verify_password(secret.as_bytes(), &hash)
        .is_ok();
    let own_parameters = hash.params.iter().eq(PasswordHash::new(OWN_PARAMETERS_HASH)
        .map(|d| d.params)
        .unwrap_or_default()
        .iter());
    Checked {
        accepted: verified && is_real,
        argon2_units: Some(units),
        needs_rehash: verified && is_real && !own_parameters,
        against_dummy: !is_real,
    }
}

/// How much slower, per unit of work, the costliest accepted hash verifies than the
/// deployment's own: 64 MiB of memory is allocated, faulted in and walked with more cache
/// misses than 19 MiB. Measured by `make bench` (benches/auth.rs, "401 timing"): 1.4–1.7 here.
/// Used only until the container has timed a costliest verification of its own.
const LARGE_HASH_SLOWDOWN: f64 = 1.55;

/// How long a refusal waits after an argon2id verification of `units` work that took `took`:
/// until the costliest accepted hash would have finished. `costliest` is how long one took in
/// this container (see [`CostliestClock`]); before one was timed, the time is scaled from
/// `took` by the work and [`LARGE_HASH_SLOWDOWN`]. The wait is a timer, not work.
pub fn refusal_padding(took: Duration, units: u64, costliest: Option<Duration>) -> Duration {
    if units == 0 {
        return Duration::ZERO;
    }
    let target = match costliest {
        Some(costliest) => costliest,
        None if units >= MAX_ARGON2_UNITS => took,
        None => took.mul_f64(MAX_ARGON2_UNITS as f64 / units as f64 * LARGE_HASH_SLOWDOWN),
    };
    target.saturating_sub(took)
}

/// How long a costliest argon2id verification takes in this container: a moving average of
/// the dummy verifications it computed (every unknown id's refusal computes one), so refusals of cheaper
/// hashes wait for the time this container's own CPU share gives, not a ratio guessed
/// elsewhere. Nothing is computed to learn it: init does no argon2id work.
#[derive(Default)]
pub struct CostliestClock {
    nanos: std::sync::atomic::AtomicU64,
}

impl CostliestClock {
    /// The current estimate, once one costliest verification has been timed.
    pub fn estimate(&self) -> Option<Duration> {
        match self.nanos.load(std::sync::atomic::Ordering::Relaxed) {
            0 => None,
            nanos => Some(Duration::from_nanos(nanos)),
        }
    }

    /// Adds a costliest verification that took `took` (each new one weighs a quarter).
    pub fn observe(&self, took: Duration) {
        let sample = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX).max(1);
        let next = match self.estimate() {
            None => sample,
            Some(old) => {
                let old = u64::try_from(old.as_nanos()).unwrap_or(u64::MAX);
                old - old / 4 + sample / 4
            }
        };
        self.nanos
            .store(next.max(1), std::sync::atomic::Ordering::Relaxed);
    }
}

/// Successful verifications, by SHA-256 of what was verified ([`cache_key`]). Bounded in
/// entries, in bytes, and per principal.
#[derive(Default)]
pub struct VerificationCache {
    entries: HashMap<[u8; 32], CacheEntry>,
    bytes: usize,
}

struct CacheEntry {
    expires: Instant,
    principal: Principal,
    bytes: usize,
}

/// What an entry holds, roughly, in bytes.
fn entry_bytes(principal: &Principal) -> usize {
    const FIXED: usize = 32 + std::mem::size_of::<CacheEntry>() + 16;
    FIXED
        + principal.id.len()
        + principal.scopes.iter().map(|s| s.len() + 24).sum::<usize>()
        + principal.customers.len() * 8
}

impl VerificationCache {
    pub fn get(&mut self, key: &[u8; 32], now: Instant) -> Option<Principal> {
        match self.entries.get(key) {
            Some(entry) if entry.expires > now => Some(entry.principal.clone()),
            Some(_) => {
                self.remove(key);
                None
            }
            None => None,
        }
    }

    pub fn put(&mut self, key: [u8; 32], principal: Principal, now: Instant) {
        let bytes = entry_bytes(&principal);
        if bytes > CACHE_MAX_BYTES / 4 {
            return;
        }
        self.remove(&key);
        // One principal holds at most a few entries: its own oldest make room.
        let mut own: Vec<([u8; 32], Instant)> = self
            .entries
            .iter()
            .filter(|(_, e)| e.principal.id == principal.id)
            .map(|(k, e)| (*k, e.expires))
            .collect();
        if own.len() >= CACHE_PER_PRINCIPAL {
            own.sort_by_key(|(_, expires)| *expires);
            for (k, _) in own.iter().take(own.len() + 1 - CACHE_PER_PRINCIPAL) {
                self.remove(k);
            }
        }
        if self.entries.len() >= CACHE_CAPACITY || self.bytes + bytes > CACHE_MAX_BYTES {
            let expired: Vec<[u8; 32]> = self
                .entries
                .iter()
                .filter(|(_, e)| e.expires <= now)
                .map(|(k, _)| *k)
                .collect();
            for k in &expired {
                self.remove(k);
            }
        }
        while self.entries.len() >= CACHE_CAPACITY || self.bytes + bytes > CACHE_MAX_BYTES {
            let Some(oldest) = self
                .entries
                .iter()
                .min_by_key(|(_, e)| e.expires)
                .map(|(k, _)| *k)
            else {
                break;
            };
            self.remove(&oldest);
        }
        self.bytes += bytes;
        self.entries.insert(
            key,
            CacheEntry {
                expires: now + CACHE_TTL,
                principal,
                bytes,
            },
        );
    }

    fn remove(&mut self, key: &[u8; 32]) {
        if let Some(entry) = self.entries.remove(key) {
            self.bytes = self.bytes.saturating_sub(entry.bytes);
        }
    }

    /// How many entries, and how many bytes they hold.
    pub fn usage(&self) -> (usize, usize) {
        (self.entries.len(), self.bytes)
    }
}

/// The cache key of a Basic credential.
pub fn basic_cache_key(client_id: &str, secret: &str) -> [u8; 32] {
    let mut material = Vec::with_capacity(client_id.len() + secret.len() + 1);
    material.extend_from_slice(client_id.as_bytes());
    material.push(b':');
    material.extend_from_slice(secret.as_bytes());
    cache_key("basic", &material)
}

/// The cache key for what was verified: `kind` ("basic" for a Basic credential) and the
/// material, hashed together.
pub fn cache_key(kind: &str, material: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(kind.as_bytes());
    hasher.update([0]);
    hasher.update(material);
    hasher.finalize().into()
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
        if secrets::is_generated(secret) || !self.policy.accept_passwords {
            return None;
        }
        let stored = client
            .filter(|c| c.enabled)
            .and_then(|c| c.secret_hash.as_deref());
        if stored.and_then(argon2_within_bounds).is_some() {
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

    /// The work of a verification at the deployment's own parameters (argon2's defaults).
    const OWN_ARGON2_UNITS: u64 = 19 * 1024 * 2;

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

    fn client(hash: Option<String>, enabled: bool) -> ApiClient {
        ApiClient {
            id: "c".into(),
            secret_hash: hash,
            scopes: vec![WRITE_SCOPE.into()],
            customers: vec![CustomerId(1)],
            enabled,
        }
    }

    fn accepted(secret: &str, client: Option<&ApiClient>) -> bool {
        check_basic(secret, client, AuthPolicy::default()).accepted
    }

    #[test]
    fn basic_verification() {
        let hash = crate::auth::clients::hash_secret("right").unwrap();
        assert!(accepted("right", Some(&client(Some(hash.clone()), true))));
        assert!(!accepted("wrong", Some(&client(Some(hash.clone()), true))));
        assert!(!accepted("right", Some(&client(Some(hash), false))));
        assert!(!accepted("right", Some(&client(None, true))));
        assert!(!accepted("right", None));
        assert!(!accepted("", Some(&client(Some("not a phc".into()), true))));
    }

    #[test]
    fn the_verification_follows_the_presented_secret_not_the_stored_client() {
        let generated = secrets::generate();
        let sha = crate::auth::clients::hash_secret(&generated).unwrap();
        let argon = crate::auth::clients::hash_password("right").unwrap();
        let policy = AuthPolicy::default();
        // A generated-form secret: one SHA-256, whatever is stored.
        for stored in [Some(sha.clone()), Some(argon.clone()), None] {
            let checked = check_basic(&generated, Some(&client(stored.clone(), true)), policy);
            assert_eq!(checked.argon2_units, None);
            assert_eq!(checked.accepted, stored.as_deref() == Some(sha.as_str()));
        }
        assert_eq!(check_basic(&generated, None, policy).argon2_units, None);
        // Anything else: one argon2id verification, whatever is stored: the client's own
        // hash, or (no usable argon2id hash) the dummy at the costliest parameters.
        for (stored, units) in [
            (Some(sha.clone()), MAX_ARGON2_UNITS),
            (Some(argon.clone()), OWN_ARGON2_UNITS),
            (None, MAX_ARGON2_UNITS),
        ] {
            let checked = check_basic("right", Some(&client(stored.clone(), true)), policy);
            assert_eq!(checked.argon2_units, Some(units));
            assert_eq!(checked.accepted, stored.as_deref() == Some(argon.as_str()));
            assert!(!checked.needs_rehash);
        }
        let unknown = check_basic("right", None, policy);
        assert_eq!(
            (unknown.accepted, unknown.argon2_units),
            (false, Some(MAX_ARGON2_UNITS))
        );
        let disabled = check_basic("right", Some(&client(Some(argon.clone()), false)), policy);
        assert_eq!(
            (disabled.accepted, disabled.argon2_units),
            (false, Some(MAX_ARGON2_UNITS))
        );
        // Refusing passwords: no argon2id at all.
        let refuse = AuthPolicy {
            accept_passwords: false,
        };
        let checked = check_basic("right", Some(&client(Some(argon), true)), refuse);
        assert_eq!((checked.accepted, checked.argon2_units), (false, None));
        assert!(check_basic(&generated, Some(&client(Some(sha), true)), refuse).accepted);
    }

    #[test]
    fn foreign_parameters_are_accepted_within_bounds_and_marked_for_rehash() {
        let params = argon2::Params::new(64 * 1024, 3, 4, None).unwrap();
        let argon = Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        let salt = password_hash::SaltString::generate(&mut password_hash::rand_core::OsRng);
        let foreign = password_hash::PasswordHasher::hash_password(&argon, b"right", &salt)
            .unwrap()
            .to_string();
        let checked = check_basic(
            "right",
            Some(&client(Some(foreign.clone()), true)),
            AuthPolicy::default(),
        );
        assert!(checked.accepted && checked.needs_rehash);
        assert_eq!(checked.argon2_units, Some(MAX_ARGON2_UNITS));
        let wrong = check_basic(
            "wrong",
            Some(&client(Some(foreign), true)),
            AuthPolicy::default(),
        );
        assert!(!wrong.accepted && !wrong.needs_rehash);
    }

    #[test]
    fn refusals_end_when_the_costliest_hash_would_have() {
        let ms = Duration::from_millis;
        // A verification of the costliest work waits for nothing when no dummy was timed, and
        // for the dummy's time when one was (the dummy has the most lanes, too).
        assert_eq!(
            refusal_padding(ms(80), MAX_ARGON2_UNITS, None),
            Duration::ZERO
        );
        assert_eq!(
            refusal_padding(ms(75), MAX_ARGON2_UNITS, Some(ms(80))),
            ms(5)
        );
        // Before this container timed one, the time is scaled from the work.
        let expected = ms(10)
            .mul_f64(MAX_ARGON2_UNITS as f64 / OWN_ARGON2_UNITS as f64 * LARGE_HASH_SLOWDOWN)
            - ms(10);
        assert_eq!(refusal_padding(ms(10), OWN_ARGON2_UNITS, None), expected);
        // Once timed, cheaper refusals end at the time measured here, not at a guessed ratio.
        assert_eq!(
            refusal_padding(ms(10), OWN_ARGON2_UNITS, Some(ms(80))),
            ms(70)
        );
        assert_eq!(
            refusal_padding(ms(90), OWN_ARGON2_UNITS, Some(ms(80))),
            Duration::ZERO
        );
        let clock = CostliestClock::default();
        assert_eq!(clock.estimate(), None);
        clock.observe(ms(80));
        assert_eq!(clock.estimate(), Some(ms(80)));
        clock.observe(ms(120));
        assert_eq!(clock.estimate(), Some(ms(90)));
    }

    #[test]
    fn oversized_or_foreign_hashes_are_refused() {
        for phc in [
            "$argon2id$v=19$m=1048576,t=2,p=1$DXZ3rjyShPCjS1XYcftEEQ$EbSEAdeGMx56pbV06mWRBhVQBHjpgtXxfhynTQtU4d0",
            "$argon2id$v=19$m=65536,t=4,p=1$DXZ3rjyShPCjS1XYcftEEQ$EbSEAdeGMx56pbV06mWRBhVQBHjpgtXxfhynTQtU4d0",
            "$argon2id$v=19$m=19456,t=2,p=8$DXZ3rjyShPCjS1XYcftEEQ$EbSEAdeGMx56pbV06mWRBhVQBHjpgtXxfhynTQtU4d0",
            "$argon2i$v=19$m=19456,t=2,p=1$DXZ3rjyShPCjS1XYcftEEQ$EbSEAdeGMx56pbV06mWRBhVQBHjpgtXxfhynTQtU4d0",
        ] {
            assert!(argon2_within_bounds(phc).is_none(), "{phc}");
        }
    }

    #[test]
    fn the_dummy_hash_costs_what_the_costliest_accepted_hash_costs() {
        let dummy = PasswordHash::new(DUMMY_HASH).unwrap();
        assert_eq!(dummy.algorithm.as_str(), "argon2id");
        assert_eq!(
            argon2_within_bounds(DUMMY_HASH).unwrap().1,
            MAX_ARGON2_UNITS
        );
        let params = argon2::Params::try_from(&dummy).unwrap();
        assert_eq!(params.p_cost(), MAX_HASH_LANES);
        assert_eq!(params.m_cost(), MAX_HASH_MEMORY_KIB);
        // The deployment's own parameters are the ones new hashes get.
        let own = PasswordHash::new(OWN_PARAMETERS_HASH).unwrap();
        let real_hash = crate::auth::clients::hash_secret("s").unwrap();
        let real = PasswordHash::new(&real_hash).unwrap();
        assert_eq!(
            argon2::Params::try_from(&own).unwrap(),
            argon2::Params::try_from(&real).unwrap()
        );
        assert_eq!(
            argon2_within_bounds(&real_hash).unwrap().1,
            OWN_ARGON2_UNITS
        );
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

    #[test]
    fn cache_expires_and_stays_bounded() {
        let mut cache = VerificationCache::default();
        let now = Instant::now();
        let principal = Principal {
            id: "p".into(),
            scopes: vec![],
            customers: vec![],
        };
        cache.put([1; 32], principal.clone(), now);
        assert_eq!(cache.get(&[1; 32], now), Some(principal.clone()));
        assert_eq!(cache.get(&[1; 32], now + CACHE_TTL), None);
        for i in 0..(CACHE_CAPACITY + 10) {
            let key = cache_key("k", &i.to_le_bytes());
            let one = Principal {
                id: format!("p{i}"),
                ..principal.clone()
            };
            cache.put(key, one, now);
        }
        assert!(cache.entries.len() <= CACHE_CAPACITY);
        assert!(cache.bytes <= CACHE_MAX_BYTES);
    }

    #[test]
    fn one_principal_cannot_crowd_out_the_others() {
        let mut cache = VerificationCache::default();
        let now = Instant::now();
        let others: Vec<[u8; 32]> = (0..50)
            .map(|i| {
                let key = cache_key("other", &[i]);
                let principal = Principal {
                    id: format!("other-{i}"),
                    scopes: vec![WRITE_SCOPE.into()],
                    customers: vec![CustomerId(1)],
                };
                cache.put(key, principal, now);
                key
            })
            .collect();
        let greedy = Principal {
            id: "greedy".into(),
            scopes: vec![WRITE_SCOPE.into()],
            customers: (0..1000).map(CustomerId).collect(),
        };
        for i in 0..10_000u32 {
            cache.put(cache_key("greedy", &i.to_le_bytes()), greedy.clone(), now);
        }
        for key in &others {
            assert!(cache.get(key, now).is_some(), "another client was evicted");
        }
        let (entries, bytes) = cache.usage();
        assert!(entries <= 50 + CACHE_PER_PRINCIPAL);
        assert!(bytes <= CACHE_MAX_BYTES);
    }

    #[test]
    fn the_cache_is_bounded_in_bytes() {
        let mut cache = VerificationCache::default();
        let now = Instant::now();
        for i in 0..2_000u32 {
            let principal = Principal {
                id: format!("client-{i}"),
                scopes: vec![WRITE_SCOPE.into()],
                customers: (0..500).map(CustomerId).collect(),
            };
            cache.put(cache_key("b", &i.to_le_bytes()), principal, now);
        }
        let (entries, bytes) = cache.usage();
        assert!(bytes <= CACHE_MAX_BYTES, "{bytes}");
        assert!(entries < 2_000);
    }

    #[test]
    fn cache_keys_never_hold_the_secret() {
        let header = b"Basic YmVxYTRhcGk6YmVxYTRhcGk=";
        let key = cache_key("basic", header);
        assert_ne!(&key[..], &header[..header.len().min(32)]);
        assert_ne!(
            cache_key("basic", header),
            cache_key("token-customers", header)
        );
    }
}
