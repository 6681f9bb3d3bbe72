//! The write-back ledger: which typed session values a request handed out, and what their
//! instances looked like when they were dropped, so that changed values are written back into
//! the session when the handler is done (the rules are in the [`typed`](crate::typed) docs).
//! It knows values by their type and key only, not the [`TypedSession`](crate::TypedSession)
//! trait, so the request's core does not depend on the typed feature above it.

use std::any::TypeId;
use std::cell::RefCell;
use std::collections::VecDeque;

use serde::Serialize;

use crate::codec::Codec;
use crate::error::{SessionError, StoreError};

/// What one request knows about the typed values it handed out (kept in its scope).
#[derive(Default)]
pub(crate) struct Slots {
    slots: RefCell<Vec<Slot>>,
    /// A load error that an extractor reported but that `Option<T>` may have swallowed.
    failure: RefCell<Option<SessionError>>,
}

/// One typed session type extracted during the request.
struct Slot {
    type_id: TypeId,
    key: &'static str,
    type_name: &'static str,
    /// Encoding of the value handed out (`None`: it would not encode; any drop is a change).
    baseline: Option<Vec<u8>>,
    /// Encodings of the last `extracted` instances dropped in the scope, oldest first (`Err`:
    /// it would not encode). The extracted instances are the handler's arguments, which an
    /// `async fn` drops after everything its body created: they are the last ones dropped.
    recent: VecDeque<Result<Vec<u8>, String>>,
    extracted: usize,
    dropped: usize,
}

/// What the instances of one slot ask to be written.
enum WriteBack {
    /// Nothing changed.
    Nothing,
    /// One new value (every changed instance agrees on it).
    Value(Vec<u8>),
    /// A changed instance does not encode.
    Unencodable(String),
    /// Instances were changed to different values.
    Conflict,
}

impl Slot {
    fn write_back(self) -> WriteBack {
        let mut new: Option<Vec<u8>> = None;
        for encoded in self.recent {
            match encoded {
                Err(message) => return WriteBack::Unencodable(message),
                Ok(bytes) if self.baseline.as_ref() == Some(&bytes) => {}
                Ok(bytes) => match &new {
                    Some(other) if *other != bytes => return WriteBack::Conflict,
                    _ => new = Some(bytes),
                },
            }
        }
        new.map_or(WriteBack::Nothing, WriteBack::Value)
    }
}

impl Slots {
    /// Writes changed typed values back into the session, once the inner service has answered.
    ///
    /// `write(key, bytes)` sets a changed value in the session (what `Session::set` does, with
    /// the bytes the `Drop` impl already encoded). An error means the response must not be
    /// committed: a value would not encode, or loading the session failed under an `Option<T>`
    /// extractor that hid the error from the app. With `expire` (the session ends), nothing is
    /// written and no error is reported (the logout must happen).
    pub(crate) fn finish(
        self,
        expire: bool,
        mut write: impl FnMut(&'static str, Vec<u8>),
    ) -> Result<(), SessionError> {
        let slots = self.slots.into_inner();
        let failure = self.failure.into_inner();
        if expire {
            return Ok(());
        }
        if let Some(err) = failure {
            return Err(err);
        }
        let mut result = Ok(());
        for slot in slots {
            if slot.extracted > slot.dropped {
                tracing::warn!(
                    key = slot.key,
                    type_name = slot.type_name,
                    "a typed session value extracted by this request was still alive when the \
                     handler returned (moved into a spawned task or a response body?): changes \
                     made to it from now on are not saved"
                );
            }
            let (key, type_name) = (slot.key, slot.type_name);
            match slot.write_back() {
                WriteBack::Nothing => {}
                WriteBack::Value(bytes) => write(key, bytes),
                WriteBack::Unencodable(message) => {
                    tracing::error!(
                        key,
                        type_name,
                        error = %message,
                        "typed session value cannot be encoded; nothing is saved"
                    );
                    result = Err(SessionError::Encode {
                        key: key.to_owned(),
                        source: message.into(),
                    });
                }
                WriteBack::Conflict => {
                    let err = SessionError::TypedConflict { key, type_name };
                    tracing::error!(key, type_name, "{err}");
                    result = Err(err);
                }
            }
        }
        result
    }
}

impl Slots {
    /// Records a value an extractor hands out. The first extraction of a type sets the baseline
    /// that the dropped instances are compared with.
    pub(crate) fn register<T: Serialize + 'static>(
        &self,
        key: &'static str,
        codec: Codec,
        value: &T,
    ) {
        let mut slots = self.slots.borrow_mut();
        match slots.iter_mut().find(|s| s.type_id == TypeId::of::<T>()) {
            Some(slot) => slot.extracted += 1,
            None => slots.push(Slot {
                type_id: TypeId::of::<T>(),
                key,
                type_name: std::any::type_name::<T>(),
                baseline: codec.encode(value).ok(),
                recent: VecDeque::with_capacity(1),
                extracted: 1,
                dropped: 0,
            }),
        }
    }

    /// Records the encoding of an instance dropped in the scope; only the last `extracted` ones
    /// are kept (rule 2).
    pub(crate) fn dropped<T: Serialize + 'static>(&self, codec: Codec, value: &T) {
        // A drop while the slots are borrowed can only come from our own code: ignore it.
        let Ok(mut slots) = self.slots.try_borrow_mut() else {
            return;
        };
        let Some(slot) = slots.iter_mut().find(|s| s.type_id == TypeId::of::<T>()) else {
            return;
        };
        slot.dropped += 1;
        let encoded = codec.encode(value);
        if slot.recent.len() == slot.extracted {
            slot.recent.pop_front();
        }
        slot.recent.push_back(encoded.map_err(|e| e.to_string()));
    }

    pub(crate) fn fail(&self, err: &SessionError) {
        let copy = SessionError::Store(StoreError::msg(err.to_string()));
        self.failure.borrow_mut().get_or_insert(copy);
    }
}
