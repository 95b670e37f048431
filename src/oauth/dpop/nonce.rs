//! Server-provided nonces (RFC 9449 §8), derived without storage: the nonce of a time window
//! is an HMAC of the window's number under a secret every node shares (a row in the store,
//! written by the first node to start). Any node accepts any node's nonce, and a nonce stays
//! good for the rest of its window and the whole next one, so a client that fetched one just
//! before the window turned is not sent back.

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::clock::UnixTime;

pub struct Nonces {
    key: hmac::Key,
    /// Length of a window in seconds (at least 1).
    window: i64,
}

impl std::fmt::Debug for Nonces {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Nonces")
            .field("window", &self.window)
            .finish_non_exhaustive()
    }
}

impl Nonces {
    pub fn new(secret: &[u8], window: std::time::Duration) -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
            window: i64::try_from(window.as_secs()).unwrap_or(i64::MAX).max(1),
        }
    }

    fn of_window(&self, index: i64) -> String {
        let tag = hmac::sign(&self.key, &index.to_be_bytes());
        // 128 bits: unguessable, and short in a header.
        URL_SAFE_NO_PAD.encode(&tag.as_ref()[..16])
    }

    /// The nonce to hand out at `now` (`DPoP-Nonce`).
    pub fn current(&self, now: UnixTime) -> String {
        self.of_window(now.div_euclid(self.window))
    }

    /// Whether `nonce` is the current window's, the previous one's, or the next one's (handed
    /// out by a node whose clock is a little ahead of ours).
    pub fn accepts(&self, nonce: &str, now: UnixTime) -> bool {
        let index = now.div_euclid(self.window);
        [index, index - 1, index + 1]
            .into_iter()
            .any(|i| crate::tokens::opaque::ct_eq(nonce, &self.of_window(i)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_nonce_is_good_for_its_window_and_the_next_and_on_every_node() {
        let a = Nonces::new(b"shared", Duration::from_secs(60));
        let b = Nonces::new(b"shared", Duration::from_secs(60));
        let n = a.current(1_000);
        assert!(b.accepts(&n, 1_000));
        assert!(b.accepts(&n, 1_000 + 60));
        assert!(!b.accepts(&n, 1_000 + 130));
        // A node whose clock is ahead handed out the next window's nonce.
        assert!(b.accepts(&a.current(1_000 + 60), 1_000));
        assert!(!b.accepts(&a.current(1_000 + 130), 1_000));
        assert!(!Nonces::new(b"other", Duration::from_secs(60)).accepts(&n, 1_000));
    }
}
