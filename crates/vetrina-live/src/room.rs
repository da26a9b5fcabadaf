//! One show's room. Protocol version 1; see `docs/live.md`.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// The protocol version every frame and snapshot carries.
pub const PROTOCOL: u32 = 1;
/// How often a frame may go whose only news is the viewer count. When a show starts its audience
/// arrives over a minute or two: a frame every tick to everyone already in, for a count, would be
/// most of what a node writes, and would slow the joins of the rest. Frames with anything else
/// carry the count at once.
pub const VIEWERS_ONLY_EVERY_MS: i64 = 1_000;

/// A connection's id, given by the driver.
pub type Conn = u64;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Viewer,
    Moderator,
    Host,
}

/// Who is behind a connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// A stable identity (`usr_...` or `gst_...`), or `None` for an anonymous viewer who may watch
    /// and like but not chat.
    pub identity: Option<String>,
    pub name: String,
    pub role: Role,
}

#[derive(Clone, Debug)]
pub struct RoomConfig {
    /// Longest chat message, in characters.
    pub max_chat_chars: usize,
    /// A viewer may send a chat message at most this often (ms); hosts and moderators are not limited.
    pub chat_interval_ms: i64,
    /// Frames kept for clients that resume after a reconnect.
    pub history: usize,
    /// Chat messages a snapshot carries.
    pub snapshot_chat: usize,
    /// Viewers' messages a frame carries at most (10 frames a second: 10x this per second). Above
    /// it, everyone sees the same fair sample; hosts' and moderators' messages always go out, and
    /// each sender gets their own message back at once (see [`Room::handle`]).
    pub max_chat_per_frame: usize,
    /// Words refused in viewers' messages and questions (lower case).
    pub blocked_words: Vec<String>,
    /// This room's name among the rooms of the same show on other nodes (the origin of the
    /// events it decides); also sent in snapshots, so a client resumes only where its `seq`
    /// numbers mean something.
    pub node: String,
}

impl Default for RoomConfig {
    fn default() -> Self {
        RoomConfig {
            max_chat_chars: 500,
            chat_interval_ms: 1000,
            history: 600,
            snapshot_chat: 50,
            max_chat_per_frame: 15,
            blocked_words: Vec::new(),
            node: "local".into(),
        }
    }
}

/// What a client may send (JSON, `type` names the message).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMessage {
    Chat {
        text: String,
        #[serde(default)]
        reply_to: Option<u64>,
    },
    Like {
        #[serde(default = "one")]
        count: u32,
    },
    Pin {
        product_id: String,
    },
    Unpin,
    /// Moderation (hosts and moderators): remove a message for everyone.
    Delete {
        message_id: u64,
    },
    /// Silence the author of a message for `seconds` (a ban when absent).
    Mute {
        message_id: u64,
        #[serde(default)]
        seconds: Option<u32>,
    },
    /// Viewers may send one message per `seconds` (0: the default pace).
    SlowMode {
        seconds: u32,
    },
    /// A viewer asks the host a question.
    Ask {
        text: String,
    },
    /// Hosts and moderators: mark a question answered, with the answer's text (a prepared
    /// answer, say) or without.
    Answer {
        question_id: u64,
        #[serde(default)]
        text: Option<String>,
    },
    /// Hosts and moderators: open a poll (2 to 6 options); it replaces an open one.
    Poll {
        question: String,
        options: Vec<String>,
    },
    /// One vote per person and poll.
    Vote {
        poll_id: u64,
        option: usize,
    },
    ClosePoll {
        poll_id: u64,
    },
    /// Hosts: move to the next segment of the run of show (pins its first product, opens its poll).
    Advance,
    /// Hosts and moderators: a line shown above the chat for everyone until the next one
    /// (empty text takes it down).
    Announce {
        text: String,
    },
}

/// A change to a show's room, decided by the room its sender is connected to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Change {
    Chat {
        author: String,
        name: String,
        role: Role,
        text: String,
        reply_to: Option<u64>,
    },
    /// Likes another node's viewers sent (in one tick).
    Likes {
        count: u64,
    },
    Pin {
        product_id: Option<String>,
    },
    Delete {
        message_id: u64,
        by: String,
    },
    Mute {
        message_id: u64,
        seconds: Option<u32>,
        by: String,
    },
    SlowMode {
        seconds: u32,
        by: String,
    },
    Ask {
        author: String,
        name: String,
        text: String,
    },
    Answer {
        question_id: u64,
        text: Option<String>,
    },
    Poll {
        question: String,
        options: Vec<String>,
    },
    Vote {
        poll_id: u64,
        option: usize,
        voter: String,
    },
    ClosePoll {
        poll_id: u64,
    },
    Advance {
        segment: usize,
    },
    Announce {
        text: String,
        by: String,
    },
}

/// A [`Change`] with where and when it was decided: what the rooms of a show on several nodes
/// exchange over the bus.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    /// The deciding room's [`RoomConfig::node`].
    pub origin: String,
    /// The deciding driver's reference, to answer the sender once the event is applied.
    pub token: u64,
    pub at: i64,
    pub media_ms: Option<i64>,
    pub change: Change,
}

/// A question viewers asked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Question {
    pub id: u64,
    pub name: String,
    pub text: String,
    pub at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media_ms: Option<i64>,
    pub answered: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
}

/// A poll and its live results.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PollState {
    pub id: u64,
    pub question: String,
    pub options: Vec<String>,
    pub votes: Vec<u64>,
    pub open: bool,
}

/// A segment of the run of show as the room uses it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    pub index: usize,
    pub title: String,
    pub product_ids: Vec<String>,
    /// The segment's flash deal as planned (price, quantity, duration), for the page's countdown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deal: Option<serde_json::Value>,
    /// When the segment's deal ends (Unix ms), set when the host moves to the segment: the
    /// page's countdown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deal_ends_at: Option<i64>,
    #[serde(skip)]
    pub poll: Option<(String, Vec<String>)>,
}

impl Segment {
    /// The room's view of a planned segment.
    pub fn from_plan(index: usize, s: &vetrina_domain::show::Segment) -> Segment {
        Segment {
            index,
            title: s.title.clone(),
            product_ids: s.product_ids.iter().map(|p| p.0.clone()).collect(),
            deal: s.deal.as_ref().and_then(|d| serde_json::to_value(d).ok()),
            deal_ends_at: None,
            poll: s.poll.as_ref().map(|p| (p.question.clone(), p.options.clone())),
        }
    }
}

fn one() -> u32 {
    1
}

/// Why a message was not taken; sent back to its sender only.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Refusal {
    pub code: &'static str,
    pub message: String,
    /// Seconds until the same message would be taken, where that is known (a mute, slow mode).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<i64>,
}

impl Refusal {
    pub fn new(code: &'static str, message: impl Into<String>) -> Refusal {
        Refusal { code, message: message.into(), retry_after: None }
    }

    /// The refusal lifts in `ms` milliseconds: said in whole seconds, rounded up.
    fn lifting_in(mut self, ms: i64) -> Refusal {
        self.retry_after = Some((ms.max(1) + 999) / 1000);
        self
    }
}

/// A chat message as everyone sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatLine {
    pub id: u64,
    pub name: String,
    pub role: Role,
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<u64>,
    /// Wall time, Unix ms.
    pub at: i64,
    /// The moment of video, in ms of the show's media clock, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media_ms: Option<i64>,
}

/// A host's or moderator's announcement, shown above the chat.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Announcement {
    pub text: String,
    pub by: String,
    pub at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media_ms: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pin {
    pub product_id: String,
    pub at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media_ms: Option<i64>,
}

/// What changed since the previous frame.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Frame {
    pub v: u32,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub seq: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub chat: Vec<ChatLine>,
    /// Likes since the previous frame (a burst to animate) and in all.
    pub likes: u64,
    pub likes_total: u64,
    pub viewers: u64,
    pub peak_viewers: u64,
    /// Present when the pin changed: the product now pinned, or `null` when unpinned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pinned: Option<Option<Pin>>,
    /// Messages moderators removed: take them off the screen.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub deleted: Vec<u64>,
    /// Present when slow mode changed: seconds between a viewer's messages (0: off).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slow_mode: Option<u32>,
    /// Questions asked or answered since the previous frame.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub questions: Vec<Question>,
    /// Present when the poll changed (opened, votes, closed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub poll: Option<PollState>,
    /// Present when the run of show moved to another segment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub segment: Option<Segment>,
    /// Present when the announcement changed (`null`: taken down).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub announcement: Option<Option<Announcement>>,
    /// Variants whose stock changed: units buyers may still add.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stock: Vec<StockLine>,
}

/// Units of a variant buyers may still add (`available` is `null` when stock is not counted).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StockLine {
    pub product_id: String,
    pub variant_id: String,
    pub available: Option<i64>,
}

/// Everything a joining (or lagging) client needs to draw the room.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Snapshot {
    pub v: u32,
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The last frame's sequence number: frames after it follow.
    pub seq: u64,
    pub chat: Vec<ChatLine>,
    pub likes_total: u64,
    pub viewers: u64,
    pub peak_viewers: u64,
    pub pinned: Option<Pin>,
    /// Open (unanswered) questions and the latest answered ones.
    pub questions: Vec<Question>,
    pub poll: Option<PollState>,
    pub segment: Option<Segment>,
    pub announcement: Option<Announcement>,
    /// Stock of the variants the room knows of.
    pub stock: Vec<StockLine>,
    /// Seconds between a viewer's messages (0: slow mode is off, one a second).
    pub slow_mode: u32,
    /// Which room instance the `seq` numbers belong to: resume with `?since=SEQ&room=ROOM`.
    pub room: String,
    /// What the receiving connection is.
    pub you: You,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct You {
    pub name: String,
    pub role: Role,
    pub can_chat: bool,
}

struct Connected {
    member: Member,
    last_chat_at: Option<i64>,
}

/// A ban a moderator made in this room, for the store: it holds in all the organisation's rooms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ban {
    pub identity: String,
    /// The banned person's display name.
    pub name: String,
    /// Who banned them.
    pub by: String,
    pub at: i64,
}

/// A run-of-show deal the host started.
#[derive(Clone, Debug, PartialEq)]
pub struct StartedDeal {
    pub segment: usize,
    /// The deal as planned (`vetrina_domain::show::Deal` as JSON).
    pub deal: serde_json::Value,
    pub starts_at: i64,
    pub ends_at: i64,
}

/// A moderator's action, for the room's log (the timeline keeps it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ModerationAction {
    pub by: String,
    pub action: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<u64>,
    /// The display name of the person acted on (whose message was deleted, who was muted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seconds: Option<u32>,
}

/// One event for the show's timeline (wall time, media time, what).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimelineEvent {
    pub at: i64,
    pub media_ms: Option<i64>,
    pub kind: &'static str,
    /// The event as JSON text.
    pub data: String,
}

/// What a room keeps across a restart of its node, or hands to a node that joins the show
/// later: everything the show's events built (the pinned product, the poll and who voted, the
/// questions, the recent chat and who wrote it, mutes, slow mode, the segment, the
/// announcement, the counters), not its connections or what is waiting for the next tick.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Saved {
    /// Events applied when it was saved (see [`Room::applied`]).
    pub applied: u64,
    next_chat_id: u64,
    likes_total: u64,
    peak: u64,
    pinned: Option<Pin>,
    recent_chat: Vec<ChatLine>,
    /// (message id, identity, name) of the latest messages, so moderators can still mute them.
    authors: Vec<(u64, String, String)>,
    muted: Vec<(String, i64)>,
    /// Identities that wrote as hosts or moderators (never muted or banned).
    staff: Vec<String>,
    slow_mode_ms: Option<i64>,
    questions: Vec<Question>,
    question_authors: Vec<(u64, String)>,
    /// How many questions each identity asked in the show, forgotten ones too.
    questions_asked: Vec<(String, u32)>,
    next_question_id: u64,
    poll: Option<PollState>,
    /// Who voted in the open poll (one vote each).
    voters: Vec<String>,
    next_poll_id: u64,
    segment: Option<Segment>,
    announcement: Option<Announcement>,
}

/// Questions a room keeps (the timeline keeps them all): a question asked when this many are
/// kept pushes out the oldest answered one, or else the oldest.
const QUESTIONS_KEPT: usize = 1_000;

/// Questions one person may ask in a show.
const QUESTIONS_PER_PERSON: u32 = 20;
/// Open questions a snapshot carries: the host's queue.
const SNAPSHOT_OPEN_QUESTIONS: usize = 200;
/// Answered questions a snapshot carries.
const SNAPSHOT_ANSWERED_QUESTIONS: usize = 20;

/// Authors kept in a [`Saved`] state: the messages a moderator may still act on.
const SAVED_AUTHORS: usize = 1_000;

pub struct Room {
    config: RoomConfig,
    /// Events for the timeline since it was last drained.
    timeline: Vec<TimelineEvent>,
    conns: HashMap<Conn, Connected>,
    seq: u64,
    next_chat_id: u64,
    pending_chat: Vec<ChatLine>,
    pending_likes: u64,
    likes_total: u64,
    peak: u64,
    pinned: Option<Pin>,
    pin_changed: bool,
    /// The viewer count the last frame carried.
    sent_viewers: u64,
    /// When the last frame was made (`tick_at`).
    frame_at: i64,
    recent_chat: VecDeque<ChatLine>,
    history: VecDeque<(u64, Arc<str>)>,
    /// Who wrote the recent messages (identities stay in the room, never in frames).
    authors: VecDeque<(u64, String, String)>,
    /// Silenced identities and until when (Unix ms; `i64::MAX` for a ban).
    muted: HashMap<String, i64>,
    /// Identities whose messages went out as a host's or a moderator's: they are never muted
    /// or banned (known from the events, so every node's room agrees).
    staff: std::collections::HashSet<String>,
    /// Identities banned from the organisation's chats: the stored list, and bans made here.
    banned: std::collections::HashSet<String>,
    /// Bans applied here lately (identity, when), kept while the stored list may not show them yet.
    recent_bans: Vec<(String, i64)>,
    /// Bans this room decided, for the store.
    new_bans: Vec<Ban>,
    /// Deals this room started (by advancing the run of show), for the store.
    started_deals: Vec<StartedDeal>,
    pending_deleted: Vec<u64>,
    slow_mode_ms: Option<i64>,
    slow_mode_changed: bool,
    questions: Vec<Question>,
    question_authors: HashMap<u64, String>,
    /// How many questions each identity asked in the show (the cap counts the forgotten ones).
    questions_asked: HashMap<String, u32>,
    pending_questions: Vec<Question>,
    next_question_id: u64,
    poll: Option<PollState>,
    voters: std::collections::HashSet<String>,
    poll_changed: bool,
    next_poll_id: u64,
    plan: Vec<Segment>,
    /// The show's line-up: the products a host may pin, with the run of show's.
    lineup: std::collections::HashSet<String>,
    /// The segment the host moved to last, as it started.
    segment: Option<Segment>,
    segment_changed: bool,
    announcement: Option<Announcement>,
    announcement_changed: bool,
    /// Stock per variant, and the variants changed since the last frame.
    stock: std::collections::BTreeMap<String, StockLine>,
    stock_changed: Vec<String>,
    /// Likes of this room's own connections not yet passed on to other nodes.
    local_likes: u64,
    /// Likes from other nodes in `pending_likes`.
    pending_remote_likes: u64,
    /// Viewers connected to other nodes' rooms of this show.
    remote_viewers: u64,
    records_viewers: bool,
    /// Events applied over the room's life (across restarts, through [`Saved`]): every room of
    /// a show counts the same, so the largest count is the freshest saved state.
    applied: u64,
    /// Likes of the show as the bus's events carried them (this room's own once they came back):
    /// what a state saved at a bus position holds.
    likes_on_bus: u64,
}

impl Room {
    pub fn new(config: RoomConfig) -> Room {
        Room {
            config,
            timeline: Vec::new(),
            conns: HashMap::new(),
            seq: 0,
            next_chat_id: 1,
            pending_chat: Vec::new(),
            pending_likes: 0,
            likes_total: 0,
            peak: 0,
            pinned: None,
            pin_changed: false,
            sent_viewers: 0,
            frame_at: i64::MIN / 2,
            recent_chat: VecDeque::new(),
            history: VecDeque::new(),
            authors: VecDeque::new(),
            muted: HashMap::new(),
            staff: std::collections::HashSet::new(),
            banned: std::collections::HashSet::new(),
            recent_bans: Vec::new(),
            new_bans: Vec::new(),
            started_deals: Vec::new(),
            pending_deleted: Vec::new(),
            slow_mode_ms: None,
            slow_mode_changed: false,
            questions: Vec::new(),
            question_authors: HashMap::new(),
            questions_asked: HashMap::new(),
            pending_questions: Vec::new(),
            next_question_id: 1,
            poll: None,
            voters: std::collections::HashSet::new(),
            poll_changed: false,
            next_poll_id: 1,
            plan: Vec::new(),
            lineup: std::collections::HashSet::new(),
            segment: None,
            segment_changed: false,
            announcement: None,
            announcement_changed: false,
            stock: std::collections::BTreeMap::new(),
            stock_changed: Vec::new(),
            local_likes: 0,
            pending_remote_likes: 0,
            remote_viewers: 0,
            records_viewers: true,
            applied: 0,
            likes_on_bus: 0,
        }
    }

    /// Likes over the show so far (as the last frame told).
    pub fn likes_total(&self) -> u64 {
        self.likes_total
    }

    /// Events applied over the room's life, counting those of a restored [`Saved`] state.
    pub fn applied(&self) -> u64 {
        self.applied
    }

    /// The room's state to keep (at `now`, Unix ms: mutes that ended are left out). Take it
    /// after a tick, when nothing waits for the next frame. `on_bus`: the state goes with a
    /// position on a shared bus, so its likes are those of the events up to there (this room's
    /// own still on their way are left to their events, or a room restoring it would count them
    /// twice).
    pub fn save(&self, now: i64, on_bus: bool) -> Saved {
        let poll_open = self.poll.as_ref().is_some_and(|p| p.open);
        Saved {
            applied: self.applied,
            next_chat_id: self.next_chat_id,
            likes_total: if on_bus { self.likes_on_bus } else { self.likes_total + self.pending_likes },
            peak: self.peak,
            pinned: self.pinned.clone(),
            recent_chat: self.recent_chat.iter().chain(&self.pending_chat).cloned().collect(),
            authors: self.authors.iter().rev().take(SAVED_AUTHORS).rev().cloned().collect(),
            muted: self.muted.iter().filter(|(_, until)| **until > now).map(|(who, until)| (who.clone(), *until)).collect(),
            staff: self.staff.iter().cloned().collect(),
            slow_mode_ms: self.slow_mode_ms,
            questions: self.questions.clone(),
            question_authors: self.question_authors.iter().map(|(id, who)| (*id, who.clone())).collect(),
            questions_asked: self.questions_asked.iter().map(|(who, n)| (who.clone(), *n)).collect(),
            next_question_id: self.next_question_id,
            poll: self.poll.clone(),
            voters: if poll_open { self.voters.iter().cloned().collect() } else { Vec::new() },
            next_poll_id: self.next_poll_id,
            segment: self.segment.clone(),
            announcement: self.announcement.clone(),
        }
    }

    /// Takes up a saved state, before the room serves anyone and before it applies the events
    /// that came after it.
    pub fn restore(&mut self, saved: Saved) {
        self.applied = saved.applied;
        self.next_chat_id = saved.next_chat_id.max(1);
        self.likes_total = saved.likes_total;
        self.likes_on_bus = saved.likes_total;
        self.peak = saved.peak;
        self.pinned = saved.pinned;
        let keep = saved.recent_chat.len().saturating_sub(self.config.snapshot_chat);
        self.recent_chat = saved.recent_chat.into_iter().skip(keep).collect();
        self.authors = saved.authors.into();
        self.muted = saved.muted.into_iter().collect();
        self.staff = saved.staff.into_iter().collect();
        self.slow_mode_ms = saved.slow_mode_ms;
        self.questions = saved.questions;
        self.question_authors = saved.question_authors.into_iter().collect();
        self.questions_asked = saved.questions_asked.into_iter().collect();
        // A state saved before the count was kept: count what it has.
        if self.questions_asked.is_empty() {
            for who in self.question_authors.values() {
                *self.questions_asked.entry(who.clone()).or_default() += 1;
            }
        }
        self.next_question_id = saved.next_question_id.max(1);
        self.poll = saved.poll;
        self.voters = saved.voters.into_iter().collect();
        self.next_poll_id = saved.next_poll_id.max(1);
        self.segment = saved.segment;
        self.announcement = saved.announcement;
    }

    /// The organisation's blocked words (refused in viewers' messages and questions).
    pub fn set_blocked_words(&mut self, words: Vec<String>) {
        self.config.blocked_words = words;
    }

    fn blocked(&self, text: &str) -> bool {
        let lower = text.to_lowercase();
        self.config.blocked_words.iter().any(|w| lower.contains(w.as_str()))
    }

    /// The show's line-up (product ids): the products a host may pin, besides the run of show's.
    pub fn set_lineup(&mut self, products: Vec<String>) {
        self.lineup = products.into_iter().collect();
    }

    /// The run of show the host advances through.
    pub fn set_plan(&mut self, plan: Vec<Segment>) {
        self.plan = plan;
    }

    /// Viewers in the show: this room's and other nodes'.
    pub fn viewers(&self) -> u64 {
        self.local_viewers() + self.remote_viewers
    }

    /// Connections to this room.
    /// The number of the last frame made.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    pub fn local_viewers(&self) -> u64 {
        self.conns.len() as u64
    }

    /// A connection joins; the answer is its snapshot.
    pub fn join(&mut self, conn: Conn, member: Member) -> Snapshot {
        self.conns.insert(conn, Connected { member, last_chat_at: None });
        self.peak = self.peak.max(self.viewers());
        self.snapshot(conn)
    }

    pub fn leave(&mut self, conn: Conn) {
        self.conns.remove(&conn);
    }

    /// The room as `conn` should draw it now.
    pub fn snapshot(&self, conn: Conn) -> Snapshot {
        let you = self.conns.get(&conn).map_or(You { name: String::new(), role: Role::Viewer, can_chat: false }, |c| You {
            name: c.member.name.clone(),
            role: c.member.role,
            can_chat: c.member.identity.is_some(),
        });
        Snapshot {
            v: PROTOCOL,
            kind: "snapshot",
            seq: self.seq,
            chat: self.recent_chat.iter().cloned().collect(),
            likes_total: self.likes_total,
            viewers: self.viewers(),
            peak_viewers: self.peak,
            pinned: self.pinned.clone(),
            questions: self.snapshot_questions(),
            poll: self.poll.clone(),
            segment: self.segment.clone(),
            announcement: self.announcement.clone(),
            stock: self.stock.values().cloned().collect(),
            slow_mode: self.slow_mode_ms.map_or(0, |ms| u32::try_from(ms / 1000).unwrap_or(u32::MAX)),
            room: self.config.node.clone(),
            you,
        }
    }

    /// Takes one message from `conn` at wall time `now` (Unix ms) and media time `media_ms`, on a
    /// room that is the only one of its show: [`Room::decide`] and [`Room::apply`] in one step.
    /// For a chat message, the answer is the line as everyone may see it: the driver sends it
    /// straight back to its sender, so a sender always sees their own message even when a busy
    /// room's frames carry only a sample.
    pub fn handle(&mut self, conn: Conn, message: ClientMessage, now: i64, media_ms: Option<i64>) -> Result<Option<ChatLine>, Refusal> {
        match self.decide(conn, message, now)? {
            Some(change) => {
                let event = self.event(change, 0, now, media_ms);
                self.apply(&event)
            }
            None => Ok(None),
        }
    }

    /// Wraps a change decided here as an event of this room (`token` lets the driver answer the
    /// sender when the event comes back from the bus).
    pub fn event(&self, change: Change, token: u64, now: i64, media_ms: Option<i64>) -> Event {
        Event { origin: self.config.node.clone(), token, at: now, media_ms, change }
    }

    /// Checks one message from `conn` (at wall time `now`, Unix ms) against the room's rules and state. Likes are counted here
    /// at once (they never travel one by one); anything else that changes the room comes back as
    /// a [`Change`] for every node's room to [`Room::apply`] in the same order.
    pub fn decide(&mut self, conn: Conn, message: ClientMessage, now: i64) -> Result<Option<Change>, Refusal> {
        let Some(c) = self.conns.get(&conn) else { return Err(Refusal::new("not_joined", "join the room first")) };
        let staff = c.member.role != Role::Viewer;
        let (name, role, identity) = (c.member.name.clone(), c.member.role, c.member.identity.clone());
        let staff_only =
            |what: &str| if staff { Ok(()) } else { Err(Refusal::new("forbidden", format!("only hosts and moderators {what}"))) };
        let change = match message {
            ClientMessage::Chat { text, reply_to } => {
                let Some(identity) = identity else {
                    return Err(Refusal::new("name_required", "choose a display name (POST /api/v1/guests) or sign in to chat"));
                };
                let text = text.trim();
                if text.is_empty() {
                    return Err(Refusal::new("empty", "the message is empty"));
                }
                if text.chars().count() > self.config.max_chat_chars {
                    return Err(Refusal::new("too_long", format!("a message is at most {} characters", self.config.max_chat_chars)));
                }
                if text.chars().any(|ch| ch.is_control() && ch != '\n') {
                    return Err(Refusal::new("invalid", "the message contains control characters"));
                }
                self.may_speak(&identity, now)?;
                let interval = self.slow_mode_ms.unwrap_or(self.config.chat_interval_ms);
                if !staff && c.last_chat_at.is_some_and(|last| now - last < interval) {
                    let wait = interval - (now - c.last_chat_at.unwrap_or(now));
                    return Err(Refusal::new("rate_limited", format!("one message every {interval} ms")).lifting_in(wait));
                }
                if !staff && has_link(text) {
                    return Err(Refusal::new("link", "links are not allowed in the chat"));
                }
                if reply_to.is_some_and(|id| !self.authors.iter().any(|(known, _, _)| *known == id)) {
                    return Err(Refusal::new("unknown_message", "the message replied to is not in this room"));
                }
                if !staff && self.blocked(text) {
                    return Err(Refusal::new("blocked_word", "the message contains a word this shop does not allow"));
                }
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.last_chat_at = Some(now);
                }
                Change::Chat { author: identity, name, role, text: text.to_string(), reply_to }
            }
            ClientMessage::Like { count } => {
                // Likes are counted, never relayed one by one; a burst is capped per message.
                let count = u64::from(count.clamp(1, 50));
                self.pending_likes += count;
                self.local_likes += count;
                return Ok(None);
            }
            ClientMessage::Pin { product_id } => {
                staff_only("pin products")?;
                if !self.lineup.contains(&product_id) && !self.plan.iter().any(|s| s.product_ids.contains(&product_id)) {
                    return Err(Refusal::new("not_in_lineup", "pin a product of the show's line-up or run of show"));
                }
                Change::Pin { product_id: Some(product_id) }
            }
            ClientMessage::Unpin => {
                staff_only("unpin products")?;
                Change::Pin { product_id: None }
            }
            ClientMessage::Delete { message_id } => {
                staff_only("delete messages")?;
                Change::Delete { message_id, by: name }
            }
            ClientMessage::Mute { message_id, seconds } => {
                staff_only("mute people")?;
                self.mutable_author(message_id)?;
                Change::Mute { message_id, seconds, by: name }
            }
            ClientMessage::SlowMode { seconds } => {
                staff_only("set slow mode")?;
                Change::SlowMode { seconds: seconds.min(3600), by: name }
            }
            ClientMessage::Ask { text } => {
                let Some(identity) = identity else {
                    return Err(Refusal::new("name_required", "choose a display name or sign in to ask"));
                };
                self.may_speak(&identity, now)?;
                let text = text.trim();
                if text.is_empty() || text.chars().count() > 300 {
                    return Err(Refusal::new("invalid", "a question is 1 to 300 characters"));
                }
                if !staff && has_link(text) {
                    return Err(Refusal::new("link", "links are not allowed in questions"));
                }
                if !staff && self.blocked(text) {
                    return Err(Refusal::new("blocked_word", "the question contains a word this shop does not allow"));
                }
                self.may_ask(&identity)?;
                Change::Ask { author: identity, name, text: text.to_string() }
            }
            ClientMessage::Answer { question_id, text } => {
                staff_only("answer questions")?;
                if !self.questions.iter().any(|q| q.id == question_id) {
                    return Err(Refusal::new("unknown_question", "that question is not in this room"));
                }
                let text = text.map(|t| t.trim().to_string()).filter(|t| !t.is_empty());
                if text.as_ref().is_some_and(|t| t.chars().count() > 2_000) {
                    return Err(Refusal::new("too_long", "an answer is at most 2,000 characters"));
                }
                Change::Answer { question_id, text }
            }
            ClientMessage::Poll { question, options } => {
                staff_only("open polls")?;
                let (question, options) = poll_input(&question, &options)?;
                Change::Poll { question, options }
            }
            ClientMessage::Vote { poll_id, option } => {
                let Some(voter) = identity else {
                    return Err(Refusal::new("name_required", "choose a display name or sign in to vote"));
                };
                self.may_vote(poll_id, option, &voter)?;
                Change::Vote { poll_id, option, voter }
            }
            ClientMessage::ClosePoll { poll_id } => {
                staff_only("close polls")?;
                if self.poll.as_ref().is_none_or(|p| p.id != poll_id) {
                    return Err(Refusal::new("poll_closed", "that poll is not open"));
                }
                Change::ClosePoll { poll_id }
            }
            ClientMessage::Advance => {
                // The run of show is the host's to play (moderators keep the chat).
                if role != Role::Host {
                    return Err(Refusal::new("forbidden", "only hosts move through the run of show"));
                }
                let next = self.segment.as_ref().map_or(0, |s| s.index + 1);
                let Some(segment) = self.plan.get(next) else {
                    return Err(Refusal::new("end_of_plan", "the run of show has no more segments"));
                };
                if let Some((question, options)) = &segment.poll {
                    poll_input(question, options)?;
                }
                Change::Advance { segment: next }
            }
            ClientMessage::Announce { text } => {
                staff_only("make announcements")?;
                let text = text.trim();
                if text.chars().count() > 300 || text.chars().any(|ch| ch.is_control()) {
                    return Err(Refusal::new("invalid", "an announcement is one line of at most 300 characters"));
                }
                Change::Announce { text: text.to_string(), by: name }
            }
        };
        Ok(Some(change))
    }

    /// The questions a snapshot carries: the latest open ones (the host's queue) and the latest
    /// answered, in the order they were asked.
    fn snapshot_questions(&self) -> Vec<Question> {
        let latest = |answered: bool, n: usize| self.questions.iter().rev().filter(move |q| q.answered == answered).take(n);
        let mut questions: Vec<Question> =
            latest(false, SNAPSHOT_OPEN_QUESTIONS).chain(latest(true, SNAPSHOT_ANSWERED_QUESTIONS)).cloned().collect();
        questions.sort_by_key(|q| q.id);
        questions
    }

    /// Keeps at most [`QUESTIONS_KEPT`]: the oldest answered go first, then the oldest open ones
    /// (the timeline keeps them all).
    fn forget_old_questions(&mut self) {
        while self.questions.len() > QUESTIONS_KEPT {
            let oldest = self.questions.iter().position(|q| q.answered).unwrap_or(0);
            let gone = self.questions.remove(oldest);
            self.question_authors.remove(&gone.id);
        }
    }

    /// Who wrote `message_id` (identity, name), when a moderator may silence them: a viewer.
    fn mutable_author(&self, message_id: u64) -> Result<(String, String), Refusal> {
        let Some((_, author, name)) = self.authors.iter().find(|(id, _, _)| *id == message_id) else {
            return Err(Refusal::new("unknown_message", "that message is not in this room"));
        };
        if self.staff.contains(author) {
            return Err(Refusal::new("forbidden", "hosts and moderators cannot be muted or banned"));
        }
        Ok((author.clone(), name.clone()))
    }

    /// Refuses banned and muted people.
    fn may_speak(&self, identity: &str, now: i64) -> Result<(), Refusal> {
        if self.banned.contains(identity) {
            return Err(Refusal::new("banned", "a moderator removed you from this shop's live chats"));
        }
        if let Some(until) = self.muted.get(identity).copied().filter(|until| *until > now) {
            let seconds = (until - now + 999) / 1000;
            return Err(Refusal::new("muted", format!("a moderator muted you for {seconds} more seconds")).lifting_in(until - now));
        }
        Ok(())
    }

    fn may_ask(&self, identity: &str) -> Result<(), Refusal> {
        if self.questions_asked.get(identity).copied().unwrap_or(0) >= QUESTIONS_PER_PERSON {
            return Err(Refusal::new("rate_limited", format!("at most {QUESTIONS_PER_PERSON} questions per person and show")));
        }
        Ok(())
    }

    fn may_vote(&self, poll_id: u64, option: usize, voter: &str) -> Result<(), Refusal> {
        let Some(poll) = self.poll.as_ref().filter(|p| p.id == poll_id && p.open) else {
            return Err(Refusal::new("poll_closed", "that poll is not open"));
        };
        if option >= poll.votes.len() {
            return Err(Refusal::new("invalid", "no such option"));
        }
        if self.voters.contains(voter) {
            return Err(Refusal::new("already_voted", "one vote per person"));
        }
        Ok(())
    }

    /// Applies one event to the room. Every node's room applies the same events in the same
    /// order (the bus's), so they agree on ids, pins, polls and who is muted; an event decided on
    /// stale state (two hosts advancing at once, a vote racing its poll's close) is refused here.
    /// Only the room that decided an event puts it on the timeline.
    pub fn apply(&mut self, event: &Event) -> Result<Option<ChatLine>, Refusal> {
        self.applied += 1;
        let mine = event.origin == self.config.node;
        let (now, media_ms) = (event.at, event.media_ms);
        let record = |room: &mut Room, kind: &'static str, data: String| {
            if mine {
                room.timeline.push(TimelineEvent { at: now, media_ms, kind, data });
            }
        };
        match &event.change {
            Change::Chat { author, name, role, text, reply_to } => {
                let line = ChatLine {
                    id: self.next_chat_id,
                    name: name.clone(),
                    role: *role,
                    text: text.clone(),
                    reply_to: *reply_to,
                    at: now,
                    media_ms,
                };
                self.next_chat_id += 1;
                if *role != Role::Viewer {
                    self.staff.insert(author.clone());
                }
                self.authors.push_back((line.id, author.clone(), name.clone()));
                if self.authors.len() > 10_000 {
                    self.authors.pop_front();
                }
                // The line itself keeps its own moment (the tick only batches it).
                record(self, "chat", serde_json::to_string(&line).unwrap_or_default());
                self.pending_chat.push(line.clone());
                return Ok(Some(line));
            }
            Change::Likes { count } => {
                self.likes_on_bus += count;
                // This room counted its own when they came in.
                if !mine {
                    self.pending_likes += count;
                    self.pending_remote_likes += count;
                }
            }
            Change::Pin { product_id } => {
                self.pinned = product_id.clone().map(|product_id| Pin { product_id, at: now, media_ms });
                self.pin_changed = true;
                record(self, "pin", serde_json::to_string(&self.pinned).unwrap_or_default());
            }
            Change::Delete { message_id, by } => {
                self.recent_chat.retain(|l| l.id != *message_id);
                self.pending_chat.retain(|l| l.id != *message_id);
                self.pending_deleted.push(*message_id);
                let target = self.authors.iter().find(|(id, _, _)| id == message_id).map(|(_, _, name)| name.clone());
                let action = ModerationAction { by: by.clone(), action: "delete", message_id: Some(*message_id), target, seconds: None };
                record(self, "moderation", serde_json::to_string(&action).unwrap_or_default());
            }
            Change::Mute { message_id, seconds, by } => {
                let (author, name) = self.mutable_author(*message_id)?;
                match seconds {
                    Some(s) => {
                        self.muted.insert(author, now + i64::from(*s) * 1000);
                    }
                    None => {
                        self.banned.insert(author.clone());
                        self.recent_bans.push((author.clone(), now));
                        if mine {
                            self.new_bans.push(Ban { identity: author, name: name.clone(), by: by.clone(), at: now });
                        }
                    }
                }
                let action = if seconds.is_some() { "mute" } else { "ban" };
                let action =
                    ModerationAction { by: by.clone(), action, message_id: Some(*message_id), target: Some(name), seconds: *seconds };
                record(self, "moderation", serde_json::to_string(&action).unwrap_or_default());
            }
            Change::SlowMode { seconds, by } => {
                self.slow_mode_ms = (*seconds > 0).then(|| i64::from(*seconds) * 1000);
                self.slow_mode_changed = true;
                let action =
                    ModerationAction { by: by.clone(), action: "slow_mode", message_id: None, target: None, seconds: Some(*seconds) };
                record(self, "moderation", serde_json::to_string(&action).unwrap_or_default());
            }
            Change::Ask { author, name, text } => {
                self.may_ask(author)?;
                let question = Question {
                    id: self.next_question_id,
                    name: name.clone(),
                    text: text.clone(),
                    at: now,
                    media_ms,
                    answered: false,
                    answer: None,
                };
                self.next_question_id += 1;
                self.question_authors.insert(question.id, author.clone());
                *self.questions_asked.entry(author.clone()).or_default() += 1;
                record(self, "question", serde_json::to_string(&question).unwrap_or_default());
                self.questions.push(question.clone());
                self.pending_questions.push(question);
                self.forget_old_questions();
            }
            Change::Answer { question_id, text } => {
                let Some(q) = self.questions.iter_mut().find(|q| q.id == *question_id) else {
                    return Err(Refusal::new("unknown_question", "that question is not in this room"));
                };
                q.answered = true;
                q.answer = text.clone();
                let q = q.clone();
                record(self, "answer", serde_json::to_string(&q).unwrap_or_default());
                self.pending_questions.push(q);
            }
            Change::Poll { question, options } => {
                for (kind, data) in self.open_poll(question.clone(), options.clone()) {
                    record(self, kind, data);
                }
            }
            Change::Vote { poll_id, option, voter } => {
                self.may_vote(*poll_id, *option, voter)?;
                self.voters.insert(voter.clone());
                if let Some(poll) = self.poll.as_mut() {
                    poll.votes[*option] += 1;
                }
                self.poll_changed = true;
                // Who voted stays in the room: the timeline is the show's public record.
                record(self, "vote", serde_json::json!({"poll_id": poll_id, "option": option}).to_string());
            }
            Change::ClosePoll { poll_id } => {
                let Some(poll) = self.poll.as_mut().filter(|p| p.id == *poll_id) else {
                    return Err(Refusal::new("poll_closed", "that poll is not open"));
                };
                poll.open = false;
                self.poll_changed = true;
                let data = serde_json::to_string(&poll).unwrap_or_default();
                record(self, "poll_closed", data);
            }
            Change::Advance { segment: index } => {
                if self.segment.as_ref().is_some_and(|current| current.index >= *index) {
                    return Err(Refusal::new("already_advanced", "the run of show already moved on"));
                }
                let Some(mut segment) = self.plan.get(*index).cloned() else {
                    return Err(Refusal::new("end_of_plan", "the run of show has no more segments"));
                };
                segment.deal_ends_at =
                    segment.deal.as_ref().and_then(|d| d.get("duration_seconds")?.as_i64()).filter(|s| *s > 0).map(|s| now + s * 1000);
                self.segment = Some(segment.clone());
                self.segment_changed = true;
                if mine && let (Some(deal), Some(ends_at)) = (&segment.deal, segment.deal_ends_at) {
                    self.started_deals.push(StartedDeal { segment: segment.index, deal: deal.clone(), starts_at: now, ends_at });
                }
                if let Some(first) = segment.product_ids.first() {
                    self.pinned = Some(Pin { product_id: first.clone(), at: now, media_ms });
                    self.pin_changed = true;
                    record(self, "pin", serde_json::to_string(&self.pinned).unwrap_or_default());
                }
                if let Some((question, options)) = segment.poll.clone() {
                    for (kind, data) in self.open_poll(question, options) {
                        record(self, kind, data);
                    }
                }
                record(self, "segment", serde_json::to_string(&segment).unwrap_or_default());
            }
            Change::Announce { text, by } => {
                self.announcement = (!text.is_empty()).then(|| Announcement { text: text.clone(), by: by.clone(), at: now, media_ms });
                self.announcement_changed = true;
                record(self, "announcement", serde_json::to_string(&self.announcement).unwrap_or_default());
            }
        }
        Ok(None)
    }

    /// The organisation's stored bans (read now and then): they replace the room's list, except
    /// for bans made here in the last 30 s, which the list read may not show yet.
    pub fn set_org_bans(&mut self, identities: Vec<String>, now: i64) {
        self.recent_bans.retain(|(_, at)| now - at < 30_000);
        self.banned = identities.into_iter().chain(self.recent_bans.iter().map(|(i, _)| i.clone())).collect();
    }

    /// Deals this room started since the last call, for the store (the shop sells at their
    /// price from `starts_at` to `ends_at`).
    pub fn drain_started_deals(&mut self) -> Vec<StartedDeal> {
        std::mem::take(&mut self.started_deals)
    }

    /// Bans this room decided since the last call, for the store.
    pub fn drain_bans(&mut self) -> Vec<Ban> {
        std::mem::take(&mut self.new_bans)
    }

    /// A variant's stock as the store has it now; the next frame carries it when it changed.
    pub fn set_stock(&mut self, line: StockLine) {
        if self.stock.get(&line.variant_id) != Some(&line) {
            if !self.stock_changed.contains(&line.variant_id) {
                self.stock_changed.push(line.variant_id.clone());
            }
            self.stock.insert(line.variant_id.clone(), line);
        }
    }

    /// The likes this room's own connections sent since the last call, for the other nodes.
    pub fn take_local_likes(&mut self) -> u64 {
        std::mem::take(&mut self.local_likes)
    }

    /// The viewers other nodes have in this show, added to this room's own; `record` says
    /// whether this room puts the total on the timeline (one node does).
    pub fn set_remote_viewers(&mut self, viewers: u64, record: bool) {
        self.remote_viewers = viewers;
        self.records_viewers = record;
        self.peak = self.peak.max(self.viewers());
    }

    /// Opens a poll (checked by [`poll_input`]) in place of the current one; the answer is the
    /// poll as the timeline keeps it.
    /// Opens a poll in place of the last one; what the timeline records: the poll it closed, if
    /// one was open (with its final results), and the new one.
    fn open_poll(&mut self, question: String, options: Vec<String>) -> Vec<(&'static str, String)> {
        let poll = PollState { id: self.next_poll_id, question, votes: vec![0; options.len()], options, open: true };
        self.next_poll_id += 1;
        self.voters.clear();
        let mut records = Vec::with_capacity(2);
        if let Some(mut replaced) = self.poll.take().filter(|p| p.open) {
            replaced.open = false;
            records.push(("poll_closed", serde_json::to_string(&replaced).unwrap_or_default()));
        }
        records.push(("poll", serde_json::to_string(&poll).unwrap_or_default()));
        self.poll = Some(poll);
        self.poll_changed = true;
        records
    }

    /// The timeline events gathered since the last call (chat lines, likes per tick, pins, the
    /// viewer count when it changed), for the store.
    pub fn drain_timeline(&mut self) -> Vec<TimelineEvent> {
        std::mem::take(&mut self.timeline)
    }

    /// Whether anything but the viewer count changed since the last frame.
    fn news_besides_viewers(&self) -> bool {
        !(self.pending_chat.is_empty()
            && self.pending_likes == 0
            && !self.pin_changed
            && self.pending_deleted.is_empty()
            && !self.slow_mode_changed
            && self.pending_questions.is_empty()
            && !self.poll_changed
            && !self.segment_changed
            && !self.announcement_changed
            && self.stock_changed.is_empty())
    }

    /// Everything since the previous tick as one frame (JSON text, made once), or `None` when
    /// nothing changed, or when only the viewer count did and the last frame is less than
    /// [`VIEWERS_ONLY_EVERY_MS`] old. `now` and `media_ms` stamp what the tick puts on the
    /// timeline.
    pub fn tick_at(&mut self, now: i64, media_ms: Option<i64>) -> Option<Arc<str>> {
        let viewers_changed = self.viewers() != self.sent_viewers;
        if viewers_changed && !self.news_besides_viewers() && now - self.frame_at < VIEWERS_ONLY_EVERY_MS {
            return None;
        }
        // Other nodes put their own likes on the timeline.
        let likes = self.pending_likes.saturating_sub(std::mem::take(&mut self.pending_remote_likes));
        let frame = self.tick()?;
        self.frame_at = now;
        let event = |kind: &'static str, data: String| TimelineEvent { at: now, media_ms, kind, data };
        if likes > 0 {
            self.timeline.push(event("likes", format!("{{\"count\":{likes}}}")));
        }
        if viewers_changed && self.records_viewers {
            self.timeline.push(event("viewers", format!("{{\"viewers\":{}}}", self.viewers())));
        }
        Some(frame)
    }

    /// Everything since the previous tick as one frame (JSON text, made once), or `None` when
    /// nothing changed.
    pub fn tick(&mut self) -> Option<Arc<str>> {
        let viewers = self.viewers();
        if !self.news_besides_viewers() && viewers == self.sent_viewers {
            return None;
        }
        self.seq += 1;
        self.pending_remote_likes = 0;
        self.peak = self.peak.max(viewers);
        self.likes_total += self.pending_likes;
        let pending = std::mem::take(&mut self.pending_chat);
        let chat = self.sample(pending);
        for line in &chat {
            self.recent_chat.push_back(line.clone());
            if self.recent_chat.len() > self.config.snapshot_chat {
                self.recent_chat.pop_front();
            }
        }
        let frame = Frame {
            v: PROTOCOL,
            kind: "frame",
            seq: self.seq,
            chat,
            likes: std::mem::take(&mut self.pending_likes),
            likes_total: self.likes_total,
            viewers,
            peak_viewers: self.peak,
            pinned: std::mem::take(&mut self.pin_changed).then(|| self.pinned.clone()),
            deleted: std::mem::take(&mut self.pending_deleted),
            slow_mode: std::mem::take(&mut self.slow_mode_changed).then(|| (self.slow_mode_ms.unwrap_or(0) / 1000) as u32),
            questions: std::mem::take(&mut self.pending_questions),
            poll: std::mem::take(&mut self.poll_changed).then(|| self.poll.clone()).flatten(),
            segment: std::mem::take(&mut self.segment_changed).then(|| self.segment.clone()).flatten(),
            announcement: std::mem::take(&mut self.announcement_changed).then(|| self.announcement.clone()),
            stock: std::mem::take(&mut self.stock_changed).iter().filter_map(|v| self.stock.get(v).cloned()).collect(),
        };
        self.sent_viewers = viewers;
        // Serialising plain data to a String cannot fail.
        let text: Arc<str> = serde_json::to_string(&frame).expect("frames serialise").into();
        self.history.push_back((self.seq, text.clone()));
        if self.history.len() > self.config.history {
            self.history.pop_front();
        }
        Some(text)
    }

    /// At most `max_chat_per_frame` viewers' lines, evenly spread over the tick's lines (the same
    /// for everyone), and every host's and moderator's line.
    fn sample(&self, lines: Vec<ChatLine>) -> Vec<ChatLine> {
        let n_viewer_lines = lines.iter().filter(|l| l.role == Role::Viewer).count();
        let max = self.config.max_chat_per_frame.max(1);
        if n_viewer_lines <= max {
            return lines;
        }
        let mut kept = Vec::with_capacity(max + 8);
        let mut i = 0;
        for line in lines {
            if line.role != Role::Viewer {
                kept.push(line);
                continue;
            }
            // Take line i when floor(i * max / n) advances: max lines spread evenly over n.
            if (i * max) / n_viewer_lines != ((i + 1) * max) / n_viewer_lines {
                kept.push(line);
            }
            i += 1;
        }
        kept
    }

    /// The frames after `seq`, for a client resuming after a reconnect; `None` when they are no
    /// longer kept, when there are more than `at_most` of them (a connection's queue holds no
    /// more: a snapshot is smaller than a long backlog), or when `seq` is in the future: send a
    /// snapshot instead.
    pub fn since(&self, seq: u64, at_most: usize) -> Option<Vec<Arc<str>>> {
        if seq > self.seq || self.seq - seq > at_most as u64 {
            return None;
        }
        if seq == self.seq {
            return Some(Vec::new());
        }
        let first = self.history.front()?.0;
        if seq + 1 < first {
            return None;
        }
        Some(self.history.iter().filter(|(s, _)| *s > seq).map(|(_, f)| f.clone()).collect())
    }
}

/// A poll's question and options, trimmed, when they make a poll: a question and 2 to 6 options
/// of at most 100 characters.
fn poll_input(question: &str, options: &[String]) -> Result<(String, Vec<String>), Refusal> {
    let question = question.trim().to_string();
    let options: Vec<String> = options.iter().map(|o| o.trim().to_string()).filter(|o| !o.is_empty()).collect();
    if question.is_empty()
        || question.chars().count() > 300
        || !(2..=6).contains(&options.len())
        || options.iter().any(|o| o.chars().count() > 100)
    {
        return Err(Refusal::new("invalid", "a poll has a question and 2 to 6 options of at most 100 characters"));
    }
    Ok((question, options))
}

/// Whether a message holds a link: an URL with a scheme, a `www.` address, or a bare address
/// (`shop.example.com/x`, `bit.ly/x`, `t.me/x`, `outlet.it`) whose last label is a top-level
/// domain spammers use. A word with a dot that ends in no such domain (`e.g.`, `3.50`,
/// `ok.ciao`) is not a link, nor a sentence typed without a space after its full stop
/// (`Bello.In che taglia?`, `Sì.io lo prendo`): a domain written `In` is the start of a sentence,
/// and domains that are also everyday words count only with a path or a subdomain.
fn has_link(text: &str) -> bool {
    let lower = text.to_lowercase();
    if lower.contains("://") || lower.contains("www.") {
        return true;
    }
    text.split(|c: char| c.is_whitespace() || matches!(c, '(' | ')' | '<' | '>' | '"' | '\'' | '[' | ']' | ',' | ';')).any(|word| {
        let host = word.split(['/', '?', '#']).next().unwrap_or("");
        let host = host.split(':').next().unwrap_or("").trim_end_matches(['.', '!', '?']);
        let labels: Vec<&str> = host.split('.').collect();
        let [.., name, written] = labels[..] else { return false };
        let tld = written.to_lowercase();
        let path = word.contains('/');
        let mut letters = written.chars();
        let sentence = letters.next().is_some_and(char::is_uppercase) && letters.clone().count() > 0 && letters.all(char::is_lowercase);
        labels.iter().all(|l| !l.is_empty() && l.chars().all(|c| c.is_alphanumeric() || c == '-'))
            && LINK_TLDS.contains(&tld.as_str())
            // `p.es.` is Italian for "for example"; `t.co/x` is a link.
            && (name.chars().count() > 1 || path)
            && !sentence
            && (!WORD_TLDS.contains(&tld.as_str()) || path || labels.len() > 2)
    })
}

/// Top-level domains that are also everyday words in the shops' languages (`in`, `io`, `me`,
/// `to`, `es`, ...): a bare address ending in one is a link only with a path or a subdomain.
const WORD_TLDS: &[&str] = &["in", "io", "me", "to", "at", "be", "us", "es", "de"];

/// Top-level domains a bare address in a message ends with: the generic ones, the newer ones
/// seen in spam, and the country codes of the shops' markets and of link shorteners.
const LINK_TLDS: &[&str] = &[
    "com", "net", "org", "info", "biz", "io", "co", "me", "tv", "ly", "gg", "to", "app", "dev", "xyz", "top", "site", "online", "shop",
    "store", "link", "click", "club", "live", "vip", "win", "bid", "icu", "buzz", "fun", "cc", "ws", "it", "eu", "uk", "de", "fr", "es",
    "nl", "be", "ch", "at", "pt", "pl", "ru", "cn", "us", "ca", "au", "in", "br",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn member(name: &str, role: Role) -> Member {
        Member { identity: Some(format!("gst_{name}")), name: name.into(), role }
    }

    /// A room whose line-up holds the products the tests pin.
    fn room() -> Room {
        let mut room = Room::new(RoomConfig::default());
        room.set_lineup(vec!["prd_1".into(), "prd_9".into()]);
        room
    }

    fn frame(text: &Arc<str>) -> serde_json::Value {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn ticks_coalesce_chat_likes_and_pins() {
        let mut room = room();
        let snap = room.join(1, member("anna", Role::Viewer));
        assert_eq!(snap.viewers, 1);
        room.join(2, member("host", Role::Host));
        room.handle(1, ClientMessage::Chat { text: " ciao! ".into(), reply_to: None }, 1_000, Some(500)).unwrap();
        for _ in 0..40 {
            room.handle(1, ClientMessage::Like { count: 1 }, 1_010, None).unwrap();
        }
        room.handle(2, ClientMessage::Pin { product_id: "prd_1".into() }, 1_020, Some(520)).unwrap();
        let f = frame(&room.tick().unwrap());
        assert_eq!(f["seq"], 1);
        assert_eq!(f["chat"][0]["text"], "ciao!");
        assert_eq!(f["chat"][0]["media_ms"], 500);
        assert_eq!(f["likes"], 40, "40 likes, one frame");
        assert_eq!(f["viewers"], 2);
        assert_eq!(f["pinned"]["product_id"], "prd_1");
        assert!(room.tick().is_none(), "nothing new, no frame");
        room.leave(1);
        let f = frame(&room.tick().unwrap());
        assert_eq!((f["viewers"].as_u64(), f["peak_viewers"].as_u64()), (Some(1), Some(2)));
        assert!(f.get("pinned").is_none(), "the pin did not change");
    }

    #[test]
    fn a_frame_for_the_viewer_count_alone_goes_once_a_second() {
        let mut room = room();
        room.join(1, member("anna", Role::Viewer));
        assert_eq!(frame(&room.tick_at(0, None).unwrap())["viewers"], 1, "the first goes at once");
        room.join(2, member("bruno", Role::Viewer));
        assert!(room.tick_at(100, None).is_none(), "a newcomer alone waits");
        room.join(3, member("carla", Role::Viewer));
        assert!(room.tick_at(900, None).is_none());
        assert_eq!(frame(&room.tick_at(1_000, None).unwrap())["viewers"], 3, "a second after the last frame");
        // Anything else goes on the next tick, with the count.
        room.join(4, member("dario", Role::Viewer));
        room.handle(1, ClientMessage::Chat { text: "ciao".into(), reply_to: None }, 1_050, None).unwrap();
        let f = frame(&room.tick_at(1_100, None).unwrap());
        assert_eq!((f["viewers"].as_u64(), f["chat"][0]["text"].as_str()), (Some(4), Some("ciao")));
        room.leave(4);
        assert!(room.tick_at(1_200, None).is_none());
        assert!(room.tick_at(2_099, None).is_none());
        assert_eq!(frame(&room.tick_at(2_100, None).unwrap())["viewers"], 3);
    }

    #[test]
    fn a_saved_room_comes_back_as_it_was() {
        let mut room = room();
        room.join(1, member("anna", Role::Viewer));
        room.join(2, member("host", Role::Host));
        room.join(3, member("bruno", Role::Viewer));
        room.handle(1, ClientMessage::Chat { text: "ciao".into(), reply_to: None }, 1_000, Some(100)).unwrap();
        room.handle(3, ClientMessage::Chat { text: "buongiorno".into(), reply_to: None }, 1_000, Some(100)).unwrap();
        room.handle(2, ClientMessage::Pin { product_id: "prd_1".into() }, 1_100, Some(200)).unwrap();
        room.handle(2, ClientMessage::Poll { question: "Rosso o blu?".into(), options: vec!["Rosso".into(), "Blu".into()] }, 1_200, None)
            .unwrap();
        room.handle(1, ClientMessage::Vote { poll_id: 1, option: 1 }, 1_300, None).unwrap();
        room.handle(1, ClientMessage::Ask { text: "Che taglie?".into() }, 1_400, None).unwrap();
        room.handle(2, ClientMessage::Mute { message_id: 2, seconds: Some(600) }, 1_500, None).unwrap();
        room.handle(1, ClientMessage::Like { count: 7 }, 1_600, None).unwrap();
        room.tick_at(1_700, None);
        let applied = room.applied();
        assert_eq!(applied, 7, "chat, chat, pin, poll, vote, question, mute (likes are counted, not applied)");
        let saved: Saved = serde_json::from_str(&serde_json::to_string(&room.save(2_000, false)).unwrap()).unwrap();

        let mut again = Room::new(RoomConfig { node: "other".into(), ..RoomConfig::default() });
        again.restore(saved);
        assert_eq!(again.applied(), applied);
        again.join(1, member("anna", Role::Viewer));
        again.join(3, member("bruno", Role::Viewer));
        let snap = serde_json::to_value(again.snapshot(1)).unwrap();
        let before = serde_json::to_value(room.snapshot(1)).unwrap();
        for field in ["chat", "likes_total", "pinned", "questions", "poll", "peak_viewers"] {
            assert_eq!(snap[field], before[field], "{field}");
        }
        assert_eq!(snap["poll"]["votes"], serde_json::json!([0, 1]));
        // One vote each still holds; the muted viewer is still muted; ids go on.
        assert_eq!(again.handle(1, ClientMessage::Vote { poll_id: 1, option: 0 }, 2_100, None).unwrap_err().code, "already_voted");
        assert_eq!(again.handle(3, ClientMessage::Chat { text: "ehi".into(), reply_to: None }, 2_100, None).unwrap_err().code, "muted");
        let line = again.handle(1, ClientMessage::Chat { text: "di nuovo".into(), reply_to: None }, 2_200, None).unwrap().unwrap();
        assert_eq!(line.id, 3, "chat ids go on from the saved room");
        let asked = again.handle(1, ClientMessage::Ask { text: "E i colori?".into() }, 2_300, None);
        assert!(asked.is_ok());
        assert_eq!(again.save(2_400, false).questions.last().map(|q| q.id), Some(2));
        // A mute that ended is not kept.
        assert!(again.save(1_500 + 600_001, false).muted.is_empty());
    }

    #[test]
    fn a_state_saved_on_the_bus_counts_likes_once() {
        let mut a = Room::new(RoomConfig { node: "a".into(), ..RoomConfig::default() });
        a.join(1, member("anna", Role::Viewer));
        // Other nodes' likes came through the bus; then a's own, counted at once and published.
        a.apply(&Event { origin: "b".into(), token: 0, at: 900, media_ms: None, change: Change::Likes { count: 5 } }).unwrap();
        a.handle(1, ClientMessage::Like { count: 7 }, 1_000, None).unwrap();
        let own = Change::Likes { count: a.take_local_likes() };
        a.tick_at(1_100, None);
        assert_eq!(a.likes_total(), 12);
        // Saved before a's own likes came back round the bus: a room restoring it gets them from
        // the bus after the saved position, once.
        let saved = a.save(1_150, true);
        let mut c = Room::new(RoomConfig { node: "c".into(), ..RoomConfig::default() });
        c.restore(saved);
        c.apply(&Event { origin: "a".into(), token: 0, at: 1_100, media_ms: None, change: own.clone() }).unwrap();
        c.join(1, member("carla", Role::Viewer));
        c.tick_at(1_200, None);
        assert_eq!(c.likes_total(), 12, "no like counted twice");
        // One node: every like is the room's own, all saved.
        assert_eq!(a.save(1_150, false).likes_total, 12);
    }

    #[test]
    fn rules_under_virtual_time() {
        let mut room = room();
        room.join(1, member("anna", Role::Viewer));
        room.join(3, Member { identity: None, name: "Guest".into(), role: Role::Viewer });
        let chat = |t: &str| ClientMessage::Chat { text: t.into(), reply_to: None };
        assert!(room.handle(1, chat("uno"), 0, None).is_ok());
        let early = room.handle(1, chat("due"), 999, None).unwrap_err();
        assert_eq!((early.code, early.retry_after), ("rate_limited", Some(1)), "a millisecond still says a second");
        assert!(room.handle(1, chat("tre"), 1_000, None).is_ok());
        assert_eq!(room.handle(1, chat("   "), 5_000, None).unwrap_err().code, "empty");
        assert_eq!(room.handle(1, chat(&"x".repeat(501)), 5_000, None).unwrap_err().code, "too_long");
        assert_eq!(room.handle(3, chat("hi"), 5_000, None).unwrap_err().code, "name_required");
        assert_eq!(room.handle(1, ClientMessage::Pin { product_id: "prd_1".into() }, 0, None).unwrap_err().code, "forbidden");
        assert_eq!(room.handle(9, chat("ghost"), 0, None).unwrap_err().code, "not_joined");
    }

    #[test]
    fn the_timeline_gets_every_event_with_its_moment() {
        let mut room = room();
        room.join(1, member("host", Role::Host));
        room.handle(1, ClientMessage::Chat { text: "ciao".into(), reply_to: None }, 1_000, Some(100)).unwrap();
        room.handle(1, ClientMessage::Like { count: 5 }, 1_010, Some(110)).unwrap();
        room.handle(1, ClientMessage::Pin { product_id: "prd_9".into() }, 1_020, Some(120)).unwrap();
        room.tick_at(1_050, Some(150)).unwrap();
        let events = room.drain_timeline();
        let kinds: Vec<&str> = events.iter().map(|e| e.kind).collect();
        assert_eq!(kinds, ["chat", "pin", "likes", "viewers"]);
        assert_eq!(events[0].media_ms, Some(100), "a chat line keeps the moment it was sent");
        assert!(events[1].data.contains("prd_9"));
        assert_eq!(events[1].media_ms, Some(120), "a pin keeps its moment");
        assert_eq!(events[2].data, "{\"count\":5}");
        assert!(room.drain_timeline().is_empty());
    }

    #[test]
    fn moderation() {
        let mut room = room();
        room.join(1, member("troll", Role::Viewer));
        room.join(2, member("mod", Role::Moderator));
        let chat = |t: &str| ClientMessage::Chat { text: t.into(), reply_to: None };
        assert_eq!(room.handle(1, chat("buy at https://scam.example"), 0, None).unwrap_err().code, "link");
        room.handle(1, chat("rude"), 0, None).unwrap();
        room.tick().unwrap();
        assert_eq!(room.handle(1, ClientMessage::Delete { message_id: 1 }, 10, None).unwrap_err().code, "forbidden");
        room.handle(2, ClientMessage::Delete { message_id: 1 }, 20, None).unwrap();
        room.handle(2, ClientMessage::Mute { message_id: 1, seconds: Some(60) }, 30, None).unwrap();
        let f: serde_json::Value = serde_json::from_str(&room.tick().unwrap()).unwrap();
        assert_eq!(f["deleted"], serde_json::json!([1]));
        assert!(room.snapshot(1).chat.is_empty(), "gone for latecomers too");
        let muted = room.handle(1, chat("again"), 5_000, None).unwrap_err();
        assert_eq!((muted.code, muted.retry_after), ("muted", Some(56)), "muted at 30 ms for 60 s: 55.03 s left at 5 s, said as 56");
        assert!(room.handle(1, chat("later"), 61_000, None).is_ok(), "the mute ends");
        room.handle(2, ClientMessage::Mute { message_id: 2, seconds: None }, 62_000, None).unwrap();
        assert_eq!(room.handle(1, chat("x"), 999_999_999, None).unwrap_err().code, "banned");
        assert_eq!(room.handle(1, ClientMessage::Ask { text: "e allora?".into() }, 62_100, None).unwrap_err().code, "banned");
        let bans = room.drain_bans();
        assert_eq!((bans.len(), bans[0].identity.as_str(), bans[0].name.as_str(), bans[0].by.as_str()), (1, "gst_troll", "troll", "mod"));
        room.set_org_bans(vec![], 70_000);
        assert_eq!(room.handle(1, chat("y"), 70_000, None).unwrap_err().code, "banned", "the store may not show a fresh ban yet");
        room.set_org_bans(vec![], 93_000);
        assert!(room.handle(1, chat("lifted"), 93_000, None).is_ok(), "a moderator lifted the ban in the console");
        room.set_org_bans(vec!["gst_troll".into()], 94_000);
        assert_eq!(room.handle(1, chat("z"), 95_000, None).unwrap_err().code, "banned", "banned in another show");
        room.set_blocked_words(vec!["scemo".into()]);
        room.join(4, member("other", Role::Viewer));
        assert_eq!(room.handle(4, chat("Sei uno SCEMO"), 70_000, None).unwrap_err().code, "blocked_word");
        let staff_line = room.handle(2, chat("scemo chi legge"), 70_000, None).unwrap().expect("staff are not filtered");
        for action in [
            ClientMessage::Mute { message_id: staff_line.id, seconds: Some(60) },
            ClientMessage::Mute { message_id: staff_line.id, seconds: None },
        ] {
            assert_eq!(room.handle(2, action, 70_001, None).unwrap_err().code, "forbidden", "hosts and moderators are not silenced");
        }
        let reply = |to| ClientMessage::Chat { text: "sì".into(), reply_to: Some(to) };
        assert_eq!(room.handle(4, reply(9_999), 70_002, None).unwrap_err().code, "unknown_message");
        assert_eq!(room.handle(4, reply(staff_line.id), 70_003, None).unwrap().unwrap().reply_to, Some(staff_line.id));
        room.handle(2, ClientMessage::SlowMode { seconds: 10 }, 0, None).unwrap();
        room.join(3, member("fan", Role::Viewer));
        assert_eq!(room.snapshot(3).slow_mode, 10, "newcomers learn of slow mode");
        room.handle(3, chat("one"), 100_000, None).unwrap();
        assert_eq!(room.handle(3, chat("two"), 105_000, None).unwrap_err().code, "rate_limited");
        let logged: Vec<String> = room.drain_timeline().into_iter().filter(|e| e.kind == "moderation").map(|e| e.data).collect();
        assert_eq!(logged.len(), 4, "{logged:?}");
        assert!(logged[0].contains("\"action\":\"delete\"") && logged[0].contains("\"by\":\"mod\""));
    }

    #[test]
    fn questions_polls_and_the_run_of_show() {
        let mut room = room();
        room.set_plan(vec![
            Segment { index: 0, title: "Apertura".into(), product_ids: vec!["prd_a".into()], deal: None, deal_ends_at: None, poll: None },
            Segment {
                index: 1,
                title: "Il lino".into(),
                product_ids: vec!["prd_b".into(), "prd_c".into()],
                deal: Some(serde_json::json!({"percent_off": 20, "duration_seconds": 300})),
                deal_ends_at: None,
                poll: Some(("Sabbia o blu?".into(), vec!["Sabbia".into(), "Blu".into()])),
            },
        ]);
        room.join(1, member("anna", Role::Viewer));
        room.join(2, member("host", Role::Host));
        room.join(3, member("bea", Role::Viewer));
        room.handle(1, ClientMessage::Ask { text: "Spedite in Svizzera?".into() }, 0, None).unwrap();
        assert_eq!(room.handle(1, ClientMessage::Answer { question_id: 1, text: None }, 0, None).unwrap_err().code, "forbidden");
        let long = Some("x".repeat(2_001));
        assert_eq!(room.handle(2, ClientMessage::Answer { question_id: 1, text: long }, 10, None).unwrap_err().code, "too_long");
        room.handle(2, ClientMessage::Answer { question_id: 1, text: Some("Sì, in 5 giorni.".into()) }, 10, None).unwrap();
        let f: serde_json::Value = serde_json::from_str(&room.tick().unwrap()).unwrap();
        assert_eq!(f["questions"][1]["answer"], "Sì, in 5 giorni.");

        assert_eq!(room.handle(1, ClientMessage::Advance, 0, None).unwrap_err().code, "forbidden");
        room.join(4, member("mod", Role::Moderator));
        assert_eq!(room.handle(4, ClientMessage::Advance, 0, None).unwrap_err().code, "forbidden", "the run of show is the host's");
        room.leave(4);
        room.handle(2, ClientMessage::Advance, 100, Some(5)).unwrap();
        room.handle(2, ClientMessage::Advance, 200, Some(6)).unwrap();
        let f: serde_json::Value = serde_json::from_str(&room.tick().unwrap()).unwrap();
        assert_eq!(f["segment"]["title"], "Il lino");
        assert_eq!(f["segment"]["deal"]["percent_off"], 20);
        assert_eq!(f["segment"]["deal_ends_at"], 200 + 300_000, "the deal's countdown starts with the segment");
        let started = room.drain_started_deals();
        assert_eq!((started.len(), started[0].segment, started[0].starts_at, started[0].ends_at), (1, 1, 200, 300_200), "for the shop");
        assert_eq!(f["pinned"]["product_id"], "prd_b", "advancing pins the segment's first product");
        let poll_id = f["poll"]["id"].as_u64().unwrap();
        assert_eq!(f["poll"]["question"], "Sabbia o blu?");
        room.handle(1, ClientMessage::Vote { poll_id, option: 1 }, 300, None).unwrap();
        assert_eq!(room.handle(1, ClientMessage::Vote { poll_id, option: 0 }, 301, None).unwrap_err().code, "already_voted");
        room.handle(3, ClientMessage::Vote { poll_id, option: 1 }, 302, None).unwrap();
        assert_eq!(room.handle(3, ClientMessage::Vote { poll_id, option: 9 }, 303, None).unwrap_err().code, "invalid");
        let f: serde_json::Value = serde_json::from_str(&room.tick().unwrap()).unwrap();
        assert_eq!(f["poll"]["votes"], serde_json::json!([0, 2]));
        room.handle(2, ClientMessage::ClosePoll { poll_id }, 400, None).unwrap();
        assert_eq!(room.handle(1, ClientMessage::Vote { poll_id, option: 0 }, 401, None).unwrap_err().code, "poll_closed");
        assert_eq!(room.handle(2, ClientMessage::Advance, 500, None).unwrap_err().code, "end_of_plan");
        let snapshot = room.snapshot(3);
        assert_eq!(snapshot.segment.unwrap().index, 1);
        assert!(!snapshot.poll.unwrap().open);
        assert_eq!(room.handle(1, ClientMessage::Announce { text: "Ciao".into() }, 600, None).unwrap_err().code, "forbidden");
        room.handle(2, ClientMessage::Announce { text: " Spedizione gratuita stasera ".into() }, 600, Some(60)).unwrap();
        let f: serde_json::Value = serde_json::from_str(&room.tick().unwrap()).unwrap();
        assert_eq!(f["announcement"]["text"], "Spedizione gratuita stasera");
        assert_eq!(room.snapshot(3).announcement.unwrap().by, "host");
        room.handle(2, ClientMessage::Announce { text: String::new() }, 700, None).unwrap();
        let f: serde_json::Value = serde_json::from_str(&room.tick().unwrap()).unwrap();
        assert!(f["announcement"].is_null() && f.get("announcement").is_some(), "taken down: {f}");
        let kinds: Vec<&str> = room.drain_timeline().iter().map(|e| e.kind).collect();
        for k in ["question", "answer", "segment", "poll", "vote", "poll_closed", "announcement"] {
            assert!(kinds.contains(&k), "{k} on the timeline: {kinds:?}");
        }
        assert_eq!(room.handle(2, ClientMessage::Pin { product_id: "prd_zz".into() }, 800, None).unwrap_err().code, "not_in_lineup");
        // Stock reaches everyone once per change.
        let line = |n| StockLine { product_id: "prd_b".into(), variant_id: "var_1".into(), available: Some(n) };
        room.set_stock(line(3));
        room.set_stock(line(2));
        let f: serde_json::Value = serde_json::from_str(&room.tick().unwrap()).unwrap();
        assert_eq!(f["stock"], serde_json::json!([{"product_id": "prd_b", "variant_id": "var_1", "available": 2}]));
        room.set_stock(line(2));
        assert!(room.tick().is_none(), "no change, no frame");
        assert_eq!(room.snapshot(1).stock, [line(2)]);
    }

    #[test]
    fn votes_are_on_the_timeline_without_the_voter_and_a_replaced_poll_closes_there() {
        let mut room = room();
        room.join(1, member("anna", Role::Viewer));
        room.join(2, member("host", Role::Host));
        let poll = |q: &str| ClientMessage::Poll { question: q.into(), options: vec!["Sì".into(), "No".into()] };
        room.handle(2, poll("Prima?"), 0, None).unwrap();
        room.handle(1, ClientMessage::Vote { poll_id: 1, option: 0 }, 10, Some(5)).unwrap();
        room.handle(2, poll("Seconda?"), 20, None).unwrap();
        let timeline = room.drain_timeline();
        let vote = timeline.iter().find(|e| e.kind == "vote").unwrap();
        assert_eq!(serde_json::from_str::<serde_json::Value>(&vote.data).unwrap(), serde_json::json!({"poll_id": 1, "option": 0}));
        assert_eq!(vote.media_ms, Some(5));
        let closed = timeline.iter().find(|e| e.kind == "poll_closed").expect("the replaced poll is closed on the timeline");
        let closed: serde_json::Value = serde_json::from_str(&closed.data).unwrap();
        assert_eq!((closed["id"].as_u64(), closed["votes"].clone()), (Some(1), serde_json::json!([1, 0])), "{closed}");
    }

    #[test]
    fn the_question_queue_keeps_the_latest_thousand() {
        let mut room = room();
        room.join(0, member("host", Role::Host));
        for conn in 1..=60 {
            room.join(conn, member(&format!("v{conn}"), Role::Viewer));
            for i in 0..20 {
                room.handle(conn, ClientMessage::Ask { text: format!("domanda {i} da v{conn}") }, 0, None).unwrap();
            }
            if conn == 10 {
                // The host answers the first fifty of 200.
                for id in 1..=50 {
                    room.handle(0, ClientMessage::Answer { question_id: id, text: None }, 10, None).unwrap();
                }
            }
        }
        let snapshot = room.snapshot(1);
        assert_eq!(room.questions.len(), 1_000, "1,200 asked, 1,000 kept");
        assert!(room.questions.iter().all(|q| !q.answered), "the answered ones went first");
        assert_eq!(room.questions[0].id, 201, "then the oldest open ones");
        assert_eq!(snapshot.questions.len(), 200, "a snapshot carries the latest open ones");
        assert_eq!(snapshot.questions.last().unwrap().id, 1_200);
        assert_eq!(room.handle(0, ClientMessage::Answer { question_id: 3, text: None }, 20, None).unwrap_err().code, "unknown_question");
        // v1's twenty are all forgotten: they still count, here and after a restart.
        assert!(room.questions.iter().all(|q| !q.name.ends_with("v1")));
        let ask = ClientMessage::Ask { text: "e la ventunesima?".into() };
        assert_eq!(room.handle(1, ask.clone(), 30, None).unwrap_err().code, "rate_limited");
        let mut again = Room::new(RoomConfig::default());
        again.restore(room.save(40, false));
        again.join(1, member("v1", Role::Viewer));
        assert_eq!(again.handle(1, ask, 50, None).unwrap_err().code, "rate_limited");
    }

    #[test]
    fn busy_rooms_send_a_fair_sample() {
        let mut room = Room::new(RoomConfig { max_chat_per_frame: 10, ..RoomConfig::default() });
        room.join(0, member("host", Role::Host));
        for i in 1..=100 {
            room.join(i, member(&format!("v{i}"), Role::Viewer));
        }
        let mut echoed = 0;
        for i in 1..=100 {
            let line = room.handle(i, ClientMessage::Chat { text: format!("m{i}"), reply_to: None }, 0, None).unwrap();
            echoed += usize::from(line.is_some_and(|l| l.text == format!("m{i}")));
        }
        room.handle(0, ClientMessage::Chat { text: "from the host".into(), reply_to: None }, 0, None).unwrap();
        assert_eq!(echoed, 100, "every sender gets their own line back");
        let f: serde_json::Value = serde_json::from_str(&room.tick().unwrap()).unwrap();
        let texts: Vec<&str> = f["chat"].as_array().unwrap().iter().map(|l| l["text"].as_str().unwrap()).collect();
        assert_eq!(texts.len(), 11, "ten viewers' lines and the host's: {texts:?}");
        assert!(texts.contains(&"from the host"));
        assert!(texts.contains(&"m10") && texts.contains(&"m100"), "spread over the tick: {texts:?}");
        assert_eq!(room.drain_timeline().iter().filter(|e| e.kind == "chat").count(), 101, "the timeline keeps every line");
    }

    #[test]
    fn links_are_found_in_what_people_write() {
        for link in [
            "see https://spam.example",
            "www.outlet-moda.it",
            "spam.shop/offerta",
            "vai su bit.ly/x2",
            "(saldi.com)",
            "t.me/canale",
            "OUTLET.IT!",
        ] {
            assert!(has_link(link), "{link}");
        }
        for link in ["outlet.it", "zalando.it/saldi", "negozio.shop.de", "vai su sito.io/x", "t.me/canale"] {
            assert!(has_link(link), "{link}");
        }
        for text in [
            "e.g. the blue one",
            "p.es. la taglia M",
            "costa 3.50 euro",
            "ok.ciao",
            "S.p.A.",
            "aspetta...it's here",
            "3 p.m.",
            "Bello.In che taglia?",
            "Nice.It fits",
            "Sì.Io lo prendo",
            "Perfetto.Me lo mandi",
            "ok.io lo prendo",
            "grazie.me lo mandi?",
            "Wow.Live stasera?",
        ] {
            assert!(!has_link(text), "{text}");
        }
    }

    #[test]
    fn resume_from_history_or_snapshot() {
        let mut room = Room::new(RoomConfig { history: 3, ..RoomConfig::default() });
        room.join(1, member("anna", Role::Host));
        for i in 0..5 {
            room.handle(1, ClientMessage::Chat { text: format!("m{i}"), reply_to: None }, i * 10, None).unwrap();
            room.tick().unwrap();
        }
        assert_eq!(room.since(5, 64).unwrap().len(), 0);
        let missed = room.since(3, 64).unwrap();
        assert_eq!(missed.len(), 2);
        assert_eq!(frame(&missed[0])["seq"], 4);
        assert!(room.since(1, 64).is_none(), "too old: snapshot");
        assert!(room.since(9, 64).is_none(), "from the future: snapshot");
        assert!(room.since(3, 1).is_none(), "more than a connection's queue holds: snapshot");
        assert_eq!(room.since(4, 1).unwrap().len(), 1);
        assert_eq!(room.snapshot(1).chat.len(), 5);
    }

    /// Two nodes' rooms of one show, with a bus that delivers every event to both in one order.
    #[test]
    fn rooms_on_two_nodes_agree() {
        let node = |name: &str| {
            let mut room = Room::new(RoomConfig { node: name.into(), ..RoomConfig::default() });
            room.set_plan(vec![
                Segment { index: 0, title: "Uno".into(), product_ids: vec!["prd_a".into()], deal: None, deal_ends_at: None, poll: None },
                Segment { index: 1, title: "Due".into(), product_ids: vec![], deal: None, deal_ends_at: None, poll: None },
            ]);
            room
        };
        let (mut a, mut b) = (node("a"), node("b"));
        a.join(1, member("host", Role::Host));
        a.join(2, member("anna", Role::Viewer));
        b.join(1, member("bea", Role::Viewer));
        b.join(2, member("host2", Role::Host));
        let mut bus: Vec<Event> = Vec::new();
        let mut send = |room: &mut Room, conn, message, now| {
            if let Some(change) = room.decide(conn, message, now).unwrap() {
                bus.push(room.event(change, 7, now, Some(now / 2)));
            }
        };
        send(&mut b, 1, ClientMessage::Chat { text: "da b".into(), reply_to: None }, 1_000);
        send(&mut a, 2, ClientMessage::Chat { text: "da a".into(), reply_to: None }, 1_001);
        send(&mut a, 1, ClientMessage::Poll { question: "Blu?".into(), options: vec!["Sì".into(), "No".into()] }, 1_002);
        // Both hosts advance at once, each on what their room saw.
        send(&mut a, 1, ClientMessage::Advance, 1_003);
        send(&mut b, 2, ClientMessage::Advance, 1_003);
        let mut answers = Vec::new();
        for event in &bus {
            answers.push((a.apply(event), b.apply(event)));
        }
        assert_eq!(answers[0].0.as_ref().unwrap().as_ref().unwrap().id, 1, "the first line on the bus is 1 everywhere");
        assert_eq!(answers[1].1.as_ref().unwrap().as_ref().unwrap().id, 2);
        assert_eq!(answers[4].0.as_ref().unwrap_err().code, "already_advanced", "only one advance wins: {answers:?}");
        // Votes from both nodes count once each, on both.
        bus.clear();
        let poll_id = a.snapshot(2).poll.unwrap().id;
        let mut send = |room: &mut Room, conn, message| {
            if let Some(change) = room.decide(conn, message, 2_000).unwrap() {
                bus.push(room.event(change, 0, 2_000, None));
            }
        };
        send(&mut a, 2, ClientMessage::Vote { poll_id, option: 0 });
        send(&mut b, 1, ClientMessage::Vote { poll_id, option: 1 });
        send(&mut b, 1, ClientMessage::Like { count: 5 });
        for event in &bus {
            a.apply(event).unwrap();
            b.apply(event).unwrap();
        }
        let likes = b.take_local_likes();
        a.apply(&Event { origin: "b".into(), token: 0, at: 2_000, media_ms: None, change: Change::Likes { count: likes } }).unwrap();
        a.set_remote_viewers(b.local_viewers(), true);
        b.set_remote_viewers(a.local_viewers(), false);
        let (fa, fb) = (frame(&a.tick_at(2_100, None).unwrap()), frame(&b.tick_at(2_100, None).unwrap()));
        for f in [&fa, &fb] {
            assert_eq!(f["viewers"], 4, "viewer counts add up: {f}");
            assert_eq!(f["likes_total"], 5);
            assert_eq!(f["poll"]["votes"], serde_json::json!([1, 1]));
        }
        let (sa, sb) = (a.snapshot(1), b.snapshot(1));
        assert_eq!((sa.pinned.clone(), sa.segment.clone()), (sb.pinned.clone(), sb.segment.clone()));
        assert_eq!(sa.chat, sb.chat);
        assert_ne!(sa.room, sb.room, "seq numbers are per room: resume where they mean something");
        // Each event is on one node's timeline: the one that decided it.
        let (ta, tb) = (a.drain_timeline(), b.drain_timeline());
        let count = |t: &[TimelineEvent], kind| t.iter().filter(|e| e.kind == kind).count();
        assert_eq!((count(&ta, "chat"), count(&tb, "chat")), (1, 1));
        assert_eq!((count(&ta, "segment"), count(&tb, "segment")), (1, 0), "a's advance came first");
        assert_eq!((count(&ta, "likes"), count(&tb, "likes")), (0, 1));
        assert_eq!((count(&ta, "viewers"), count(&tb, "viewers")), (1, 0));
    }
}
