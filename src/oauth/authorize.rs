//! The authorization endpoint's rules (RFC 6749 §4.1.1, §4.1.2.1; RFC 7636; OIDC Core §3.1.2):
//! validate the request, decide whether the user must sign in or consent, and issue the code.

use std::collections::BTreeMap;

use super::client::{Client, ClientType, GrantType};
use super::pkce::CodeChallenge;
use super::redirect_uri;
use super::resource::{self, Api, Resource};
use super::resources::{self, TargetError};
use super::scope::Scope;
use crate::clock::UnixTime;
use crate::store::{CodeRow, ConsentRow, Store, StoreError};
use crate::tokens::opaque::{self, Kind};

/// The parameters of an authorization request, in order, as sent.
pub type Params = Vec<(String, String)>;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Prompt {
    pub none: bool,
    pub login: bool,
    pub consent: bool,
}

/// A request that passed every check that does not depend on the user.
#[derive(Debug, Clone)]
pub struct AuthorizeRequest {
    pub client: Client,
    pub redirect_uri: String,
    pub scope: Scope,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub challenge: Option<CodeChallenge>,
    pub prompt: Prompt,
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
    /// The APIs `resource` asked for (RFC 8707), granted with the code.
    pub resources: Vec<Api>,
    /// RFC 9449 §10: the DPoP key (thumbprint) the code is bound to.
    pub dpop_jkt: Option<String>,
    /// The request's parameters, to come back to after login or consent.
    pub params: BTreeMap<String, String>,
}

/// Why a request fails: shown to the user when the redirect URI cannot be trusted
/// (RFC 6749 §4.1.2.1: never redirect to an unverified URI), otherwise sent to the client.
#[derive(Debug)]
pub enum AuthorizeError {
    Page(String),
    Redirect(ErrorRedirect),
    Store(StoreError),
}

#[derive(Debug, Clone)]
pub struct ErrorRedirect {
    pub redirect_uri: String,
    pub error: &'static str,
    pub description: String,
    pub state: Option<String>,
}

impl From<StoreError> for AuthorizeError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

/// Validates a request. `require_pkce` is the server setting (on by default); public clients
/// always need PKCE.
pub async fn validate(
    store: &Store,
    params: &Params,
    require_pkce: bool,
) -> Result<AuthorizeRequest, AuthorizeError> {
    let mut map: BTreeMap<String, String> = BTreeMap::new();
    let mut repeated = Vec::new();
    let mut bad_resource = None;
    for (k, v) in params {
        if v.is_empty() {
            continue; // RFC 6749 §3.1: no value means omitted
        }
        // RFC 8707 §2: `resource` may repeat; its values are joined as the token endpoint's
        // form reader joins them, so the request survives login and consent as one value.
        if k == "resource" {
            if let Err(e) = resource::push_requested(map.entry(k.clone()).or_default(), v) {
                bad_resource.get_or_insert(e.to_string());
            }
            continue;
        }
        match map.get_mut(k) {
            Some(_) => repeated.push(k.clone()),
            None => {
                map.insert(k.clone(), v.clone());
            }
        }
    }
    // Until client and redirect URI are trusted, every error is a page.
    if repeated
        .iter()
        .any(|k| k == "client_id" || k == "redirect_uri")
    {
        return Err(AuthorizeError::Page(
            "The request repeats client_id or redirect_uri (RFC 6749 §3.1).".into(),
        ));
    }
    let client_id = map
        .get("client_id")
        .ok_or_else(|| AuthorizeError::Page("The request has no client_id.".into()))?;
    let client = store
        .get_client(client_id)
        .await?
        .ok_or_else(|| AuthorizeError::Page("The application is not registered here.".into()))?;
    let redirect_uri = match map.get("redirect_uri") {
        Some(presented) => {
            redirect_uri::find_match(&client.redirect_uris, presented, client.client_type)
                .ok_or_else(|| {
                    AuthorizeError::Page(
                        "The redirect_uri is not registered for this application.".into(),
                    )
                })?;
            presented.clone()
        }
        // RFC 6749 §3.1.2.3: optional when exactly one is registered.
        None => match client.redirect_uris.as_slice() {
            [only] => only.as_str().to_string(),
            _ => {
                return Err(AuthorizeError::Page(
                    "The request has no redirect_uri and the application registered several."
                        .into(),
                ));
            }
        },
    };

    let state = map.get("state").cloned();
    let fail = |error: &'static str, description: String| {
        AuthorizeError::Redirect(ErrorRedirect {
            redirect_uri: redirect_uri.clone(),
            error,
            description,
            state: state.clone(),
        })
    };
    if let Some(why) = bad_resource {
        return Err(fail("invalid_target", why));
    }
    if let Some(name) = repeated.first() {
        return Err(fail(
            "invalid_request",
            format!("the parameter {name} is repeated (RFC 6749 §3.1)"),
        ));
    }
    match map.get("response_type").map(String::as_str) {
        Some("code") => {}
        None => return Err(fail("invalid_request", "response_type is missing".into())),
        Some(_) => {
            return Err(fail(
                "unsupported_response_type",
                "only response_type=code is supported".into(),
            ));
        }
    }
    if !client.allows_grant(GrantType::AuthorizationCode) {
        return Err(fail(
            "unauthorized_client",
            "this client is not registered for the authorization code grant".into(),
        ));
    }
    let scope = match map.get("scope") {
        Some(raw) => Scope::parse(raw).map_err(|e| fail("invalid_scope", e.to_string()))?,
        None => Scope::empty(),
    };
    if let Some(excess) = scope.excess(&client.scopes).next() {
        return Err(fail(
            "invalid_scope",
            format!("the scope {excess} is not allowed for this client"),
        ));
    }
    // Native SSO §3.1: the device secret is bound to the ID token (`ds_hash`), so there is no
    // device secret without `openid`.
    if scope.contains(crate::oauth::client::DEVICE_SSO) && !scope.contains("openid") {
        return Err(fail(
            "invalid_scope",
            "the scope device_sso needs openid (Native SSO §3.1)".into(),
        ));
    }
    // RFC 8707 §2: each resource an absolute URI without a fragment, registered and allowed
    // to this client; else invalid_target, sent to the (already trusted) redirect URI.
    let resources = resources::allowed(store, &client, map.get("resource").map(String::as_str))
        .await
        .map_err(|e| match e {
            TargetError::Invalid(m) => fail("invalid_target", m),
            TargetError::Store(s) => AuthorizeError::Store(s),
        })?;
    let challenge = match map.get("code_challenge") {
        Some(c) => Some(
            CodeChallenge::parse(c, map.get("code_challenge_method").map(String::as_str))
                .map_err(|e| fail("invalid_request", e.into()))?,
        ),
        None if client.client_type == ClientType::Public || require_pkce => {
            return Err(fail(
                "invalid_request",
                "PKCE is required: send code_challenge with code_challenge_method=S256".into(),
            ));
        }
        None => None,
    };
    let prompt = parse_prompt(map.get("prompt").map(String::as_str))
        .map_err(|e| fail("invalid_request", e.into()))?;
    let max_age = map
        .get("max_age")
        .map(|v| v.parse::<i64>().ok().filter(|n| *n >= 0))
        .map(|v| {
            v.ok_or_else(|| {
                fail(
                    "invalid_request",
                    "max_age must be a number of seconds".into(),
                )
            })
        })
        .transpose()?;
    // RFC 9449 §10: `dpop_jkt`, a JWK SHA-256 thumbprint (43 base64url characters).
    let dpop_jkt = map
        .get("dpop_jkt")
        .map(|jkt| {
            let well_formed = jkt.len() == 43
                && jkt
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            well_formed.then(|| jkt.clone()).ok_or_else(|| {
                fail(
                    "invalid_request",
                    "dpop_jkt must be the base64url SHA-256 thumbprint of a JWK (RFC 9449 §10)"
                        .into(),
                )
            })
        })
        .transpose()?;
    // OIDC Core §3.1.2.1: request objects are not supported.
    if map.contains_key("request") || map.contains_key("request_uri") {
        return Err(fail(
            if map.contains_key("request") {
                "request_not_supported"
            } else {
                "request_uri_not_supported"
            },
            "request objects are not supported".into(),
        ));
    }
    Ok(AuthorizeRequest {
        redirect_uri,
        scope,
        state,
        nonce: map.get("nonce").cloned(),
        challenge,
        prompt,
        max_age,
        login_hint: map.get("login_hint").cloned(),
        resources,
        dpop_jkt,
        client,
        params: map,
    })
}

fn parse_prompt(raw: Option<&str>) -> Result<Prompt, &'static str> {
    let mut p = Prompt::default();
    for value in raw.unwrap_or_default().split(' ').filter(|s| !s.is_empty()) {
        match value {
            "none" => p.none = true,
            "login" => p.login = true,
            "consent" => p.consent = true,
            "select_account" => {}
            _ => return Err("prompt must be none, login or consent"),
        }
    }
    // OIDC Core §3.1.2.1: none with any other value is an error.
    if p.none && (p.login || p.consent) {
        return Err("prompt=none cannot be combined with other values");
    }
    Ok(p)
}

/// What to do with a valid request, given the browser's session and the stored consent.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    /// Send the user to the login page, then back to this request without `prompt=login`.
    Login,
    /// Ask the user to approve the client and scopes.
    Consent,
    Issue,
    Error(&'static str, &'static str),
}

pub struct SignedIn {
    pub auth_time: UnixTime,
}

/// What the user approved for a client before: scopes, at these APIs (RFC 8707). Consent to
/// `read` at one API is not consent to `read` at another, so both must cover a request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Consented {
    pub scope: Scope,
    pub resources: Vec<Resource>,
}

impl Consented {
    pub fn from_row(row: &ConsentRow) -> Self {
        Self {
            scope: Scope::parse(&row.scope).unwrap_or_else(|_| Scope::empty()),
            resources: resource::split_stored(&row.resources),
        }
    }

    fn covers(&self, req: &AuthorizeRequest) -> bool {
        req.scope.is_subset(&self.scope)
            && req
                .resources
                .iter()
                .all(|a| self.resources.contains(&a.identifier))
    }

    /// What is remembered once the user approves `req`: the union of before and now.
    pub fn with(mut self, req: &AuthorizeRequest) -> Self {
        self.scope = self.scope.union(&req.scope);
        for api in &req.resources {
            if !self.resources.contains(&api.identifier) {
                self.resources.push(api.identifier.clone());
            }
        }
        self
    }
}

pub fn decide(
    req: &AuthorizeRequest,
    session: Option<SignedIn>,
    consented: Option<&Consented>,
    now: UnixTime,
) -> Next {
    let fresh_enough = |s: &SignedIn| req.max_age.is_none_or(|max| now - s.auth_time <= max);
    let signed_in = session.filter(|s| !req.prompt.login && fresh_enough(s));
    if signed_in.is_none() {
        return if req.prompt.none {
            Next::Error("login_required", "the user is not signed in")
        } else {
            Next::Login
        };
    }
    let has_consent = req.client.first_party || consented.is_some_and(|c| c.covers(req));
    if has_consent && !req.prompt.consent {
        return Next::Issue;
    }
    if req.prompt.none {
        return Next::Error("consent_required", "the user has not approved this client");
    }
    Next::Consent
}

impl AuthorizeRequest {
    /// The request's parameters as they were sent: each `resource` value its own pair again
    /// (a joined value would come back as one value with spaces, which is refused).
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.params.iter().flat_map(|(k, v)| {
            let values: Vec<&str> = match k.as_str() {
                "resource" => v.split(' ').filter(|r| !r.is_empty()).collect(),
                _ => vec![v.as_str()],
            };
            values.into_iter().map(move |v| (k.as_str(), v))
        })
    }
}

/// The request's own URL, minus `prompt=login` (already honoured by the login that follows)
/// so that coming back does not ask again.
pub fn return_url(req: &AuthorizeRequest) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in req.pairs() {
        if k == "prompt" {
            let rest: Vec<&str> = v.split(' ').filter(|p| *p != "login").collect();
            if !rest.is_empty() {
                query.append_pair(k, &rest.join(" "));
            }
        } else {
            query.append_pair(k, v);
        }
    }
    format!("/authorize?{}", query.finish())
}

/// Who the code is for.
pub struct CodeSubject<'a> {
    pub user_id: &'a str,
    pub sid: &'a str,
    pub auth_time: UnixTime,
    pub amr: &'a str,
}

/// Stores a single-use code bound to everything the token request must repeat or prove
/// (DESIGN §3) and returns the redirect carrying it.
pub async fn issue_code(
    store: &Store,
    req: &AuthorizeRequest,
    who: CodeSubject<'_>,
    issuer: &str,
    ttl_secs: i64,
    now: UnixTime,
) -> Result<String, StoreError> {
    let code = opaque::generate(Kind::Code);
    store
        .insert_code(&CodeRow {
            code_hash: opaque::hash(&code),
            client_id: req.client.id.to_string(),
            user_id: who.user_id.to_string(),
            sid: who.sid.to_string(),
            redirect_uri: req.redirect_uri.clone(),
            redirect_uri_sent: req.params.contains_key("redirect_uri"),
            scope: req.scope.to_string(),
            nonce: req.nonce.clone(),
            code_challenge: req.challenge.as_ref().map(|c| c.as_str().to_string()),
            auth_time: who.auth_time,
            amr: who.amr.to_string(),
            created_at: now,
            expires_at: now + ttl_secs,
            used_at: None,
            family_id: None,
            resources: resource::join(
                &req.resources
                    .iter()
                    .map(|a| a.identifier.clone())
                    .collect::<Vec<_>>(),
            ),
            dpop_jkt: req.dpop_jkt.clone(),
        })
        .await?;
    let mut params = vec![("code", code.as_str())];
    if let Some(state) = &req.state {
        params.push(("state", state));
    }
    params.push(("iss", issuer));
    Ok(redirect_with(&req.redirect_uri, &params))
}

/// An error sent back to the client (RFC 6749 §4.1.2.1, with `iss` per RFC 9207).
pub fn error_location(e: &ErrorRedirect, issuer: &str) -> String {
    let mut params = vec![
        ("error", e.error),
        ("error_description", e.description.as_str()),
    ];
    if let Some(state) = &e.state {
        params.push(("state", state));
    }
    params.push(("iss", issuer));
    redirect_with(&e.redirect_uri, &params)
}

/// Adds query parameters to a redirect URI, keeping its own query (RFC 6749 §3.1.2).
pub fn redirect_with(uri: &str, params: &[(&str, &str)]) -> String {
    match url::Url::parse(uri) {
        Ok(mut url) => {
            url.query_pairs_mut().extend_pairs(params);
            url.to_string()
        }
        // Registered URIs always parse; this keeps the function total.
        Err(_) => uri.to_string(),
    }
}
