//! Generated API secrets: 256 random bits in a recognisable form, stored as a SHA-256.
//!
//! A generated secret reads `ppsk_` + 52 characters of base32 (RFC 4648's alphabet, lowercase:
//! the 32 random bytes) + 8 characters of base32 checksum (the first 5 bytes of SHA-256 of the
//! random bytes). The prefix lets secret scanners and people recognise one; the checksum tells a
//! mistyped or truncated one from a real one without a lookup.
//!
//! Secrets of ≥ 112 bits of entropy need no slow hash (NIST SP 800-63B §5.1.1.2, and what
//! API-key systems do): the clients table keeps `$sha256$<base64 of SHA-256(secret)>`, compared
//! in constant time. Secrets people chose keep argon2id (see [`crate::auth`]).

use base64::Engine;
use password_hash::rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};

/// What every generated secret starts with ("person-patch secret key").
pub const PREFIX: &str = "ppsk_";

/// The PHC-style identifier of a stored generated-secret hash.
pub const HASH_PREFIX: &str = "$sha256$";

const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
const RANDOM_BYTES: usize = 32;
const RANDOM_CHARS: usize = 52;
const CHECKSUM_BYTES: usize = 5;
const CHECKSUM_CHARS: usize = 8;

/// The length of every generated secret.
pub const LENGTH: usize = PREFIX.len() + RANDOM_CHARS + CHECKSUM_CHARS;

/// A new generated secret, from the operating system's random source.
pub fn generate() -> String {
    let mut random = [0u8; RANDOM_BYTES];
    OsRng.fill_bytes(&mut random);
    from_random(&random)
}

fn from_random(random: &[u8; RANDOM_BYTES]) -> String {
    let mut secret = String::with_capacity(LENGTH);
    secret.push_str(PREFIX);
    secret.push_str(&base32(random));
    secret.push_str(&base32(&checksum(random)));
    secret
}

fn checksum(random: &[u8]) -> [u8; CHECKSUM_BYTES] {
    let digest = Sha256::digest(random);
    let mut out = [0u8; CHECKSUM_BYTES];
    out.copy_from_slice(digest.get(..CHECKSUM_BYTES).unwrap_or(&[0; CHECKSUM_BYTES]));
    out
}

/// Whether `secret` has the generated form: prefix, alphabet, length and checksum. Anything
/// else (a typo, a truncated copy, a password) is not one.
pub fn is_generated(secret: &str) -> bool {
    let Some(body) = secret.strip_prefix(PREFIX) else {
        return false;
    };
    if body.len() != RANDOM_CHARS + CHECKSUM_CHARS {
        return false;
    }
    let (random, sum) = body.split_at(RANDOM_CHARS);
    match (unbase32(random), unbase32(sum)) {
        (Some(random), Some(sum)) => {
            random.len() == RANDOM_BYTES && sum.get(..CHECKSUM_BYTES) == Some(&checksum(&random))
        }
        _ => false,
    }
}

/// The stored form of a generated secret.
pub fn hash(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    format!(
        "{HASH_PREFIX}{}",
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(digest)
    )
}

/// The digest a stored `$sha256$` hash holds; `None` for any other string.
pub fn stored_digest(stored: &str) -> Option<[u8; 32]> {
    let encoded = stored.strip_prefix(HASH_PREFIX)?;
    let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(encoded)
        .ok()?;
    bytes.try_into().ok()
}

/// Compares `secret` with a stored digest in time independent of where they differ.
pub fn verify(secret: &str, digest: &[u8; 32]) -> bool {
    let presented = Sha256::digest(secret.as_bytes());
    let difference = presented
        .iter()
        .zip(digest.iter())
        .fold(0u8, |acc, (a, b)| acc | (a ^ b));
    std::hint::black_box(difference) == 0
}

fn base32(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 8 / 5 + 1);
    let mut buffer: u16 = 0;
    let mut bits = 0;
    for &byte in bytes {
        buffer = (buffer << 8) | u16::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            let index = usize::from((buffer >> bits) & 0x1f);
            out.push(char::from(ALPHABET[index]));
        }
        buffer &= (1 << bits) - 1;
    }
    if bits > 0 {
        let index = usize::from((buffer << (5 - bits)) & 0x1f);
        out.push(char::from(ALPHABET[index]));
    }
    out
}

fn unbase32(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let mut buffer: u16 = 0;
    let mut bits = 0;
    for c in text.bytes() {
        let value = ALPHABET.iter().position(|&a| a == c)?;
        buffer = (buffer << 5) | u16::try_from(value).ok()?;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((buffer >> bits) & 0xff).ok()?);
        }
        buffer &= (1 << bits) - 1;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_have_the_form_and_verify() {
        let secret = generate();
        assert_eq!(secret.len(), LENGTH);
        assert!(secret.starts_with(PREFIX));
        assert!(is_generated(&secret));
        assert_ne!(secret, generate());
        let stored = hash(&secret);
        assert!(stored.starts_with(HASH_PREFIX));
        let digest = stored_digest(&stored).unwrap();
        assert!(verify(&secret, &digest));
        assert!(!verify(&generate(), &digest));
    }

    #[test]
    fn every_one_character_change_breaks_the_form_or_the_hash() {
        let secret = from_random(&[7; RANDOM_BYTES]);
        let digest = stored_digest(&hash(&secret)).unwrap();
        for i in PREFIX.len()..secret.len() {
            for c in ALPHABET.iter().map(|&b| char::from(b)) {
                let mut changed: Vec<char> = secret.chars().collect();
                if changed[i] == c {
                    continue;
                }
                changed[i] = c;
                let changed: String = changed.into_iter().collect();
                assert!(!verify(&changed, &digest));
            }
        }
        // A single changed character in the random part fails the checksum.
        let mut typo: Vec<char> = secret.chars().collect();
        typo[PREFIX.len() + 3] = if typo[PREFIX.len() + 3] == 'a' {
            'b'
        } else {
            'a'
        };
        assert!(!is_generated(&typo.into_iter().collect::<String>()));
        assert!(!is_generated(&secret[..secret.len() - 1]));
        assert!(!is_generated(&secret.to_uppercase()));
        assert!(!is_generated("beqa4api"));
    }

    #[test]
    fn base32_round_trips() {
        for len in 0..40 {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let text = base32(&bytes);
            assert_eq!(unbase32(&text).unwrap()[..bytes.len()], bytes[..]);
        }
        assert_eq!(base32(&[0; RANDOM_BYTES]).len(), RANDOM_CHARS);
        assert_eq!(base32(&[0; CHECKSUM_BYTES]).len(), CHECKSUM_CHARS);
    }

    #[test]
    fn only_sha256_hashes_have_a_digest() {
        assert!(stored_digest("$argon2id$v=19$m=19456,t=2,p=1$abc$def").is_none());
        assert!(stored_digest("$sha256$tooshort").is_none());
    }
}
