//! Not an async fn: a sync fn, a struct, a const; an empty attribute; two attributes.
use actix_typed_session::session;

#[session(expire)]
fn sync_handler() -> &'static str {
    ""
}

#[session(no_store)]
struct Cart {
    items: Vec<String>,
}

#[session(no_store)]
const LIMIT: usize = 3;

#[session]
async fn empty() -> &'static str {
    ""
}

#[session()]
async fn empty_parens() -> &'static str {
    ""
}

#[session(change_id)]
#[session(late_store)]
async fn twice() -> &'static str {
    ""
}

fn main() {
    let _ = (sync_handler, LIMIT, empty, empty_parens, twice);
    let _ = Cart { items: vec![] }.items;
}
