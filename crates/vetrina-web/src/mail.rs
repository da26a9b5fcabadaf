//! Email to buyers over SMTP (lettre): the order confirmation. Sent beside the request (a
//! checkout never waits for the mail server), tried three times, failures logged.

use std::time::Duration;

use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use vetrina_domain::money::Currency;
use vetrina_store::orders::Order;

/// Where mail goes out, when configured.
#[derive(Clone)]
pub struct Mailer {
    transport: Option<AsyncSmtpTransport<Tokio1Executor>>,
    from: Option<Mailbox>,
}

impl Mailer {
    /// No mail: confirmations are only on the page.
    pub fn off() -> Mailer {
        Mailer { transport: None, from: None }
    }

    /// `url`: `smtp://host:25`, `smtp://user:pass@host:587?tls=required` or `smtps://host:465`;
    /// `from`: `Shop <shop@example.com>`.
    pub fn new(url: &str, from: &str) -> anyhow::Result<Mailer> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| anyhow::anyhow!("smtp.url is not an SMTP URL such as smtp://host:587?tls=required: {e}"))?
            .timeout(Some(Duration::from_secs(20)))
            .build();
        let from: Mailbox =
            from.parse().map_err(|e| anyhow::anyhow!("smtp.from {from:?} is not an address such as Shop <shop@example.com>: {e}"))?;
        Ok(Mailer { transport: Some(transport), from: Some(from) })
    }

    /// Sends the buyer their order confirmation, in Italian when they browse in Italian.
    pub fn order_confirmation(&self, order: &Order, shop: &str, italian: bool) {
        let (Some(transport), Some(from)) = (self.transport.clone(), self.from.clone()) else { return };
        let message = match confirmation(order, shop, italian, from) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(order = order.number, error = %e, "cannot write the confirmation email");
                return;
            }
        };
        let number = order.number;
        tokio::spawn(async move {
            for attempt in 1..=3_u64 {
                match transport.send(message.clone()).await {
                    Ok(_) => return,
                    Err(e) => {
                        tracing::warn!(order = number, attempt, error = %e, "cannot send the confirmation email");
                        tokio::time::sleep(Duration::from_secs(attempt * 5)).await;
                    }
                }
            }
        });
    }
}

/// The confirmation: plain text, every line and amount the page showed.
fn confirmation(order: &Order, shop: &str, italian: bool, from: Mailbox) -> anyhow::Result<Message> {
    let to: Mailbox = format!("{} <{}>", order.name.replace(['<', '>', '"', '\r', '\n'], ""), order.email).parse()?;
    let money = |minor: i64| {
        Currency::parse(&order.currency).map(|c| format!("{} {}", c.format_amount(minor), c.code())).unwrap_or_else(|_| minor.to_string())
    };
    let (subject, hello, lines_head, shipping, tax, total, pay) = if italian {
        (
            format!("Ordine n. {} — {shop}", order.number),
            format!("Ciao {},\n\ngrazie per l'ordine n. {} da {shop}.", order.name, order.number),
            "Articoli:",
            "Spedizione",
            "IVA",
            "Totale",
            "Il negozio ti scriverà per il pagamento.",
        )
    } else {
        (
            format!("Order #{} — {shop}", order.number),
            format!("Hello {},\n\nthank you for order #{} from {shop}.", order.name, order.number),
            "Items:",
            "Shipping",
            "Tax",
            "Total",
            "The shop will write to you about payment.",
        )
    };
    let mut body = format!("{hello}\n\n{lines_head}\n");
    for l in &order.lines {
        let options = if l.options.is_empty() { String::new() } else { format!(" ({})", l.options.join(" / ")) };
        body.push_str(&format!("  {} x {}{} — {}\n", l.quantity, l.title, options, money(l.unit_price_minor * l.quantity)));
    }
    if let Some(code) = order.discount_code.as_deref().filter(|_| order.totals.discount_minor > 0) {
        body.push_str(&format!("\n{code}: -{}", money(order.totals.discount_minor)));
    }
    body.push_str(&format!(
        "\n{shipping}: {}\n{tax}: {}\n{total}: {}\n\n",
        money(order.totals.shipping_minor),
        money(order.totals.tax_minor),
        money(order.totals.total_minor)
    ));
    let a = &order.address;
    body.push_str(&format!(
        "{}\n{}{}\n{} {} {}\n{}\n\n",
        order.name,
        a.line1,
        if a.line2.is_empty() { String::new() } else { format!("\n{}", a.line2) },
        a.postal_code,
        a.city,
        a.region,
        a.country
    ));
    match order.handoff_urls.first() {
        Some(url) => body.push_str(&format!("{url}\n")),
        None => body.push_str(&format!("{pay}\n")),
    }
    Ok(Message::builder().from(from).to(to).subject(subject).body(body)?)
}
