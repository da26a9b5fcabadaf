// The public show page: countdown, state, the player, the live room (chat, likes, polls,
// questions, the pinned product), the line-up with live stock, and the cart (cart.js).

import { h, fill, t, setLang, otherLang, money, dateTime } from "./i18n.js";
import { watch } from "./live.js";
import { joinRoom, chatLine, refusalText, removeLine } from "./room.js";
import { buyBox, loadCart, stockChanged, setMoment, addFromLink } from "./cart.js";
import { replay, clock, chapterAt } from "./replay.js";

const slug = decodeURIComponent(location.pathname.split("/").filter(Boolean)[1] || "");
const root = document.getElementById("show");
let show = null;
let timer = null;
let cartBox = null;

function countdown(target) {
  const ms = Math.max(0, new Date(target) - Date.now());
  const s = Math.floor(ms / 1000);
  const units = [
    [Math.floor(s / 86400), "d"],
    [Math.floor((s % 86400) / 3600), "h"],
    [Math.floor((s % 3600) / 60), "m"],
    [s % 60, "s"],
  ];
  const first = units.findIndex(([n]) => n > 0);
  return units.slice(first < 0 ? 3 : Math.min(first, 2)).map(([n, u]) => `${n}${t(`units.${u}`)}`).join(" ");
}

function state() {
  if (show.status === "live") return h("p", { class: "state live", id: "state" }, t("public.live"));
  if (show.status === "ended") return h("p", { class: "state ended", id: "state" }, t("public.ended"));
  if (!show.starts_at) return h("p", { class: "state", id: "state" }, t("public.draft"));
  if (new Date(show.starts_at) <= Date.now()) return h("p", { class: "state soon", id: "state" }, t("public.starting_soon"));
  return h("p", { class: "state", id: "state" }, t("public.starts_in"), " ", h("strong", { id: "countdown" }, countdown(show.starts_at)));
}

function productCard(p) {
  const stock = p.variants.filter((v) => v.available && v.stock !== null).reduce((n, v) => n + v.stock, 0);
  const tracked = p.variants.every((v) => v.stock !== null);
  const prices = new Set(p.variants.map((v) => v.price_minor));
  const price = prices.size > 1 ? t("public.from", { price: money(p.price_from_minor, p.currency) }) : money(p.price_from_minor, p.currency);
  return h("li", { class: "product" },
    p.images[0] ? h("img", { src: p.images[0].src, alt: p.images[0].alt || p.title, loading: "lazy" }) : h("div", { class: "noimg" }),
    h("h3", {}, p.title),
    h("p", { class: "price" }, price, " ", p.compare_at_minor && p.compare_at_minor > p.price_from_minor ? h("s", {}, money(p.compare_at_minor, p.currency)) : null),
    p.sold_out
      ? h("p", { class: "stock out" }, t("public.sold_out"))
      : tracked && stock <= 5 ? h("p", { class: "stock low" }, t("public.only_left", { n: stock })) : null,
    p.options.length ? h("p", { class: "muted" }, p.variants.filter((v) => v.available).map((v) => v.title).join(" · ")) : null,
    p.description ? h("p", { class: "description" }, p.description) : null,
    h("div", { "data-shown": p.id }, jumpButton(p)),
    show.status === "draft" ? null : buyBox(p, null),
  );
}

// ---------- the replay: the recording with the room's timeline in sync, chapters ----------

const rewind = {
  chapters: [],
  recordingUrl: null,
  video: h("video", { id: "replay", controls: true, playsinline: true, preload: "auto" }),
  bar: h("div", { class: "chapter-bar", id: "chapter-bar" }),
  list: h("ol", { class: "chapters", id: "chapters" }),
  session: null,
  likes: h("span", { class: "like-burst", id: "like-burst", "aria-hidden": "true" }),
};
rewind.box = h("div", { class: "player replay" }, rewind.video, rewind.bar);

function replaying() {
  return show?.status === "ended" && rewind.recordingUrl !== null;
}

async function loadChapters() {
  try {
    const r = await fetch(`/api/v1/shows/${encodeURIComponent(slug)}/chapters`);
    if (!r.ok) return;
    const data = await r.json();
    rewind.chapters = data.chapters;
    rewind.recordingUrl = data.recording_url ?? null;
  } catch {}
}

function productTitle(id) {
  return show?.lineup.find((p) => p.id === id)?.title ?? null;
}

/** Jumps the replay to a moment of the show (ms) and plays. */
function seekTo(ms) {
  rewind.video.currentTime = Math.max(0, ms / 1000);
  rewind.video.play().catch(() => {});
}

function jumpButton(product) {
  const chapter = rewind.chapters.find((c) => c.product_id === product.id);
  if (!chapter || show?.status === "draft") return null;
  if (!replaying()) return h("p", { class: "muted shown-at" }, t("replay.shown_at", { at: clock(chapter.media_ms) }));
  return h("button", { type: "button", class: "secondary jump", "data-jump": product.id, onclick: () => seekTo(chapter.media_ms) },
    `▶ ${t("replay.jump")} (${clock(chapter.media_ms)})`);
}

function chapterLabel(c) {
  const product = c.product_id ? productTitle(c.product_id) : null;
  return [c.title, product].filter(Boolean).join(" · ") || t("replay.chapter");
}

/** Markers on the seek bar and the list of chapters (late joiners of a live show see it too). */
function drawChapters() {
  const duration = rewind.video.duration;
  fill(rewind.bar, replaying() && Number.isFinite(duration) && duration > 0
    ? rewind.chapters.map((c) => {
      const marker = h("button", {
        type: "button", class: "marker", title: `${clock(c.media_ms)} ${chapterLabel(c)}`, "aria-label": `${clock(c.media_ms)} ${chapterLabel(c)}`,
        onclick: () => seekTo(c.media_ms),
      });
      // Through the CSSOM: the page's CSP allows no inline style attributes.
      marker.style.left = `${Math.min(100, (c.media_ms / 1000 / duration) * 100)}%`;
      return marker;
    })
    : null);
  fill(rewind.list, rewind.chapters.map((c) => h("li", {},
    replaying()
      ? h("button", { type: "button", class: "link", onclick: () => seekTo(c.media_ms) }, clock(c.media_ms))
      : h("span", { class: "muted" }, clock(c.media_ms)),
    " ", chapterLabel(c))));
}
rewind.video.addEventListener("loadedmetadata", drawChapters);

function replayReset(moment) {
  fill(room.chat);
  fill(room.questions);
  room.questionItems.clear();
  room.replayPoll = null;
  drawPoll(null);
  drawAnnouncement(null);
  const current = chapterAt(rewind.chapters, moment);
  room.pinnedId = current?.product_id ?? null;
  drawPinned();
  const segment = [...rewind.chapters].reverse().find((c) => c.kind === "segment" && c.media_ms <= moment);
  drawSegment(null);
  if (segment) fill(room.segment, t("room.segment", { title: segment.title || "" }));
  room.segment.hidden = !segment;
}

function replayEvent(e, catchingUp) {
  const d = e.data;
  switch (e.kind) {
    case "chat":
      addLine(d);
      while (room.chat.children.length > 200) room.chat.firstChild.remove();
      room.chat.scrollTop = room.chat.scrollHeight;
      break;
    case "likes":
      if (!catchingUp && d?.count) burst(rewind.likes, d.count);
      break;
    case "pin":
      room.pinnedId = d?.product_id ?? null;
      drawPinned();
      break;
    case "segment":
      drawSegment({ ...d, deal_ends_at: null });
      break;
    case "poll":
    case "poll_closed":
      room.replayPoll = { ...d, votes: [...d.votes], open: false };
      drawPoll(room.replayPoll);
      break;
    case "vote":
      // The results grow as they did live.
      if (room.replayPoll?.id === d?.poll_id && d.option in room.replayPoll.votes) {
        room.replayPoll.votes[d.option] += 1;
        // Drawn once per animation frame, however many votes it brought (a seek catches up on
        // hundreds at once).
        room.pollDrawn ||= requestAnimationFrame(() => {
          room.pollDrawn = 0;
          drawPoll(room.replayPoll);
        });
      }
      break;
    case "question":
    case "answer":
      drawQuestion(d);
      break;
    case "announcement":
      drawAnnouncement(d);
      break;
    case "moderation":
      if (d?.action === "delete") removeLine(room.chat, d.message_id);
      break;
  }
}

function startReplay() {
  if (rewind.session) return;
  rewind.video.src = rewind.recordingUrl;
  const start = Number(new URLSearchParams(location.search).get("t"));
  if (start > 0) rewind.video.currentTime = start;
  rewind.session = replay({ video: rewind.video, slug, onReset: replayReset, onEvent: replayEvent });
}

// ---------- the player: WHEP, kept across re-renders, reconnecting after network blips ----------

// The moment of video a purchase belongs to: live, now on the media clock; in the replay, the
// moment being watched.
setMoment(() => {
  if (rewind.session) return rewind.session.moment();
  if (show?.status === "live" && player.recordingStartedAt) return Math.max(0, Date.now() - player.recordingStartedAt);
  return null;
});

const player = {
  video: h("video", { id: "player", autoplay: true, muted: true, playsinline: true }),
  overlay: h("p", { class: "overlay", id: "player-state" }),
  unmute: h("button", { type: "button", class: "unmute", id: "unmute" }),
  viewers: h("span", { class: "viewers", id: "viewers" }),
  session: null,
  everPlayed: false,
  lastFrames: 0,
  stalledSince: null,
  retry: 1000,
  ended: false,
};
player.video.muted = true;
player.unmute.addEventListener("click", () => {
  player.video.muted = !player.video.muted;
  player.video.play().catch(() => {});
  labelPlayer();
});
player.box = h("div", { class: "player" }, player.video, player.overlay, player.unmute, player.viewers);

function labelPlayer() {
  fill(player.unmute, player.video.muted ? `🔇 ${t("public.unmute")}` : "🔊");
  let text = null;
  if (player.ended) text = t("public.ended");
  else if (player.stalledSince && player.everPlayed) text = t("public.reconnecting");
  else if (!player.everPlayed) text = t("public.waiting");
  fill(player.overlay, text);
  player.overlay.hidden = text === null;
}

async function startWatching() {
  if (player.session || player.ended) return;
  try {
    // STUN/TURN servers (for networks that block UDP) come with the live state.
    const live = await (await fetch(`/api/v1/shows/${encodeURIComponent(slug)}/media`)).json();
    player.recordingStartedAt = live.recording_started_at ?? null;
    player.session = await watch(`/api/v1/shows/${encodeURIComponent(slug)}/whep`, (stream) => {
      if (player.video.srcObject !== stream) player.video.srcObject = stream;
      player.video.play().catch(() => {});
    }, { iceServers: live.ice_servers || [] });
    player.retry = 1000;
    player.session.pc.addEventListener("connectionstatechange", () => {
      const state = player.session?.pc.connectionState;
      if (state === "failed" || state === "closed") reconnect();
    });
  } catch (e) {
    console.warn("watching failed, retrying:", e.message);
    player.session = null;
    setTimeout(startWatching, player.retry);
    player.retry = Math.min(player.retry * 2, 10000);
  }
}

function reconnect() {
  const old = player.session;
  player.session = null;
  if (old) old.stop();
  setTimeout(startWatching, player.retry);
  player.retry = Math.min(player.retry * 2, 10000);
}

/** Once a second: are frames still being decoded? A stall of 2 s while live means trouble. */
async function checkFrames() {
  const pc = player.session?.pc;
  if (pc) {
    let frames = 0;
    (await pc.getStats()).forEach((r) => {
      if (r.type === "inbound-rtp" && r.kind === "video") frames = r.framesDecoded || 0;
    });
    if (frames > player.lastFrames) {
      player.everPlayed = true;
      player.stalledSince = null;
    } else if (player.everPlayed && !player.stalledSince) {
      player.stalledSince = Date.now();
    }
    player.lastFrames = frames;
    if (player.stalledSince && Date.now() - player.stalledSince > 6000 && pc.connectionState !== "connected") reconnect();
  }
  labelPlayer();
}

async function pollLive() {
  try {
    const live = await (await fetch(`/api/v1/shows/${encodeURIComponent(slug)}/media`)).json();
    fill(player.viewers, live.viewers > 0 ? t("public.viewers", { n: live.viewers }) : null);
    if (live.status === "ended" && !player.ended) {
      player.ended = true;
      if (player.session) player.session.stop();
      player.session = null;
    }
    if (show && live.status !== show.status) load();
  } catch {}
}


// ---------- the live room: chat, likes, the pinned product ----------

const room = {
  chat: h("ol", { class: "chat-lines", id: "chat", "aria-live": "polite" }),
  input: h("input", { id: "chat-input", maxlength: 500, autocomplete: "off" }),
  nameInput: h("input", { id: "chat-name", maxlength: 40, autocomplete: "nickname" }),
  likes: h("span", { id: "likes" }),
  pinned: h("div", { class: "pinned", id: "pinned", hidden: true }),
  poll: h("div", { class: "poll card", id: "poll", hidden: true }),
  questions: h("ol", { class: "questions", id: "questions" }),
  askInput: h("input", { id: "ask-input", maxlength: 300, autocomplete: "off" }),
  segment: h("p", { class: "segment-banner", id: "segment", hidden: true }),
  announcement: h("p", { class: "announcement", id: "announcement", role: "status", hidden: true }),
  countdown: h("strong", { id: "deal-countdown" }),
  dealEndsAt: null,
  voted: new Set(),
  questionItems: new Map(),
  you: null,
  likesTotal: 0,
  // Taps not yet sent, and the burst the page draws for them at once.
  pendingLikes: 0,
  // Likes sent that no frame has counted yet.
  likesUnseen: 0,
  likeTimer: null,
  myLikes: h("span", { class: "like-burst mine", "aria-hidden": "true" }),
  othersLikes: h("span", { class: "like-burst", "aria-hidden": "true" }),
  replyTo: null,
  replying: h("p", { class: "replying muted", id: "replying", hidden: true }),
  slowMode: 0,
  slowNote: h("p", { class: "muted", id: "slow-note", hidden: true }),
  replayPoll: null,
  pollDrawn: 0,
  pinnedId: null,
  connection: null,
  box: null,
};

/** "+12 ❤" floating up by `el`, for a burst of likes. */
function burst(el, count) {
  fill(el, `+${count} ❤`);
  el.classList.remove("burst");
  void el.offsetWidth; // restarts the animation
  el.classList.add("burst");
}

/** A line of the live chat, with a reply button for those who may chat (not in the replay). */
function viewerLine(line) {
  const reply = room.mode === "live" && room.you?.can_chat
    ? h("button", { type: "button", class: "link reply", "aria-label": t("room.reply_to", { name: line.name }), onclick: () => replyTo(line) }, t("room.reply"))
    : null;
  return chatLine(line, room.chat, reply);
}

/** Adds a line unless it is there already (your own line comes back twice: at once, and in a frame). */
function addLine(line) {
  if (!room.chat.querySelector(`[data-id="${Number(line.id)}"]`)) room.chat.append(viewerLine(line));
}

function replyTo(line) {
  room.replyTo = line ? { id: line.id, name: line.name } : null;
  room.replying.hidden = !line;
  fill(room.replying, line
    ? [t("room.replying", { name: line.name }), " ", h("button", { type: "button", class: "link", "aria-label": t("room.cancel_reply"), onclick: () => replyTo(null) }, "✕")]
    : null);
  if (line) room.input.focus();
}

function drawSlowMode(seconds) {
  room.slowMode = seconds || 0;
  room.slowNote.hidden = !room.slowMode;
  fill(room.slowNote, room.slowMode ? t("room.slow_note", { s: room.slowMode }) : null);
}

/** Likes are sent as counts, a few times a second at most, however fast the taps. */
function like() {
  room.pendingLikes += 1;
  burst(room.myLikes, room.pendingLikes);
  if (room.likeTimer) return;
  room.likeTimer = setTimeout(() => {
    room.likeTimer = null;
    const count = Math.min(room.pendingLikes, 50);
    room.pendingLikes = 0;
    if (count) {
      room.connection?.send({ type: "like", count });
      room.likesUnseen += count;
    }
  }, 300);
}

function drawPinned() {
  const product = show?.lineup.find((p) => p.id === room.pinnedId);
  room.pinned.hidden = !product;
  if (!product) return fill(room.pinned);
  fill(room.pinned,
    h("p", { class: "label" }, t("room.pinned")),
    product.images[0] ? h("img", { src: product.images[0].src, alt: product.images[0].alt || product.title }) : null,
    h("div", {}, h("strong", { id: "pinned-title" }, product.title), h("p", { class: "price" }, money(product.price_from_minor, product.currency)),
      buyBox(product, "buy-pinned")));
}

function drawRoomControls() {
  const form = room.box.querySelector("form");
  const canChat = room.you?.can_chat;
  fill(form, canChat
    ? [room.input, h("button", { type: "submit" }, t("room.send"))]
    : [h("label", { class: "field" }, h("span", {}, t("room.name")), room.nameInput), h("button", { type: "submit" }, t("room.join"))]);
  room.input.placeholder = t("room.say");
  fill(room.likes, t(room.likesTotal === 1 ? "room.likes_one" : "room.likes", { n: room.likesTotal }));
  drawSlowMode(room.slowMode);
}

function drawPoll(poll) {
  room.poll.hidden = !poll;
  if (!poll) return;
  const total = poll.votes.reduce((a, b) => a + b, 0);
  const done = !poll.open || room.voted.has(poll.id) || !room.you?.can_chat;
  fill(room.poll,
    h("p", { class: "label" }, poll.open ? t("room.poll") : t("room.poll_closed")),
    h("strong", {}, poll.question),
    h("div", { class: "options" }, poll.options.map((option, i) =>
      h("button", { type: "button", class: "secondary", disabled: done, onclick: () => {
        room.voted.add(poll.id);
        room.connection.send({ type: "vote", poll_id: poll.id, option: i });
        drawPoll(poll);
      } }, `${option} · ${poll.votes[i]}`))),
    h("p", { class: "muted" }, t("room.votes", { n: total })));
}

function drawQuestion(q) {
  const item = h("li", { class: q.answered ? "answered" : "" }, h("strong", {}, q.name), " ", q.text,
    q.answer ? h("p", { class: "answer" }, q.answer) : q.answered ? h("p", { class: "answer muted" }, t("room.answered")) : null);
  const old = room.questionItems.get(q.id);
  if (old) old.replaceWith(item);
  else room.questions.append(item);
  room.questionItems.set(q.id, item);
}

function drawSegment(segment) {
  room.segment.hidden = !segment;
  if (!segment) return;
  const deal = segment.deal
    ? t("room.deal", { what: segment.deal.percent_off ? `-${segment.deal.percent_off}%` : money(segment.deal.price_minor, show?.lineup[0]?.currency || "EUR"), s: segment.deal.duration_seconds })
    : null;
  room.dealEndsAt = segment.deal_ends_at ?? null;
  if (replaying() && segment.deal) {
    // Live deals end with the show; a replay price (when the merchant set one) stays.
    const price = segment.deal.replay_price_minor;
    fill(room.segment, t("room.segment", { title: segment.title }), " · ",
      h("strong", {}, price ? t("replay.price", { price: money(price, show?.lineup[0]?.currency || "EUR") }) : t("room.deal_ended")));
    return;
  }
  fill(room.segment, t("room.segment", { title: segment.title }), deal ? [" · ", h("strong", {}, deal), " ", room.countdown] : null);
  drawCountdown();
}

/** The deal's countdown, from the server's end time (the page's clock may be off by a little). */
function drawCountdown() {
  if (room.dealEndsAt === null) return fill(room.countdown);
  const left = Math.max(0, Math.round((room.dealEndsAt - Date.now()) / 1000));
  const mmss = `${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")}`;
  fill(room.countdown, left > 0 ? t("room.deal_ends", { left: mmss }) : t("room.deal_ended"));
}
setInterval(drawCountdown, 1000);

function drawAnnouncement(a) {
  room.announcement.hidden = !a;
  fill(room.announcement, a ? a.text : null);
}

function onRoom(m) {
  if (m.type === "snapshot") {
    room.you = m.you;
    fill(room.chat);
    m.chat.forEach(addLine);
    drawSlowMode(m.slow_mode);
    room.likesTotal = m.likes_total;
    room.pinnedId = m.pinned?.product_id ?? null;
    drawRoomControls();
    drawPinned();
    fill(room.questions);
    room.questionItems.clear();
    (m.questions || []).forEach(drawQuestion);
    drawPoll(m.poll);
    drawSegment(m.segment);
    drawAnnouncement(m.announcement);
    stockChanged(m.stock);
  } else if (m.type === "frame") {
    if ("announcement" in m) drawAnnouncement(m.announcement);
    if (m.stock) stockChanged(m.stock);
    (m.questions || []).forEach(drawQuestion);
    if (m.poll) drawPoll(m.poll);
    if (m.segment) drawSegment(m.segment);
    for (const id of m.deleted || []) removeLine(room.chat, id);
    for (const line of m.chat || []) addLine(line);
    while (room.chat.children.length > 200) room.chat.firstChild.remove();
    room.chat.scrollTop = room.chat.scrollHeight;
    room.likesTotal = m.likes_total;
    fill(room.likes, t(room.likesTotal === 1 ? "room.likes_one" : "room.likes", { n: room.likesTotal }));
    // Others' likes: a frame's burst counts this page's own too, drawn when tapped.
    const own = Math.min(room.likesUnseen, m.likes || 0);
    room.likesUnseen -= own;
    if (m.likes - own > 0) burst(room.othersLikes, m.likes - own);
    if ("slow_mode" in m) drawSlowMode(m.slow_mode);
    if ("pinned" in m) {
      room.pinnedId = m.pinned?.product_id ?? null;
      drawPinned();
      // A new chapter: late joiners see what was shown already (once the timeline has it: the
      // room writes it within a few hundred ms).
      setTimeout(() => loadChapters().then(() => {
        drawChapters();
        for (const p of show?.lineup || []) document.querySelector(`[data-shown="${CSS.escape(p.id)}"]`)?.replaceChildren(jumpButton(p) || "");
      }), 800);
    }
    fill(player.viewers, m.viewers > 0 ? t("public.viewers", { n: m.viewers }) : null);
  } else if (m.type === "sent") {
    addLine(m.line);
    room.chat.scrollTop = room.chat.scrollHeight;
  } else if (m.type === "error") {
    room.chat.append(h("li", { class: "line error", role: "alert" }, refusalText(m)));
    room.chat.scrollTop = room.chat.scrollHeight;
  }
}

function roomBox() {
  const mode = replaying() ? "replay" : "live";
  // The replay's box has nothing of its own to keep: rebuilt each time (in the language chosen).
  if (room.box && room.mode === mode && mode === "live") return room.box;
  room.connection?.close();
  room.connection = null;
  room.mode = mode;
  if (mode === "replay") {
    // The replay's room: what was said and shown, in sync with the video; nothing to send.
    room.box = h("aside", { class: "room replay-room" },
      h("p", { class: "label" }, t("replay.label")),
      room.announcement,
      room.segment,
      room.poll,
      h("h2", {}, t("room.chat")),
      room.chat,
      rewind.likes,
      h("details", {}, h("summary", {}, t("room.questions")), room.questions),
      h("h2", {}, t("replay.chapters")),
      rewind.list);
    return room.box;
  }
  const form = h("form", { class: "chat-form", onsubmit: async (e) => {
    e.preventDefault();
    if (room.you?.can_chat) {
      const text = room.input.value.trim();
      if (text) room.connection.send({ type: "chat", text, ...(room.replyTo ? { reply_to: room.replyTo.id } : {}) });
      room.input.value = "";
      replyTo(null);
    } else if (room.nameInput.value.trim()) {
      const r = await fetch("/api/v1/guests", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ display_name: room.nameInput.value }) });
      if (r.ok) room.connection.restart();
      else room.chat.append(h("li", { class: "line error" }, (await r.json()).detail));
    }
  } });
  const ask = h("form", { class: "chat-form", onsubmit: (e) => {
    e.preventDefault();
    const text = room.askInput.value.trim();
    if (text) room.connection.send({ type: "ask", text });
    room.askInput.value = "";
  } }, h("label", { class: "field" }, h("span", {}, t("room.ask")), room.askInput), h("button", { type: "submit" }, t("room.ask_send")));
  room.box = h("aside", { class: "room" },
    room.announcement,
    room.segment,
    room.poll,
    h("h2", {}, t("room.chat")),
    room.chat,
    room.replying,
    form,
    room.slowNote,
    h("details", {}, h("summary", {}, t("room.questions")), room.questions, ask),
    h("p", { class: "like-row" },
      h("button", { type: "button", class: "like", id: "like", "aria-label": t("room.like"), onclick: like }, "❤"),
      " ", room.likes, " ", room.myLikes, room.othersLikes),
    h("details", { class: "shown-earlier" }, h("summary", {}, t("replay.shown_earlier")), rewind.list));
  room.connection = joinRoom(slug, onRoom);
  return room.box;
}

function render() {
  document.title = `${show.title} — ${show.merchant}`;
  const localZone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  fill(root,
    h("header", { class: "hero" },
      replaying() ? rewind.box : show.status === "live" || show.status === "scheduled" ? player.box : show.cover_src ? h("img", { class: "cover", src: show.cover_src, alt: "" }) : null,
      h("p", { class: "merchant" }, show.merchant),
      h("h1", {}, show.title),
      show.hosts.length ? h("p", { class: "hosts" }, t("public.hosts", { names: show.hosts.join(", ") })) : null,
      state(),
      show.starts_at ? h("p", { class: "when" },
        h("time", { datetime: show.starts_at }, t("public.local_time", { time: dateTime(show.starts_at) })),
        localZone !== show.time_zone ? [h("br"), t("public.show_time", { time: dateTime(show.starts_at, show.time_zone), zone: show.time_zone })] : null) : null,
      show.starts_at && show.status === "scheduled" ? h("a", { class: "button", href: show.calendar_url, download: `${show.slug}.ics` }, t("public.calendar")) : null,
      show.description ? h("p", { class: "description" }, show.description) : null,
    ),
    show.status === "draft" ? null : h("div", { class: "live-row" }, room.pinned, roomBox()),
    h("section", {}, h("h2", {}, t("public.lineup")), h("ul", { class: "lineup" }, show.lineup.map(productCard))),
    show.status === "draft" ? null : cartBox,
  );
  drawPinned();
  drawChapters();
  if (room.you && room.mode === "live") drawRoomControls();
}

async function load() {
  // The show, its chapters and the buyer's cart, all at once: the replay starts sooner.
  const firstLoad = !cartBox;
  const [response, , cart] = await Promise.all([
    fetch(`/api/v1/shows/${encodeURIComponent(slug)}`),
    loadChapters(),
    firstLoad ? loadCart(slug) : null,
  ]);
  if (!response.ok) {
    fill(root, h("p", { class: "state" }, t("public.not_found")));
    return;
  }
  show = await response.json();
  if (show.status === "ended") player.ended = true;
  if (firstLoad && cart) {
    cartBox = cart;
    // Sent here by the embedded player's checkout: its basket joins this cart once.
    const params = new URLSearchParams(location.search);
    const adding = (params.get("add") || "").split(",").filter((v) => /^var_[A-Za-z0-9]+$/.test(v)).slice(0, 50);
    if (adding.length) {
      await addFromLink(adding);
      params.delete("add");
      history.replaceState(null, "", `${location.pathname}${params.size ? `?${params}` : ""}`);
      cartBox.scrollIntoView?.();
    }
  }
  render();
  labelPlayer();
  if (show.status === "live" || show.status === "scheduled") startWatching();
  if (replaying()) {
    player.session?.stop();
    player.session = null;
    startReplay();
  }
  clearInterval(timer);
  timer = setInterval(() => {
    const el = document.getElementById("countdown");
    if (el && show.starts_at && new Date(show.starts_at) > Date.now()) el.textContent = countdown(show.starts_at);
    else if (show.status === "scheduled" && el) render();
  }, 1000);
}

document.getElementById("lang").addEventListener("click", () => {
  setLang(otherLang());
  document.getElementById("lang").textContent = t("lang.switch");
  labelPlayer();
  if (show) render();
  else load();
});
document.getElementById("lang").textContent = t("lang.switch");
load();
// Stock and state change while the page is open: refresh now and then until the room arrives.
setInterval(load, 30000);
setInterval(checkFrames, 1000);
setInterval(pollLive, 3000);
