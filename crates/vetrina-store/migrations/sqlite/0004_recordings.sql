-- A show's recordings (one file per server run the show was live on). Media time 0 of a file is
-- started_at (Unix ms): the media clock that stamps chat, pins and purchases.
CREATE TABLE recordings (
    show_id TEXT NOT NULL REFERENCES shows(id) ON DELETE CASCADE,
    path TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    PRIMARY KEY (show_id, path)
);
