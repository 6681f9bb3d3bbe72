//! The wire format of the plaintext, piece by piece: the format version and the flags, the
//! unsigned LEB128 varints the header and the lengths are written in, the built-in layout of the
//! values and the user part of the header. How a whole record is written and read with them:
//! `seal`.

use std::collections::HashMap;

use crate::error::BoxError;
use crate::id::ID_LEN;
use crate::store::user::HANDLE_LEN;
use crate::store::Handle;

/// Largest decompressed payload accepted (a defence against compression bombs).
pub(super) const MAX_PLAINTEXT: usize = 64 * 1024;

/// Format version, the first byte of the plaintext and of the context. Versions 1 (before the
/// name binding and the crate's own key derivation) and 2 (a JSON body, a longer context) no
/// longer open: such a cookie gives a fresh session.
///
/// [`FLAG_USER`] and then [`FLAG_SEEN`] joined version 3 later, without a new version: a
/// cookie without a flag has the layout version 3 always had, and one without the last flag
/// the layout before it, so the cookies of every visitor keep opening across each upgrade. A
/// server from before a flag refuses a cookie with it as an unknown format, which gives a fresh
/// session (a rollback logs visitors out, it never fails a request).
pub(super) const VERSION: u8 = 3;
pub(super) const FLAG_DEFLATE: u8 = 1;
/// The session is tied to a user: after the id (and the last-seen time) come the time it was
/// tied to the user (Unix milliseconds by the store's clock, a varint; the same in every later
/// seal of the session), the user id (a varint length, then its bytes) and the session's handle
/// ([`HANDLE_LEN`] bytes). Anonymous sessions carry none of it.
pub(super) const FLAG_USER: u8 = 2;
/// The session's last-seen time travels in the seal: right after the id, its offset from the
/// creation time (seconds, modulo 2^64: a varint of three bytes or fewer for a session younger
/// than 24 days). The middleware holds a cookie to its own idle timeout from it, so a deploy
/// that lowers the timeout applies to cookies sealed before it. Every seal of a session whose
/// last-seen time is known sets it (the middleware records one at each save, touch and id
/// change, and for a fresh session); a cookie without it, sealed before the flag, opens with
/// `last_seen` 0: unknown, so only the deadline sealed in it applies.
pub(super) const FLAG_SEEN: u8 = 4;
/// The shortest plaintext header: version, flags, the two timestamps (varints of at least one
/// byte) and the id.
pub(super) const MIN_HEADER: usize = 2 + 1 + 1 + ID_LEN;

/// Writes into a slice from the front; each `put` must fit (the caller sized the slice).
pub(super) struct Writer<'a>(pub(super) &'a mut [u8]);

impl Writer<'_> {
    pub(super) fn put(&mut self, bytes: &[u8]) {
        let (head, rest) = std::mem::take(&mut self.0).split_at_mut(bytes.len());
        head.copy_from_slice(bytes);
        self.0 = rest;
    }
}

impl Writer<'_> {
    pub(super) fn put_varint(&mut self, mut n: u64) {
        if n < 0x80 {
            return self.put(&[n as u8]);
        }
        let mut bytes = [0u8; 10];
        let mut len = 0;
        while n >= 0x80 {
            bytes[len] = (n as u8 & 0x7f) | 0x80;
            n >>= 7;
            len += 1;
        }
        bytes[len] = n as u8;
        self.put(&bytes[..=len]);
    }

    /// A length, as a varint.
    pub(super) fn put_len(&mut self, n: usize) {
        self.put_varint(n as u64);
    }
}

/// Bytes of `n` as an unsigned LEB128 varint (7 bits a byte, low bits first).
pub(super) fn varint_len(n: u64) -> usize {
    (u64::BITS - (n | 1).leading_zeros()).div_ceil(7) as usize
}

/// Bytes of the length `n` as a varint.
pub(super) fn len_len(n: usize) -> usize {
    varint_len(n as u64)
}

/// Reads an unsigned LEB128 varint in its shortest form off the front of `bytes`.
pub(super) fn take_varint(bytes: &mut &[u8]) -> Option<u64> {
    let mut n: u64 = 0;
    for i in 0..10 {
        let (&byte, rest) = bytes.split_first()?;
        *bytes = rest;
        let low = u64::from(byte & 0x7f);
        if i == 9 && low > 1 {
            return None; // past 64 bits
        }
        n |= low << (7 * i);
        if byte & 0x80 == 0 {
            if byte == 0 && i > 0 {
                return None; // not the shortest form
            }
            return Some(n);
        }
    }
    None
}

/// Reads a varint length.
pub(super) fn take_len(bytes: &mut &[u8]) -> Option<usize> {
    usize::try_from(take_varint(bytes)?).ok()
}

/// Reads a varint length and that many bytes off the front of `bytes`.
pub(super) fn take_part<'a>(bytes: &mut &'a [u8]) -> Option<&'a [u8]> {
    let len = take_len(bytes)?;
    if bytes.len() < len {
        return None;
    }
    let (part, rest) = bytes.split_at(len);
    *bytes = rest;
    Some(part)
}

/// Length of the built-in layout of `data`: the number of entries, then each key and each value
/// after its length, all lengths LEB128 varints. Values are embedded as the codec made them.
pub(super) fn entries_len<V: AsRef<[u8]>>(data: &HashMap<String, V>) -> usize {
    data.iter().fold(len_len(data.len()), |len, (key, value)| {
        let value = value.as_ref();
        len + len_len(key.len()) + key.len() + len_len(value.len()) + value.len()
    })
}

/// Writes the built-in layout of `data` ([`entries_len`] bytes).
pub(super) fn write_entries<V: AsRef<[u8]>>(data: &HashMap<String, V>, out: &mut Writer<'_>) {
    out.put_len(data.len());
    for (key, value) in data {
        let value = value.as_ref();
        out.put_len(key.len());
        out.put(key.as_bytes());
        out.put_len(value.len());
        out.put(value);
    }
}

/// Reads the built-in layout; `value` makes each value from its bytes in `body` (a copy today;
/// a slice of a shared buffer would do as well). Refuses a truncated or trailing payload, a
/// key that is not UTF-8 and a repeated key.
pub(super) fn parse_entries<V>(
    mut body: &[u8],
    mut value: impl FnMut(&[u8]) -> V,
) -> Result<HashMap<String, V>, BoxError> {
    let malformed = || BoxError::from("malformed session payload");
    let count = take_len(&mut body).ok_or_else(malformed)?;
    // Each entry takes at least two bytes: reserve no more than the payload can hold.
    let mut data = HashMap::with_capacity(count.min(body.len() / 2));
    for _ in 0..count {
        let key = std::str::from_utf8(take_part(&mut body).ok_or_else(malformed)?)?;
        let bytes = take_part(&mut body).ok_or_else(malformed)?;
        if data.insert(key.to_owned(), value(bytes)).is_some() {
            return Err("repeated key in session payload".into());
        }
    }
    if !body.is_empty() {
        return Err(malformed());
    }
    Ok(data)
}

/// The built-in layout of `data`, as a `Vec`.
pub(super) fn entries_to_vec<V: AsRef<[u8]>>(data: &HashMap<String, V>) -> Vec<u8> {
    let mut out = vec![0; entries_len(data)];
    write_entries(data, &mut Writer(&mut out));
    out
}

/// Reads what [`FLAG_USER`] adds to the header: since when the session is tied to the user (in
/// milliseconds), the user id and the handle.
pub(super) fn take_user<'a>(bytes: &mut &'a [u8]) -> Option<(u64, &'a [u8], Handle)> {
    let since = take_varint(bytes)?;
    let user_id = take_part(bytes)?;
    let (handle, rest) = bytes.split_at_checked(HANDLE_LEN)?;
    let handle = Handle::parse(std::str::from_utf8(handle).ok()?)?;
    *bytes = rest;
    Some((since, user_id, handle))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::cookie::serializer::{CookieSerializer, Entries};

    #[test]
    fn varints_round_trip_in_their_shortest_form_only() {
        for n in [
            0,
            1,
            127,
            128,
            255,
            16_383,
            16_384,
            u64::from(u32::MAX),
            u64::MAX,
        ] {
            let mut buf = [0u8; 10];
            let len = varint_len(n);
            Writer(&mut buf[..len]).put_varint(n);
            let mut read = &buf[..len];
            assert_eq!(take_varint(&mut read), Some(n), "{n}");
            assert!(read.is_empty());
        }
        for bad in [
            &[0x80][..],                                                   // truncated
            &[0x80, 0x00],                                                 // not shortest
            &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02], // past 64 bits
            &[0xff; 11],
        ] {
            assert_eq!(take_varint(&mut &bad[..]), None, "{bad:?}");
        }
    }

    #[test]
    fn the_built_in_layout_refuses_what_it_never_writes() {
        let ok = |body: &[u8]| parse_entries(body, <[u8]>::to_vec).is_ok();
        assert!(ok(&[0]));
        assert!(ok(&[1, 1, b'k', 2, b'4', b'2']));
        assert!(!ok(&[]), "no count");
        assert!(!ok(&[1, 1, b'k', 2, b'4']), "truncated value");
        assert!(!ok(&[1, 1, b'k', 1, b'4', 0]), "trailing byte");
        assert!(!ok(&[1, 1, 0xff, 1, b'4']), "key not UTF-8");
        assert!(
            !ok(&[2, 1, b'k', 1, b'1', 1, b'k', 1, b'2']),
            "repeated key"
        );
        assert!(
            !ok(&[0xff, 0xff, 0xff, 0xff, 0x0f]),
            "a count the bytes cannot hold"
        );
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            /// The layout after the seal: random bytes (as only a key holder could seal them)
            /// never panic, and whatever parses writes back to what parses the same.
            #[test]
            fn random_payloads_never_panic(body in any::<Vec<u8>>()) {
                if let Ok(data) = parse_entries(&body, <[u8]>::to_vec) {
                    let again = Entries.serialize(&data).unwrap();
                    prop_assert_eq!(Entries.deserialize(&again).unwrap(), data);
                }
            }
        }
    }
}
