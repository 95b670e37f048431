//! `spawn_app`: the real server, in-process, on a random port, against a fresh database.

use std::net::TcpListener;
use std::path::PathBuf;

use sqlx::Connection;
use tessera::clock::Clock;
use tessera::config::Settings;
use tessera::oauth::client::RegistrationInput;
use tessera::startup::{AppState, Application};

use crate::pg;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// Runs one async test body once per backend: `dual!(name)` makes `name::postgres` and
/// `name::sqlite` from `async fn name(backend: Backend)`.
#[macro_export]
macro_rules! dual {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::helpers::Backend::Postgres).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::helpers::Backend::Sqlite).await
            }
        }
    )+};
}

/// A fresh database: a uniquely named PostgreSQL database (dropped when this is dropped) or an
/// SQLite file in a temporary directory.
pub struct TestDb {
    pub url: String,
    pg_name: Option<String>,
    _dir: tempfile::TempDir,
}

impl TestDb {
    pub async fn new(backend: Backend) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        match backend {
            Backend::Postgres => {
                let name = format!("tessera_test_{}", uuid::Uuid::new_v4().simple());
                let mut conn = sqlx::PgConnection::connect(pg::admin_url())
                    .await
                    .expect("connect to the test PostgreSQL server");
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!(r#"CREATE DATABASE "{name}""#)))
                    .execute(&mut conn)
                    .await
                    .expect("create test database");
                Self {
                    url: pg::url_for(&name),
                    pg_name: Some(name),
                    _dir: dir,
                }
            }
            Backend::Sqlite => Self {
                url: format!("sqlite://{}", dir.path().join("tessera.db").display()),
                pg_name: None,
                _dir: dir,
            },
        }
    }
}

impl TestDb {
    /// The same database, not owned: dropping it leaves the database alone (second nodes).
    pub fn shared(&self) -> Self {
        Self {
            url: self.url.clone(),
            pg_name: None,
            _dir: tempfile::tempdir().expect("temp dir"),
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(name) = self.pg_name.take() else {
            return;
        };
        // Drop runs outside async context; a small runtime on its own thread does the work.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                if let Ok(mut conn) = sqlx::PgConnection::connect(pg::admin_url()).await {
                    let sql = format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#);
                    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                        .execute(&mut conn)
                        .await;
                }
            });
        })
        .join();
    }
}

#[allow(dead_code, reason = "not every test uses every field")]
pub struct TestApp {
    pub address: String,
    pub port: u16,
    /// Cookie jar on, redirects off: tests look at every redirect.
    pub client: reqwest::Client,
    pub clock: Clock,
    pub state: actix_web::web::Data<AppState>,
    pub keys_dir: PathBuf,
    handle: actix_web::dev::ServerHandle,
    _keys: tempfile::TempDir,
    pub db: TestDb,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request failed")
    }

    /// Registers a client through the library (as `tessera client add` does).
    pub async fn create_client(&self, input: RegistrationInput) -> TestClient {
        let registered = tessera::admin::clients::add(&self.state.store, input, self.clock.now())
            .await
            .expect("register the client");
        TestClient {
            id: registered.client.id.to_string(),
            secret: registered.secret,
        }
    }

    /// A confidential client allowed the client_credentials grant and `scope`.
    pub async fn create_service_client(&self, scope: &str) -> TestClient {
        self.create_client(service_client(scope)).await
    }

    /// A confidential client registered as a resource server: it may introspect any token and
    /// pull `/revocations`. It can also get tokens (client_credentials, `api.read`).
    pub async fn create_resource_server_client(&self) -> TestClient {
        self.create_client(RegistrationInput {
            name: "An API".into(),
            resource_server: true,
            ..service_client("api.read")
        })
        .await
    }

    /// `POST /token` with a form body and no Authorization header.
    pub async fn post_token(&self, form: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .post(self.url("/token"))
            .form(form)
            .send()
            .await
            .expect("request failed")
    }

    /// `POST /token` authenticating with HTTP Basic (client_secret_basic).
    pub async fn post_token_basic(
        &self,
        id: &str,
        secret: &str,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        self.client
            .post(self.url("/token"))
            .basic_auth(id, Some(secret))
            .form(form)
            .send()
            .await
            .expect("request failed")
    }

    /// Stops the server (in-flight requests finish) and keeps the database and keys.
    pub async fn stop(self) -> (TestDb, tempfile::TempDir) {
        self.handle.stop(true).await;
        (self.db, self._keys)
    }
}

/// A registered client; `secret` only for confidential clients.
#[derive(Debug, Clone)]
pub struct TestClient {
    pub id: String,
    pub secret: Option<String>,
}

impl TestClient {
    pub fn secret(&self) -> &str {
        self.secret.as_deref().expect("a confidential client")
    }
}

/// Registration input for a confidential client with only the client_credentials grant.
pub fn service_client(scope: &str) -> RegistrationInput {
    RegistrationInput {
        name: "Service".into(),
        client_type: "confidential".into(),
        grant_types: vec!["client_credentials".into()],
        scope: Some(scope.into()),
        ..RegistrationInput::default()
    }
}

/// Registration input for a client of the given type with the default (code + refresh) grants.
pub fn code_flow_client(client_type: &str) -> RegistrationInput {
    RegistrationInput {
        name: format!("A {client_type} app"),
        client_type: client_type.into(),
        redirect_uris: vec!["https://app.example.com/cb".into()],
        ..RegistrationInput::default()
    }
}

pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("http client")
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

pub async fn spawn_app_with(backend: Backend, configure: impl FnOnce(&mut Settings)) -> TestApp {
    let db = TestDb::new(backend).await;
    let keys = tempfile::tempdir().expect("temp dir");
    spawn_on(db, keys, configure).await
}

/// Starts a server on an existing database and keys directory (restart tests, second nodes).
pub async fn spawn_on(
    db: TestDb,
    keys: tempfile::TempDir,
    configure: impl FnOnce(&mut Settings),
) -> TestApp {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let mut settings = Settings {
        issuer: format!("http://127.0.0.1:{port}"),
        bind: format!("127.0.0.1:{port}"),
        keys_dir: keys.path().to_path_buf(),
        database_url: Some(db.url.clone()),
        database_max_connections: Some(5),
        // Fast hashing keeps the suite quick; one test checks the production parameters.
        argon2_memory_kib: 1024,
        argon2_iterations: 1,
        ..Settings::default()
    };
    configure(&mut settings);
    let clock = Clock::system();
    let app = Application::build_with_listener(settings, clock.clone(), listener)
        .await
        .expect("the application starts");
    let state = app.state();
    let handle = app.handle();
    tokio::spawn(app.run_until_stopped());
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        client: http_client(),
        clock,
        state,
        keys_dir: keys.path().to_path_buf(),
        handle,
        _keys: keys,
        db,
    }
}

pub const PASSWORD: &str = "correct horse battery staple";

/// The value of `<input name="csrf" value="…">` in a page.
pub fn csrf_in(html: &str) -> String {
    let marker = r#"name="csrf" value=""#;
    let start = html.find(marker).expect("the page has a CSRF field") + marker.len();
    html[start..]
        .split('"')
        .next()
        .expect("closing quote")
        .to_string()
}

/// The `name=value` of a `Set-Cookie` for `name`, with its attributes.
pub fn set_cookie<'a>(res: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    res.headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
}

impl TestApp {
    pub async fn create_user(&self, name: &str, password: &str) -> tessera::accounts::User {
        tessera::accounts::manage::create_user(
            &self.state.store,
            &self.state.hasher,
            tessera::accounts::manage::NewAccount {
                username: name.into(),
                email: Some(format!("{name}@example.com")),
                display_name: Some(format!("{name} Example")),
                roles: vec![],
                password: secrecy::SecretString::from(password.to_string()),
            },
            self.clock.now(),
        )
        .await
        .expect("create user")
    }

    /// GET /login with `client` and return the CSRF token of the form.
    pub async fn login_csrf(&self, client: &reqwest::Client) -> String {
        let res = client
            .get(self.url("/login"))
            .send()
            .await
            .expect("GET /login");
        assert_eq!(res.status(), 200);
        csrf_in(&res.text().await.expect("body"))
    }

    pub async fn post_login_with(
        &self,
        client: &reqwest::Client,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        client
            .post(self.url("/login"))
            .form(form)
            .send()
            .await
            .expect("POST /login")
    }

    /// Fetches the form, then signs in; returns the response to the POST.
    pub async fn login_as(
        &self,
        client: &reqwest::Client,
        username: &str,
        password: &str,
    ) -> reqwest::Response {
        let csrf = self.login_csrf(client).await;
        self.post_login_with(
            client,
            &[
                ("username", username),
                ("password", password),
                ("csrf", &csrf),
            ],
        )
        .await
    }

    /// The account page's CSRF token for a signed-in client.
    pub async fn account_csrf(&self, client: &reqwest::Client) -> String {
        let res = client
            .get(self.url("/account"))
            .send()
            .await
            .expect("GET /account");
        assert_eq!(res.status(), 200, "signed in");
        csrf_in(&res.text().await.expect("body"))
    }
}

/// The `name`/`value` pairs of the hidden inputs of a page (askama escapes them).
pub fn hidden_inputs(html: &str) -> Vec<(String, String)> {
    let unescape = |s: &str| {
        let mut out = String::new();
        let mut rest = s;
        while let Some(i) = rest.find('&') {
            out.push_str(&rest[..i]);
            let tail = &rest[i..];
            let end = tail.find(';').unwrap_or(0);
            let entity = &tail[1..end.max(1)];
            let decoded = match entity {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                e if e.starts_with("#x") => u32::from_str_radix(&e[2..], 16)
                    .ok()
                    .and_then(char::from_u32),
                e if e.starts_with('#') => e[1..].parse().ok().and_then(char::from_u32),
                _ => None,
            };
            match decoded {
                Some(c) if end > 0 => {
                    out.push(c);
                    rest = &tail[end + 1..];
                }
                _ => {
                    out.push('&');
                    rest = &tail[1..];
                }
            }
        }
        out.push_str(rest);
        out
    };
    html.split(r#"<input type="hidden" name=""#)
        .skip(1)
        .filter_map(|rest| {
            let (name, rest) = rest.split_once('"')?;
            let value = rest.split_once(r#"value=""#)?.1.split_once('"')?.0;
            Some((unescape(name), unescape(value)))
        })
        .collect()
}

pub fn location(res: &reqwest::Response) -> String {
    res.headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// What a user does in the browser for an authorization request.
#[derive(Clone, Copy)]
pub struct Browser<'a> {
    pub username: &'a str,
    pub password: &'a str,
    /// `Some("allow")` or `Some("deny")` on a consent page; `None` stops there.
    pub consent: Option<&'a str>,
}

impl TestApp {
    /// Follows an authorization request the way a browser would: redirects within Tessera,
    /// the login form when asked, the consent form when shown. Returns the last response:
    /// a redirect out of Tessera (to the client), or a page it stopped on.
    pub async fn browse(
        &self,
        client: &reqwest::Client,
        start: &str,
        user: Browser<'_>,
    ) -> reqwest::Response {
        let mut url = start.to_string();
        for _ in 0..10 {
            let res = client.get(&url).send().await.expect("GET");
            let res = if res.status().is_redirection() {
                res
            } else if res.status() == 200 && url.contains("/login") {
                let html = res.text().await.expect("html");
                let mut form = hidden_inputs(&html);
                form.push(("username".into(), user.username.into()));
                form.push(("password".into(), user.password.into()));
                client
                    .post(self.url("/login"))
                    .form(&form)
                    .send()
                    .await
                    .expect("POST /login")
            } else if res.status() == 200 {
                let html = res.text().await.expect("html");
                if !html.contains(r#"action="/consent""#) {
                    panic!("stopped on an unexpected page at {url}: {html}");
                }
                let Some(decision) = user.consent else {
                    panic!("stopped on the consent page");
                };
                let mut form = hidden_inputs(&html);
                form.push(("decision".into(), decision.into()));
                client
                    .post(self.url("/consent"))
                    .form(&form)
                    .send()
                    .await
                    .expect("POST /consent")
            } else {
                return res;
            };
            if !res.status().is_redirection() {
                return res;
            }
            let next = location(&res);
            if next.starts_with('/') {
                url = self.url(&next);
            } else if next.starts_with(&self.address) {
                url = next;
            } else {
                return res;
            }
        }
        panic!("too many redirects from {start}");
    }
}

/// The query parameters of a URL.
pub fn query_of(url: &str) -> std::collections::HashMap<String, String> {
    url::Url::parse(url)
        .expect("absolute url")
        .query_pairs()
        .into_owned()
        .collect()
}

/// Another node of `app`'s deployment: the same database, keys and issuer URL (as behind one
/// load balancer). It owns neither, so `app` must outlive it.
pub async fn spawn_node(app: &TestApp) -> TestApp {
    let issuer = app.address.clone();
    spawn_node_with(app, move |s| s.issuer = issuer).await
}

/// A server on `app`'s database and keys, with its own issuer URL unless `configure` sets one.
pub async fn spawn_node_with(app: &TestApp, configure: impl FnOnce(&mut Settings)) -> TestApp {
    let keys_dir = app.keys_dir.clone();
    let mut node = spawn_on(
        app.db.shared(),
        tempfile::tempdir().expect("temp dir"),
        |s| {
            s.keys_dir = keys_dir;
            configure(s);
        },
    )
    .await;
    node.keys_dir = app.keys_dir.clone();
    node
}

impl TestApp {
    /// A client_credentials access token for `client`, which must be issued.
    pub async fn access_token(&self, client: &TestClient) -> String {
        let res = self
            .post_token_basic(
                &client.id,
                client.secret(),
                &[("grant_type", "client_credentials")],
            )
            .await;
        assert_eq!(res.status(), 200);
        let body: serde_json::Value = res.json().await.expect("json");
        body["access_token"]
            .as_str()
            .expect("access_token")
            .to_string()
    }

    /// A form POST to `path` authenticating with HTTP Basic.
    pub async fn post_form_basic(
        &self,
        path: &str,
        client: &TestClient,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .basic_auth(&client.id, Some(client.secret()))
            .form(form)
            .send()
            .await
            .expect("request failed")
    }

    /// `POST /introspect` as `client`; the answer must be a 200.
    pub async fn introspect(&self, client: &TestClient, token: &str) -> serde_json::Value {
        let res = self
            .post_form_basic("/introspect", client, &[("token", token)])
            .await;
        assert_eq!(res.status(), 200);
        res.json().await.expect("json")
    }

    /// `POST /revoke` as `client`.
    pub async fn revoke(&self, client: &TestClient, token: &str) -> reqwest::Response {
        self.post_form_basic("/revoke", client, &[("token", token)])
            .await
    }
}

/// The claims of a JWT, read without verifying it.
pub fn jwt_claims(token: &str) -> serde_json::Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

impl TestApp {
    /// RFC 6749 §2.3 / §5.2: `path` answers 401 invalid_client to a form POST without client
    /// authentication, and to one with a wrong secret (with `WWW-Authenticate`, Basic was tried).
    pub async fn assert_requires_client_auth(&self, path: &str, client: &TestClient, token: &str) {
        let anonymous = self.client.post(self.url(path)).form(&[("token", token)]);
        let wrong_secret = self
            .client
            .post(self.url(path))
            .basic_auth(&client.id, Some("tcs_wrong"))
            .form(&[("token", token)]);
        for (request, basic) in [(anonymous, false), (wrong_secret, true)] {
            let res = request.send().await.expect("request failed");
            assert_eq!(res.status(), 401, "{path}");
            if basic {
                assert!(res.headers().contains_key("www-authenticate"), "{path}");
            }
            let body: serde_json::Value = res.json().await.expect("a JSON error");
            assert_eq!(body["error"], "invalid_client", "{path}");
        }
    }
}
