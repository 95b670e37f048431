//! What checking one DPoP proof (RFC 9449 §4.3, `oauth::dpop::proof::verify`: parsing, the
//! key's thumbprint, the signature) costs in CPU, without HTTP or the replay store, beside the
//! bare signature verification by aws-lc-rs of the same proofs. Reads proofs from stdin, as
//! `bench/dpop_proofs.rs` writes them; each is checked once, as the server does. CPU time is
//! this thread's (`/proc/thread-self/schedstat`), so other load on the machine barely moves it.
//!
//!     dpop_proofs ES256 http://127.0.0.1:1/token 1000 20000 | dpop_verify http://127.0.0.1:1/token 1000
use std::io::BufRead;

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, ED25519, UnparsedPublicKey};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use tessera::oauth::dpop::{Expected, Window, proof};

/// Nanoseconds this thread has run on a CPU.
fn thread_cpu_ns() -> Result<u64, Box<dyn std::error::Error>> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat")?;
    Ok(stat.split_whitespace().next().ok_or("schedstat")?.parse()?)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, htu, now] = args.as_slice() else {
        return Err("usage: dpop_verify <htu> <now> < proofs".into());
    };
    let htu = url::Url::parse(htu)?;
    let now: i64 = now.parse()?;
    let proofs: Vec<String> = std::io::stdin().lock().lines().collect::<Result<_, _>>()?;
    let first = proofs.first().ok_or("no proofs on stdin")?;
    let expected = Expected {
        htm: "POST",
        htu: &htu,
        access_token: None,
    };
    let window = Window {
        lifetime: 60,
        skew: 5,
    };

    let t0 = thread_cpu_ns()?;
    for p in &proofs {
        proof::verify(p, &expected, window, now).map_err(|e| e.0.to_string())?;
    }
    let full = (thread_cpu_ns()? - t0) as f64 / proofs.len() as f64 / 1000.0;

    // The signature alone: the same signing inputs, the key decoded once.
    let header: serde_json::Value =
        serde_json::from_slice(&B64.decode(first.split('.').next().unwrap_or_default())?)?;
    let alg = header["alg"].as_str().unwrap_or_default().to_string();
    let jwk = &header["jwk"];
    let part = |m: &str| -> Result<Vec<u8>, Box<dyn std::error::Error>> {
        Ok(B64.decode(jwk[m].as_str().ok_or("jwk member")?)?)
    };
    let key: UnparsedPublicKey<Vec<u8>> = match alg.as_str() {
        "ES256" => {
            let mut point = vec![4u8];
            point.extend(part("x")?);
            point.extend(part("y")?);
            UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point)
        }
        "EdDSA" => UnparsedPublicKey::new(&ED25519, part("x")?),
        other => return Err(format!("unsupported alg {other}").into()),
    };
    let split: Vec<(&str, Vec<u8>)> = proofs
        .iter()
        .map(|p| {
            let (input, sig) = p.rsplit_once('.').unwrap_or_default();
            (input, B64.decode(sig).unwrap_or_default())
        })
        .collect();
    let t0 = thread_cpu_ns()?;
    for (input, sig) in &split {
        key.verify(input.as_bytes(), sig)
            .map_err(|_| "a proof's signature does not verify")?;
    }
    let bare = (thread_cpu_ns()? - t0) as f64 / proofs.len() as f64 / 1000.0;

    println!(
        "{alg}: {} proofs; proof::verify {full:.1} µs CPU each; aws-lc-rs signature check alone {bare:.1} µs; the rest {:.1} µs",
        proofs.len(),
        full - bare
    );
    Ok(())
}
