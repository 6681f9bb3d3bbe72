//! Stored record → session: a session file's bytes, a Redis hash's fields or its packed form,
//! never panic a load.
#![no_main]

use actix_typed_session::fuzzing;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = fuzzing::file_record(data);
    // A whole session as the Redis store's load script packs it (MessagePack).
    let _ = fuzzing::redis_packed(data);
    // Fields and values as alternating NUL-separated parts.
    let parts: Vec<Vec<u8>> = data.split(|b| *b == 0).map(<[u8]>::to_vec).collect();
    let fields = parts
        .chunks(2)
        .map(|pair| (pair[0].clone(), pair.get(1).cloned().unwrap_or_default()))
        .collect();
    let _ = fuzzing::redis_record(fields);
});
