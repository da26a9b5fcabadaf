-- Viewers banned from the live chat of an organisation's shows (an account `usr_...` or a guest
-- identity `gst_...`), kept across shows and restarts until a moderator lifts the ban.
CREATE TABLE room_bans (
    org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    identity TEXT NOT NULL,
    name TEXT NOT NULL,
    by_name TEXT NOT NULL,
    show_id TEXT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (org_id, identity)
);
