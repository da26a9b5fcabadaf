//! Sends the outbox of webhook deliveries (docs/webhooks.md), signed per the Standard Webhooks
//! specification: `webhook-id`, `webhook-timestamp` and `webhook-signature: v1,<base64 of
//! HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`, the key being the secret after `whsec_`,
//! base64-decoded. Every node sends; a claim keeps two from sending the same delivery at once.

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

/// Sends due deliveries every second, for as long as the process runs.
pub async fn send_forever(store: Store) {
    install_tls();
    let http = match reqwest::Client::builder().timeout(Duration::from_secs(15)).redirect(reqwest::redirect::Policy::none()).build() {
        Ok(http) => http,
        Err(e) => {
            tracing::error!(error = %e, "cannot make the webhook client: webhooks are not sent");
            return;
        }
    };
    let mut every = tokio::time::interval(Duration::from_secs(1));
    loop {
        every.tick().await;
        let due = match store.claim_deliveries(now_ms(), 50).await {
            Ok(due) => due,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the webhook outbox (will try again)");
                continue;
            }
        };
        let sends = due.into_iter().map(|d| deliver(&store, &http, d));
        futures_util::future::join_all(sends).await;
    }
}

async fn deliver(store: &Store, http: &reqwest::Client, d: Delivery) {
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
}
