-- Replays: clips cut from a show's recording, the pin that led to each purchase, and the
-- timeline read by kind (chapters are its pins and segments).
CREATE TABLE clips (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    show_id TEXT NOT NULL REFERENCES shows(id) ON DELETE CASCADE,
    title TEXT NOT NULL,
    -- The range of the show's media time the clip covers, on keyframes.
    start_ms BIGINT NOT NULL CHECK (start_ms >= 0),
    end_ms BIGINT NOT NULL CHECK (end_ms > start_ms),
    path TEXT NOT NULL,
    bytes BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX clips_by_show ON clips(show_id, start_ms);
CREATE INDEX clips_by_org ON clips(org_id, created_at);
-- Media time of the pin (chapter) that led to buying the line, when there was one.
ALTER TABLE order_lines ADD COLUMN pin_ms BIGINT;
CREATE INDEX timeline_by_kind ON timeline_events(show_id, kind, media_ms);
