//! Sends the outbox of webhook deliveries (docs/webhooks.md), signed per the Standard Webhooks
//! specification: `webhook-id`, `webhook-timestamp` and `webhook-signature: v1,<base64 of
//! HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`, the key being the secret after `whsec_`,
//! base64-decoded. Every node sends; a claim keeps two from sending the same delivery at once.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use base64::Engine;
use hmac::{Hmac, Mac};
use vetrina_store::webhooks::Delivery;
use vetrina_store::{Store, now_ms};

/// The `webhook-signature` header for a message.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &str) -> Option<String> {
    let key = base64::engine::general_purpose::STANDARD.decode(secret.strip_prefix("whsec_").unwrap_or(secret)).ok()?;
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key).ok()?;
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    Some(format!("v1,{}", base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())))
}

/// Makes aws-lc-rs the process's TLS crypto for outgoing HTTPS (webhooks); harmless twice.
pub fn install_tls() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// An address on the public internet: not this machine, not a private or link-local network
/// (cloud metadata at 169.254.169.254 included), not multicast, documentation or reserved.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            !(v4.is_unspecified()
                || v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_multicast()
                || a == 0
                || (a == 100 && (64..128).contains(&b)) // shared address space (carrier NAT)
                || (a == 192 && b == 0 && c == 0)
                || (a == 198 && (18..20).contains(&b)) // benchmarking
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_unspecified()
                || v6.is_loopback()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local
                || (first & 0xffc0) == 0xfe80 // link-local
                || (first == 0x2001 && v6.segments()[1] == 0x0db8)) // documentation
        }
    }
}

/// Why a webhook URL may not be called, when its host is an address that is not public (names
/// are checked when they are resolved, by [`PublicOnly`]).
pub fn refuse_private(url: &str) -> Option<String> {
    let host = url.split_once("://")?.1.split(['/', '?', '#']).next()?.rsplit('@').next()?;
    let host = if let Some(v6) = host.strip_prefix('[') { v6.split(']').next()? } else { host.rsplit_once(':').map_or(host, |(h, _)| h) };
    if host.eq_ignore_ascii_case("localhost") || host.to_ascii_lowercase().ends_with(".localhost") {
        return Some(format!("{host} is this machine: webhooks go to public addresses"));
    }
    let ip: IpAddr = host.parse().ok()?;
    (!is_public(ip)).then(|| format!("{ip} is a private or local address: webhooks go to public addresses"))
}

/// Resolves webhook hosts to their public addresses only, so a name pointing into a private
/// network (or rebinding to one) is never called.
struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        Box::pin(async move {
            let host = name.as_str().to_string();
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = found.into_iter().filter(|a| is_public(a.ip())).collect();
            if public.is_empty() {
                return Err(format!("{host} resolves to no public address: webhooks go to public addresses").into());
            }
            Ok(Box::new(public.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Sends due deliveries every second, until `stop`. Unless
/// `private_networks`, only public addresses are called.
pub async fn send_forever(store: Store, private_networks: bool, stop: tokio_util::sync::CancellationToken) {
    install_tls();
    let mut builder = reqwest::Client::builder().timeout(Duration::from_secs(15)).redirect(reqwest::redirect::Policy::none());
    if !private_networks {
        builder = builder.dns_resolver(std::sync::Arc::new(PublicOnly));
    }
    let http = match builder.build() {
        Ok(http) => http,
        Err(e) => {
            tracing::error!(error = %e, "cannot make the webhook client: webhooks are not sent");
            return;
        }
    };
    let mut every = tokio::time::interval(Duration::from_secs(1));
    loop {
        // Stop between rounds, never in the middle of one: a statement dropped half-way would
        // leave the database working on it after the pool has closed.
        tokio::select! {
            () = stop.cancelled() => return,
            _ = every.tick() => {}
        }
        let due = match store.claim_deliveries(now_ms(), 50).await {
            Ok(due) => due,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the webhook outbox (will try again)");
                continue;
            }
        };
        let sends = due.into_iter().map(|d| deliver(&store, &http, d, private_networks));
        futures_util::future::join_all(sends).await;
    }
}

async fn deliver(store: &Store, http: &reqwest::Client, d: Delivery, private_networks: bool) {
    if !private_networks && let Some(refused) = refuse_private(&d.url) {
        let _ = store.record_attempt(&d.id, None, &refused, false, now_ms()).await;
        return;
    }
    let timestamp = now_ms() / 1000;
    let Some(signature) = sign(&d.secret, &d.id, timestamp, &d.payload) else {
        let _ = store.record_attempt(&d.id, None, "the webhook's secret is not whsec_ and base64", false, now_ms()).await;
        return;
    };
    let sent = http
        .post(&d.url)
        .header("content-type", "application/json")
        .header("user-agent", "Vetrina-Webhooks/1")
        .header("webhook-id", &d.id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(d.payload.clone())
        .send()
        .await;
    let (status, error, ok) = match sent {
        Ok(r) => (
            Some(i64::from(r.status().as_u16())),
            if r.status().is_success() { String::new() } else { format!("HTTP {}", r.status()) },
            r.status().is_success(),
        ),
        Err(e) => (None, e.to_string(), false),
    };
    if let Err(e) = store.record_attempt(&d.id, status, &error, ok, now_ms()).await {
        tracing::warn!(delivery = %d.id, error = %e, "cannot record a webhook attempt");
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn signatures_follow_the_specification() {
        // The Standard Webhooks reference libraries' test message.
        let signature =
            super::sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, r#"{"test": 2432232314}"#);
        assert_eq!(signature.as_deref(), Some("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="));
        assert_eq!(super::sign("whsec_!!!", "m", 1, "{}"), None);
    }

    #[test]
    fn only_public_addresses() {
        use super::{is_public, refuse_private};
        for ip in ["8.8.8.8", "1.1.1.1", "2a00:1450:4001::1", "151.101.1.1"] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fc00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "224.0.0.1",
            "255.255.255.255",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        assert!(refuse_private("http://127.0.0.1:8080/hook").is_some());
        assert!(refuse_private("https://[::1]/hook").is_some());
        assert!(refuse_private("http://user@169.254.169.254/latest/meta-data").is_some());
        assert!(refuse_private("http://localhost:3000/x").is_some());
        assert!(refuse_private("https://hooks.example.com/vetrina").is_none(), "names are checked when resolved");
        assert!(refuse_private("https://93.184.216.34/hook").is_none());
    }
}
