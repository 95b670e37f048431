//! The PostgreSQL server the tests use: `TESSERA_TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`). `tests/run` starts one when none answers;
//! here we only check, so that a missing server fails loudly instead of skipping a backend.

use std::net::{TcpStream, ToSocketAddrs};
use std::sync::OnceLock;
use std::time::Duration;

pub fn admin_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        let url = std::env::var("TESSERA_TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let parsed = url::Url::parse(&url).expect("TESSERA_TEST_DATABASE_URL is not a URL");
        let host = parsed.host_str().unwrap_or("127.0.0.1").to_string();
        let port = parsed.port().unwrap_or(5432);
        let reachable = (host.as_str(), port)
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .is_some_and(|addr| TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok());
        assert!(
            reachable,
            "PostgreSQL does not answer at {host}:{port} (TESSERA_TEST_DATABASE_URL). \
             Run the tests with `bash tests/run`, which starts it, or start it yourself."
        );
        url
    })
}

/// `admin_url` with another database name.
pub fn url_for(db: &str) -> String {
    let mut url = url::Url::parse(admin_url()).expect("valid admin url");
    url.set_path(&format!("/{db}"));
    url.to_string()
}
