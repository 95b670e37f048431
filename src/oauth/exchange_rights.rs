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
    /// What `client_id` lacks to keep a family for `target` made `from` these tokens.
    ///
    /// The grant came to the client at the last hop whose token was another client's (its
    /// own tokens it may narrow further without either right): the client must serve one of
    /// that token's APIs, and, if that exchange had no actor token (no `act`: an exchange of
    /// its own token keeps the `act` it had), be allowed to impersonate. Judging the last
    /// hop only would let a client launder an impersonation through an exchange of its own
    /// token. A family of the client's own tokens throughout needs neither.
    pub fn lost(&self, client_id: &str, target: &str, from: &ExchangedFrom) -> Option<LostRight> {
        if !self.refresh {
            return Some(LostRight::Refresh);
        }
        if !self.audiences.iter().any(|a| a == target) {
            return Some(LostRight::Audience);
        }
        // None: the client's own tokens throughout, which need neither right below.
        let entry = from.xo.iter().rev().find(|o| o.c != client_id)?;
        if !entry.a.iter().any(|a| self.serves.contains(a)) {
            return Some(LostRight::Serve);
        }
        if from.act.is_none() && !self.impersonate {
            return Some(LostRight::Impersonate);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokens::claims::{Act, Origin};

    fn hop(client: &str, aud: &str) -> Origin {
        Origin {
            c: client.into(),
            j: format!("jti-{client}"),
            k: Some("kid".into()),
            f: None,
            a: vec![aud.into()],
        }
    }

    fn act(client: &str) -> Option<Act> {
        Some(Act {
            sub: client.into(),
            client_id: Some(client.into()),
            act: None,
        })
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
        // The service impersonated the app's ORDERS token into BILLING, then exchanged its
        // own BILLING token into ORDERS.
        let laundered = ExchangedFrom {
            xo: vec![hop("app", ORDERS), hop("svc", BILLING)],
            act: None,
        };
        let without = rights(&serves, &audiences, false);
        assert_eq!(
            without.lost("svc", ORDERS, &laundered),
            Some(LostRight::Impersonate)
        );
        assert_eq!(
            rights(&serves, &audiences, true).lost("svc", ORDERS, &laundered),
            None
        );
        let delegated = ExchangedFrom {
            act: act("svc"),
            ..laundered.clone()
        };
        assert_eq!(without.lost("svc", ORDERS, &delegated), None);
        // The serve role is judged at the same hop: ORDERS, the app's token's API.
        let serves_billing = [BILLING.to_string()];
        let other = rights(&serves_billing, &audiences, true);
        assert_eq!(
            other.lost("svc", ORDERS, &laundered),
            Some(LostRight::Serve)
        );
    }

    #[test]
    fn the_clients_own_tokens_need_neither_serving_nor_impersonation_but_the_audience() {
        let own = ExchangedFrom {
            xo: vec![hop("app", ORDERS), hop("app", BILLING)],
            act: None,
        };
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
