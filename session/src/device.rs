//! The device a session signed in from: its user agent and client IP, recorded by the
//! middleware in the response of the request that tied the session to a user
//! ([`Session::set_user`](crate::Session::set_user)), kept under a reserved key, and shown by
//! [`SessionInfo::user_agent`](crate::SessionInfo::user_agent) and
//! [`SessionInfo::ip`](crate::SessionInfo::ip) on a devices page.
//!
//! Settings: [`record_device`](crate::SessionMiddlewareBuilder::record_device) (on by default)
//! and [`client_ip`](crate::SessionMiddlewareBuilder::client_ip) ([`ClientIp::Peer`] by
//! default: `X-Forwarded-For` is never trusted unless the app says so).

use std::net::{IpAddr, SocketAddr};

use actix_web::http::header::USER_AGENT;
use actix_web::HttpRequest;
use serde::{Deserialize, Serialize};

use crate::request::Session;

/// Longest user agent kept (bytes; cut at a character boundary).
const MAX_USER_AGENT: usize = 512;

/// Where the client IP recorded at sign-in comes from (see
/// [`client_ip`](crate::SessionMiddlewareBuilder::client_ip)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ClientIp {
    /// The address of the TCP peer (the default): the client's when it connects to the app
    /// directly; the proxy's when the app runs behind one.
    #[default]
    Peer,
    /// What the proxy in front says: actix-web's
    /// [`ConnectionInfo::realip_remote_addr`](actix_web::dev::ConnectionInfo::realip_remote_addr)
    /// (the `Forwarded` header, else `X-Forwarded-For`, else the peer). Only behind a proxy
    /// that sets these headers and drops the client's own: a client that reaches the app
    /// directly can write any address there.
    Forwarded,
    /// No IP is recorded (the user agent still is, unless
    /// [`record_device`](crate::SessionMiddlewareBuilder::record_device) is off).
    Off,
}

/// The device settings of a middleware.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DeviceSettings {
    pub(crate) record: bool,
    pub(crate) ip: ClientIp,
}

impl Default for DeviceSettings {
    fn default() -> Self {
        DeviceSettings {
            record: true,
            ip: ClientIp::Peer,
        }
    }
}

/// What is kept under [`DEVICE_KEY`](crate::keys::DEVICE_KEY).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Device {
    #[serde(rename = "ua", default, skip_serializing_if = "Option::is_none")]
    pub(crate) user_agent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) ip: Option<String>,
}

impl Device {
    /// The device of `req`, as `settings` say to read it.
    fn of(req: &HttpRequest, settings: DeviceSettings) -> Self {
        let user_agent = req
            .headers()
            .get(USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| cut(ua, MAX_USER_AGENT).to_owned());
        let ip = match settings.ip {
            ClientIp::Peer => req.peer_addr().map(|a| a.ip()),
            ClientIp::Forwarded => req
                .connection_info()
                .realip_remote_addr()
                .and_then(parse_ip),
            ClientIp::Off => None,
        };
        Device {
            user_agent,
            ip: ip.map(|ip| ip.to_string()),
        }
    }
}

/// `IP` or `IP:port` (`[v6]:port` too); anything else is not recorded.
fn parse_ip(text: &str) -> Option<IpAddr> {
    text.parse::<IpAddr>()
        .ok()
        .or_else(|| text.parse::<SocketAddr>().ok().map(|a| a.ip()))
}

fn cut(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Records the device of `req` in `session` if this request tied it to a user and the
/// middleware records devices; before the commit, so it is saved with the sign-in.
pub(crate) fn record(session: &Session, req: &HttpRequest) {
    let settings = session.ctx().config.device;
    // Off for a client-side store too (decided when the middleware is built).
    if !settings.record {
        return;
    }
    let Some(mut data) = session.data() else {
        return;
    };
    if !data.tied() {
        return;
    }
    let device = Device::of(req, settings);
    match session.ctx().config.codec.encode(&device) {
        Ok(bytes) => {
            data.set(crate::keys::DEVICE_KEY.to_owned(), bytes.into());
        }
        Err(err) => tracing::warn!(error = %err, "device of a sign-in not recorded"),
    }
}

/// The device kept in a listed session's values, if any.
pub(crate) fn read(
    codec: crate::codec::Codec,
    data: &std::collections::HashMap<String, crate::store::Bytes>,
) -> Option<Device> {
    codec.decode(data.get(crate::keys::DEVICE_KEY)?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_with_and_without_ports_parse_and_junk_does_not() {
        assert_eq!(parse_ip("203.0.113.7"), "203.0.113.7".parse().ok());
        assert_eq!(parse_ip("203.0.113.7:4431"), "203.0.113.7".parse().ok());
        assert_eq!(parse_ip("[2001:db8::1]:443"), "2001:db8::1".parse().ok());
        assert_eq!(parse_ip("2001:db8::1"), "2001:db8::1".parse().ok());
        assert_eq!(parse_ip("unknown"), None);
        assert_eq!(parse_ip("<script>"), None);
    }

    #[test]
    fn long_user_agents_are_cut_at_a_character_boundary() {
        let ua = "é".repeat(400); // 800 bytes
        let kept = cut(&ua, MAX_USER_AGENT);
        assert!(kept.len() <= MAX_USER_AGENT && kept.chars().all(|c| c == 'é'));
        assert_eq!(cut("short", MAX_USER_AGENT), "short");
    }
}
