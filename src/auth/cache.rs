//! Successful verifications remembered in a warm container, bounded in entries, in bytes and
//! per principal, keyed by a SHA-256 of what was verified, never the secret itself.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::auth::Principal;

/// How long a successful verification is reused in a warm container.
pub const CACHE_TTL: Duration = Duration::from_secs(300);

/// The most verifications kept, and the most bytes they may hold; past either, expired
/// entries go first, then the ones closest to expiry, one at a time.
const CACHE_CAPACITY: usize = 1024;
const CACHE_MAX_BYTES: usize = 512 * 1024;
/// The most entries one principal may hold, so no client can crowd the others out.
const CACHE_PER_PRINCIPAL: usize = 4;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::WRITE_SCOPE;
    use crate::table::CustomerId;

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
