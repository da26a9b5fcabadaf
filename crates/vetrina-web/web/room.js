// The live room over WebSocket (protocol v1, docs/live.md): one connection per page, resuming
// with ?since=<seq> after a drop. `onMessage` gets every snapshot, frame and error.

export function joinRoom(slug, onMessage) {
  let socket = null;
  let lastSeq = null;
  let retry = 500;
  let closed = false;
  const open = () => {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const since = lastSeq === null ? "" : `?since=${lastSeq}`;
    socket = new WebSocket(`${scheme}://${location.host}/api/v1/shows/${encodeURIComponent(slug)}/live${since}`);
    socket.addEventListener("open", () => { retry = 500; });
    socket.addEventListener("message", (e) => {
      let m;
      try { m = JSON.parse(e.data); } catch { return; }
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
      if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
    },
    /** Reconnects from scratch (after choosing a name, say). */
    restart() {
      lastSeq = null;
      if (socket) socket.close();
    },
    close() {
      closed = true;
      if (socket) socket.close();
    },
  };
}
