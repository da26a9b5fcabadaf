// The live room over WebSocket (protocol v1, docs/live.md): one connection per page, resuming
// with ?since=<seq>&room=<room> after a drop. `onMessage` gets every snapshot, frame and error,
// each frame once. Also what the viewer page and the studio draw alike: chat lines and refusals.

import { h, fill, t, lang } from "./i18n.js";

/** A chat line, all of it text (names and messages are never markup): a Host or Mod badge, the
 * author, the line it answers (looked up in `list`, the lines on screen), the text, then `extras`
 * (reply and moderation buttons). */
export function chatLine(line, list, ...extras) {
  const badge = line.role === "host" ? t("room.badge.host") : line.role === "moderator" ? t("room.badge.mod") : null;
  let quote = null;
  if (line.reply_to !== null && line.reply_to !== undefined) {
    const answered = list.querySelector(`[data-id="${Number(line.reply_to)}"]`);
    const text = answered?.dataset.text ?? "";
    quote = h("span", { class: "reply-quote", "data-quote-of": line.reply_to }, "↪ ", answered
      ? [h("strong", {}, answered.dataset.name), " ", text.length > 80 ? `${text.slice(0, 80)}…` : text]
      : t("room.reply_gone"));
  }
  return h("li", { class: `line ${line.role}`, "data-id": line.id, "data-name": line.name, "data-text": line.text },
    quote,
    badge ? h("span", { class: `role-badge ${line.role}` }, badge) : null,
    h("strong", {}, line.name), " ", line.text,
    extras.length ? [" ", ...extras] : null);
}

/** Takes a line moderators deleted off `list`, and its words out of the replies that quote it. */
export function removeLine(list, id) {
  list.querySelector(`[data-id="${Number(id)}"]`)?.remove();
  for (const quote of list.querySelectorAll(`.reply-quote[data-quote-of="${Number(id)}"]`)) fill(quote, "↪ ", t("room.reply_gone"));
}

/** What a refusal says, in the page's language: the server's own words in English (they may
 * name a number of seconds), a translation by its code otherwise. */
export function refusalText(m) {
  // With the seconds until it lifts, where the room said them (a mute, slow mode).
  const timed = Number.isInteger(m.retry_after) && t(`room.error.${m.code}_for`) !== `room.error.${m.code}_for`;
  const key = timed ? `room.error.${m.code}_for` : `room.error.${m.code}`;
  const translated = t(key, { seconds: m.retry_after });
  return lang === "en" || translated === key ? m.message : translated;
}

export function joinRoom(slug, onMessage) {
  let socket = null;
  let lastSeq = null;
  let room = null;
  let retry = 500;
  let closed = false;
  // What was said while the connection was opening or coming back (a host's pin clicked as the
  // studio opens): sent once it is open, never dropped unseen.
  let pending = [];
  const open = () => {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const since = lastSeq === null ? "" : `?since=${lastSeq}&room=${encodeURIComponent(room || "")}`;
    socket = new WebSocket(`${scheme}://${location.host}/api/v1/shows/${encodeURIComponent(slug)}/live${since}`);
    socket.addEventListener("open", () => {
      retry = 500;
      for (const text of pending.splice(0)) socket.send(text);
    });
    socket.addEventListener("message", (e) => {
      let m;
      try { m = JSON.parse(e.data); } catch { return; }
      if (m.type === "snapshot") room = m.room;
      // A frame the snapshot already holds (it was on its way when the snapshot was taken).
      if (m.type === "frame" && lastSeq !== null && m.seq <= lastSeq) return;
      if (typeof m.seq === "number") lastSeq = m.seq;
      onMessage(m);
    });
    socket.addEventListener("close", () => {
      if (closed) return;
      setTimeout(open, retry);
      retry = Math.min(retry * 2, 10000);
    });
  };
  open();
  return {
    send(message) {
      const text = JSON.stringify(message);
      if (socket && socket.readyState === WebSocket.OPEN) socket.send(text);
      else if (pending.length < 20) pending.push(text);
    },
    /** Reconnects from scratch (after choosing a name, say). */
    restart() {
      lastSeq = null;
      room = null;
      if (socket) socket.close();
    },
    close() {
      closed = true;
      if (socket) socket.close();
    },
  };
}
