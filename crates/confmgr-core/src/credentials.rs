//! Client secrets (AppRole secret_ids): `<lookup id>.<256-bit secret>`. The lookup id is
//! public and finds the stored row; the secret part is kept only as an argon2id PHC string,
//! so one login costs one argon2 verification, not one per live secret.

use crate::ValidationError;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::rngs::OsRng;
use rand::RngCore;
use std::fmt;
use zeroize::Zeroizing;

/// argon2id cost. Production is OWASP's m=19456 KiB, t=2, p=1; tests may use less.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HashCost {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl HashCost {
    pub const PRODUCTION: Self = Self {
        memory_kib: 19_456,
        iterations: 2,
        parallelism: 1,
    };
    /// Only for tests: verification reads the cost from the stored hash, so this stays safe
    /// to mix with production hashes.
    pub const TEST: Self = Self {
        memory_kib: 256,
        iterations: 1,
        parallelism: 1,
    };
}

/// A freshly generated client secret, shown once.
pub struct ClientSecret {
    lookup_id: String,
    full: Zeroizing<String>,
}

impl ClientSecret {
    pub fn generate() -> Self {
        let mut id = [0u8; 9];
        OsRng.fill_bytes(&mut id);
        let mut secret = Zeroizing::new([0u8; 32]);
        OsRng.fill_bytes(secret.as_mut());
        let lookup_id = URL_SAFE_NO_PAD.encode(id);
        let full = Zeroizing::new(format!(
            "{lookup_id}.{}",
            URL_SAFE_NO_PAD.encode(secret.as_ref())
        ));
        Self { lookup_id, full }
    }

    pub fn lookup_id(&self) -> &str {
        &self.lookup_id
    }

    pub fn expose(&self) -> &str {
        &self.full
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ClientSecret {{ lookup_id: {}, secret: <redacted> }}",
            self.lookup_id
        )
    }
}

/// Longest custom secret_id accepted (argon2 hashes it; Vault sets no limit of its own).
pub const MAX_CUSTOM_SECRET_LEN: usize = 1024;

/// The lookup id of a custom secret_id (AppRole's `custom-secret-id`), which has no public
/// prefix of ours: a keyed digest of the role's name and the secret under a key derived
/// from the root key, so the row can be found without a scan and the database holds nothing
/// from which the secret could be guessed faster than through the argon2 hash. `c.` and
/// its length keep it apart from generated lookup ids.
pub fn custom_lookup_id(root: &crate::crypto::RootKey, role_name: &str, secret: &str) -> String {
    let mut input = Zeroizing::new(Vec::with_capacity(role_name.len() + 1 + secret.len()));
    input.extend_from_slice(role_name.as_bytes());
    input.push(0);
    input.extend_from_slice(secret.as_bytes());
    let digest = root.keyed_digest(b"confmgr/v1/custom-secret-id", &input);
    format!("c.{}", URL_SAFE_NO_PAD.encode(digest))
}

/// Splits a presented secret into its lookup id; `None` if it cannot be one of ours.
pub fn lookup_id_of(presented: &str) -> Option<&str> {
    let (id, secret) = presented.split_once('.')?;
    (id.len() == 12 && secret.len() == 43 && !id.is_empty()).then_some(id)
}

fn argon2(cost: HashCost) -> Result<Argon2<'static>, ValidationError> {
    let params = Params::new(cost.memory_kib, cost.iterations, cost.parallelism, None)
        .map_err(|e| ValidationError::new(format!("argon2 parameters: {e}")))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// The argon2id PHC string of a secret. CPU-heavy: call from a blocking thread.
pub fn hash_secret(secret: &str, cost: HashCost) -> Result<String, ValidationError> {
    let salt = SaltString::generate(&mut OsRng);
    argon2(cost)?
        .hash_password(secret.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| ValidationError::new(format!("argon2: {e}")))
}

/// Checks a secret against a PHC string (constant-time comparison inside argon2).
/// CPU-heavy: call from a blocking thread.
pub fn verify_secret(secret: &str, phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    if parsed.algorithm.as_str() != "argon2id" {
        return false;
    }
    Argon2::default()
        .verify_password(secret.as_bytes(), &parsed)
        .is_ok()
}

/// Client names (AppRole role names): 1 to 128 of `[a-zA-Z0-9_.-]`, compared lowercased
/// as Vault does.
pub fn validate_client_name(name: &str) -> Result<String, ValidationError> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if ok {
        Ok(name.to_ascii_lowercase())
    } else {
        Err(ValidationError::new(
            "client names are 1 to 128 characters of letters, digits, '_', '-' and '.'",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_have_a_lookup_id_and_256_bits() {
        let secret = ClientSecret::generate();
        assert_eq!(lookup_id_of(secret.expose()), Some(secret.lookup_id()));
        assert_ne!(ClientSecret::generate().expose(), secret.expose());
        assert!(!format!("{secret:?}").contains(secret.expose()));
        assert_eq!(lookup_id_of("nodot"), None);
        assert_eq!(lookup_id_of("short.x"), None);
    }

    #[test]
    fn hashes_verify_and_reject() {
        let secret = ClientSecret::generate();
        let phc = hash_secret(secret.expose(), HashCost::TEST).unwrap();
        assert!(phc.starts_with("$argon2id$"));
        assert!(!phc.contains(secret.expose()));
        assert!(verify_secret(secret.expose(), &phc));
        assert!(!verify_secret(ClientSecret::generate().expose(), &phc));
        assert!(!verify_secret(secret.expose(), "not a phc"));
    }

    #[test]
    fn production_cost_is_owasp_minimum() {
        let phc = hash_secret("x", HashCost::PRODUCTION).unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify_secret("x", &phc));
    }

    #[test]
    fn custom_lookup_ids_are_keyed_per_role() {
        let root = crate::crypto::RootKey::generate();
        let id = custom_lookup_id(&root, "app", "my-secret");
        assert!(id.starts_with("c.") && id.len() == 45, "{id}");
        assert!(!id.contains("my-secret"));
        assert_eq!(id, custom_lookup_id(&root, "app", "my-secret"));
        assert_ne!(id, custom_lookup_id(&root, "other", "my-secret"));
        assert_ne!(
            id,
            custom_lookup_id(&crate::crypto::RootKey::generate(), "app", "my-secret")
        );
    }

    #[test]
    fn client_names() {
        assert_eq!(validate_client_name("My-App.v2"), Ok("my-app.v2".into()));
        assert!(validate_client_name("").is_err());
        assert!(validate_client_name("a/b").is_err());
        assert!(validate_client_name(&"a".repeat(129)).is_err());
    }
}
