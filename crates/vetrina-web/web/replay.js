// Replays a show's timeline in sync with its recording (docs/replays.md): every room event carries
// the moment of video it belongs to (media_ms), so while the video plays, each event is handed to
// the page when the video reaches that moment, checked every animation frame (~16 ms). After a
// seek the page is reset and the events of the half minute before the new moment are replayed at
// once, so the chat has context; pins and segments come from the chapters, which span the show.
//
// The timeline is loaded in pages by media time around the moment being watched, never all of a
// long show at once.

const CONTEXT_MS = 30000;
const AHEAD_MS = 20000;

/**
 * Starts replaying. `video` plays the recording (or a clip: its time 0 is the show's `offsetMs`);
 * `onReset(moment)` clears what the page shows; `onEvent(event, catchingUp)` shows one event
 * ({at, media_ms, kind, data}). `base` is where Vetrina is (empty on its own pages).
 * Returns { moment(), stop() }: moment() is the show's media time being watched, in ms.
 */
export function replay({ video, slug, base = "", offsetMs = 0, onReset, onEvent }) {
  const url = (after, at) => `${base}/api/v1/shows/${encodeURIComponent(slug)}/timeline?limit=1000${after === null ? "" : `&after_ms=${after}`}${at === null ? "" : `&after_at=${at}`}`;
  let events = [];
  let loadedFrom = null;
  // Every event up to this moment is loaded; the next page starts after `next`.
  let loadedTo = -Infinity;
  let next = { ms: null, at: null };
  let applied = 0;
  let lastMoment = null;
  let loading = null;
  let generation = 0;
  let stopped = false;
  const key = (e) => (e.media_ms === null || e.media_ms === undefined ? -1 : e.media_ms);

  async function fetchPage(after, at = null) {
    const r = await fetch(url(after, at));
    if (!r.ok) throw new Error(`timeline: ${r.status}`);
    return r.json();
  }

  /** Where a page leaves off: a page that ended inside a moment (`next_after_at`) has that
   * moment only in part. */
  function reached(page) {
    next = { ms: page.next_after_ms ?? null, at: page.next_after_at ?? null };
    loadedTo = next.ms === null ? Infinity : next.at === null ? next.ms : next.ms - 1;
  }

  /** Loads the window around `moment` afresh (after a seek far away). */
  function reload(moment) {
    const from = Math.max(-2, moment - CONTEXT_MS);
    const mine = ++generation;
    events = [];
    applied = 0;
    loadedFrom = from;
    loadedTo = from;
    lastMoment = null;
    loading = fetchPage(from <= -2 ? null : from).then((page) => {
      if (mine !== generation) return;
      events = page.events;
      reached(page);
    }).catch((e) => console.warn(e.message)).finally(() => { if (mine === generation) loading = null; });
  }

  /** Loads the next page when the video gets near the end of what is loaded. */
  function extend() {
    const mine = generation;
    loading = fetchPage(next.ms, next.at).then((page) => {
      if (mine !== generation) return;
      events.push(...page.events);
      reached(page);
    }).catch((e) => console.warn(e.message)).finally(() => { if (mine === generation) loading = null; });
  }

  function moment() {
    return Math.round(video.currentTime * 1000) + offsetMs;
  }

  function step() {
    if (stopped) return;
    requestAnimationFrame(step);
    const now = moment();
    // Far from what is loaded (a seek): load the window around the new moment.
    if (loadedFrom === null || now < loadedFrom || (!loading && now > loadedTo + CONTEXT_MS)) {
      reload(now);
      return;
    }
    // Past what is loaded: wait for the next page.
    if (now > loadedTo) {
      if (!loading) extend();
      return;
    }
    if (!loading && loadedTo !== Infinity && now + AHEAD_MS > loadedTo) extend();
    // A seek (backwards, or a jump ahead): start the page over from the window's start.
    const seeked = lastMoment === null || now < lastMoment - 50 || now > lastMoment + 1500;
    if (seeked) {
      applied = 0;
      onReset(now);
    }
    while (applied < events.length && key(events[applied]) <= now) {
      onEvent(events[applied], seeked);
      applied += 1;
    }
    lastMoment = now;
  }
  requestAnimationFrame(step);
  return {
    moment,
    stop() {
      stopped = true;
    },
  };
}

/** "12:05" or "1:02:03" for a media time in ms. */
export function clock(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  const mm = String(Math.floor(s / 60) % 60).padStart(2, "0");
  const ss = String(s % 60).padStart(2, "0");
  return s >= 3600 ? `${Math.floor(s / 3600)}:${mm}:${ss}` : `${Math.floor(s / 60)}:${ss}`;
}

/** The chapter running at `moment`: the last one that started at or before it. */
export function chapterAt(chapters, moment) {
  let found = null;
  for (const c of chapters) {
    if (c.media_ms <= moment) found = c;
    else break;
  }
  return found;
}
