//! Cookie header (and query string) → session id: never panics; anything accepted is a
//! well-formed id.
#![no_main]

use actix_typed_session::fuzzing;
use actix_web::http::header::{HeaderMap, HeaderValue, COOKIE};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Several headers: split the input on a byte that cannot occur in a header value.
    let mut headers = HeaderMap::new();
    for part in data.split(|b| *b == b'\n') {
        if let Ok(value) = HeaderValue::from_bytes(part) {
            headers.append(COOKIE, value);
        }
    }
    if let Some(id) = fuzzing::cookie_header(&headers) {
        assert_eq!(id.as_str().len(), 32);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = fuzzing::query(text);
    }
});
