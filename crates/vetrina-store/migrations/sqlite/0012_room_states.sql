-- The state of each show's live room (the pinned product, the poll and who voted, questions,
-- recent chat, mutes...), saved now and then by the nodes serving it: a node that restarts, or
-- joins the show later, takes it up instead of starting empty or replaying the whole show.
-- `applied` counts the events the state holds (the same count on every node: the largest is the
-- freshest); `bus_position` is where the shared bus (NATS JetStream) stood, for the events after.
CREATE TABLE room_states (
    show_id TEXT PRIMARY KEY REFERENCES shows(id) ON DELETE CASCADE,
    applied BIGINT NOT NULL,
    bus_position BIGINT,
    state TEXT NOT NULL,
    saved_at BIGINT NOT NULL
);
