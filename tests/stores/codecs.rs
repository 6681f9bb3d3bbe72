//! Every codec end to end: values encoded in the chosen format in the memory store, the file
//! store (whose files use the codec too) and the cookie store (with the binary serializer).

use actix_typed_session::codec::Codec;
use actix_typed_session::store::{
    BinarySerializer, CookieStore, FileStore, IntoBackend, MemoryStore,
};
use actix_typed_session::{Session, SessionError, SessionMiddleware};
use actix_web::{test, web, App};

use support::*;

async fn name(session: Session) -> Result<String, SessionError> {
    let n: u64 = session.get("n")?.unwrap_or(0) + 1;
    session.set("n", n)?;
    session.set("name", "ann")?;
    Ok(n.to_string())
}

macro_rules! app {
    ($store:expr, $codec:expr) => {
        test::init_service(
            App::new()
                .wrap(SessionMiddleware::builder($store).codec($codec).build())
                .route("/", web::get().to(name)),
        )
        .await
    };
}

/// The bytes of the string "ann" in each format.
fn ann(codec: Codec) -> Vec<u8> {
    match codec {
        Codec::Json => b"\"ann\"".to_vec(),
        Codec::MessagePack => vec![0xa3, b'a', b'n', b'n'],
        Codec::Cbor => vec![0x63, b'a', b'n', b'n'],
        _ => unreachable!("every codec is listed"),
    }
}

async fn check<S: IntoBackend + Clone>(store: S, codec: Codec) {
    let app = app!(store.clone(), codec);
    let mut value = send(&app, get("/", None)).await.id().unwrap();
    for n in 2..=3 {
        let res = send(&app, get("/", Some(&value))).await;
        assert_eq!(res.body, n.to_string(), "{codec:?}");
        value = res.id().unwrap_or(value);
    }
    let record = stored(&store, &value).await.expect("stored");
    assert_eq!(
        record.data["name"],
        ann(codec),
        "{codec:?}: values are in the codec's format"
    );
}

#[actix_web::test]
async fn every_codec_on_every_kind_of_store() {
    for codec in [Codec::Json, Codec::MessagePack, Codec::Cbor] {
        check(MemoryStore::default(), codec).await;
        let dir = TempDir::new("codec");
        let files = FileStore::builder(&dir.0)
            .codec(codec)
            .fsync(false)
            .build()
            .unwrap();
        check(files.clone(), codec).await;
        // The cookie store's own layout, and the BinarySerializer.
        for cookie in [
            CookieStore::encrypted([5u8; 32]).build().unwrap(),
            CookieStore::encrypted([5u8; 32])
                .serializer(BinarySerializer)
                .build()
                .unwrap(),
        ] {
            check(cookie, codec).await;
        }
    }
}

#[actix_web::test]
async fn changing_the_codec_reads_old_values_as_absent() {
    let store = MemoryStore::default();
    let json = app!(store.clone(), Codec::Json);
    let cbor = app!(store.clone(), Codec::Cbor);
    let id = send(&json, get("/", None)).await.id().unwrap();
    let res = send(&cbor, get("/", Some(&id))).await;
    assert_eq!(res.status, 200, "never a 500");
    assert_eq!(
        res.body, "1",
        "the JSON counter does not decode as CBOR: absent"
    );
}
