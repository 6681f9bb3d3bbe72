//! The envelope of a sealed value: the keys derived from the secrets, the context bound to the
//! seal, and the seal and the open in place (HMAC-SHA256 for a signed cookie, AES-256-GCM for an
//! encrypted one), in a buffer on the stack for a typical session.

use aes_gcm::aead::AeadInPlace;
use aes_gcm::Nonce;
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::format::{len_len, Writer, MIN_HEADER, VERSION};
use super::serializer::{CookieDecodeError, SealFailure};
use super::{Inner, Mode};
use crate::store::{CarrierKind, SealContext};

const TAG: usize = 32;
const NONCE: usize = 12;
/// First part of the MAC input (signed) / the AAD (encrypted): the format version, the mode
/// (`S`igned, `E`ncrypted) and the purpose (`R`: a whole session record, for the middleware's
/// client value). Three bytes, so that the context of a name of up to 11 bytes fits in one
/// AES-GCM block (each block of associated data costs a GHASH multiplication on every seal and
/// open); the crate is bound by the keys themselves (their HKDF `info`, below).
const SIGN_LABEL: &[u8] = &[VERSION, b'S', b'R'];
const SEAL_LABEL: &[u8] = &[VERSION, b'E', b'R'];
/// HKDF-SHA256 `info` of each derived key: this crate's own, so that the keys differ from the
/// ones `cookie::Key::derive_from` (or any other use) derives from the same secret. (Unchanged
/// since format version 2: the keys are the same, the context and the layout are not.)
pub(super) const HKDF_SIGNING: &[u8] =
    b"actix-typed-session/v2 CookieStore HMAC-SHA256 signing key";
pub(super) const HKDF_ENCRYPTION: &[u8] =
    b"actix-typed-session/v2 CookieStore AES-256-GCM encryption key";

pub(super) type HmacSha256 = Hmac<Sha256>;

/// A 256-bit key for `info`, from the secret `ikm`, by HKDF-SHA256 (RFC 5869, no salt).
pub(super) fn derive_key(ikm: &[u8], info: &[u8]) -> [u8; 32] {
    let mut key = [0u8; 32];
    Hkdf::<Sha256>::new(None, ikm)
        .expand(info, &mut key)
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    key
}

/// Up to this many sealed bytes (a cookie of about 680 characters: a typical session) are
/// sealed and opened in a stack buffer; larger ones on the heap. (Zeroing the buffer costs in
/// proportion to its size: 512 is cheaper than an allocation, and holds a few dozen keys.)
pub(super) const STACK: usize = 512;
/// Up to this many context bytes on the stack (a name of up to 26 bytes with a binding, 58
/// without).
const CONTEXT_STACK: usize = 64;
/// The AES-GCM tag.
const AEAD_TAG: usize = 16;

/// `len` zeroed bytes, on the stack when they fit in `N`, else on the heap: the seal and the
/// open work in one buffer, in place, without allocating for typical sessions.
pub(super) enum Scratch<const N: usize> {
    Stack([u8; N], usize),
    Heap(Vec<u8>),
}

impl<const N: usize> Scratch<N> {
    pub(super) fn zeroed(len: usize) -> Self {
        if len <= N {
            Scratch::Stack([0; N], len)
        } else {
            Scratch::Heap(vec![0; len])
        }
    }
}

impl<const N: usize> std::ops::Deref for Scratch<N> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Scratch::Stack(bytes, len) => &bytes[..*len],
            Scratch::Heap(bytes) => bytes,
        }
    }
}

impl<const N: usize> std::ops::DerefMut for Scratch<N> {
    fn deref_mut(&mut self) -> &mut [u8] {
        match self {
            Scratch::Stack(bytes, len) => &mut bytes[..*len],
            Scratch::Heap(bytes) => bytes,
        }
    }
}

impl<const N: usize> PartialEq for Scratch<N> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl<const N: usize> std::fmt::Debug for Scratch<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl Inner {
    /// Bytes before the plaintext (the nonce) and after it (the MAC or the AEAD tag).
    pub(super) fn envelope(&self) -> (usize, usize) {
        match self.mode {
            Mode::Signed => (0, TAG),
            Mode::Encrypted => (NONCE, AEAD_TAG),
        }
    }

    /// What the seal authenticates besides the plaintext (the MAC input before it, or the AEAD's
    /// associated data): the label (format version, mode, purpose), the name the value travels
    /// under, then one byte for the kind of carrier and the binding, then the binding if the
    /// store binds to the client. The label has a fixed length and every variable part is
    /// length-prefixed (a varint), so the contexts are prefix-free: no two give the same bytes,
    /// and none is the start of another (the MAC input is the context and the plaintext,
    /// back to back).
    ///
    /// The byte after the name is twice the carrier's code (cookie 0, header 1, query 2), plus
    /// one when a binding follows. For a cookie that is the 0 or 1 this byte always was, so a
    /// cookie's context is byte for byte what it was before the kind joined it, and cookies
    /// sealed before keep opening; a header's and a query parameter's differ from a cookie's
    /// of the same name, and from each other's.
    fn context(&self, ctx: &SealContext<'_>) -> Scratch<CONTEXT_STACK> {
        let label = match self.mode {
            Mode::Signed => SIGN_LABEL,
            Mode::Encrypted => SEAL_LABEL,
        };
        let name = ctx.name().as_bytes();
        let binding = self
            .binder
            .as_ref()
            .map(|_| ctx.binding().unwrap_or_default());
        let kind: u8 = match ctx.kind() {
            CarrierKind::Cookie => 0,
            CarrierKind::Header => 1,
            CarrierKind::Query => 2,
        };
        let len = label.len()
            + len_len(name.len())
            + name.len()
            + 1
            + binding.map_or(0, |b| len_len(b.len()) + b.len());
        let mut context = Scratch::zeroed(len);
        let mut out = Writer(&mut context);
        out.put(label);
        out.put_len(name.len());
        out.put(name);
        out.put(&[kind * 2 + u8::from(binding.is_some())]);
        if let Some(binding) = binding {
            out.put_len(binding.len());
            out.put(binding);
        }
        context
    }

    /// Seals the plaintext that `buf` holds between the room for the nonce and for the tag
    /// ([`envelope`](Self::envelope)), with the current key.
    pub(super) fn seal_in_place(
        &self,
        buf: &mut [u8],
        ctx: &SealContext<'_>,
    ) -> Result<(), SealFailure> {
        let context = self.context(ctx);
        let (front, back) = self.envelope();
        let (head, tag) = buf.split_at_mut(buf.len() - back);
        let (nonce, plaintext) = head.split_at_mut(front);
        match self.mode {
            Mode::Signed => {
                let mut mac = self.macs[0].clone();
                mac.update(&context);
                mac.update(plaintext);
                tag.copy_from_slice(&mac.finalize().into_bytes());
            }
            Mode::Encrypted => {
                // A user-space CSPRNG (ChaCha, seeded and reseeded from the OS): a random 96-bit
                // nonce per seal without a system call each time.
                rand::RngCore::try_fill_bytes(&mut rand::thread_rng(), nonce)
                    .map_err(SealFailure::Random)?;
                let sealed = self.ciphers[0]
                    .encrypt_in_place_detached(Nonce::from_slice(nonce), &context, plaintext)
                    .map_err(|_| SealFailure::Encrypt)?;
                tag.copy_from_slice(&sealed);
            }
        }
        Ok(())
    }

    /// Verifies or decrypts `raw` in place with each key in turn; the plaintext of the first
    /// that works (a failed AES-GCM tag check leaves the bytes as they were).
    pub(super) fn open_in_place<'b>(
        &self,
        raw: &'b mut [u8],
        ctx: &SealContext<'_>,
    ) -> Result<&'b [u8], CookieDecodeError> {
        let (front, back) = self.envelope();
        if raw.len() < front + MIN_HEADER + back {
            return Err(CookieDecodeError::Malformed);
        }
        let context = self.context(ctx);
        let (head, tag) = raw.split_at_mut(raw.len() - back);
        let (nonce, plaintext) = head.split_at_mut(front);
        let opened = match self.mode {
            Mode::Signed => self.macs.iter().any(|mac| {
                let mut mac = mac.clone();
                mac.update(&context);
                mac.update(plaintext);
                mac.verify_slice(tag).is_ok()
            }),
            Mode::Encrypted => {
                let (nonce, tag) = (Nonce::from_slice(nonce), aes_gcm::Tag::from_slice(tag));
                self.ciphers.iter().any(|cipher| {
                    cipher
                        .decrypt_in_place_detached(nonce, &context, plaintext, tag)
                        .is_ok()
                })
            }
        };
        match opened {
            true => Ok(plaintext),
            false => Err(CookieDecodeError::Unverified),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aes_gcm::aead::KeyInit;
    use aes_gcm::Aes256Gcm;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;

    use crate::store::cookie::serializer::OpenFailure;
    use crate::store::cookie::tests::{sealed, CTX};
    use crate::store::CookieStore;
    use aes_gcm::aead::{Aead, Payload};

    /// The keys are this crate's own: a value we seal does not verify (signed) or decrypt
    /// (encrypted) under the keys `cookie::Key::derive_from` gives for the same secret, even with
    /// our exact MAC input / AAD; it does under keys derived with our HKDF info strings (so the
    /// check is of the key, not of a mangled input).
    #[test]
    fn keys_differ_from_the_cookie_crates_derivation_of_the_same_secret() {
        let secret = [0x5Au8; 48];
        let theirs = cookie::Key::derive_from(&secret);
        let ctx = SealContext::new("id");

        let store = CookieStore::signed(secret).build().unwrap();
        let raw = URL_SAFE_NO_PAD.decode(sealed(&store, &ctx).1).unwrap();
        let (plaintext, tag) = raw.split_at(raw.len() - TAG);
        let verifies = |key: &[u8]| {
            let mut mac = <HmacSha256 as Mac>::new_from_slice(key).unwrap();
            mac.update(&store.inner.context(&ctx));
            mac.update(plaintext);
            mac.verify_slice(tag).is_ok()
        };
        assert!(
            verifies(&derive_key(&secret, HKDF_SIGNING)),
            "our key verifies"
        );
        assert!(
            !verifies(theirs.signing()),
            "the cookie crate's signing key must not verify our seal"
        );

        let store = CookieStore::encrypted(secret).build().unwrap();
        let raw = URL_SAFE_NO_PAD.decode(sealed(&store, &ctx).1).unwrap();
        let (nonce, body) = raw.split_at(NONCE);
        let decrypts = |key: &[u8]| {
            let aad = store.inner.context(&ctx);
            Aes256Gcm::new_from_slice(key)
                .unwrap()
                .decrypt(
                    Nonce::from_slice(nonce),
                    Payload {
                        msg: body,
                        aad: &aad,
                    },
                )
                .is_ok()
        };
        assert!(
            decrypts(&derive_key(&secret, HKDF_ENCRYPTION)),
            "our key decrypts"
        );
        assert!(
            !decrypts(theirs.encryption()),
            "the cookie crate's encryption key must not decrypt our seal"
        );
    }

    /// The context is unambiguous: the name, the purpose and the binding each change it, and a
    /// binding is included only when the store binds.
    #[test]
    fn context_binds_name_and_binding() {
        let bound = CookieStore::signed([7u8; 32])
            .bind_to_user_agent()
            .build()
            .unwrap();
        let plain = CookieStore::signed([7u8; 32]).build().unwrap();
        let a = SealContext::new("id").with_binding(Some(b"ua-hash"));
        let b = SealContext::new("id").with_binding(Some(b"other"));
        assert_ne!(bound.inner.context(&a), bound.inner.context(&b));
        assert_eq!(plain.inner.context(&a), plain.inner.context(&b));
        assert_ne!(
            plain.inner.context(&SealContext::new("id")),
            plain.inner.context(&SealContext::new("id2"))
        );
        assert_ne!(
            plain.inner.context(&CTX),
            CookieStore::encrypted([7u8; 32])
                .build()
                .unwrap()
                .inner
                .context(&CTX)
        );
    }

    /// The kind of carrier is bound beside the name: a cookie's context is byte for byte the one
    /// of the releases before the kind (so their cookies keep opening), a header's and a query
    /// parameter's differ from it and from each other, with or without a binding; no context
    /// is the start of another (the MAC input is the context, then the plaintext); and a value
    /// sealed for one kind opens for no other, in every mode.
    #[test]
    fn context_binds_the_carrier_kind_and_keeps_a_cookies_bytes() {
        let kinds = [CarrierKind::Cookie, CarrierKind::Header, CarrierKind::Query];
        for builder in [
            CookieStore::signed([7u8; 32]),
            CookieStore::signed([7u8; 32]).compress(true),
            CookieStore::encrypted([7u8; 32]),
            CookieStore::encrypted([7u8; 32]).bind_to_user_agent(),
        ] {
            let store = builder.build().unwrap();
            let label = match store.inner.mode {
                Mode::Signed => SIGN_LABEL,
                Mode::Encrypted => SEAL_LABEL,
            };
            let bound = store.inner.binder.is_some();
            // The context as the releases before the kind wrote it.
            let mut before = label.to_vec();
            before.extend_from_slice(&[3, b's', b'i', b'd']);
            match bound {
                false => before.push(0),
                true => before.extend_from_slice(&[1, 2, b'u', b'a']),
            }
            let ctx = |kind| {
                SealContext::new("sid")
                    .with_kind(kind)
                    .with_binding(Some(b"ua"))
            };
            assert_eq!(*store.inner.context(&ctx(CarrierKind::Cookie)), before[..]);
            assert_eq!(SealContext::new("sid").kind(), CarrierKind::Cookie);

            let mut contexts = Vec::new();
            for name in ["sid", "si", "sidx", ""] {
                for kind in kinds {
                    for binding in [None, Some(&b"ua"[..]), Some(&b""[..])] {
                        let c = SealContext::new(name).with_kind(kind).with_binding(binding);
                        contexts.push(store.inner.context(&c).to_vec());
                    }
                }
            }
            contexts.sort();
            // Without a binder the binding does not count; with one, none binds as empty.
            contexts.dedup();
            for a in &contexts {
                for b in &contexts {
                    assert!(a == b || !b.starts_with(a), "{a:?} starts {b:?}");
                }
            }
            assert_eq!(contexts.len(), 4 * 3 * if bound { 2 } else { 1 });

            for sealed_for in kinds {
                let (_, value) = sealed(&store, &ctx(sealed_for));
                for opened_as in kinds {
                    let opened = store.inner.unseal(&value, &ctx(opened_as));
                    match sealed_for == opened_as {
                        true => assert!(opened.is_ok(), "{sealed_for:?}"),
                        false => assert!(
                            matches!(
                                opened,
                                Err(OpenFailure {
                                    error: CookieDecodeError::Unverified,
                                    ..
                                })
                            ),
                            "{sealed_for:?} opened as {opened_as:?}"
                        ),
                    }
                }
            }
        }
    }
}
