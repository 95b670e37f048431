//! The client's address: the TCP peer, unless the peer is a trusted proxy (`trusted_proxies`).
//! Then the proxies' `Forwarded` (RFC 7239) or `X-Forwarded-For` entries are read right to left,
//! skipping trusted hops: the first untrusted address is the client. Entries left of it were
//! written by the client itself and are never believed.

use std::net::{IpAddr, SocketAddr};

use actix_web::http::header::{HeaderMap, HeaderName};
use actix_web::{HttpRequest, web};
use ipnet::IpNet;

use crate::startup::AppState;

const FORWARDED: HeaderName = HeaderName::from_static("forwarded");
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// The client's address (for throttling, sessions, the audit log, the request log): the TCP
/// peer, or what the configured trusted proxies say it is. Forwarded headers from anyone else
/// are ignored: any client could set them to dodge the per-address limit.
pub fn client_ip(req: &HttpRequest) -> String {
    let trusted = req
        .app_data::<web::Data<AppState>>()
        .map_or(&[][..], |s| &s.settings.trusted_proxies[..]);
    resolve(req.peer_addr().map(|a| a.ip()), req.headers(), trusted)
        .map_or_else(|| "unknown".to_string(), |ip| ip.to_string())
}

/// The client's address as seen through `trusted` proxies; `None` without a peer address.
pub fn resolve(peer: Option<IpAddr>, headers: &HeaderMap, trusted: &[IpNet]) -> Option<IpAddr> {
    let mut client = canonical(peer?);
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&client) {
        return Some(client);
    }
    // RFC 7239 when present, else the de-facto header: a proxy that writes one should strip
    // the other (the README says so), or a client could write it instead.
    let hops = if headers.contains_key(FORWARDED) {
        forwarded_for(headers)
    } else {
        x_forwarded_for(headers)
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

/// The `for=` of every element of every `Forwarded` header, in order.
fn forwarded_for(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    headers
        .get_all(FORWARDED)
        .flat_map(|v| v.to_str().unwrap_or_default().split(','))
        .filter_map(|element| {
            element.split(';').find_map(|pair| {
                let (name, value) = pair.split_once('=')?;
                name.trim()
                    .eq_ignore_ascii_case("for")
                    .then(|| node(value.trim().trim_matches('"')))
            })
        })
        .collect()
}

fn x_forwarded_for(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    headers
        .get_all(X_FORWARDED_FOR)
        .flat_map(|v| v.to_str().unwrap_or_default().split(','))
        .map(|hop| node(hop.trim()))
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
            resolve(Some(ip("198.51.100.1")), &h, &trusted()),
            Some(ip("198.51.100.1"))
        );
        assert_eq!(resolve(Some(ip("10.0.0.1")), &h, &[]), Some(ip("10.0.0.1")));
    }

    #[test]
    fn trusted_hops_are_skipped_right_to_left_and_forged_ones_left_alone() {
        let h = headers(&[("x-forwarded-for", "6.6.6.6, 203.0.113.9, 10.1.1.1")]);
        assert_eq!(
            resolve(Some(ip("10.0.0.1")), &h, &trusted()),
            Some(ip("203.0.113.9"))
        );
        let h = headers(&[
            ("x-forwarded-for", "6.6.6.6"),
            ("x-forwarded-for", "203.0.113.9"),
        ]);
        assert_eq!(
            resolve(Some(ip("10.0.0.1")), &h, &trusted()),
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
            resolve(Some(ip("::1")), &h, &trusted()),
            Some(ip("2001:db8::7"))
        );
    }

    #[test]
    fn an_unknown_hop_stops_the_walk_at_the_proxy_that_wrote_it() {
        let h = headers(&[("forwarded", "for=6.6.6.6, for=unknown")]);
        assert_eq!(
            resolve(Some(ip("10.0.0.1")), &h, &trusted()),
            Some(ip("10.0.0.1"))
        );
    }

    #[test]
    fn ipv4_mapped_addresses_are_ipv4() {
        assert_eq!(
            resolve(Some(ip("::ffff:192.0.2.1")), &HeaderMap::new(), &[]),
            Some(ip("192.0.2.1"))
        );
    }
}
