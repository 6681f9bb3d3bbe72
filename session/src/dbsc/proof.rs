//! The browser's proof of its key: a `dbsc+jwt` (a compact JWS) in the `Secure-Session-Response`
//! header, signed with ES256 (P-256, the signature as raw `r ‖ s`) or RS256 (RSA PKCS#1 v1.5,
//! SHA-256), its payload `{"jti": "<challenge>"}`. At registration the public key comes in the
//! JWT's header as a JWK; at refresh it is the one stored then. Verification is the `p256` and
//! `rsa` crates'; this module only splits, decodes and checks the fields.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::Value;

/// Longest `Secure-Session-Response` read (an RS256 JWT with a 4096-bit JWK is about 1.5 kB).
pub(crate) const MAX_PROOF: usize = 8 * 1024;

/// Why a proof was refused (each a 4xx and a log line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Not three base64url parts of JSON, too long, or missing fields.
    Malformed,
    /// `typ` is not `dbsc+jwt`, or `alg` is not ES256 or RS256, or the key does not match it.
    Unsupported,
    /// No key: a registration without a `jwk`, or a key that is not a P-256 or RSA public key
    /// (RSA under 2048 bits included).
    BadKey,
    /// The signature does not verify with the key.
    BadSignature,
}

impl Refused {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Refused::Malformed => "malformed proof",
            Refused::Unsupported => "unsupported proof type or algorithm",
            Refused::BadKey => "unusable public key",
            Refused::BadSignature => "signature does not verify",
        }
    }
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    typ: Option<String>,
    jwk: Option<Value>,
}

#[derive(Deserialize)]
struct Payload {
    jti: Option<String>,
}

/// A proof whose signature verified: its challenge (`jti`) and the key that signed it (as JSON,
/// to store with the session).
#[derive(Debug)]
pub(crate) struct Verified {
    pub(crate) jti: String,
    pub(crate) jwk: Value,
}

/// Verifies `jwt` with the key in its own header (registration).
pub(crate) fn verify_registration(jwt: &str) -> Result<Verified, Refused> {
    let (header, _) = parts(jwt)?;
    let jwk = header.jwk.clone().ok_or(Refused::BadKey)?;
    verify(jwt, &jwk)
}

/// Verifies `jwt` with `jwk`, the key stored at registration (refresh).
pub(crate) fn verify(jwt: &str, jwk: &Value) -> Result<Verified, Refused> {
    let (header, payload) = parts(jwt)?;
    if header.typ.as_deref() != Some(super::names::JWT_TYPE) {
        return Err(Refused::Unsupported);
    }
    let (signed, signature) = jwt.rsplit_once('.').ok_or(Refused::Malformed)?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| Refused::Malformed)?;
    match (header.alg.as_str(), jwk.get("kty").and_then(Value::as_str)) {
        ("ES256", Some("EC")) => es256(jwk, signed.as_bytes(), &signature)?,
        ("RS256", Some("RSA")) => rs256(jwk, signed.as_bytes(), &signature)?,
        ("ES256" | "RS256", _) => return Err(Refused::BadKey),
        _ => return Err(Refused::Unsupported),
    }
    let jti = payload
        .jti
        .filter(|j| !j.is_empty())
        .ok_or(Refused::Malformed)?;
    Ok(Verified {
        jti,
        jwk: jwk.clone(),
    })
}

/// The decoded header and payload.
fn parts(jwt: &str) -> Result<(Header, Payload), Refused> {
    if jwt.len() > MAX_PROOF {
        return Err(Refused::Malformed);
    }
    let mut it = jwt.split('.');
    let (Some(h), Some(p), Some(_), None) = (it.next(), it.next(), it.next(), it.next()) else {
        return Err(Refused::Malformed);
    };
    let json = |part: &str| URL_SAFE_NO_PAD.decode(part).map_err(|_| Refused::Malformed);
    let header = serde_json::from_slice(&json(h)?).map_err(|_| Refused::Malformed)?;
    let payload = serde_json::from_slice(&json(p)?).map_err(|_| Refused::Malformed)?;
    Ok((header, payload))
}

fn es256(jwk: &Value, signed: &[u8], signature: &[u8]) -> Result<(), Refused> {
    use p256::ecdsa::signature::Verifier as _;
    use p256::ecdsa::{Signature, VerifyingKey};
    let key = p256::PublicKey::from_jwk_str(&jwk.to_string()).map_err(|_| Refused::BadKey)?;
    let signature = Signature::from_slice(signature).map_err(|_| Refused::BadSignature)?;
    VerifyingKey::from(key)
        .verify(signed, &signature)
        .map_err(|_| Refused::BadSignature)
}

fn rs256(jwk: &Value, signed: &[u8], signature: &[u8]) -> Result<(), Refused> {
    use rsa::pkcs1v15::{Signature, VerifyingKey};
    use rsa::signature::Verifier as _;
    use rsa::traits::PublicKeyParts as _;
    let number = |name: &str| {
        let text = jwk.get(name)?.as_str()?;
        let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
        Some(rsa::BigUint::from_bytes_be(&bytes))
    };
    let (n, e) = (
        number("n").ok_or(Refused::BadKey)?,
        number("e").ok_or(Refused::BadKey)?,
    );
    let key = rsa::RsaPublicKey::new(n, e).map_err(|_| Refused::BadKey)?;
    if key.size() * 8 < 2048 {
        return Err(Refused::BadKey);
    }
    let signature = Signature::try_from(signature).map_err(|_| Refused::BadSignature)?;
    VerifyingKey::<sha2::Sha256>::new(key)
        .verify(signed, &signature)
        .map_err(|_| Refused::BadSignature)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    /// A browser's side: a key pair that signs proofs (ES256).
    pub(crate) struct EcKey(p256::ecdsa::SigningKey);

    impl EcKey {
        pub(crate) fn new() -> Self {
            EcKey(p256::ecdsa::SigningKey::random(&mut rand::thread_rng()))
        }

        pub(crate) fn jwk(&self) -> Value {
            let public = p256::PublicKey::from(self.0.verifying_key());
            serde_json::from_str(&public.to_jwk_string()).unwrap()
        }

        /// A proof of `jti`, with the public key in its header when `with_key`.
        pub(crate) fn proof(&self, jti: &str, with_key: bool) -> String {
            use p256::ecdsa::signature::Signer as _;
            let mut header = json!({"alg": "ES256", "typ": "dbsc+jwt"});
            if with_key {
                header["jwk"] = self.jwk();
            }
            let signed = format!(
                "{}.{}",
                URL_SAFE_NO_PAD.encode(header.to_string()),
                URL_SAFE_NO_PAD.encode(json!({ "jti": jti }).to_string())
            );
            let signature: p256::ecdsa::Signature = self.0.sign(signed.as_bytes());
            format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
        }
    }

    #[test]
    fn an_es256_proof_verifies_with_its_key_and_no_other() {
        let (key, other) = (EcKey::new(), EcKey::new());
        let proof = key.proof("challenge-1", true);
        let verified = verify_registration(&proof).unwrap();
        assert_eq!(verified.jti, "challenge-1");
        assert_eq!(verified.jwk, key.jwk());
        let refresh = key.proof("challenge-2", false);
        assert_eq!(verify(&refresh, &key.jwk()).unwrap().jti, "challenge-2");
        assert_eq!(
            verify(&refresh, &other.jwk()).unwrap_err(),
            Refused::BadSignature
        );
        assert_eq!(verify_registration(&refresh).unwrap_err(), Refused::BadKey);
    }

    #[test]
    fn an_rs256_proof_verifies_and_a_short_key_is_refused() {
        use rsa::pkcs1v15::SigningKey;
        use rsa::signature::{SignatureEncoding as _, Signer as _};
        use rsa::traits::PublicKeyParts as _;
        let private = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
        let public = private.to_public_key();
        let jwk = json!({
            "kty": "RSA",
            "n": URL_SAFE_NO_PAD.encode(public.n().to_bytes_be()),
            "e": URL_SAFE_NO_PAD.encode(public.e().to_bytes_be()),
        });
        let header = json!({"alg": "RS256", "typ": "dbsc+jwt", "jwk": jwk});
        let signed = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(json!({"jti": "c"}).to_string())
        );
        let signature = SigningKey::<sha2::Sha256>::new(private).sign(signed.as_bytes());
        let proof = format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()));
        assert_eq!(verify_registration(&proof).unwrap().jti, "c");
        let tampered = proof.replacen(".ey", ".eX", 1);
        assert!(verify_registration(&tampered).is_err());
    }

    #[test]
    fn junk_and_wrong_types_are_refused_never_a_panic() {
        let key = EcKey::new();
        let good = key.proof("c", true);
        for cut in 0..good.len() {
            let _ = verify_registration(&good[..cut]);
        }
        for junk in [
            "",
            ".",
            "..",
            "a.b.c",
            "a.b.c.d",
            &"x".repeat(MAX_PROOF + 1),
        ] {
            assert!(verify_registration(junk).is_err(), "{junk:.20}");
        }
        let (h, rest) = good.split_once('.').unwrap();
        let mut header: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h).unwrap()).unwrap();
        for (field, value) in [
            ("typ", json!("JWT")),
            ("alg", json!("HS256")),
            ("alg", json!("none")),
        ] {
            let mut changed = header.clone();
            changed[field] = value;
            let forged = format!("{}.{rest}", URL_SAFE_NO_PAD.encode(changed.to_string()));
            assert!(verify_registration(&forged).is_err(), "{field}");
        }
        header["alg"] = json!("RS256");
        let forged = format!("{}.{rest}", URL_SAFE_NO_PAD.encode(header.to_string()));
        assert_eq!(verify_registration(&forged).unwrap_err(), Refused::BadKey);
    }
}
