//! Verifying an HTTP Basic secret: which verification runs (following the presented secret's
//! form, never the stored client), the bounds on a stored argon2id hash, and how long a
//! refusal waits so that neither existence nor a hash's parameters show in its timing
//! (docs/DECISIONS.md, "Timing").

use std::time::Duration;

use argon2::{Argon2, PasswordHash, PasswordVerifier};

use crate::auth::{secrets, AuthPolicy};
use crate::store::ApiClient;

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

/// Whether checking `secret` against `client` verifies the argon2id dummy: a secret not of the
/// generated form, passwords accepted, and no argon2id hash within the bounds to verify
/// (unknown, disabled or hashless client).
pub fn verifies_the_dummy(secret: &str, client: Option<&ApiClient>, policy: AuthPolicy) -> bool {
    if secrets::is_generated(secret) || !policy.accept_passwords {
        return false;
    }
    let stored = client
        .filter(|c| c.enabled)
        .and_then(|c| c.secret_hash.as_deref());
    stored.and_then(argon2_within_bounds).is_none()
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

/// How long a costliest argon2id verification takes in this container: the dummy
/// verifications it computed (a refusal of an id without a hash computes one until the first
/// is timed, then none), so refusals wait for the time this container's own CPU share gives,
/// not a ratio guessed elsewhere. Nothing is computed to learn it: init does no argon2id work.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::WRITE_SCOPE;
    use crate::table::CustomerId;

    /// The work of a verification at the deployment's own parameters (argon2's defaults).
    const OWN_ARGON2_UNITS: u64 = 19 * 1024 * 2;

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
}
