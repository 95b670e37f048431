//! The rights a refresh family from token exchange (`--exchange-refresh`, issue 12 §2) lives
//! under. One rule, judged at three moments: on each refresh (from the node's cached policy,
//! `grants::token_exchange::access_token::refreshed`), when the family is stored (from the
//! store, in the insert's transaction, so that a node with a stale cache stores none), and
//! when an administrator takes a right (every family the rule no longer admits is revoked in
//! the change, so that granting the right again revives none).

use crate::tokens::claims::ExchangedFrom;

/// What a client may do by token exchange, as far as its families from it are concerned.
#[derive(Debug, Clone, Copy)]
pub struct ExchangeRights<'a> {
    /// `--exchange-refresh`.
    pub refresh: bool,
    /// `--exchange-impersonate`.
    pub impersonate: bool,
    /// The APIs it serves (`--serves-api`).
    pub serves: &'a [String],
    /// The audiences it may exchange into (`--exchange-audience`).
    pub audiences: &'a [String],
}

/// The first right a family needs that the client no longer has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LostRight {
    /// Refresh tokens by exchange.
    Refresh,
    /// The family's audience as an exchange target.
    Audience,
    /// Serving an API the token it came in on was for.
    Serve,
    /// Exchanging another client's token without an actor token.
    Impersonate,
}

impl ExchangeRights<'_> {
    /// What `client_id` lacks to keep a family for `target` made `from` these tokens, in the
    /// order a fresh exchange would find it (refresh, then how the grant came, then the
    /// audience).
    ///
    /// The grant came to the client at each hop whose token was another client's and whose
    /// exchange the client made (the next hop's token is the client's, or the family itself
    /// for the last): for each, the client must serve one of that token's APIs, and, if that
    /// exchange had no actor token (`Origin::d`), be allowed to impersonate. Its own tokens
    /// it may narrow further without either right, and other clients' exchanges are judged
    /// by their own rights. Every such hop counts, not only the last, so an impersonation is
    /// not laundered through a later exchange of the client's own token or through another
    /// client and back.
    pub fn lost(&self, client_id: &str, target: &str, from: &ExchangedFrom) -> Option<LostRight> {
        if !self.refresh {
            return Some(LostRight::Refresh);
        }
        if let Some(lost) = self.lost_entry(client_id, from) {
            return Some(lost);
        }
        if !self.audiences.iter().any(|a| a == target) {
            return Some(LostRight::Audience);
        }
        None
    }

    /// The part of `lost` about how the grant came to the client: also what every exchange
    /// checks of the chain its new token would carry (`from`), with or without a refresh
    /// token, so that a token another client made from this client's impersonation does not
    /// bring the grant back to it once the right is gone.
    pub fn lost_entry(&self, client_id: &str, from: &ExchangedFrom) -> Option<LostRight> {
        for (i, hop) in from.xo.iter().enumerate() {
            let exchanger = from.xo.get(i + 1).map_or(client_id, |next| next.c.as_str());
            if hop.c == client_id || exchanger != client_id {
                continue;
            }
            if !hop.a.iter().any(|a| self.serves.contains(a)) {
                return Some(LostRight::Serve);
            }
            if !hop.d && !self.impersonate {
                return Some(LostRight::Impersonate);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokens::claims::Origin;

    /// A hop: `client`'s token for `aud`, taken by an exchange with an actor token or not.
    fn hop(client: &str, aud: &str, delegated: bool) -> Origin {
        Origin {
            c: client.into(),
            j: format!("jti-{client}"),
            k: Some("kid".into()),
            f: None,
            a: vec![aud.into()],
            d: delegated,
        }
    }

    fn from(xo: Vec<Origin>) -> ExchangedFrom {
        ExchangedFrom { xo, act: None }
    }

    const ORDERS: &str = "https://orders.example";
    const BILLING: &str = "https://billing.example";

    fn rights<'a>(serves: &'a [String], audiences: &'a [String], imp: bool) -> ExchangeRights<'a> {
        ExchangeRights {
            refresh: true,
            impersonate: imp,
            serves,
            audiences,
        }
    }

    #[test]
    fn an_impersonation_is_judged_where_the_grant_entered_the_client_not_at_the_last_hop() {
        let serves = [ORDERS.to_string()];
        let audiences = [ORDERS.to_string(), BILLING.to_string()];
        let without = rights(&serves, &audiences, false);
        // The service impersonated the app's ORDERS token into BILLING, then exchanged its
        // own BILLING token into ORDERS, with its actor token or without.
        for own_with_actor in [false, true] {
            let laundered = from(vec![
                hop("app", ORDERS, false),
                hop("svc", BILLING, own_with_actor),
            ]);
            assert_eq!(
                without.lost("svc", ORDERS, &laundered),
                Some(LostRight::Impersonate)
            );
            assert_eq!(
                rights(&serves, &audiences, true).lost("svc", ORDERS, &laundered),
                None
            );
        }
        let delegated = from(vec![hop("app", ORDERS, true), hop("svc", BILLING, false)]);
        assert_eq!(without.lost("svc", ORDERS, &delegated), None);
        // The serve role is judged at the same hop: ORDERS, the app's token's API.
        let serves_billing = [BILLING.to_string()];
        let other = rights(&serves_billing, &audiences, true);
        assert_eq!(
            other.lost("svc", ORDERS, &delegated),
            Some(LostRight::Serve)
        );
    }

    #[test]
    fn every_entry_of_the_grant_into_the_client_counts_not_only_the_last() {
        // svc impersonated the app's token; another client took svc's token with its actor
        // token; svc took that one back with its actor token.
        let round_trip = from(vec![
            hop("app", ORDERS, false),
            hop("svc", BILLING, true),
            hop("other", ORDERS, true),
        ]);
        let serves = [ORDERS.to_string()];
        let audiences = [BILLING.to_string()];
        assert_eq!(
            rights(&serves, &audiences, false).lost("svc", BILLING, &round_trip),
            Some(LostRight::Impersonate)
        );
        assert_eq!(
            rights(&serves, &audiences, true).lost("svc", BILLING, &round_trip),
            None
        );
        // The other client's exchange is its own business.
        let via_other = from(vec![hop("app", ORDERS, false), hop("other", BILLING, true)]);
        let serves_billing = [BILLING.to_string()];
        assert_eq!(
            rights(&serves_billing, &audiences, false).lost("svc", BILLING, &via_other),
            None
        );
    }

    #[test]
    fn the_clients_own_tokens_need_neither_serving_nor_impersonation_but_the_audience() {
        let own = from(vec![hop("app", ORDERS, false), hop("app", BILLING, false)]);
        let audiences = [BILLING.to_string()];
        assert_eq!(
            rights(&[], &audiences, false).lost("app", BILLING, &own),
            None
        );
        assert_eq!(
            rights(&[], &audiences, false).lost("app", ORDERS, &own),
            Some(LostRight::Audience)
        );
        let mut no_refresh = rights(&[], &audiences, false);
        no_refresh.refresh = false;
        assert_eq!(
            no_refresh.lost("app", BILLING, &own),
            Some(LostRight::Refresh)
        );
    }
}
