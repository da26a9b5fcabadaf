-- The key a host publishes a show with (WHIP Bearer token, OBS stream key). Shown to hosts, so
-- kept as is; rotated from the console. NULL until first asked for.
ALTER TABLE shows ADD COLUMN stream_key TEXT;
