// The live room over WebSocket (protocol v1, docs/live.md): one connection per page, resuming
// with ?since=<seq>&room=<room> after a drop. `onMessage` gets every snapshot, frame and error,
// each frame once.

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
