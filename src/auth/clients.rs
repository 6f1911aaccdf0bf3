//! API clients' secrets: generating one, and the form it is stored in. The clients table
//! itself is [`crate::store::clients`].

use argon2::{Argon2, PasswordHasher};
use password_hash::rand_core::OsRng;
use password_hash::SaltString;

/// The longest client id looked up; longer ones are refused without a lookup.
pub const MAX_CLIENT_ID_CHARS: usize = 128;

/// The stored form of a secret: SHA-256 for a generated one ([`crate::auth::secrets`]), argon2id
/// for any other.
pub fn hash_secret(secret: &str) -> Result<String, password_hash::Error> {
    if crate::auth::secrets::is_generated(secret) {
        Ok(crate::auth::secrets::hash(secret))
    } else {
        hash_password(secret)
    }
}

/// Hashes a secret a person chose as a PHC-format argon2id string with the deployment's
/// parameters (argon2's defaults: m=19 MiB, t=2, p=1, the OWASP minimum).
pub fn hash_password(secret: &str) -> Result<String, password_hash::Error> {
    let salt = SaltString::generate(&mut OsRng);
    Ok(Argon2::default()
        .hash_password(secret.as_bytes(), &salt)?
        .to_string())
}

/// A new generated secret (see [`crate::auth::secrets`]).
pub fn generate_secret() -> String {
    crate::auth::secrets::generate()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_are_fresh_and_hashed_fast() {
        let a = generate_secret();
        assert_eq!(a.len(), crate::auth::secrets::LENGTH);
        assert_ne!(a, generate_secret());
        assert!(hash_secret(&a).unwrap().starts_with("$sha256$"));
        assert!(hash_secret("chosen by a person")
            .unwrap()
            .starts_with("$argon2id$"));
    }
}
