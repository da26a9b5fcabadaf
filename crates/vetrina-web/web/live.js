// WebRTC over HTTP for the pages: publish with WHIP (RFC 9725), watch with WHEP. The server does
// not take trickled candidates, so the offer is sent once ICE gathering is done (or after 2 s).

function gathered(pc, ms = 2000) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      if (pc.iceGatheringState === "complete") {
        pc.removeEventListener("icegatheringstatechange", done);
        resolve();
      }
    };
    pc.addEventListener("icegatheringstatechange", done);
    setTimeout(resolve, ms);
  });
}

export class HttpError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

async function exchange(pc, url, headers) {
  const offer = await pc.createOffer();
  await pc.setLocalDescription(offer);
  await gathered(pc);
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/sdp", ...headers },
    body: pc.localDescription.sdp,
  });
  if (response.status !== 201) {
    let detail = response.statusText;
    try {
      detail = (await response.json()).detail || detail;
    } catch {}
    throw new HttpError(response.status, detail);
  }
  // The session's URL, absolute (the Location header may be relative to the endpoint).
  const resource = new URL(response.headers.get("location"), new URL(url, window.location.href)).toString();
  await pc.setRemoteDescription({ type: "answer", sdp: await response.text() });
  return resource;
}

/** Puts H.264 first where the browser has it: the server records H.264 and plays it everywhere. */
function preferH264(transceiver) {
  const caps = RTCRtpSender.getCapabilities && RTCRtpSender.getCapabilities("video");
  if (!caps || !transceiver.setCodecPreferences) return;
  const h264 = caps.codecs.filter((c) => c.mimeType.toLowerCase() === "video/h264");
  const rest = caps.codecs.filter((c) => c.mimeType.toLowerCase() !== "video/h264");
  if (h264.length) transceiver.setCodecPreferences([...h264, ...rest]);
}

/** Sends the offer of `pc` and returns the session: { pc, location, stop }. Closes `pc` on failure. */
async function open(pc, url, headers) {
  try {
    const location = await exchange(pc, url, headers);
    const stop = async () => {
      pc.close();
      await fetch(location, { method: "DELETE" }).catch(() => {});
    };
    return { pc, location, stop };
  } catch (e) {
    pc.close();
    throw e;
  }
}

/** Publishes `stream` to a WHIP endpoint. Returns { pc, location, stop }. */
export async function publish(whipUrl, streamKey, stream, { takeover = false, iceServers = [] } = {}) {
  const pc = new RTCPeerConnection({ iceServers });
  for (const track of stream.getTracks()) {
    const transceiver = pc.addTransceiver(track, { direction: "sendonly", streams: [stream] });
    if (track.kind === "video") preferH264(transceiver);
  }
  const url = takeover ? `${whipUrl}?takeover=true` : whipUrl;
  return open(pc, url, { authorization: `Bearer ${streamKey}` });
}

/** Watches a WHEP endpoint; `onStream` gets the MediaStream. Returns { pc, location, stop }. */
export async function watch(whepUrl, onStream, { iceServers = [] } = {}) {
  const pc = new RTCPeerConnection({ iceServers });
  pc.addTransceiver("video", { direction: "recvonly" });
  pc.addTransceiver("audio", { direction: "recvonly" });
  const stream = new MediaStream();
  pc.addEventListener("track", (e) => {
    stream.addTrack(e.track);
    onStream(stream);
  });
  return open(pc, whepUrl, {});
}
