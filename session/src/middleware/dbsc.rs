//! Device Bound Session Credentials in the middleware (feature `dbsc`): the offer on the
//! response that signs a session in, and the two endpoints the middleware answers itself
//! (registration, refresh). The protocol, its wire names and the binding a session keeps are in
//! [`crate::dbsc`]; the refusal of a bound session without its cookie is in `request/load.rs`.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue, SET_COOKIE};
use actix_web::http::{Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse};
use serde_json::json;

use super::ResponseBody;
use crate::ctx::Ctx;
use crate::dbsc::{
    names, random_token, sf_safe, unquote, Binding, Dbsc, Refused, Verified, MAX_PROOF,
};
use crate::keys::DBSC_KEY;
use crate::request::Session;
use crate::store::Fetch;

/// One of the endpoints the middleware answers.
#[derive(Debug, Clone, Copy)]
pub(super) enum Endpoint {
    Register,
    Refresh,
}

/// The endpoint `req` is for, if any (a `POST` to one of the configured paths).
pub(super) fn endpoint(ctx: &Ctx, req: &ServiceRequest) -> Option<Endpoint> {
    let dbsc = ctx.config.dbsc.as_ref()?;
    if req.method() != Method::POST {
        return None;
    }
    let path = req.path();
    if path == dbsc.registration_path {
        Some(Endpoint::Register)
    } else if path == dbsc.refresh_path {
        Some(Endpoint::Refresh)
    } else {
        None
    }
}

/// Before the commit of a response: a signed-in session that is not bound gets a challenge
/// (saved with the commit; with `offer_on_every_response`, the one still waiting is offered
/// again without a write), and the response the registration header, returned here to be sent
/// once the commit succeeded.
pub(super) fn offer(session: &Session) -> Option<HeaderValue> {
    let ctx = session.ctx();
    let dbsc = ctx.config.dbsc.as_ref()?;
    let mut data = session.data()?;
    data.user()?;
    let now = ctx.config.clock.now();
    let mut binding = read(ctx, &data.value(DBSC_KEY));
    if binding.bound() {
        return None;
    }
    let waiting = binding
        .challenge
        .clone()
        .filter(|(_, at)| now.saturating_sub(*at) < crate::dbsc::CHALLENGE_LIFETIME);
    let challenge = match (data.tied(), dbsc.every_response, waiting) {
        // A sign-in: a new challenge.
        (true, ..) => None,
        // Offered again with the challenge still waiting: no write.
        (false, true, Some((challenge, _))) => Some(challenge),
        (false, true, None) => None,
        (false, false, _) => return None,
    };
    let challenge = match challenge {
        Some(challenge) => challenge,
        None => {
            let challenge = binding.challenge(now);
            let encoded = ctx.config.codec.encode(&binding).ok()?;
            data.set(DBSC_KEY.to_owned(), encoded.into());
            challenge
        }
    };
    let value = format!(
        "{};path=\"{}\";challenge=\"{challenge}\"",
        names::ALGORITHMS,
        dbsc.registration_path
    );
    HeaderValue::from_str(&value).ok()
}

/// The name of the offer's header.
pub(super) fn offer_header() -> HeaderName {
    HeaderName::from_static(names::REGISTRATION)
}

/// Answers a request to one of the endpoints (it never reaches the app): the session loaded,
/// the protocol step, the session committed like any other response.
pub(super) async fn serve<B: MessageBody + 'static>(
    ctx: std::sync::Arc<Ctx>,
    req: ServiceRequest,
    which: Endpoint,
) -> Result<ServiceResponse<ResponseBody<B>>, actix_web::Error> {
    let (http, _payload) = req.into_parts();
    let session = Session::new(ctx.clone());
    let answer = match session.ensure(&http, Fetch::All).await {
        Err(err) => ctx.config.render(&err),
        Ok(()) => match which {
            Endpoint::Register => register(&session, &http),
            Endpoint::Refresh => refresh(&session, &http),
        },
    };
    let res = super::respond(session, ServiceResponse::new(http, answer)).await;
    Ok(res.map_body(|_, body| EitherBody::right(EitherBody::right(body.boxed()))))
}

/// Registration: a proof signed by the key in its own header, of the session's challenge.
fn register(session: &Session, req: &HttpRequest) -> HttpResponse {
    let ctx = session.ctx();
    let Some(dbsc) = ctx.config.dbsc.as_ref() else {
        return refused(StatusCode::NOT_FOUND, "DBSC is off");
    };
    let now = ctx.config.clock.now();
    let Some(jwt) = header(req, names::RESPONSE) else {
        return refused(StatusCode::BAD_REQUEST, "registration without a proof");
    };
    let Some(mut data) = session.data() else {
        return refused(StatusCode::FORBIDDEN, "no session");
    };
    if data.user().is_none() {
        return refused(
            StatusCode::FORBIDDEN,
            "registration of a session not signed in",
        );
    }
    let mut binding = read(ctx, &data.value(DBSC_KEY));
    if binding.bound() {
        return refused(StatusCode::FORBIDDEN, "session already bound");
    }
    let proof = crate::dbsc::verify_registration(jwt);
    let verified = match answered(ctx, &mut data, &mut binding, proof, now) {
        Ok(verified) => verified,
        // A registration whose challenge is not the session's: refused as such (403).
        Err((StatusCode::GONE, why)) => return refused(StatusCode::FORBIDDEN, why),
        Err((status, why)) => return refused(status, why),
    };
    let sid = random_token();
    binding.jwk = Some(verified.jwk);
    binding.sid = Some(sid.clone());
    let cookie = binding.new_cookie(now, dbsc.cookie_lifetime.as_secs());
    write(ctx, &mut data, &binding);
    tracing::info!(session = %data.id().log_tag(), "device-bound session registered");
    issued(dbsc, &sid, &cookie)
}

/// Refresh: a challenge, then a proof of it signed by the registered key, for a new bound
/// cookie; an ended (or never bound) session is told to stop.
fn refresh(session: &Session, req: &HttpRequest) -> HttpResponse {
    let ctx = session.ctx();
    let Some(dbsc) = ctx.config.dbsc.as_ref() else {
        return refused(StatusCode::NOT_FOUND, "DBSC is off");
    };
    let now = ctx.config.clock.now();
    let sid = header(req, names::SESSION_ID)
        .unwrap_or_default()
        .to_owned();
    let Some(mut data) = session.data() else {
        return ended(&sid);
    };
    let mut binding = read(ctx, &data.value(DBSC_KEY));
    let live = data.user().is_some()
        && binding.bound()
        && binding.sid.as_deref() == Some(sid.as_str())
        && sf_safe(&sid);
    if !live {
        tracing::info!(
            "DBSC refresh for a session that ended or is not bound: the browser is told to stop"
        );
        return ended(&sid);
    }
    let Some(jwt) = header(req, names::RESPONSE) else {
        let challenge = binding.challenge(now);
        write(ctx, &mut data, &binding);
        return HttpResponse::Forbidden()
            .insert_header((
                HeaderName::from_static(names::CHALLENGE),
                format!("\"{challenge}\";id=\"{sid}\""),
            ))
            .finish();
    };
    let Some(jwk) = binding.jwk.clone() else {
        return ended(&sid);
    };
    let proof = crate::dbsc::verify(jwt, &jwk);
    if let Err((_, why)) = answered(ctx, &mut data, &mut binding, proof, now) {
        // A stale proof ends the browser's DBSC session (a 4xx other than 403).
        return refused(StatusCode::BAD_REQUEST, why);
    }
    let cookie = binding.new_cookie(now, dbsc.cookie_lifetime.as_secs());
    write(ctx, &mut data, &binding);
    issued(dbsc, &sid, &cookie)
}

/// A proof checked against the session's waiting challenge, which it spends either way (one
/// attempt per challenge; the binding is written back). A proof that does not verify is
/// `400`; one that verifies but answers no waiting, fresh challenge is `410` (the caller picks
/// the status it answers).
fn answered(
    ctx: &Ctx,
    data: &mut crate::request::data::Data,
    binding: &mut Binding,
    proof: Result<Verified, Refused>,
    now: u64,
) -> Result<Verified, (StatusCode, &'static str)> {
    let result = match proof {
        Err(why) => {
            binding.challenge = None;
            Err((StatusCode::BAD_REQUEST, why.as_str()))
        }
        Ok(verified) if binding.take_challenge(&verified.jti, now) => Ok(verified),
        Ok(_) => Err((StatusCode::GONE, "challenge unknown, used or expired")),
    };
    write(ctx, data, binding);
    result
}

/// `200` with the session instructions and the new bound cookie.
fn issued(dbsc: &Dbsc, sid: &str, cookie: &str) -> HttpResponse {
    let set_cookie = format!(
        "{}={cookie}; Max-Age={}; {}",
        dbsc.cookie_name,
        dbsc.cookie_lifetime.as_secs(),
        dbsc.attributes()
    );
    HttpResponse::Ok()
        .insert_header((SET_COOKIE, set_cookie))
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(json!({
            "session_identifier": sid,
            "refresh_url": dbsc.refresh_path,
            "continue": true,
            "scope": {
                "include_site": false,
                "scope_specification": [
                    {"type": "exclude", "path": dbsc.registration_path},
                    {"type": "exclude", "path": dbsc.refresh_path},
                ],
            },
            "credentials": [{
                "type": "cookie",
                "name": dbsc.cookie_name,
                "attributes": dbsc.attributes(),
            }],
        }))
}

/// `200` telling the browser to stop refreshing the DBSC session `sid`.
fn ended(sid: &str) -> HttpResponse {
    HttpResponse::Ok().json(json!({"session_identifier": sid, "continue": false}))
}

/// A refused step: its status, a short text body, and a log line.
fn refused(status: StatusCode, why: &'static str) -> HttpResponse {
    tracing::info!(status = status.as_u16(), why, "DBSC request refused");
    HttpResponse::build(status)
        .content_type("text/plain; charset=utf-8")
        .body(why)
}

/// A request header's value, unquoted, if present, text and not over [`MAX_PROOF`].
fn header<'r>(req: &'r HttpRequest, name: &str) -> Option<&'r str> {
    let value = req.headers().get(name)?.to_str().ok()?;
    (value.len() <= MAX_PROOF).then(|| unquote(value))
}

fn read(ctx: &Ctx, value: &Option<crate::store::Bytes>) -> Binding {
    value
        .as_ref()
        .and_then(|bytes| ctx.config.codec.decode(bytes).ok())
        .unwrap_or_default()
}

fn write(ctx: &Ctx, data: &mut crate::request::data::Data, binding: &Binding) {
    match ctx.config.codec.encode(binding) {
        Ok(bytes) => {
            data.set(DBSC_KEY.to_owned(), bytes.into());
        }
        Err(e) => tracing::warn!(error = %e, "DBSC binding not encoded"),
    }
}
