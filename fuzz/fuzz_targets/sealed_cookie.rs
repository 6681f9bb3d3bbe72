//! Sealed cookie → session: random values never open and never panic, in every mode
//! (signed, signed and compressed, encrypted; compression is signed-only).
#![no_main]

use std::sync::OnceLock;

use actix_typed_session::store::{CookieStore, SealContext, SessionStore};
use libfuzzer_sys::fuzz_target;

fn stores() -> &'static [CookieStore; 3] {
    static STORES: OnceLock<[CookieStore; 3]> = OnceLock::new();
    STORES.get_or_init(|| {
        [
            CookieStore::signed([7u8; 32]).build().unwrap(),
            CookieStore::signed([7u8; 32])
                .compress(true)
                .build()
                .unwrap(),
            CookieStore::encrypted([7u8; 32]).build().unwrap(),
        ]
    })
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let plain = SealContext::new("id");
    let bound = SealContext::new("id").with_binding(Some(b"binding"));
    for store in stores() {
        // A forged value would need the key: nothing random may open.
        assert!(store.unseal(&text, &plain).is_none());
        assert!(store.unseal(&text, &bound).is_none());
    }
});
