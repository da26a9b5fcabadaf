//! The live room over WebSocket: `GET /api/v1/shows/{slug}/live` (protocol in `docs/live.md`).
//!
//! One actor task per show owns its [`Room`] and ticks it every 100 ms; each frame is serialised
//! once and shared by every connection. The room's writers ([`Writers`], a few tasks per room)
//! write each frame straight to their share of the sockets: no task is woken per connection; a
//! connection's own task only writes what its socket did not take at once. The next frame waits
//! until most connections have written the last one out ([`Pace`]): a node that cannot write ten
//! frames a second to all its viewers makes fewer, fuller frames instead of a queue of old ones.
//! A connection with 64 frames waiting gets a fresh snapshot instead of the backlog, so no client
//! can make the server hold more for it. Rooms with nobody in them for a minute stop.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use vetrina_domain::account::Action;
use vetrina_domain::ids::ShowId;
use vetrina_live::room::{ChatLine, Snapshot, TimelineEvent};
use vetrina_live::{Change, ClientMessage, Conn, Member, Pace, Refusal, Role, Room, RoomConfig};
use vetrina_store::{Store, now_ms};

use crate::AppState;
use crate::auth::{Caller, ClientIp, GuestViewer};
use crate::budget::Budget;
use crate::bus::{Bus, Incoming};
use crate::error::{ApiError, ApiResult, Path, Query};
use crate::websocket::{
    Broadcast, Ended, Event, GOING_AWAY, OP_PONG, Offered, Outbox, POLICY_VIOLATION, Received, Refused, Socket, Upgrade,
};

const TICK: Duration = Duration::from_millis(100);
/// How often a frame held back for the last one's delivery looks again.
const PACE_CHECK: Duration = Duration::from_millis(5);
/// The longest a frame waits for most connections to have written the last one.
const PACE_WAIT_AT_MOST: Duration = Duration::from_secs(1);
/// Frames a connection may have waiting before it is dropped behind (and gets a snapshot).
const FRAMES_QUEUED: usize = 64;
/// Sockets a room's writer writes to before it lets other tasks run.
const WRITES_BETWEEN_YIELDS: usize = 64;
const IDLE_STOP: Duration = Duration::from_secs(60);
/// The longest message a client may send (a chat line is at most a few hundred bytes).
const MAX_MESSAGE: usize = 16 * 1024;

enum Command {
    Join {
        conn: Conn,
        member: Member,
        since: Option<u64>,
        room: Option<String>,
        outbox: Outbox,
        reply: oneshot::Sender<Joined>,
    },
    Leave {
        conn: Conn,
    },
    Message {
        conn: Conn,
        message: ClientMessage,
        reply: oneshot::Sender<Result<Option<ChatLine>, Refusal>>,
    },
    /// A connection fell behind: a fresh snapshot, and its frames from there.
    Snapshot {
        conn: Conn,
        outbox: Outbox,
        reply: oneshot::Sender<Snapshot>,
    },
    /// The node stops: save and close; `done` once the state is with the writer.
    Close {
        done: oneshot::Sender<()>,
    },
}

/// What a joining connection is sent first: the frames it missed, or a snapshot.
enum Joined {
    Missed(Vec<Arc<str>>),
    Snapshot(Box<Snapshot>),
}

#[derive(Clone)]
struct RoomHandle {
    commands: mpsc::Sender<Command>,
    /// Which of the show's rooms on this node (one stops, the next starts).
    id: u64,
}

/// What a room tells its writers.
enum ToWriter {
    Add(Conn, Outbox),
    Remove(Conn),
    Frame(Broadcast),
}

/// A room's writers: each writes the room's frames to its share of the connections, straight to
/// their sockets, one socket after another. When the room stops (its writers dropped), every
/// connection is told once its frames are out.
struct Writers {
    shards: Vec<mpsc::UnboundedSender<ToWriter>>,
}

impl Writers {
    /// Two writers a core: a big room's frames go out on every core, and a writer that took a
    /// core for a while leaves the others' share to the other writers.
    fn start() -> Writers {
        let n = std::thread::available_parallelism().map_or(2, |n| n.get()) * 2;
        let shards = (0..n)
            .map(|_| {
                let (tx, rx) = mpsc::unbounded_channel();
                // A writer yields on its own (`WRITES_BETWEEN_YIELDS`): the runtime's budget would
                // have its sockets answer "not now" when they are ready.
                tokio::spawn(tokio::task::unconstrained(write_frames(rx)));
                tx
            })
            .collect();
        Writers { shards }
    }

    fn shard(&self, conn: Conn) -> &mpsc::UnboundedSender<ToWriter> {
        &self.shards[(conn % self.shards.len() as u64) as usize]
    }

    fn add(&self, conn: Conn, outbox: Outbox) {
        let _ = self.shard(conn).send(ToWriter::Add(conn, outbox));
    }

    fn remove(&self, conn: Conn) {
        let _ = self.shard(conn).send(ToWriter::Remove(conn));
    }

    fn frame(&self, frame: &Broadcast) {
        for shard in &self.shards {
            let _ = shard.send(ToWriter::Frame(frame.clone()));
        }
    }
}

/// One of a room's writers: its connections, and the frames to write to each.
async fn write_frames(mut jobs: mpsc::UnboundedReceiver<ToWriter>) {
    let mut conns: HashMap<Conn, Outbox> = HashMap::new();
    let mut frames: Vec<Broadcast> = Vec::new();
    let mut gone: Vec<Conn> = Vec::new();
    while let Some(job) = jobs.recv().await {
        let mut next = Some(job);
        while let Some(job) = next.take() {
            match job {
                ToWriter::Add(conn, outbox) => {
                    conns.insert(conn, outbox);
                }
                ToWriter::Remove(conn) => {
                    conns.remove(&conn);
                }
                ToWriter::Frame(frame) => frames.push(frame),
            }
            // Frames that piled up go together, in one write to each connection.
            if frames.len() < crate::websocket::WRITE_AT_ONCE {
                next = jobs.try_recv().ok();
            }
        }
        if frames.is_empty() {
            continue;
        }
        for (i, (conn, outbox)) in conns.iter().enumerate() {
            if outbox.offer(&frames, FRAMES_QUEUED) == Offered::Gone {
                gone.push(*conn);
            }
            if i % WRITES_BETWEEN_YIELDS == WRITES_BETWEEN_YIELDS - 1 {
                tokio::task::yield_now().await;
            }
        }
        for conn in gone.drain(..) {
            conns.remove(&conn);
        }
        frames.clear();
    }
    for outbox in conns.values() {
        outbox.finish();
    }
}

/// Tells rooms apart.
static ROOM_IDS: AtomicU64 = AtomicU64::new(1);

/// Every live room of this node.
#[derive(Clone, Default)]
pub struct Rooms {
    rooms: Arc<Mutex<HashMap<ShowId, RoomHandle>>>,
    next_conn: Arc<AtomicU64>,
    /// Connections open on this node's rooms.
    open: Arc<AtomicU64>,
    /// Batches of timeline events on their way to the store (one writer task per node).
    timeline: Arc<std::sync::OnceLock<TimelineQueue>>,
    bus: Bus,
    addresses: Arc<Addresses>,
}

/// Connections to live rooms one address may hold on this node (many people share an address
/// behind a mobile carrier's NAT: the limit is for floods, not for households).
const CONNECTIONS_PER_ADDRESS: u32 = 1_000;
/// Messages a second (and a burst) all connections from one address may send together.
const MESSAGES_PER_ADDRESS: (f64, f64) = (200.0, 400.0);

/// What each remote address uses of this node's live rooms.
#[derive(Default)]
struct Addresses {
    used: Mutex<HashMap<std::net::IpAddr, AddressUse>>,
}

struct AddressUse {
    connections: u32,
    budget: Budget,
}

/// One connection counted against its address; uncounted when dropped.
struct AddressSlot {
    addresses: Arc<Addresses>,
    ip: Option<std::net::IpAddr>,
}

impl Addresses {
    fn open(self: &Arc<Self>, ip: Option<std::net::IpAddr>) -> Option<AddressSlot> {
        if let Some(ip) = ip {
            let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
            let entry = used
                .entry(ip)
                .or_insert_with(|| AddressUse { connections: 0, budget: Budget::new(MESSAGES_PER_ADDRESS.0, MESSAGES_PER_ADDRESS.1) });
            if entry.connections >= CONNECTIONS_PER_ADDRESS {
                return None;
            }
            entry.connections += 1;
        }
        Some(AddressSlot { addresses: self.clone(), ip })
    }
}

impl AddressSlot {
    /// Whether the address may send one more message now.
    fn take(&self, now: tokio::time::Instant) -> bool {
        let Some(ip) = self.ip else { return true };
        let mut used = self.addresses.used.lock().unwrap_or_else(|e| e.into_inner());
        used.get_mut(&ip).is_none_or(|u| u.budget.take(now))
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        if let Some(ip) = self.ip {
            let mut used = self.addresses.used.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(u) = used.get_mut(&ip) {
                u.connections -= 1;
                if u.connections == 0 {
                    used.remove(&ip);
                }
            }
        }
    }
}

/// Where rooms hand what they write (timeline events, bans) to the writer.
type TimelineQueue = mpsc::Sender<Write>;

/// What a room asks the writer to store.
enum Write {
    Timeline(ShowId, Vec<TimelineEvent>),
    Ban(vetrina_domain::ids::OrgId, vetrina_domain::account::RoomBan),
    /// A room's state (only the latest of a batch is written per show).
    State(ShowId, vetrina_store::shows::SavedRoom),
    /// Answered once everything queued before it is written.
    Flush(oneshot::Sender<()>),
}

/// How many batches may wait for the store; when the store is slower than the rooms, batches are
/// dropped (and counted in the log) rather than slowing a room down.
const TIMELINE_QUEUE: usize = 1024;

/// Writes timeline events in batches: whatever arrived within 200 ms (up to 2,000 events), one
/// transaction per show; bans as they come.
async fn write_timeline(store: Store, mut writes: mpsc::Receiver<Write>) {
    while let Some(first) = writes.recv().await {
        let mut pending: HashMap<ShowId, Vec<TimelineEvent>> = HashMap::new();
        let mut bans = Vec::new();
        let mut states: HashMap<ShowId, vetrina_store::shows::SavedRoom> = HashMap::new();
        let mut flushed = Vec::new();
        let mut n = 0;
        let mut take = |write: Write, n: &mut usize| match write {
            Write::Timeline(show, events) => {
                *n += events.len();
                pending.entry(show).or_default().extend(events);
            }
            Write::Ban(org, ban) => bans.push((org, ban)),
            Write::State(show, state) => {
                states.insert(show, state);
            }
            Write::Flush(done) => flushed.push(done),
        };
        take(first, &mut n);
        let deadline = tokio::time::Instant::now() + Duration::from_millis(200);
        while n < 2_000 {
            match tokio::time::timeout_at(deadline, writes.recv()).await {
                Ok(Some(write)) => take(write, &mut n),
                _ => break,
            }
        }
        for (org, ban) in bans {
            if let Err(e) = store.ban(&org, &ban).await {
                tracing::error!(org_id = %org, error = %e, "cannot store a ban");
            }
        }
        for (show, events) in pending {
            let rows: Vec<(i64, Option<i64>, String, String)> =
                events.into_iter().map(|e| (e.at, e.media_ms, e.kind.to_string(), e.data)).collect();
            if let Err(e) = store.append_timeline(&show, &rows).await {
                tracing::error!(show_id = %show, n_events = rows.len(), error = %e, "cannot write the timeline");
            }
        }
        // After the timeline: a saved state never holds events the timeline has not.
        for (show, state) in states {
            if let Err(e) = store.save_room_state(&show, &state, now_ms()).await {
                tracing::error!(show_id = %show, error = %e, "cannot save the room's state");
            }
        }
        for done in flushed {
            let _ = done.send(());
        }
    }
}

impl Rooms {
    /// Rooms that reach the same shows' rooms on other nodes through `bus`.
    pub fn new(bus: Bus) -> Rooms {
        Rooms { bus, ..Rooms::default() }
    }

    /// Closes every room of this node (the node stops): each saves its state, and the answer
    /// comes once the writer has stored it (or after 5 s).
    pub async fn close_all(&self) {
        let rooms: Vec<mpsc::Sender<Command>> =
            self.rooms.lock().unwrap_or_else(|e| e.into_inner()).values().map(|h| h.commands.clone()).collect();
        let closing = rooms.into_iter().map(|commands| async move {
            let (done, closed) = oneshot::channel();
            if commands.send(Command::Close { done }).await.is_ok() {
                let _ = closed.await;
            }
        });
        let all = async {
            futures_util::future::join_all(closing).await;
            if let Some(writer) = self.timeline.get() {
                let (done, written) = oneshot::channel();
                if writer.send(Write::Flush(done)).await.is_ok() {
                    let _ = written.await;
                }
            }
            // The rooms' connections say "going away" to their clients (at most a second).
            let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
            while self.open.load(Ordering::Acquire) > 0 && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        };
        if tokio::time::timeout(Duration::from_secs(5), all).await.is_err() {
            tracing::warn!("the rooms' states were not all saved within 5 s of the stop");
        }
    }

    /// The show's room, started with its run of show when it is not running.
    fn get(
        &self,
        show_row: &vetrina_domain::show::Show,
        store: &Store,
        ledger: &crate::shop::Ledger,
        config: &crate::WebConfig,
    ) -> RoomHandle {
        let (org, show) = (&show_row.org_id, &show_row.id);
        // No await is held under this lock, and nothing in it panics.
        let mut rooms = self.rooms.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(handle) = rooms.get(show).filter(|h| !h.commands.is_closed()) {
            return handle.clone();
        }
        let (commands, command_rx) = mpsc::channel(1024);
        let handle = RoomHandle { commands, id: ROOM_IDS.fetch_add(1, Ordering::Relaxed) };
        rooms.insert(show.clone(), handle.clone());
        let timeline = self
            .timeline
            .get_or_init(|| {
                let (tx, rx) = mpsc::channel(TIMELINE_QUEUE);
                tokio::spawn(write_timeline(store.clone(), rx));
                tx
            })
            .clone();
        let plan = plan_of(show_row);
        let lineup = lineup_of(show_row);
        let (facts_tx, facts) = watch::channel(ShowFacts::default());
        tokio::spawn(watch_show(store.clone(), show.clone(), org.clone(), show_row.lineup.clone(), facts_tx));
        let room = RoomTask {
            store: store.clone(),
            show: show.clone(),
            org: org.clone(),
            stock: ledger.stock.subscribe(),
            plan,
            lineup,
            commands: command_rx,
            id: handle.id,
            writers: Writers::start(),
            timeline,
            facts,
            rooms: self.rooms.clone(),
            save_every: config.room_state_every,
            // A frame every tick (100 ms) at most: a tenth of the second's lines in each.
            chat_per_frame: config.chat_lines_per_second.div_ceil(10),
        };
        tokio::spawn(room.run(self.bus.clone()));
        handle
    }
}

/// What a room learns from the store, read beside it so that it never waits for the store.
#[derive(Clone, Default, PartialEq)]
struct ShowFacts {
    /// When the show's recording started (Unix ms): the origin of its media clock.
    media_origin: Option<i64>,
    /// The organisation's blocked words.
    blocked_words: Option<Vec<String>>,
    /// The identities banned from the organisation's chats.
    banned: Option<Vec<String>>,
    /// The show's run of show (a host may edit it during the show).
    plan: Option<Vec<vetrina_live::room::Segment>>,
    /// The show's line-up (product ids), which may change with it.
    lineup: Option<Vec<String>>,
    /// Stock of the line-up's variants (other nodes' sales show here within 2 s).
    stock: Option<Vec<vetrina_store::shop::StockLevel>>,
}

/// The run of show as rooms use it.
fn plan_of(show: &vetrina_domain::show::Show) -> Vec<vetrina_live::room::Segment> {
    show.run_of_show.segments.iter().enumerate().map(|(i, s)| vetrina_live::room::Segment::from_plan(i, s)).collect()
}

/// The products of the show's line-up, as rooms use them.
fn lineup_of(show: &vetrina_domain::show::Show) -> Vec<String> {
    show.lineup.iter().map(|p| p.0.clone()).collect()
}

/// Reads the show's media clock (every 2 s until the recording starts), its run of show and its
/// organisation's blocked words and bans (every 10 s: the console may change them) for as long
/// as the room runs.
async fn watch_show(
    store: Store,
    show: ShowId,
    org: vetrina_domain::ids::OrgId,
    mut lineup: Vec<vetrina_domain::ids::ProductId>,
    facts: watch::Sender<ShowFacts>,
) {
    let mut every = tokio::time::interval(Duration::from_secs(2));
    let mut n: u64 = 0;
    while !facts.is_closed() {
        every.tick().await;
        let mut next = facts.borrow().clone();
        if next.media_origin.is_none() {
            next.media_origin = store.recordings(&show).await.ok().and_then(|r| r.first().map(|(_, t)| *t));
        }
        if n.is_multiple_of(5)
            && let Ok(org) = store.org(&org).await
        {
            next.blocked_words = Some(org.blocked_words);
        }
        if n.is_multiple_of(5)
            && let Ok(bans) = store.bans(&org).await
        {
            next.banned = Some(bans.into_iter().map(|b| b.identity).collect());
        }
        if n.is_multiple_of(5)
            && let Ok(show) = store.show(&org, &show).await
        {
            next.plan = Some(plan_of(&show));
            next.lineup = Some(lineup_of(&show));
            lineup = show.lineup;
        }
        if let Ok(levels) = store.stock_levels(&org, &lineup).await {
            next.stock = Some(levels);
        }
        n += 1;
        facts.send_if_modified(|current| {
            let changed = *current != next;
            *current = next;
            changed
        });
    }
}

fn stock_line(level: vetrina_store::shop::StockLevel) -> vetrina_live::StockLine {
    vetrina_live::StockLine { product_id: level.product.0, variant_id: level.variant.0, available: level.available }
}

/// A room's name among its show's rooms on all nodes: random, so that `seq` numbers of one
/// room are never taken for another's.
fn room_name() -> String {
    let mut bytes = [0_u8; 8];
    // Without randomness the name is still unique enough on one node (the time).
    if getrandom::getrandom(&mut bytes).is_err() {
        bytes = now_ms().to_le_bytes();
    }
    format!("rm_{}", vetrina_domain::text::hex(&bytes))
}

/// How often a node announces its viewers of a room to the others.
const PRESENCE_EVERY: Duration = Duration::from_secs(1);
/// Presence older than this no longer counts: a node gone (a node busy with a big room may
/// announce a second or two late, and still counts).
const PRESENCE_FRESH: Duration = Duration::from_secs(5);
/// A decided event that has not come back from the bus in this time is answered "busy".
const EVENT_TIMEOUT: Duration = Duration::from_secs(5);

/// The answer to a message the room could not take now.
fn busy() -> Refusal {
    Refusal::new("busy", "the room is busy: try again")
}

/// A room's [`Pace`], on the runtime's clock, and its last frame: how many connections have
/// written it out, of how many it went to.
struct Paced {
    pace: Pace,
    origin: tokio::time::Instant,
    last: (Arc<AtomicUsize>, usize),
}

/// One show's room actor and what it talks to.
struct RoomTask {
    store: Store,
    show: ShowId,
    org: vetrina_domain::ids::OrgId,
    /// This node's stock changes, as they happen.
    stock: broadcast::Receiver<vetrina_store::shop::StockLevel>,
    plan: Vec<vetrina_live::room::Segment>,
    lineup: Vec<String>,
    commands: mpsc::Receiver<Command>,
    id: u64,
    writers: Writers,
    timeline: TimelineQueue,
    facts: watch::Receiver<ShowFacts>,
    rooms: Arc<Mutex<HashMap<ShowId, RoomHandle>>>,
    /// How often the room's state is saved.
    save_every: Duration,
    /// Viewers' chat lines a frame carries at most.
    chat_per_frame: usize,
}

impl RoomTask {
    async fn run(mut self, bus: Bus) {
        let node = room_name();
        let show = self.show.clone();
        let mut room = Room::new(RoomConfig { node: node.clone(), max_chat_per_frame: self.chat_per_frame, ..RoomConfig::default() });
        room.set_plan(std::mem::take(&mut self.plan));
        room.set_lineup(std::mem::take(&mut self.lineup));
        // Take up where the show's room was (this node before a restart, or other nodes), then
        // the bus's events after that.
        let saved = self.store.room_state(&show).await.unwrap_or_else(|e| {
            tracing::error!(show_id = %show, error = %e, "cannot read the room's saved state: starting from the bus alone");
            None
        });
        let (restored, after) = match saved {
            // A shared bus needs to know where the state stood on it; one saved without a bus
            // (one node) would be applied twice over the stream's events.
            Some(s) if s.bus_position.is_some() || matches!(bus, Bus::Local) => match serde_json::from_str::<vetrina_live::Saved>(&s.state)
            {
                Ok(state) => (Some(state), s.bus_position),
                Err(e) => {
                    tracing::error!(show_id = %show, error = %e, "the room's saved state is unreadable: starting from the bus alone");
                    (None, None)
                }
            },
            _ => (None, None),
        };
        let mut position = after;
        if let Some(state) = restored {
            room.restore(state);
        }
        let mut link = match bus.join(&show, &node, after).await {
            Ok(link) => link,
            Err(e) => {
                // Serving this node's viewers alone beats serving nobody.
                tracing::error!(show_id = %show, error = %e, "cannot join the bus: the room serves this node only");
                match Bus::Local.join(&show, &node, None).await {
                    Ok(link) => link,
                    Err(_) => {
                        self.forget();
                        return;
                    }
                }
            }
        };
        let mut presence: HashMap<String, (u64, tokio::time::Instant)> = HashMap::new();
        // Another node's room may have run for a while: apply what it did before serving anyone.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            match tokio::time::timeout_at(deadline, link.next()).await {
                Ok(Some(Incoming::CaughtUp)) => break,
                Ok(Some(Incoming::Event(event, at))) => {
                    let _ = room.apply(&event);
                    position = at.or(position);
                }
                Ok(Some(Incoming::Presence { node, viewers })) => {
                    presence.insert(node, (viewers, tokio::time::Instant::now()));
                }
                Ok(None) | Err(_) => {
                    tracing::warn!(show_id = %show, "the room's history did not arrive in time: serving what arrived");
                    break;
                }
            }
        }
        room.tick();
        room.drain_timeline();
        // Blocked words and bans hold from the first message: wait (briefly) for their first read.
        let _ = tokio::time::timeout(Duration::from_secs(2), self.facts.changed()).await;
        let facts = self.facts.borrow_and_update().clone();
        let mut media_origin: Option<i64> = facts.media_origin;
        if let Some(words) = facts.blocked_words {
            room.set_blocked_words(words);
        }
        if let Some(banned) = facts.banned {
            room.set_org_bans(banned, now_ms());
        }

        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut announced_at: Option<tokio::time::Instant> = None;
        // What the last saved state held: events applied, likes.
        let mut saved = (room.applied(), room.likes_total());
        let mut saved_at = tokio::time::Instant::now();
        let mut closing: Option<oneshot::Sender<()>> = None;
        let mut empty_since: Option<tokio::time::Instant> = None;
        // Answers owed to senders whose events are on their way round the bus.
        type Owed = (oneshot::Sender<Result<Option<ChatLine>, Refusal>>, tokio::time::Instant);
        let mut owed: HashMap<u64, Owed> = HashMap::new();
        let mut next_token: u64 = 1;
        let mut pace = Paced {
            pace: Pace::new(TICK.as_millis() as i64, PACE_WAIT_AT_MOST.as_millis() as i64),
            origin: tokio::time::Instant::now(),
            last: (Arc::new(AtomicUsize::new(0)), 0),
        };
        // A frame held back for the last one's delivery: look again soon.
        let mut held = false;
        let retry = tokio::time::sleep(PACE_CHECK);
        tokio::pin!(retry);
        loop {
            tokio::select! {
                () = &mut retry, if held => {
                    held = !self.frame(&mut room, &mut pace, media_origin);
                    if held {
                        retry.as_mut().reset(tokio::time::Instant::now() + PACE_CHECK);
                    }
                }
                command = self.commands.recv() => {
                    let Some(command) = command else { break };
                    match command {
                        Command::Join { conn, member, since, room: resume_in, outbox, reply } => {
                            let snapshot = room.join(conn, member);
                            // What the connection is sent first holds everything up to here; the
                            // frames after wait for it.
                            outbox.hold_after(snapshot.seq);
                            self.writers.add(conn, outbox);
                            let joined = match since.filter(|_| resume_in.as_ref().is_none_or(|r| *r == node)).and_then(|s| room.since(s, FRAMES_QUEUED)) {
                                Some(missed) => Joined::Missed(missed),
                                None => Joined::Snapshot(Box::new(snapshot)),
                            };
                            let _ = reply.send(joined);
                        }
                        Command::Leave { conn } => {
                            room.leave(conn);
                            self.writers.remove(conn);
                        }
                        Command::Message { conn, message, reply } => {
                            let now = now_ms();
                            match room.decide(conn, message, now) {
                                Err(refusal) => {
                                    let _ = reply.send(Err(refusal));
                                }
                                Ok(None) => {
                                    let _ = reply.send(Ok(None));
                                }
                                Ok(Some(change)) => {
                                    let media_ms = media_origin.map(|origin| (now - origin).max(0));
                                    let token = next_token;
                                    next_token += 1;
                                    if link.publish(room.event(change, token, now, media_ms)).await {
                                        owed.insert(token, (reply, tokio::time::Instant::now()));
                                    } else {
                                        let _ = reply.send(Err(busy()));
                                    }
                                }
                            }
                        }
                        Command::Snapshot { conn, outbox, reply } => {
                            let snapshot = room.snapshot(conn);
                            outbox.hold_after(snapshot.seq);
                            let _ = reply.send(snapshot);
                        }
                        Command::Close { done } => {
                            closing = Some(done);
                            break;
                        }
                    }
                }
                level = self.stock.recv() => match level {
                    Ok(level) if level.org == self.org => room.set_stock(stock_line(level)),
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => {}
                },
                incoming = link.next() => match incoming {
                    Some(Incoming::Event(event, at)) => {
                        let answer = room.apply(&event);
                        position = at.or(position);
                        if event.origin == node
                            && let Some((reply, _)) = owed.remove(&event.token)
                        {
                            let _ = reply.send(answer);
                        }
                    }
                    Some(Incoming::Presence { node, viewers }) => {
                        presence.insert(node, (viewers, tokio::time::Instant::now()));
                    }
                    Some(Incoming::CaughtUp) => {}
                    None => {
                        tracing::error!(show_id = %show, "the room lost the bus: it stops (its viewers reconnect)");
                        break;
                    }
                },
                _ = tick.tick() => {
                    if self.facts.has_changed().unwrap_or(false) {
                        let facts = self.facts.borrow_and_update().clone();
                        media_origin = facts.media_origin;
                        if let Some(words) = facts.blocked_words {
                            room.set_blocked_words(words);
                        }
                        if let Some(banned) = facts.banned {
                            room.set_org_bans(banned, now_ms());
                        }
                        if let Some(plan) = facts.plan {
                            room.set_plan(plan);
                        }
                        if let Some(lineup) = facts.lineup {
                            room.set_lineup(lineup);
                        }
                        for level in facts.stock.unwrap_or_default() {
                            room.set_stock(stock_line(level));
                        }
                    }
                    let likes = room.take_local_likes();
                    if link.is_shared() {
                        if likes > 0 {
                            let now = now_ms();
                            let media_ms = media_origin.map(|origin| (now - origin).max(0));
                            link.publish(room.event(Change::Likes { count: likes }, 0, now, media_ms)).await;
                        }
                        // On the clock, not by ticks: a busy node misses ticks.
                        if announced_at.is_none_or(|at| at.elapsed() >= PRESENCE_EVERY) {
                            announced_at = Some(tokio::time::Instant::now());
                            link.announce(&node, room.local_viewers()).await;
                            presence.retain(|_, (_, at)| at.elapsed() < PRESENCE_FRESH);
                            // The node with the smallest name records the total on the timeline.
                            let records = presence.keys().all(|other| *other > node);
                            room.set_remote_viewers(presence.values().map(|(n, _)| n).sum(), records);
                            tracing::debug!(show_id = %show, here = room.local_viewers(), nodes = presence.len() + 1, viewers = room.viewers(), "viewers counted");
                        }
                    }
                    // An event lost on its way round the bus: its sender hears "busy", and may
                    // send it again.
                    for (_, (reply, _)) in owed.extract_if(|_, (_, since)| since.elapsed() >= EVENT_TIMEOUT) {
                        let _ = reply.send(Err(busy()));
                    }
                    held = !self.frame(&mut room, &mut pace, media_origin);
                    if held {
                        retry.as_mut().reset(tokio::time::Instant::now() + PACE_CHECK);
                    }
                    let events = room.drain_timeline();
                    if !events.is_empty() && self.timeline.try_send(Write::Timeline(show.clone(), events)).is_err() {
                        tracing::warn!(show_id = %show, "timeline queue full: the store is too slow; room events were not recorded");
                    }
                    if saved_at.elapsed() >= self.save_every && (room.applied(), room.likes_total()) != saved {
                        saved = self.save(&room, position);
                        saved_at = tokio::time::Instant::now();
                    }
                    for started in room.drain_started_deals() {
                        match serde_json::from_value::<vetrina_domain::show::Deal>(started.deal) {
                            Ok(deal) => {
                                let start = vetrina_store::shop::DealStart {
                                    org: self.org.clone(),
                                    show: show.clone(),
                                    segment: started.segment as i64,
                                    product: deal.product_id,
                                    variant: deal.variant_id,
                                    price_minor: deal.price_minor,
                                    percent_off: deal.percent_off.map(i64::from),
                                    quantity: deal.quantity,
                                    per_buyer_limit: deal.per_buyer_limit,
                                    starts_at: started.starts_at,
                                    ends_at: started.ends_at,
                                };
                                // Beside the room: the first buyers may tap within milliseconds.
                                let store = self.store.clone();
                                tokio::spawn(async move {
                                    if let Err(e) = store.start_deal(&start).await {
                                        tracing::error!(show_id = %start.show, error = %e, "cannot start the segment's deal");
                                    }
                                });
                            }
                            Err(e) => tracing::error!(show_id = %show, error = %e, "the segment's deal is not a deal"),
                        }
                    }
                    for ban in room.drain_bans() {
                        let ban = vetrina_domain::account::RoomBan {
                            identity: ban.identity,
                            name: ban.name,
                            by: ban.by,
                            show_id: Some(show.clone()),
                            created_at: ban.at,
                        };
                        if self.timeline.try_send(Write::Ban(self.org.clone(), ban)).is_err() {
                            tracing::warn!(show_id = %show, "write queue full: a ban holds in this room only");
                        }
                    }
                    if room.local_viewers() == 0 {
                        let since = *empty_since.get_or_insert_with(tokio::time::Instant::now);
                        if since.elapsed() > IDLE_STOP {
                            break;
                        }
                    } else {
                        empty_since = None;
                    }
                }
            }
        }
        room.tick();
        if (room.applied(), room.likes_total()) != saved {
            self.save(&room, position);
        }
        self.forget();
        // The writers stop: every connection of the room sees it end.
        drop(self.writers);
        if let Some(done) = closing {
            let _ = done.send(());
        }
    }

    /// Makes the room's next frame, if any, when its pace allows; false when it is held back.
    fn frame(&self, room: &mut Room, paced: &mut Paced, media_origin: Option<i64>) -> bool {
        let since_start = paced.origin.elapsed().as_millis() as i64;
        if !paced.pace.due(since_start, paced.last.0.load(Ordering::Relaxed), paced.last.1) {
            return false;
        }
        let now = now_ms();
        let media_ms = media_origin.map(|origin| (now - origin).max(0));
        if let Some(frame) = room.tick_at(now, media_ms) {
            let written = Arc::new(AtomicUsize::new(0));
            self.writers.frame(&Broadcast::new(room.seq(), frame.as_bytes(), written.clone()));
            paced.last = (written, room.local_viewers() as usize);
            paced.pace.made(since_start);
        }
        true
    }

    /// Takes this room out of the node's rooms (whatever made it stop): the next viewer starts
    /// a new one, and connections still here see it end once it drops its frames.
    fn forget(&self) {
        let mut rooms = self.rooms.lock().unwrap_or_else(|e| e.into_inner());
        if rooms.get(&self.show).is_some_and(|h| h.id == self.id) {
            rooms.remove(&self.show);
        }
    }

    /// Hands the room's state to the writer (never waiting for the store); the answer is what
    /// it holds: events applied, likes.
    fn save(&self, room: &Room, position: Option<u64>) -> (u64, u64) {
        let saved = room.save(now_ms(), position.is_some());
        let applied = saved.applied;
        match serde_json::to_string(&saved) {
            Ok(state) => {
                let state = vetrina_store::shows::SavedRoom { applied, bus_position: position, state };
                if self.timeline.try_send(Write::State(self.show.clone(), state)).is_err() {
                    tracing::warn!(show_id = %self.show, "write queue full: the room's state was not saved this time");
                }
            }
            Err(e) => tracing::error!(show_id = %self.show, error = %e, "cannot write the room's state as JSON"),
        }
        (applied, room.likes_total())
    }
}

/// Other parameters (a cache-buster, say) are left alone: a WebSocket URL is often built by
/// code the shop does not control.
#[derive(Deserialize, utoipa::IntoParams)]
pub struct LiveQuery {
    /// The last frame's `seq` a reconnecting client saw: it gets the frames after it (or a
    /// snapshot when they are no longer kept).
    pub since: Option<u64>,
    /// The `room` of the snapshot `since` counts from: frames are numbered per room, and a
    /// reconnection that reaches another node's room gets a snapshot.
    pub room: Option<String>,
}

/// Who the caller is in this show's room.
async fn member_for(
    state: &AppState,
    caller: &Caller,
    guest: GuestViewer,
    org: &vetrina_domain::ids::OrgId,
    show: &ShowId,
) -> ApiResult<Member> {
    match caller {
        Caller::Person { user, .. } => {
            let role = match caller.role_in(state, org).await {
                Ok(r) if r.allows(Action::PresentShows) => Role::Host,
                Ok(vetrina_domain::account::Role::Moderator) => Role::Moderator,
                _ if state.store.is_creator(org, show, &user.id).await? => Role::Host,
                _ => Role::Viewer,
            };
            Ok(Member { identity: Some(user.id.0.clone()), name: user.name.clone(), role })
        }
        Caller::Token(_) => Err(ApiError::forbidden("the live room is for people: connect with a session or as a guest")),
        Caller::Anonymous => Ok(match guest.0 {
            Some(g) => Member { identity: Some(g.id), name: g.display_name, role: Role::Viewer },
            None => Member { identity: None, name: "Guest".into(), role: Role::Viewer },
        }),
    }
}

/// The live room: a WebSocket (chat, likes, pins, viewer count). See `docs/live.md`.
#[utoipa::path(get, path = "/api/v1/shows/{slug}/live", tag = "live",
    params(("slug" = String, Path), LiveQuery),
    responses((status = 101, description = "Switching to the WebSocket protocol"), (status = 404, body = crate::error::Problem)))]
#[allow(clippy::too_many_arguments)] // one per extractor
pub async fn live(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    Query(q): Query<LiveQuery>,
    caller: Caller,
    guest: GuestViewer,
    ClientIp(ip): ClientIp,
    request_headers: axum::http::HeaderMap,
    ws: Result<Upgrade, Refused>,
) -> ApiResult<Response> {
    // From memory (`answer_cache_ms`): when a show starts, its viewers arrive together, and
    // each reading the show from the database would hold up the next.
    let show = state.show_by_slug(&slug).await?;
    let ws = match ws {
        Ok(ws) => ws,
        Err(refused) => return Ok(refused.into_response()),
    };
    // A browser always says where the page that opens the socket comes from: only our own pages
    // may use a visitor's cookies here (cross-site WebSocket hijacking).
    if let Some(origin) = request_headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        let host = request_headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
        let ours = origin.trim_end_matches('/') == state.config.public_url.trim_end_matches('/')
            || origin.split_once("://").is_some_and(|(_, rest)| rest == host);
        if !ours {
            return Err(ApiError::forbidden("the live room only takes connections from this site's pages"));
        }
    }
    let member = member_for(&state, &caller, guest, &show.org_id, &show.id).await?;
    let Some(slot) = state.rooms.addresses.open(ip) else {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!("too many live connections from your address (at most {CONNECTIONS_PER_ADDRESS})"),
        ));
    };
    let handle = state.rooms.get(&show, &state.store, &state.ledger, &state.config);
    let conn = state.rooms.next_conn.fetch_add(1, Ordering::Relaxed);
    let commands = handle.commands.clone();
    drop(handle);
    let open = Open::new(&state.rooms.open);
    // A quiet connection holds no buffer (`websocket`): a room may hold tens of thousands.
    Ok(ws.on_upgrade(MAX_MESSAGE, move |socket| async move {
        connection(socket, commands, conn, member, q.since, q.room, slot).await;
        drop(open);
    }))
}

/// One open connection, counted while it lives.
struct Open(Arc<AtomicU64>);

impl Open {
    fn new(count: &Arc<AtomicU64>) -> Open {
        count.fetch_add(1, Ordering::AcqRel);
        Open(count.clone())
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A frame the room keeps, lent to a connection's queue without a copy.
struct SharedText(Arc<str>);

impl AsRef<[u8]> for SharedText {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

fn text(value: &impl serde::Serialize) -> Bytes {
    // Plain data structs serialise.
    Bytes::from(serde_json::to_string(value).unwrap_or_default())
}

fn error(code: &'static str, message: &str) -> Bytes {
    refused(&Refusal::new(code, message))
}

/// The `error` frame a refusal is sent back as.
fn refused(refusal: &Refusal) -> Bytes {
    let mut frame =
        serde_json::json!({"v": vetrina_live::room::PROTOCOL, "type": "error", "code": refusal.code, "message": refusal.message});
    if let Some(seconds) = refusal.retry_after {
        frame["retry_after"] = seconds.into();
    }
    text(&frame)
}

#[allow(clippy::too_many_arguments)] // what a connection is made of
async fn connection(
    mut socket: Socket,
    commands: mpsc::Sender<Command>,
    conn: Conn,
    member: Member,
    since: Option<u64>,
    room: Option<String>,
    address: AddressSlot,
) {
    // The room's writers write its frames to this socket; this task reads the client, answers
    // it, and writes what the socket did not take at once.
    let outbox = socket.outbox();
    let (reply, joined) = oneshot::channel();
    if commands.send(Command::Join { conn, member, since, room, outbox: outbox.clone(), reply }).await.is_err() {
        return;
    }
    let first = match joined.await {
        Ok(Joined::Snapshot(s)) => vec![text(&*s)],
        // The room's own copies, shared (at most a queue's worth: more is a snapshot).
        Ok(Joined::Missed(missed)) => missed.into_iter().map(|f| Bytes::from_owner(SharedText(f))).collect(),
        Err(_) => return,
    };
    if socket.start(&first).await.is_err() {
        let _ = commands.send(Command::Leave { conn }).await;
        return;
    }
    // Every message costs the room's actor: a connection may send 20 a second (40 in a burst)
    // before it is told to slow down, whatever the room's own rules.
    let mut budget = Budget::new(20.0, 40.0);
    // A client pings to learn that the connection lives, every few seconds at most.
    let mut pings = Budget::new(2.0, 20.0);
    loop {
        tokio::select! {
            incoming = socket.recv() => {
                let reply_to = match incoming {
                    Err(Ended::Gone) => break,
                    Err(Ended::Violation(v)) => {
                        socket.close(Some(v.code), v.reason).await;
                        break;
                    }
                    Ok(Received::Close(code)) => {
                        socket.close(code, "").await;
                        break;
                    }
                    Ok(Received::Ping(_)) if !pings.take(tokio::time::Instant::now()) => {
                        // Every ping gets its pong (RFC 6455 §5.5.2), so a flood of them ends
                        // the connection instead.
                        socket.close(Some(POLICY_VIOLATION), "too many pings").await;
                        break;
                    }
                    Ok(Received::Ping(data)) => {
                        if socket.send(OP_PONG, Bytes::from(data)).await.is_err() {
                            break;
                        }
                        continue;
                    }
                    Ok(Received::Pong) => continue,
                    Ok(Received::Text(_) | Received::Binary(_)) if !budget.take(tokio::time::Instant::now()) => {
                        Some(error("rate_limited", "too many messages: at most 20 a second"))
                    }
                    Ok(Received::Text(_) | Received::Binary(_)) if !address.take(tokio::time::Instant::now()) => {
                        Some(error("rate_limited", "too many messages from your network: try again in a moment"))
                    }
                    Ok(Received::Text(t)) => match serde_json::from_str::<ClientMessage>(&t) {
                        Ok(message) => {
                            let (reply, answer) = oneshot::channel();
                            let asked = commands.try_send(Command::Message { conn, message, reply });
                            if let Err(mpsc::error::TrySendError::Closed(_)) = asked {
                                break; // the room stopped
                            } else if asked.is_err() {
                                Some(error("busy", "the room is busy: try again"))
                            } else {
                                match answer.await {
                                    Ok(Err(refusal)) => Some(refused(&refusal)),
                                    // The sender sees their own line at once, sampled or not.
                                    Ok(Ok(Some(line))) => Some(text(&serde_json::json!({"v": vetrina_live::room::PROTOCOL, "type": "sent", "line": line}))),
                                    Ok(Ok(None)) => None,
                                    Err(_) => break,
                                }
                            }
                        }
                        Err(e) => Some(error("bad_message", &format!("not a message of protocol v1: {e}"))),
                    },
                    Ok(Received::Binary(_)) => Some(error("bad_message", "send JSON text messages")),
                };
                if let Some(answer) = reply_to
                    && socket.send_text(answer).await.is_err()
                {
                    break;
                }
            }
            event = outbox.event() => match event {
                Event::Lagged => {
                    // Behind: a fresh picture instead of the backlog.
                    let (reply, snapshot) = oneshot::channel();
                    if commands.send(Command::Snapshot { conn, outbox: outbox.clone(), reply }).await.is_err() {
                        break;
                    }
                    let Ok(snapshot) = snapshot.await else { break };
                    if socket.start(&[text(&snapshot)]).await.is_err() {
                        break;
                    }
                }
                Event::Finished => {
                    // The room stopped (the node stops, or lost its bus): "going away", and the
                    // client comes back to a room that runs.
                    socket.close(Some(GOING_AWAY), "the room moved: reconnect").await;
                    break;
                }
                Event::Broken => break,
            }
        }
    }
    let _ = commands.send(Command::Leave { conn }).await;
}

#[cfg(test)]
mod tests {
    use super::{Addresses, CONNECTIONS_PER_ADDRESS};

    #[test]
    fn connections_per_address() {
        let addresses = std::sync::Arc::new(Addresses::default());
        let ip = Some("198.51.100.4".parse().unwrap());
        let mut slots: Vec<_> = (0..CONNECTIONS_PER_ADDRESS).map(|_| addresses.open(ip).expect("under the limit")).collect();
        assert!(addresses.open(ip).is_none(), "one more is refused");
        assert!(addresses.open(Some("198.51.100.5".parse().unwrap())).is_some(), "other addresses are not");
        assert!(addresses.open(None).is_some(), "this machine itself is not limited");
        slots.pop();
        assert!(addresses.open(ip).is_some(), "a closed connection frees its place");
        drop(slots);
        assert!(addresses.used.lock().unwrap().is_empty(), "nothing kept for addresses that left");
    }
}
