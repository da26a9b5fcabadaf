//! The bus between the rooms of one show on several nodes.
//!
//! A room decides what its own connections ask for, then publishes the resulting
//! [`Event`] and applies it when the bus hands it back, together with the other nodes' events,
//! in one order for everyone; that is how the rooms of a show agree (chat ids, pins, polls,
//! votes, mutes). Two implementations:
//!
//! - **In process** (the default, one node): an event comes straight back to its own room.
//! - **NATS** (`nats_url`): events go through the JetStream stream `VETRINA_ROOMS` (subjects
//!   `vetrina.room.<show>.events`, kept 24 hours), whose one sequence is the order every room
//!   applies; a room that starts late takes up the show's saved room state (see `live`) and
//!   replays the events after it (all of the show's, without one) before it serves anyone. Viewer
//!   counts, which are per node and only matter fresh, go through plain subjects
//!   (`vetrina.presence.<show>`), once a second per node.

use std::time::Duration;

use async_nats::jetstream;
use axum::body::Bytes;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use vetrina_domain::ids::ShowId;
use vetrina_live::Event;

const STREAM: &str = "VETRINA_ROOMS";
/// Events and presence waiting for their room.
const INCOMING: usize = 4096;

/// How the rooms of this node reach the rooms of the same shows on other nodes.
#[derive(Clone, Default)]
pub enum Bus {
    /// One node: events go straight back to their room.
    #[default]
    Local,
    Nats(Box<Nats>),
}

#[derive(Clone)]
pub struct Nats {
    client: async_nats::Client,
    stream: jetstream::stream::Stream,
}

/// What a room hears from the bus.
#[derive(Debug)]
pub enum Incoming {
    /// An event to apply (its own ones included), in the bus's order, with its position on the
    /// bus when the bus is shared (a saved room state records it, to take up the events after).
    Event(Event, Option<u64>),
    /// Every event published before the room joined has been delivered: it may serve.
    CaughtUp,
    /// Another node's viewer count for the show.
    Presence { node: String, viewers: u64 },
}

#[derive(Serialize, Deserialize)]
struct Presence {
    node: String,
    viewers: u64,
}

impl Bus {
    /// Connects to NATS at `url` and makes sure the rooms' stream exists.
    pub async fn nats(url: &str) -> anyhow::Result<Bus> {
        let client = async_nats::ConnectOptions::new()
            .name("vetrina")
            .connection_timeout(Duration::from_secs(5))
            .connect(url)
            .await
            .map_err(|e| anyhow::anyhow!("cannot reach NATS at {url}: {e}"))?;
        let js = jetstream::new(client.clone());
        let stream = js
            .get_or_create_stream(jetstream::stream::Config {
                name: STREAM.into(),
                subjects: vec!["vetrina.room.*.events".into()],
                max_age: Duration::from_secs(24 * 3600),
                storage: jetstream::stream::StorageType::File,
                ..Default::default()
            })
            .await
            .map_err(|e| anyhow::anyhow!("cannot set up the JetStream stream {STREAM} on NATS at {url}: {e}"))?;
        Ok(Bus::Nats(Box::new(Nats { client, stream })))
    }

    /// Joins the bus for one show's room, as the room named `node`; `after` is the position of
    /// the last event the room holds already (from a saved state): the events after it follow.
    pub async fn join(&self, show: &ShowId, node: &str, after: Option<u64>) -> anyhow::Result<ShowLink> {
        let (tx, incoming) = mpsc::channel(INCOMING);
        match self {
            Bus::Local => {
                // Nothing came before.
                let _ = tx.try_send(Incoming::CaughtUp);
                Ok(ShowLink { incoming, out: Out::Local(tx), task: None })
            }
            Bus::Nats(nats) => {
                let events_subject = format!("vetrina.room.{show}.events");
                // A position past the stream's end is from a stream since recreated (its
                // numbers start again): everything in this one came after the saved state.
                let last = nats.stream.clone().info().await.map(|i| i.state.last_sequence).unwrap_or(u64::MAX);
                let after = match after {
                    Some(position) if position > last => {
                        tracing::warn!(show_id = %show, position, last, "the saved room state is from an older stream: taking all of this one's events after it");
                        None
                    }
                    other => other,
                };
                let presence_subject = format!("vetrina.presence.{show}");
                let presence = nats.client.subscribe(presence_subject.clone()).await?;
                let consumer = nats
                    .stream
                    .create_consumer(jetstream::consumer::pull::OrderedConfig {
                        filter_subject: events_subject.clone(),
                        deliver_policy: match after {
                            Some(position) => jetstream::consumer::DeliverPolicy::ByStartSequence { start_sequence: position + 1 },
                            None => jetstream::consumer::DeliverPolicy::All,
                        },
                        ..Default::default()
                    })
                    .await?;
                let mut consumer = consumer;
                let pending = consumer.info().await?.num_pending;
                let messages = consumer.messages().await?;
                let task = tokio::spawn(listen(messages, presence, pending, after, node.to_string(), tx));
                let out = Out::Nats { client: nats.client.clone(), events_subject, presence_subject };
                Ok(ShowLink { incoming, out, task: Some(task) })
            }
        }
    }
}

/// Hands the stream's events and other nodes' presence to the room.
async fn listen(
    mut messages: jetstream::consumer::pull::Ordered,
    mut presence: async_nats::Subscriber,
    mut pending: u64,
    after: Option<u64>,
    node: String,
    room: mpsc::Sender<Incoming>,
) {
    if pending == 0 && room.send(Incoming::CaughtUp).await.is_err() {
        return;
    }
    loop {
        let incoming = tokio::select! {
            message = messages.next() => match message {
                Some(Ok(message)) => {
                    let (left, position) = message.info().map(|i| (i.pending, Some(i.stream_sequence))).unwrap_or((0, None));
                    // An ordered consumer that recreates itself before its first message starts
                    // again from the stream's beginning: what the saved state holds is skipped.
                    let held = matches!((position, after), (Some(p), Some(a)) if p <= a);
                    let event = if held { None } else { match serde_json::from_slice::<Event>(&message.payload) {
                        Ok(event) => Some(Incoming::Event(event, position)),
                        Err(e) => {
                            tracing::warn!(subject = %message.subject, error = %e, "not a room event on the bus; skipped");
                            None
                        }
                    } };
                    if let Some(event) = event
                        && room.send(event).await.is_err()
                    {
                        return;
                    }
                    if pending > 0 && left == 0 {
                        pending = 0;
                        if room.send(Incoming::CaughtUp).await.is_err() {
                            return;
                        }
                    }
                    continue;
                }
                Some(Err(e)) => {
                    // The ordered consumer recreates itself after gaps; this is worth a line.
                    tracing::warn!(error = %e, "the room's JetStream consumer reported an error");
                    continue;
                }
                None => return,
            },
            message = presence.next() => match message {
                Some(message) => match serde_json::from_slice::<Presence>(&message.payload) {
                    Ok(p) if p.node != node => Incoming::Presence { node: p.node, viewers: p.viewers },
                    _ => continue,
                },
                None => return,
            },
        };
        if room.send(incoming).await.is_err() {
            return;
        }
    }
}

/// One room's door to the bus.
pub struct ShowLink {
    incoming: mpsc::Receiver<Incoming>,
    out: Out,
    task: Option<tokio::task::JoinHandle<()>>,
}

enum Out {
    Local(mpsc::Sender<Incoming>),
    Nats { client: async_nats::Client, events_subject: String, presence_subject: String },
}

impl ShowLink {
    /// What the bus has for the room next.
    pub async fn next(&mut self) -> Option<Incoming> {
        self.incoming.recv().await
    }

    /// Sends an event to every room of the show, this one included. `false` when the bus cannot
    /// take it now (the room answers "busy").
    pub async fn publish(&self, event: Event) -> bool {
        match &self.out {
            Out::Local(tx) => tx.try_send(Incoming::Event(event, None)).is_ok(),
            Out::Nats { client, events_subject, .. } => {
                let Ok(payload) = serde_json::to_vec(&event) else { return false };
                client.publish(events_subject.clone(), Bytes::from(payload)).await.is_ok()
            }
        }
    }

    /// Tells the other nodes how many viewers this room has.
    pub async fn announce(&self, node: &str, viewers: u64) {
        if let Out::Nats { client, presence_subject, .. } = &self.out {
            let presence = Presence { node: node.to_string(), viewers };
            if let Ok(payload) = serde_json::to_vec(&presence) {
                let _ = client.publish(presence_subject.clone(), Bytes::from(payload)).await;
            }
        }
    }

    /// Whether other nodes may hold rooms of the same show.
    pub fn is_shared(&self) -> bool {
        matches!(self.out, Out::Nats { .. })
    }
}

impl Drop for ShowLink {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}
