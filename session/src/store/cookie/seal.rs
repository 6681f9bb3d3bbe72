//! A record sealed into a value and opened back: the header written into one buffer with the
//! values, between room for the nonce and the tag, sealed in place and encoded; and the way back,
//! decoded, opened and read.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use super::crypto::{Scratch, STACK};
use super::format::{
    len_len, parse_entries, take_user, take_varint, varint_len, Writer, FLAG_DEFLATE, FLAG_SEEN,
    FLAG_USER, MAX_PLAINTEXT, VERSION,
};
use super::serializer::{CookieDecodeError, OpenFailure, SealFailure};
use super::{Inner, Mode};
use crate::id::{SessionId, ID_LEN};
use crate::store::user::HANDLE_LEN;
use crate::store::{Bytes, Meta, Record, SealContext, SessionUser};

/// A sealed value that decodes to more bytes than this (a session of several values) is opened
/// in one heap buffer that its values then share; a smaller one on the stack, its values copied.
const SHARE_FROM: usize = 160;

impl Inner {
    /// The sealed value of `record` under `id`, for `ctx`: the header and the body written
    /// into one buffer between room for the nonce and the tag, sealed in place, then encoded.
    pub(super) fn seal_record(
        &self,
        id: &SessionId,
        record: &Record,
        ctx: &SealContext<'_>,
    ) -> Result<String, SealFailure> {
        let (mut flags, body) = self.body(record)?;
        let (front, back) = self.envelope();
        let meta = &record.meta;
        // A session with a user carries it, and since when it is tied to it: kept from the
        // cookie it came in, the time of this seal for a session tied in this request (the
        // clock is read for sessions with a user only).
        let mut expires_at = meta.expires_at;
        let user = meta.user.as_ref().map(|user| {
            let now_ms = self.clock.now_millis();
            let since = match &meta.user_since {
                Some((handle, since)) if *handle == user.handle => *since,
                _ => now_ms,
            };
            if let Some(revocations) = &self.revocations {
                // Never past what a revocation record made now would cover.
                let horizon = (now_ms / 1000).saturating_add(revocations.ttl);
                expires_at = expires_at.min(horizon);
            }
            (user, since)
        });
        let user_len = user.map_or(0, |(user, since)| {
            varint_len(since) + len_len(user.id.len()) + user.id.len() + HANDLE_LEN
        });
        if user.is_some() {
            flags |= FLAG_USER;
        }
        // 0 is "unknown", and travels as the absence of the flag.
        let seen = (meta.last_seen != 0).then(|| meta.last_seen.wrapping_sub(meta.created_at));
        if seen.is_some() {
            flags |= FLAG_SEEN;
        }
        let header = 2
            + varint_len(meta.created_at)
            + varint_len(expires_at)
            + ID_LEN
            + seen.map_or(0, varint_len)
            + user_len;
        let mut buf = Scratch::<STACK>::zeroed(front + header + body.len() + back);
        {
            let len = buf.len();
            let mut out = Writer(&mut buf[front..len - back]);
            out.put(&[VERSION, flags]);
            out.put_varint(record.meta.created_at);
            out.put_varint(expires_at);
            out.put(id.as_str().as_bytes());
            if let Some(seen) = seen {
                out.put_varint(seen);
            }
            if let Some((user, since)) = user {
                out.put_varint(since);
                out.put_len(user.id.len());
                out.put(&user.id);
                out.put(user.handle.as_str().as_bytes());
            }
            body.write(&mut out);
        }
        self.seal_in_place(&mut buf, ctx)?;
        Ok(URL_SAFE_NO_PAD.encode(&*buf))
    }

    pub(super) fn unseal(
        &self,
        value: &str,
        ctx: &SealContext<'_>,
    ) -> Result<(SessionId, Record), OpenFailure> {
        let estimate = base64::decoded_len_estimate(value.len());
        let malformed = |_| CookieDecodeError::Malformed;
        if estimate <= SHARE_FROM {
            // A small session: on the stack, a copy of each value.
            let mut buf = Scratch::<STACK>::zeroed(estimate);
            let len = URL_SAFE_NO_PAD
                .decode_slice(value, &mut buf)
                .map_err(malformed)?;
            let plaintext = self.open_in_place(&mut buf[..len], ctx)?;
            return self.parse(plaintext, Bytes::copy_from_slice);
        }
        // Several values: one buffer, shared by the values (slices of it, no copies).
        let mut buf = vec![0; estimate];
        let len = URL_SAFE_NO_PAD
            .decode_slice(value, &mut buf)
            .map_err(malformed)?;
        buf.truncate(len);
        self.open_in_place(&mut buf, ctx)?;
        let (front, back) = self.envelope();
        let shared = Bytes::from(buf);
        self.parse(&shared[front..len - back], |value| shared.slice_ref(value))
    }

    /// The session in an opened plaintext; `value` makes each value of the built-in layout from
    /// its bytes in `plaintext`.
    fn parse(
        &self,
        plaintext: &[u8],
        value: impl FnMut(&[u8]) -> Bytes,
    ) -> Result<(SessionId, Record), OpenFailure> {
        let [VERSION, flags, rest @ ..] = plaintext else {
            return Err(CookieDecodeError::Format.into());
        };
        let flags = *flags;
        // Only signed cookies are ever compressed; no other flag exists.
        let allowed = FLAG_USER
            | FLAG_SEEN
            | match self.mode {
                Mode::Signed => FLAG_DEFLATE,
                Mode::Encrypted => 0,
            };
        if flags & !allowed != 0 {
            return Err(CookieDecodeError::Format.into());
        }
        let mut rest = rest;
        let created_at = take_varint(&mut rest).ok_or(CookieDecodeError::Format)?;
        let expires_at = take_varint(&mut rest).ok_or(CookieDecodeError::Format)?;
        let (id, body) = rest
            .split_at_checked(ID_LEN)
            .ok_or(CookieDecodeError::Format)?;
        let id = std::str::from_utf8(id)
            .ok()
            .and_then(SessionId::parse)
            .ok_or(CookieDecodeError::Format)?;
        let failed = |error| OpenFailure {
            error,
            session: Some(id.clone()),
        };
        let mut meta = Meta::new(created_at, expires_at);
        let mut body = body;
        meta.last_seen = match flags & FLAG_SEEN {
            0 => 0, // sealed before the flag: unknown
            _ => {
                let seen =
                    take_varint(&mut body).ok_or_else(|| failed(CookieDecodeError::Format))?;
                created_at.wrapping_add(seen)
            }
        };
        if flags & FLAG_USER != 0 {
            let user = take_user(&mut body).ok_or_else(|| failed(CookieDecodeError::Format))?;
            let (since, user_id, handle) = user;
            meta.user_since = Some((handle.clone(), since));
            // The cookie's time of the tie is its sign-in time.
            meta.user =
                Some(SessionUser::stored(Bytes::copy_from_slice(user_id), handle).signed_in(since));
        }
        let inflated;
        let body = if flags & FLAG_DEFLATE != 0 {
            inflated = miniz_oxide::inflate::decompress_to_vec_with_limit(body, MAX_PLAINTEXT)
                .map_err(|_| failed(CookieDecodeError::Decompress))?;
            &inflated[..]
        } else {
            body
        };
        let data = match &self.custom {
            // A decompressed body is a buffer of its own.
            None if flags & FLAG_DEFLATE != 0 => parse_entries(body, Bytes::copy_from_slice),
            None => parse_entries(body, value),
            Some(custom) => (custom.deserialize)(body)
                .map(|data| data.into_iter().map(|(k, v)| (k, Bytes::from(v))).collect()),
        }
        .map_err(|err| failed(CookieDecodeError::Deserialize(err)))?;
        Ok((id, Record { meta, data }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    use crate::clock::Clock;
    use crate::store::cookie::tests::{plaintext_of, record, seal_plaintext, sealed, CTX};
    use crate::store::{ClientStore, CookieStore, MemoryStore};

    /// An encrypted cookie is never compressed: one that says so (only the key holder could
    /// make it) is refused as a bad format.
    #[test]
    fn an_encrypted_cookie_flagged_as_compressed_is_refused() {
        let store = CookieStore::encrypted([7u8; 32]).build().unwrap();
        let (_, value) = sealed(&store, &CTX);
        let mut plaintext = plaintext_of(&store, &value, &CTX);
        assert!(store
            .inner
            .parse(&plaintext, Bytes::copy_from_slice)
            .is_ok());
        plaintext[1] = FLAG_DEFLATE;
        let value = seal_plaintext(&store, &plaintext, &CTX);
        assert!(matches!(
            store.inner.unseal(&value, &CTX),
            Err(OpenFailure {
                error: CookieDecodeError::Format,
                ..
            })
        ));
    }

    /// A session with a user carries the user id, the handle and since when it is tied to the
    /// user (in milliseconds, by the store's clock): the first seal of the tie sets it, every
    /// later seal keeps it, a tie to another user (another handle) starts again. In both modes.
    #[test]
    fn a_user_and_the_time_of_the_tie_travel_in_the_seal() {
        let clock = crate::clock::ManualClock::new();
        let seal_open = |store: &CookieStore, id: &SessionId, record: &Record| {
            let Some(value) = store.seal(id, record, &CTX).unwrap() else {
                panic!("sealed")
            };
            let (back_id, back) = store.inner.unseal(&value, &CTX).ok().unwrap();
            assert_eq!(back_id, *id);
            back
        };
        for builder in [
            CookieStore::signed([7u8; 32]),
            CookieStore::signed([7u8; 32]).compress(true),
            CookieStore::encrypted([7u8; 32]),
        ] {
            let store = builder.clock(clock.clone()).build().unwrap();
            let tied = clock.now() * 1000;
            let mut record = record();
            record.meta.created_at = clock.now() - 100;
            let user = SessionUser::new([0xff, 0, b'a']); // any bytes
            record.meta.user = Some(user.clone());
            let id = SessionId::generate();
            let back = seal_open(&store, &id, &record);
            assert_eq!(back.data, record.data);
            assert_eq!(back.meta.user, Some(user.clone().signed_in(tied)));
            assert_eq!(back.meta.user_since, Some((user.handle.clone(), tied)));
            assert_eq!(back.meta.created_at, record.meta.created_at);
            assert_eq!(back.meta.expires_at, record.meta.expires_at);

            // Sealed again later: still tied since then.
            clock.advance(Duration::from_secs(5));
            let again = seal_open(&store, &id, &back);
            assert_eq!(again.meta.user_since, Some((user.handle.clone(), tied)));
            // Another user now: since now.
            let mut other = again.clone();
            let bob = SessionUser::new("bob");
            other.meta.user = Some(bob.clone());
            let other = seal_open(&store, &id, &other);
            assert_eq!(
                other.meta.user_since,
                Some((bob.handle, clock.now() * 1000))
            );
        }
    }

    /// With a revocation store, a user's cookie is never sealed to live longer than the
    /// revocation TTL (its record could be gone by then); an anonymous one is sealed as it is.
    #[test]
    fn a_users_cookie_never_outlives_the_revocation_ttl() {
        let clock = crate::clock::ManualClock::new();
        let store = CookieStore::encrypted([7u8; 32])
            .clock(clock.clone())
            .revocations(MemoryStore::default())
            .revocation_ttl(Duration::from_secs(60))
            .build()
            .unwrap();
        let seal_open = |record: &Record| {
            let id = SessionId::generate();
            let Some(value) = store.seal(&id, record, &CTX).unwrap() else {
                panic!("sealed")
            };
            store.inner.unseal(&value, &CTX).ok().unwrap().1
        };
        let mut record = record();
        record.meta = Meta::new(clock.now(), clock.now() + 3600);
        assert_eq!(
            seal_open(&record).meta.expires_at,
            clock.now() + 3600,
            "anonymous: as it is"
        );
        record.meta.user = Some(SessionUser::new("ann"));
        assert_eq!(
            seal_open(&record).meta.expires_at,
            clock.now() + 60,
            "a user's: capped"
        );
    }

    /// An anonymous session keeps the layout version 3 always had, plus the last-seen time
    /// after the id behind its flag: a cookie of the layout before the flag (no flag, nothing
    /// between the id and the values: what every anonymous cookie was) still opens, with the
    /// same session and the last-seen time unknown (0); a flag nobody defines is refused.
    #[test]
    fn an_anonymous_session_keeps_the_version_3_layout_and_unknown_flags_are_refused() {
        let store = CookieStore::encrypted([7u8; 32]).build().unwrap();
        let (id, value) = sealed(&store, &CTX);
        let plaintext = plaintext_of(&store, &value, &CTX);
        let record = record();
        let varint = |n: u64| {
            let mut buf = [0u8; 10];
            let len = varint_len(n);
            Writer(&mut buf[..len]).put_varint(n);
            buf[..len].to_vec()
        };
        let mut old = vec![VERSION, 0];
        for n in [record.meta.created_at, record.meta.expires_at] {
            old.extend_from_slice(&varint(n));
        }
        old.extend_from_slice(id.as_str().as_bytes());
        let mut now = old.clone();
        now[1] = FLAG_SEEN;
        let seen = record.meta.last_seen - record.meta.created_at;
        now.extend_from_slice(&varint(seen));
        assert_eq!(
            plaintext[..now.len()],
            now[..],
            "the version 3 header, byte for byte, then the last-seen offset"
        );
        let body = &plaintext[now.len()..];
        assert_eq!(
            parse_entries(body, Bytes::copy_from_slice).unwrap(),
            record.data,
            "then the values, and nothing else"
        );
        old.extend_from_slice(body);
        let (_, back) = store
            .inner
            .unseal(&seal_plaintext(&store, &old, &CTX), &CTX)
            .ok()
            .unwrap();
        assert_eq!(
            back,
            Record {
                meta: Meta {
                    last_seen: 0,
                    ..record.meta.clone()
                },
                ..record.clone()
            },
            "a cookie from before the flag: the same session, last seen at an unknown time"
        );
        for flags in [8, 0x10, 0x80] {
            let mut other = old.clone();
            other[1] = flags;
            assert!(matches!(
                store
                    .inner
                    .unseal(&seal_plaintext(&store, &other, &CTX), &CTX),
                Err(OpenFailure {
                    error: CookieDecodeError::Format,
                    ..
                })
            ));
        }
        // The user flag with a truncated user part, the last-seen flag with a truncated
        // varint: a bad format, not a panic.
        let mut truncated = old.clone();
        truncated[1] = FLAG_USER;
        truncated.truncate(2 + 10 + ID_LEN);
        let mut unfinished = old[..2 + 10 + ID_LEN].to_vec();
        unfinished[1] = FLAG_SEEN;
        unfinished.push(0x80);
        for bad in [truncated, unfinished] {
            assert!(store
                .inner
                .unseal(&seal_plaintext(&store, &bad, &CTX), &CTX)
                .is_err());
        }
    }

    /// The last-seen time travels in the seal, any value of it, in every mode, as an offset
    /// from the creation time that costs one byte for a session seen within two minutes of its
    /// creation and three within 24 days; 0 (unknown) travels as the absence of the flag.
    #[test]
    fn the_last_seen_time_travels_in_the_seal() {
        let created = 1_700_000_000u64;
        for builder in [
            CookieStore::signed([7u8; 32]),
            CookieStore::signed([7u8; 32]).compress(true),
            CookieStore::encrypted([7u8; 32]),
        ] {
            let store = builder.build().unwrap();
            let id = SessionId::generate();
            let seal = |last_seen: u64| {
                let mut record = record();
                record.meta = Meta::new(created, created + 3600).with_last_seen(last_seen);
                let Some(value) = store.seal(&id, &record, &CTX).unwrap() else {
                    panic!("sealed")
                };
                let plaintext = plaintext_of(&store, &value, &CTX);
                let (_, back) = store.inner.unseal(&value, &CTX).ok().unwrap();
                assert_eq!(back, record, "{last_seen}");
                (plaintext[1] & FLAG_SEEN != 0, plaintext.len())
            };
            let (flagged, unknown) = seal(0);
            assert!(!flagged, "0 is no time");
            for (last_seen, bytes) in [
                (created, 1),
                (created + 127, 1),
                (created + 128, 2),
                (created + 24 * 24 * 3600, 3),
                (created - 1, 10),
                (1, 10),
                (u64::MAX, 10),
            ] {
                let (flagged, len) = seal(last_seen);
                assert!(flagged, "{last_seen}");
                assert_eq!(len - unknown, bytes, "{last_seen}");
            }
        }
    }

    /// What a user costs a cookie: the tie time (6 bytes for a time in milliseconds of these
    /// decades), the user id after its length, the 22-byte handle; nothing else changes.
    #[test]
    fn a_user_adds_its_id_a_handle_and_a_time_to_the_cookie() {
        let clock = crate::clock::ManualClock::new();
        let store = CookieStore::encrypted([7u8; 32])
            .clock(clock.clone())
            .build()
            .unwrap();
        let anonymous = sealed(&store, &CTX).1;
        let mut record = record();
        record.meta.user = Some(SessionUser::new("42"));
        let Some(tied) = store.seal(&SessionId::generate(), &record, &CTX).unwrap() else {
            panic!("sealed")
        };
        let raw = |v: &str| URL_SAFE_NO_PAD.decode(v).unwrap().len();
        assert_eq!(varint_len(clock.now() * 1000), 6);
        assert_eq!(raw(&tied) - raw(&anonymous), 6 + 1 + 2 + HANDLE_LEN);
    }
}
