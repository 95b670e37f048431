//! The client's address: the TCP peer, unless the peer is a trusted proxy (`trusted_proxies`).
//! Then the proxies' `X-Forwarded-For` or `Forwarded` (RFC 7239) entries, whichever
//! `trusted_proxy_header` names, are read right to left,
//! skipping trusted hops: the first untrusted address is the client. Entries left of it were
//! written by the client itself and are never believed.

use std::net::{IpAddr, SocketAddr};

use actix_web::http::header::{HeaderMap, HeaderName};
use actix_web::{HttpRequest, web};
use ipnet::IpNet;

use crate::config::ProxyHeader;
use crate::startup::AppState;

const FORWARDED: HeaderName = HeaderName::from_static("forwarded");
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// The client's address (for throttling, sessions, the audit log, the request log): the TCP
/// peer, or what the configured trusted proxies say it is. Forwarded headers from anyone else
/// are ignored: any client could set them to dodge the per-address limit.
pub fn client_ip(req: &HttpRequest) -> String {
    let settings = req.app_data::<web::Data<AppState>>().map(|s| &s.settings);
    let trusted = settings.map_or(&[][..], |s| &s.trusted_proxies[..]);
    let header = settings.map_or(ProxyHeader::XForwardedFor, |s| s.trusted_proxy_header);
    resolve(
        req.peer_addr().map(|a| a.ip()),
        req.headers(),
        trusted,
        header,
    )
    .map_or_else(|| "unknown".to_string(), |ip| ip.to_string())
}

/// The client's address as seen through `trusted` proxies that write `header`; `None`
/// without a peer address.
pub fn resolve(
    peer: Option<IpAddr>,
    headers: &HeaderMap,
    trusted: &[IpNet],
    header: ProxyHeader,
) -> Option<IpAddr> {
    let mut client = canonical(peer?);
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&client) {
        return Some(client);
    }
    // Only the header the proxies write: the other one, if any, came from the client.
    let hops = match header {
        ProxyHeader::Forwarded => forwarded_for(headers),
        ProxyHeader::XForwardedFor => x_forwarded_for(headers),
    };
    for hop in hops.iter().rev() {
        match hop {
            // A trusted proxy that did not know (`unknown`, an obfuscated name): stop at it.
            None => break,
            Some(ip) => {
                client = canonical(*ip);
                if !is_trusted(&client) {
                    break;
                }
            }
        }
    }
    Some(client)
}

/// An IPv4 client of an IPv6 socket is an IPv4 client.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The `for=` of every element of every `Forwarded` header, in order. An element without
/// `for=` (a proxy that wrote only `proto` or `host`) is a hop that named no one: the walk
/// stops there rather than reading what the client wrote to its left.
fn forwarded_for(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    lines(headers, FORWARDED)
        .iter()
        .flat_map(|line| line.split(','))
        .map(|element| {
            element.split(';').find_map(|pair| {
                let (name, value) = pair.split_once('=')?;
                name.trim()
                    .eq_ignore_ascii_case("for")
                    .then(|| node(value.trim().trim_matches('"')))
            })?
        })
        .collect()
}

fn x_forwarded_for(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    lines(headers, X_FORWARDED_FOR)
        .iter()
        .flat_map(|line| line.split(','))
        .map(|hop| node(hop.trim()))
        .collect()
}

/// Each line of a header, decoded lossily: a client's non-ASCII byte in its part of a line
/// must not hide the address a proxy appended to the same line.
fn lines(headers: &HeaderMap, name: HeaderName) -> Vec<String> {
    headers
        .get_all(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect()
}

/// RFC 7239 §6 node: `192.0.2.43`, `192.0.2.43:47011`, `[2001:db8::1]`, `[2001:db8::1]:4711`.
fn node(text: &str) -> Option<IpAddr> {
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(sock) = text.parse::<SocketAddr>() {
        return Some(sock.ip());
    }
    text.strip_prefix('[')?.split(']').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        map
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    const PROXIES: &[&str] = &["10.0.0.0/8", "::1/128"];
    const XFF: ProxyHeader = ProxyHeader::XForwardedFor;
    const FWD: ProxyHeader = ProxyHeader::Forwarded;

    fn trusted() -> Vec<IpNet> {
        PROXIES.iter().map(|n| n.parse().unwrap()).collect()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_its_headers_say() {
        let h = headers(&[
            ("x-forwarded-for", "203.0.113.9"),
            ("forwarded", "for=1.2.3.4"),
        ]);
        assert_eq!(
            resolve(Some(ip("198.51.100.1")), &h, &trusted(), XFF),
            Some(ip("198.51.100.1"))
        );
        assert_eq!(
            resolve(Some(ip("10.0.0.1")), &h, &[], XFF),
            Some(ip("10.0.0.1"))
        );
    }

    #[test]
    fn trusted_hops_are_skipped_right_to_left_and_forged_ones_left_alone() {
        let h = headers(&[("x-forwarded-for", "6.6.6.6, 203.0.113.9, 10.1.1.1")]);
        assert_eq!(
            resolve(Some(ip("10.0.0.1")), &h, &trusted(), XFF),
            Some(ip("203.0.113.9"))
        );
        let h = headers(&[
            ("x-forwarded-for", "6.6.6.6"),
            ("x-forwarded-for", "203.0.113.9"),
        ]);
        assert_eq!(
            resolve(Some(ip("10.0.0.1")), &h, &trusted(), XFF),
            Some(ip("203.0.113.9"))
        );
    }

    #[test]
    fn only_the_configured_header_is_read() {
        // The proxy appends to X-Forwarded-For and passes the client's Forwarded through.
        let h = headers(&[
            ("forwarded", "for=6.6.6.6"),
            ("x-forwarded-for", "203.0.113.9"),
        ]);
        assert_eq!(
            resolve(Some(ip("10.0.0.1")), &h, &trusted(), XFF),
            Some(ip("203.0.113.9"))
        );
        assert_eq!(
            resolve(Some(ip("10.0.0.1")), &h, &trusted(), FWD),
            Some(ip("6.6.6.6"))
        );
        // A proxy hop without for= stops the walk before the client's own element.
        let h = headers(&[("forwarded", "for=6.6.6.6, proto=https")]);
        assert_eq!(
            resolve(Some(ip("10.0.0.1")), &h, &trusted(), FWD),
            Some(ip("10.0.0.1"))
        );
        // A client's non-ASCII byte does not hide what the proxy appended on the same line.
        let mut h = HeaderMap::new();
        h.append(
            X_FORWARDED_FOR,
            HeaderValue::from_bytes(b"\xff\xfe, 203.0.113.9").unwrap(),
        );
        assert_eq!(
            resolve(Some(ip("10.0.0.1")), &h, &trusted(), XFF),
            Some(ip("203.0.113.9"))
        );
    }

    #[test]
    fn forwarded_nodes_with_ports_and_brackets_are_read() {
        let h = headers(&[(
            "forwarded",
            r#"for=6.6.6.6, for="[2001:db8::7]:4711";proto=https, for=10.2.2.2:80"#,
        )]);
        assert_eq!(
            resolve(Some(ip("::1")), &h, &trusted(), FWD),
            Some(ip("2001:db8::7"))
        );
    }

    #[test]
    fn an_unknown_hop_stops_the_walk_at_the_proxy_that_wrote_it() {
        let h = headers(&[("forwarded", "for=6.6.6.6, for=unknown")]);
        assert_eq!(
            resolve(Some(ip("10.0.0.1")), &h, &trusted(), FWD),
            Some(ip("10.0.0.1"))
        );
    }

    #[test]
    fn ipv4_mapped_addresses_are_ipv4() {
        assert_eq!(
            resolve(Some(ip("::ffff:192.0.2.1")), &HeaderMap::new(), &[], XFF),
            Some(ip("192.0.2.1"))
        );
    }
}
