//! Key files encrypted at rest (issue 13): with `keys_passphrase_file` set, encrypted PKCS#8
//! files are read, new keys are written encrypted (readable by OpenSSL with the same
//! passphrase), plain files keep working, and a wrong or missing passphrase stops the start with
//! an error that names the file and never shows the passphrase.

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use tessera::clock::Clock;
use tessera::config::Settings;
use tessera::keys::{Passphrase, SigningAlg};
use tessera::startup::Application;

use crate::dual;
use crate::helpers::{Backend, TestDb, spawn_on};
use crate::key_rotation::{PUBLISH_AHEAD, configure, jwks_kids, kid_of, published_within};

const PASSPHRASE: &str = "correct horse battery staple of keys";

fn passphrase_file(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("passphrase");
    std::fs::write(&path, format!("{text}\n")).expect("write the passphrase");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    path
}

/// The PEM labels of the `*.pem` files in `dir`.
fn labels(dir: &Path) -> Vec<String> {
    let mut labels: Vec<String> = std::fs::read_dir(dir)
        .expect("dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "pem"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("read");
            text.lines().next().unwrap_or_default().to_string()
        })
        .collect();
    labels.sort();
    labels
}

async fn key_files_are_encrypted_at_rest_with_the_passphrase_and_plain_ones_keep_working(
    backend: Backend,
) {
    // A deployment from before: plain key files.
    let keys = tempfile::tempdir().expect("keys");
    tessera::keys::load_or_generate(keys.path(), 1).expect("plain keys");
    let plain = labels(keys.path());
    assert!(
        plain.iter().all(|l| l == "-----BEGIN PRIVATE KEY-----"),
        "{plain:?}"
    );
    let secrets = tempfile::tempdir().expect("secrets");
    let file = passphrase_file(secrets.path(), PASSPHRASE);
    let db = TestDb::new(backend).await;
    let passphrase = file.clone();
    let app = spawn_on(db, keys, move |s| {
        configure(s);
        s.keys_passphrase_file = Some(passphrase);
    })
    .await;
    let service = app.create_service_client("api").await;
    let old = kid_of(&app.access_token(&service).await);

    // A rotation writes the new key encrypted; the node reads it and signs with it.
    let staged = tessera::keys::manage::rotate(
        &app.state.store,
        &app.state.settings,
        SigningAlg::Rs256,
        &app.clock,
    )
    .await
    .expect("rotate");
    let new_file = app.keys_dir.join(&staged.file);
    let text = std::fs::read_to_string(&new_file).expect("the new key");
    assert!(
        text.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"),
        "{}",
        text.lines().next().unwrap_or_default()
    );
    assert!(published_within(&app, &staged.kid, true, Duration::from_secs(10)).await);
    app.clock.advance(PUBLISH_AHEAD + 1);
    assert_eq!(kid_of(&app.access_token(&service).await), staged.kid);
    assert!(
        jwks_kids(&app).await.contains(&old),
        "the plain key still verifies"
    );

    // Standard tools read it with the same passphrase (PBES2, PBKDF2-SHA256, AES-256-CBC).
    let out = Command::new("openssl")
        .args(["pkey", "-noout", "-in"])
        .arg(&new_file)
        .arg("-passin")
        .arg(format!("file:{}", file.display()))
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let wrong = Command::new("openssl")
        .args(["pkey", "-noout", "-in"])
        .arg(&new_file)
        .args(["-passin", "pass:not-the-passphrase"])
        .output()
        .expect("openssl");
    assert!(!wrong.status.success(), "encrypted for real");

    // A plain file converted as the README says keeps its kid and is read with the passphrase.
    let kids = |settings: &Settings| -> Vec<String> {
        let mut files = tessera::keys::manage::KeyFiles::open(settings).expect("passphrase");
        let mut kids: Vec<String> = files
            .scan(true)
            .expect("every file reads")
            .iter()
            .map(|l| l.key.kid().to_string())
            .collect();
        kids.sort();
        kids
    };
    let before = kids(&app.state.settings);
    let plain_file = std::fs::read_dir(&app.keys_dir)
        .expect("dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.extension().is_some_and(|x| x == "pem")
                && std::fs::read_to_string(p)
                    .is_ok_and(|t| t.starts_with("-----BEGIN PRIVATE KEY-----"))
        })
        .expect("a plain file");
    let converted = app.keys_dir.join("converted.tmp");
    let out = Command::new("openssl")
        .args([
            "pkcs8",
            "-topk8",
            "-v2",
            "aes-256-cbc",
            "-v2prf",
            "hmacWithSHA256",
            "-in",
        ])
        .arg(&plain_file)
        .arg("-out")
        .arg(&converted)
        .arg("-passout")
        .arg(format!("file:{}", file.display()))
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::set_permissions(
        &converted,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .expect("chmod");
    std::fs::rename(&converted, &plain_file).expect("move over");
    assert_eq!(kids(&app.state.settings), before);

    // A new deployment with the setting: every key it makes is encrypted.
    let fresh = tempfile::tempdir().expect("keys");
    let db = TestDb::new(backend).await;
    let app = spawn_on(db, fresh, move |s| {
        configure(s);
        s.keys_passphrase_file = Some(file);
    })
    .await;
    let made = labels(&app.keys_dir);
    assert_eq!(made.len(), 3);
    assert!(
        made.iter()
            .all(|l| l == "-----BEGIN ENCRYPTED PRIVATE KEY-----"),
        "{made:?}"
    );
    let service = app.create_service_client("api").await;
    assert_eq!(app.access_token(&service).await.split('.').count(), 3);
}

/// The start's error, as `tessera serve` prints it.
async fn start_error(db: &TestDb, keys: &Path, passphrase: Option<PathBuf>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let settings = Settings {
        issuer: format!("http://127.0.0.1:{port}"),
        bind: format!("127.0.0.1:{port}"),
        keys_dir: keys.to_path_buf(),
        keys_passphrase_file: passphrase,
        database_url: Some(db.url.clone()),
        database_max_connections: Some(2),
        ..Settings::default()
    };
    match Application::build_with_listener(settings, Clock::system(), listener).await {
        Ok(_) => panic!("the node started"),
        Err(e) => e.to_string(),
    }
}

async fn a_wrong_or_missing_passphrase_stops_the_start_naming_the_file_not_the_passphrase(
    backend: Backend,
) {
    let keys = tempfile::tempdir().expect("keys");
    let secrets = tempfile::tempdir().expect("secrets");
    let good = passphrase_file(secrets.path(), PASSPHRASE);
    let key = tessera::keys::generate_with(
        keys.path(),
        SigningAlg::Rs256,
        1,
        Some(&Passphrase::read(&good).expect("passphrase")),
    )
    .expect("an encrypted key");
    let db = TestDb::new(backend).await;

    let wrong_dir = tempfile::tempdir().expect("secrets");
    let wrong = passphrase_file(wrong_dir.path(), "guess-1234");
    let err = start_error(&db, keys.path(), Some(wrong.clone())).await;
    assert!(err.contains(&key.display().to_string()), "{err}");
    assert!(err.contains(&wrong.display().to_string()), "{err}");
    assert!(err.contains("cannot decrypt"), "{err}");
    assert!(
        !err.contains("guess-1234") && !err.contains(PASSPHRASE),
        "{err}"
    );

    let err = start_error(&db, keys.path(), None).await;
    assert!(
        err.contains(&key.display().to_string()) && err.contains("TESSERA_KEYS_PASSPHRASE_FILE"),
        "{err}"
    );

    let missing = secrets.path().join("nope");
    let err = start_error(&db, keys.path(), Some(missing.clone())).await;
    assert!(err.contains(&missing.display().to_string()), "{err}");

    let empty = passphrase_file(wrong_dir.path(), "");
    let err = start_error(&db, keys.path(), Some(empty)).await;
    assert!(err.contains("is empty"), "{err}");
}

/// A key file that names the costly key derivation an attacker (or a corruption) chose: the
/// encrypted bytes are never reached, as the parameters are refused first.
fn crafted(dir: &Path, name: &str, params: pkcs8::pkcs5::pbes2::Parameters<'_>) -> PathBuf {
    use pkcs8::der::Encode;
    let garbage = [0u8; 64];
    let info = pkcs8::EncryptedPrivateKeyInfo {
        encryption_algorithm: pkcs8::pkcs5::EncryptionScheme::Pbes2(params),
        encrypted_data: &garbage,
    };
    let der = info.to_der().expect("der");
    let path = dir.join(name);
    let text = pem::encode(&pem::Pem::new("ENCRYPTED PRIVATE KEY", der));
    std::fs::write(&path, text).expect("write");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    path
}

/// Review 3, finding 7: decryption followed the file's KDF parameters, so one planted key
/// file asking for 100,000,000 PBKDF2 iterations (a minute of CPU at every scan) or a gigabyte of
/// scrypt memory stalled or killed the node. Both are refused at once with an error naming the
/// file. Finding 10b: a passphrase file readable by group or others is refused too.
async fn a_key_file_asking_for_a_costly_key_derivation_or_a_loose_passphrase_file_is_refused(
    backend: Backend,
) {
    use pkcs8::pkcs5::pbes2;
    let secrets = tempfile::tempdir().expect("secrets");
    let good = passphrase_file(secrets.path(), PASSPHRASE);
    let salt = [7u8; 16];
    let iv = [9u8; 16];
    let db = TestDb::new(backend).await;

    let keys = tempfile::tempdir().expect("keys");
    let costly = crafted(
        keys.path(),
        "000000000001-rs256.pem",
        pbes2::Parameters::pbkdf2_sha256_aes256cbc(100_000_000, &salt, &iv).expect("params"),
    );
    let start = std::time::Instant::now();
    let err = start_error(&db, keys.path(), Some(good.clone())).await;
    assert!(start.elapsed() < Duration::from_secs(10), "it tried");
    assert!(err.contains(&costly.display().to_string()), "{err}");
    assert!(err.contains("iteration count"), "{err}");

    let keys = tempfile::tempdir().expect("keys");
    let scrypt = pkcs8::pkcs5::scrypt::Params::new(30, 8, 1, 32).expect("scrypt params");
    let costly = crafted(
        keys.path(),
        "000000000001-rs256.pem",
        pbes2::Parameters::scrypt_aes256cbc(scrypt, &salt, &iv).expect("params"),
    );
    let err = start_error(&db, keys.path(), Some(good.clone())).await;
    assert!(err.contains(&costly.display().to_string()), "{err}");
    assert!(err.contains("scrypt"), "{err}");

    let keys = tempfile::tempdir().expect("keys");
    std::fs::set_permissions(&good, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    let err = start_error(&db, keys.path(), Some(good.clone())).await;
    assert!(
        err.contains(&good.display().to_string()) && err.contains("chmod 600"),
        "{err}"
    );
    assert!(!err.contains(PASSPHRASE), "{err}");
}

dual!(
    a_key_file_asking_for_a_costly_key_derivation_or_a_loose_passphrase_file_is_refused,
    key_files_are_encrypted_at_rest_with_the_passphrase_and_plain_ones_keep_working,
    a_wrong_or_missing_passphrase_stops_the_start_naming_the_file_not_the_passphrase
);
