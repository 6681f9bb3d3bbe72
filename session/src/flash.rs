//! Flash messages: set in one request, shown in the next request that reads them, then gone.
//!
//! The semantics are Rails': a message [set](Flash::set) in one request (typically a `POST`
//! answered by a redirect) is shown by the next request that [reads](Flash::messages) the
//! messages, and is gone afterwards. [`now`](Flash::now) shows a message in this request only;
//! [`keep`](Flash::keep) keeps the messages read in this request for one more request;
//! [`discard`](Flash::discard) drops them. Every message has a [`Level`].
//!
//! The messages live in the session, under the reserved key [`FLASH_KEY`] (`"_flash"`): no
//! second cookie, and nothing is written when no message is set. A request that neither sets
//! nor reads messages does not change the session at all, so it causes no store write and does
//! not consume the messages: they wait for the next request that reads them.
//!
//! A value under [`FLASH_KEY`] that does not decode (tampered with, or written by something
//! else) reads as no messages, with a `tracing` event at `warn`; it never fails the request.
//!
//! ```
//! use actix_typed_session::{Flash, Level};
//! use actix_web::{get, post, web, HttpResponse};
//!
//! #[post("/cart/{product}")]
//! async fn add(flash: Flash, product: web::Path<String>) -> HttpResponse {
//!     flash.success(format!("Added {product} to your cart."));
//!     HttpResponse::SeeOther().insert_header(("Location", "/cart")).finish()
//! }
//!
//! #[get("/cart")]
//! async fn cart(flash: Flash) -> HttpResponse {
//!     // The text holds what the visitor sent (the product in the URL): escape it.
//!     let notes: String = flash
//!         .messages()
//!         .iter()
//!         .map(|m| format!("<p class={}>{}</p>", m.level, escape(&m.text)))
//!         .collect();
//!     HttpResponse::Ok().content_type("text/html").body(notes)
//! }
//!
//! /// Text as HTML (or use your template engine's escaping).
//! fn escape(text: &str) -> String {
//!     text.replace('&', "&amp;")
//!         .replace('<', "&lt;")
//!         .replace('>', "&gt;")
//!         .replace('"', "&quot;")
//!         .replace('\'', "&#39;")
//! }
//! # let _ = Level::Info;
//! # use actix_typed_session::{store::MemoryStore, SessionMiddleware};
//! # use actix_web::{test, App};
//! # actix_web::rt::System::new().block_on(async {
//! # let mw = SessionMiddleware::new(MemoryStore::default());
//! # let app = test::init_service(App::new().wrap(mw).service(add).service(cart)).await;
//! # let uri = "/cart/%3Cimg%20src=x%20onerror='alert(%22%26%22)'%3E";
//! # let res = test::call_service(&app, test::TestRequest::post().uri(uri).to_request()).await;
//! # assert_eq!(res.status(), 303);
//! # let set = res.headers().get("set-cookie").unwrap().to_str().unwrap();
//! # let cookie = set.split(';').next().unwrap().to_owned();
//! # let req = test::TestRequest::get().uri("/cart").insert_header(("cookie", cookie));
//! # let page = test::read_body(test::call_service(&app, req.to_request()).await).await;
//! # assert_eq!(
//! #     page,
//! #     "<p class=success>Added &lt;img src=x onerror=&#39;alert(&quot;&amp;&quot;)&#39;&gt; \
//! #      to your cart.</p>"
//! # );
//! # });
//! ```
//!
//! A message's text is plain text, not HTML: write it into a page escaped, as above, since it
//! often holds user input.
//!
//! Messages [set](Flash::set) in a request are for the next request: [`messages`](Flash::messages)
//! in the same request returns the messages of earlier requests and those of
//! [`now`](Flash::now), not those set for the next request.

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest};

use serde::{Deserialize, Serialize};

use crate::Session;

pub use crate::keys::FLASH_KEY;

/// How important a flash message is (for its styling).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Details for developers.
    Debug,
    /// Information.
    Info,
    /// Something went well.
    Success,
    /// Something to look at.
    Warning,
    /// Something failed.
    Error,
}

impl Level {
    /// The level's name in lower case (`"info"`), e.g. for a CSS class.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Success => "success",
            Level::Warning => "warning",
            Level::Error => "error",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One flash message: a level and a text (plain text; escape it when writing HTML).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// How important it is.
    pub level: Level,
    /// What it says.
    pub text: String,
}

/// The request's flash state, shared by every `Flash` of the request.
#[derive(Default)]
struct State {
    /// The messages of earlier requests, once loaded from the session.
    incoming: Option<Vec<Message>>,
    /// Whether this request read the messages (so they are gone after it).
    read: bool,
    /// `keep`: the incoming messages stay for one more request.
    kept: bool,
    /// `discard`: nothing goes on to the next request.
    discarded: bool,
    /// Messages for this request only.
    now: Vec<Message>,
    /// Messages set in this request, for the next one.
    next: Vec<Message>,
    /// Whether this request changed the stored messages.
    written: bool,
}

/// The flash messages of the request: an extractor for handlers (it needs the session
/// middleware).
///
/// Extracting it reads nothing and writes nothing; see the [module docs](self).
#[derive(Clone)]
pub struct Flash {
    session: Session,
    state: Rc<RefCell<State>>,
}

impl fmt::Debug for Flash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Flash").finish_non_exhaustive()
    }
}

impl Flash {
    /// The flash messages of `session`, for use outside an extractor (e.g. in a guard or
    /// middleware that holds the request and its session).
    pub fn of(req: &HttpRequest, session: Session) -> Self {
        let state = {
            let mut ext = req.extensions_mut();
            match ext.get::<Rc<RefCell<State>>>() {
                Some(state) => state.clone(),
                None => {
                    let state = Rc::new(RefCell::new(State::default()));
                    ext.insert(state.clone());
                    state
                }
            }
        };
        Flash { session, state }
    }

    /// Sets a message for the next request that reads the messages.
    pub fn set(&self, level: Level, text: impl Into<String>) {
        self.state.borrow_mut().next.push(Message {
            level,
            text: text.into(),
        });
        self.sync();
    }

    /// Sets a message for this request only: it is in [`messages`](Self::messages) and never
    /// stored.
    pub fn now(&self, level: Level, text: impl Into<String>) {
        self.state.borrow_mut().now.push(Message {
            level,
            text: text.into(),
        });
    }

    /// [`set`](Self::set) at [`Level::Debug`].
    pub fn debug(&self, text: impl Into<String>) {
        self.set(Level::Debug, text);
    }

    /// [`set`](Self::set) at [`Level::Info`].
    pub fn info(&self, text: impl Into<String>) {
        self.set(Level::Info, text);
    }

    /// [`set`](Self::set) at [`Level::Success`].
    pub fn success(&self, text: impl Into<String>) {
        self.set(Level::Success, text);
    }

    /// [`set`](Self::set) at [`Level::Warning`].
    pub fn warning(&self, text: impl Into<String>) {
        self.set(Level::Warning, text);
    }

    /// [`set`](Self::set) at [`Level::Error`].
    pub fn error(&self, text: impl Into<String>) {
        self.set(Level::Error, text);
    }

    /// Reads the messages: those set by earlier requests (oldest first), then those of
    /// [`now`](Self::now). Reading consumes the earlier messages: the next request does not see
    /// them, unless [`keep`](Self::keep) is called. Reading twice returns the same messages.
    pub fn messages(&self) -> Vec<Message> {
        self.load();
        let mut messages = {
            let mut state = self.state.borrow_mut();
            state.read = true;
            let mut all = state.incoming.clone().unwrap_or_default();
            all.extend(state.now.iter().cloned());
            all
        };
        messages.shrink_to_fit();
        self.sync();
        messages
    }

    /// Keeps the messages of earlier requests for one more request, even when read in this one.
    pub fn keep(&self) {
        self.state.borrow_mut().kept = true;
        self.sync();
    }

    /// Drops every message: none goes on to the next request (those already read stay readable
    /// in this one). Messages set afterwards in this request are kept.
    pub fn discard(&self) {
        {
            let mut state = self.state.borrow_mut();
            state.discarded = true;
            state.kept = false;
            state.next.clear();
        }
        self.sync();
    }

    /// Loads the earlier messages from the session, once.
    fn load(&self) {
        if self.state.borrow().incoming.is_some() {
            return;
        }
        let incoming = match self.session.get::<Vec<Message>>(FLASH_KEY) {
            Ok(Some(messages)) => messages,
            Ok(None) => {
                if self.session.has(FLASH_KEY) {
                    // `get` logged the decode failure; say what it means here.
                    tracing::warn!("flash messages in the session do not decode; showing none");
                }
                Vec::new()
            }
            Err(err) => {
                tracing::warn!(error = %err, "flash messages unreadable; showing none");
                Vec::new()
            }
        };
        self.state.borrow_mut().incoming = Some(incoming);
    }

    /// Writes what the next request will see, when it differs from what is stored.
    fn sync(&self) {
        self.load();
        let stored = {
            let state = self.state.borrow();
            let mut stored = Vec::new();
            let carry = !state.discarded && (!state.read || state.kept);
            if carry {
                stored.extend(state.incoming.iter().flatten().cloned());
            }
            stored.extend(state.next.iter().cloned());
            let unchanged = carry && state.next.is_empty() && !state.written;
            (stored, unchanged)
        };
        if !stored.1 {
            self.state.borrow_mut().written = true;
        }
        match stored {
            (_, true) => {}
            (messages, false) if messages.is_empty() => {
                self.session.remove(FLASH_KEY);
            }
            (messages, false) => {
                if let Err(err) = self.session.set(FLASH_KEY, &messages) {
                    tracing::warn!(error = %err, "flash messages not stored");
                }
            }
        }
    }
}

impl FromRequest for Flash {
    type Error = actix_web::Error;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Flash, Self::Error>>>>;

    /// Loads only [`FLASH_KEY`] from a store that can load some keys (as a typed extractor
    /// does); nothing when the session is already loaded.
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let Some(session) = crate::request::scope::current() else {
            tracing::error!(
                "flash messages extracted: {}",
                crate::SessionError::NotInstalled
            );
            return Box::pin(std::future::ready(Err(
                crate::SessionError::NotInstalled.into()
            )));
        };
        // The request is read now: the future holds no clone of it (a middleware may extract
        // this before it calls the inner service, whose router needs the request unshared).
        let fetch = crate::store::Fetch::Keys(&[FLASH_KEY]);
        let pending = session.pending(req, fetch);
        let flash = Flash::of(req, session);
        Box::pin(async move {
            if let Some(pending) = pending {
                if let Err(err) = flash.session.load_pending(pending, fetch).await {
                    return Err(flash.session.rendered(err).into());
                }
            }
            Ok(flash)
        })
    }
}
