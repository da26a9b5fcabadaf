-- The show's timeline: every room event (a chat message, a burst of likes, a pin, the viewer
-- count) with its wall time and the moment of video it belongs to (the media clock). The source of
-- replays and analytics; see docs/live.md, "The timeline".
CREATE TABLE timeline_events (
    show_id TEXT NOT NULL REFERENCES shows(id) ON DELETE CASCADE,
    at BIGINT NOT NULL,
    media_ms BIGINT,
    kind TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX timeline_by_media ON timeline_events(show_id, media_ms, at);
