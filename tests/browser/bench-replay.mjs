// Benchmark (scripts/bench-replay): the replay's first frame. Against `vetrina demo` on SQLite
// (BASE_URL, DATA_DIR): gives the demo show a recording (ffmpeg, 60 s, a keyframe a second),
// ends it, then opens its page 9 times in Chromium and measures from navigation to the first
// video frame presented, with play() called as soon as the page has the video (what a viewer's
// click does). Prints one JSON line.
import { execFileSync } from "node:child_process";
import { launch } from "./lib.mjs";

const { BASE_URL: base, DATA_DIR: dir } = process.env;
const slug = "primavera-dal-vivo";

const signIn = await fetch(`${base}/api/v1/session`, {
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify({ email: "owner@bottega-aurora.example", password: "vetrina-demo" }),
});
const session = await signIn.json();
const cookie = signIn.headers.get("set-cookie").split(";")[0];
const headers = { cookie, "x-csrf-token": session.csrf_token, "content-type": "application/json" };
const me = await (await fetch(`${base}/api/v1/session`, { headers })).json();
const org = me.memberships[0].org.id;
const shows = await (await fetch(`${base}/api/v1/orgs/${org}/shows`, { headers })).json();
const show = shows.find((s) => s.slug === slug);
const patch = (status) => fetch(`${base}/api/v1/orgs/${org}/shows/${show.id}`, { method: "PATCH", headers, body: JSON.stringify({ status }) });

// RECORDING: an existing file to replay instead (a long show, say).
const file = process.env.RECORDING || `${dir}/bench-recording.mp4`;
if (!process.env.RECORDING) execFileSync("ffmpeg", ["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
  "-t", "60", "-pix_fmt", "yuv420p", "-c:v", "libx264", "-preset", "veryfast", "-b:v", "1500k", "-g", "30", "-bf", "0", "-c:a", "libopus",
  "-movflags", "frag_keyframe+empty_moov+default_base_moof+skip_trailer", file]);
await patch("live");
execFileSync("sqlite3", ["-cmd", ".timeout 5000", `${dir}/vetrina.db`,
  `INSERT INTO recordings (show_id, path, started_at) VALUES ('${show.id}', '${file}', ${Date.now() - 60000})`]);
console.error(`replaying ${file}`);
await patch("ended");

const browser = await launch({ media: true });
const times = [];
try {
  for (let i = 0; i < 9; i++) {
    const context = await browser.newContext();
    const page = await context.newPage();
    const started = Date.now();
    await page.goto(`${base}/shows/${slug}${i % 3 === 0 ? "" : `?t=${i * 5}`}`, { waitUntil: "commit" });
    await page.waitForFunction(() => document.getElementById("replay"), null, { polling: 10, timeout: 10000 });
    const presented = await page.evaluate(() => new Promise((resolve, reject) => {
      const v = document.getElementById("replay");
      v.muted = true;
      v.requestVideoFrameCallback(() => resolve(performance.now()));
      v.play().catch(reject);
    }));
    const navigationStart = await page.evaluate(() => performance.timeOrigin);
    times.push(Math.round(navigationStart + presented - started));
    await context.close();
  }
} finally {
  await browser.close();
}
const sorted = [...times].sort((a, b) => a - b);
console.log(JSON.stringify({ replay_first_frame_median_ms: sorted[4], max_ms: sorted[8], runs_ms: times }));
