//! Who is calling: the [`Caller`] extractor is the one way handlers learn the client's IP
//! address (believing `X-Forwarded-For` only from trusted proxies) and user agent; use cases
//! take it as the domain's `Caller` and decide throttling themselves.

use std::net::IpAddr;

use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};

use crate::state::AppState;

/// The caller's IP address and user agent, for sessions and the audit trail; an extractor,
/// so a handler that records events states it in its signature.
pub struct Caller(pub gatehouse_domain::Caller);

impl Caller {
    pub(crate) fn of(req: &HttpRequest, trusted: &[IpAddr]) -> Self {
        let user_agent = req
            .headers()
            .get(header::USER_AGENT)
            .and_then(|value| value.to_str().ok())
            .map(|agent| agent.chars().take(512).collect());
        Caller(gatehouse_domain::Caller {
            user_agent,
            ip: client_ip(req, trusted).map(|ip| ip.to_string()),
        })
    }
}

impl FromRequest for Caller {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let trusted = req
            .app_data::<web::Data<AppState>>()
            .map(|state| state.trusted_proxies.clone())
            .unwrap_or_default();
        std::future::ready(Ok(Caller::of(req, &trusted)))
    }
}

/// The peer's address; when the peer is a trusted proxy, the nearest address in
/// `X-Forwarded-For` (read right to left) that is not itself a trusted proxy. IPv4-mapped
/// IPv6 addresses (`::ffff:a.b.c.d`, what a dual-stack socket reports) are taken as the
/// IPv4 address they carry (`trusted` holds canonical addresses: the settings are read so).
fn client_ip(req: &HttpRequest, trusted: &[IpAddr]) -> Option<IpAddr> {
    let peer = req.peer_addr()?.ip().to_canonical();
    if !trusted.contains(&peer) {
        return Some(peer);
    }
    let hops: Vec<&str> = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .collect();
    for hop in hops.iter().rev() {
        match hop.parse::<IpAddr>().map(|ip| ip.to_canonical()) {
            Ok(ip) if trusted.contains(&ip) => continue,
            Ok(ip) => return Some(ip),
            // A garbled chain: fall back to what we know for sure.
            Err(_) => return Some(peer),
        }
    }
    Some(peer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn request(peer: &str, forwarded: Option<&str>) -> HttpRequest {
        let mut request = TestRequest::default().peer_addr(format!("{peer}:4000").parse().unwrap());
        if let Some(forwarded) = forwarded {
            request = request.insert_header(("x-forwarded-for", forwarded));
        }
        request.to_http_request()
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        assert_eq!(
            client_ip(&request("203.0.113.9", Some("1.2.3.4")), &[proxy]),
            ip("203.0.113.9")
        );
        assert_eq!(
            client_ip(&request("10.0.0.1", Some("1.2.3.4")), &[proxy]),
            ip("1.2.3.4")
        );
        // A client cannot push a fake address in front: the nearest untrusted hop wins.
        assert_eq!(
            client_ip(&request("10.0.0.1", Some("6.6.6.6, 1.2.3.4")), &[proxy]),
            ip("1.2.3.4")
        );
        assert_eq!(
            client_ip(&request("10.0.0.1", Some("garbage")), &[proxy]),
            ip("10.0.0.1")
        );
        assert_eq!(
            client_ip(&request("10.0.0.1", None), &[proxy]),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn ipv4_mapped_addresses_are_ipv4_also_for_trusted_proxies() {
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        // A proxy on a dual-stack socket is seen mapped; the configured IPv4 address trusts it.
        assert_eq!(
            client_ip(&request("[::ffff:10.0.0.1]", Some("1.2.3.4")), &[proxy]),
            ip("1.2.3.4")
        );
        assert_eq!(
            client_ip(&request("10.0.0.1", Some("::ffff:1.2.3.4")), &[proxy]),
            ip("1.2.3.4")
        );
        assert_eq!(
            client_ip(&request("[::ffff:203.0.113.9]", None), &[]),
            ip("203.0.113.9")
        );
    }
}
