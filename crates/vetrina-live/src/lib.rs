//! The live room of a show, without I/O: who is in it, what they say, like and see pinned. Input
//! comes in with the time as an argument; the room answers with refusals, snapshots and, on each
//! tick (about 100 ms), at most one frame holding everything that happened since the last one.
//! The WebSocket driver (`vetrina-web`) serialises nothing itself: frames come out as JSON text,
//! made once and shared by every connection.

pub mod pace;
pub mod room;
pub mod websocket;

pub use pace::Pace;
pub use room::{Ban, Change, ClientMessage, Conn, Event, Frame, Member, Refusal, Role, Room, RoomConfig, Saved, StockLine};
