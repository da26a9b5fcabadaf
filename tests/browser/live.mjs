// Live video in Chromium: the host goes live from the studio page with the fake camera (WHIP);
// a viewer's show page plays it (WHEP), says "reconnecting" when the host drops, plays again when
// the host returns, and says the show has ended when it ends.
//
// Env: BASE_URL, EMAIL, PASSWORD, ORG_ID, SHOW_ID, SLUG.
import { check, merchantSite, signIn, watch, withBrowser } from "./lib.mjs";

const { BASE_URL: base, ORG_ID: org, SHOW_ID: show, SLUG: slug } = process.env;
const errors = [];

async function frames(page) {
  return page.evaluate(() => {
    const v = document.getElementById("player");
    return { width: v.videoWidth, frames: v.getVideoPlaybackQuality().totalVideoFrames };
  });
}

async function playing(page, label) {
  const deadline = Date.now() + 15000;
  let before = await frames(page);
  while (Date.now() < deadline) {
    await page.waitForTimeout(500);
    const now = await frames(page);
    if (now.width > 0 && now.frames > before.frames && now.frames > 5) return now;
    before = now;
  }
  throw new Error(`${label}: the viewer's video does not play (${JSON.stringify(await frames(page))})`);
}

await withBrowser("live", { media: true }, async (browser) => {
  const hostContext = await browser.newContext({ permissions: ["camera", "microphone"] });
  const host = await hostContext.newPage();
  watch(host, errors);
  await signIn(host, base);
  await host.goto(`${base}/console#/orgs/${org}/shows/${show}/studio`);
  await host.getByText("Streaming from OBS 30+").waitFor();
  const key = await host.locator("#stream-key").textContent();
  check(key.startsWith("sk_"), `the studio shows the stream key: ${key}`);
  // The preview shows the fake camera.
  await host.waitForFunction(() => document.getElementById("preview").videoWidth > 0, null, { timeout: 10000 });

  const viewerContext = await browser.newContext();
  const viewer = await viewerContext.newPage();
  watch(viewer, errors);
  const opened = Date.now();
  await viewer.goto(`${base}/shows/${slug}`);
  await viewer.getByText("Waiting for the host…").waitFor();

  await host.getByRole("button", { name: "Go live" }).click();
  await host.locator("#studio-state", { hasText: "You are live" }).waitFor({ timeout: 15000 });
  const liveSince = Date.now();
  const first = await playing(viewer, "after going live");
  console.log(`viewer playing ${first.width}px wide, ${Date.now() - opened} ms after the page opened`);
  await viewer.locator("#player-state").waitFor({ state: "hidden", timeout: 3000 });
  await viewer.getByText("Live now").waitFor({ timeout: 10000 });
  // Muted autoplay, with an unmute button.
  check(await viewer.evaluate(() => document.getElementById("player").muted), "autoplays muted");
  await viewer.locator("#unmute").click();
  check(!(await viewer.evaluate(() => document.getElementById("player").muted)), "unmutes");

  // The embedded player on a merchant's site (another origin, a strict CSP) plays the show live.
  const site = await merchantSite(new URL(base).origin, `show="${slug}"`);
  try {
    const shop = await viewerContext.newPage();
    watch(shop, errors);
    await shop.goto(site.url);
    await shop.waitForFunction(() => {
      const v = document.querySelector("vetrina-player")?.shadowRoot?.querySelector("video");
      return v && v.videoWidth > 0 && v.getVideoPlaybackQuality().totalVideoFrames > 5;
    }, null, { timeout: 15000 });
    check((await shop.locator("vetrina-player .state").textContent()) === "Live now", "the embed says it is live");
    const violations = await shop.evaluate(() => window.seen.filter((e) => e.type === "csp"));
    check(violations.length === 0, `no CSP violations: ${JSON.stringify(violations)}`);
    await shop.close();
  } finally {
    site.close();
  }

  // The host drops: the viewer says so; the host returns: the viewer plays again.
  await host.getByRole("button", { name: "Stop streaming" }).click();
  await viewer.getByText("The host is reconnecting…").waitFor({ timeout: 10000 });
  await host.getByRole("button", { name: "Go live" }).click();
  await host.locator("#studio-state", { hasText: "You are live" }).waitFor({ timeout: 15000 });
  await playing(viewer, "after the host came back");

  // The host ends the show.
  await viewer.waitForTimeout(2000);
  await host.getByRole("button", { name: "End show" }).click();
  const sessionSeconds = (Date.now() - liveSince) / 1000;
  console.log(`session seconds: ${sessionSeconds}`);
  await viewer.getByText("This show has ended").first().waitFor({ timeout: 10000 });

  // The page becomes the replay of our own recording of the show: it knows its length at once
  // (the segment index) and plays.
  await viewer.locator("#replay").waitFor({ timeout: 15000 });
  await viewer.waitForFunction(() => document.getElementById("replay").readyState >= 1, null, { timeout: 15000 });
  const replayDuration = await viewer.evaluate(() => document.getElementById("replay").duration);
  check(Number.isFinite(replayDuration) && Math.abs(replayDuration - sessionSeconds) < 1.5,
    `the replay lasts as long as the show: ${replayDuration} s for ${sessionSeconds} s`);
  await viewer.evaluate(() => { const v = document.getElementById("replay"); v.muted = true; v.currentTime = 1; return v.play(); });
  await viewer.waitForFunction(() => document.getElementById("replay").getVideoPlaybackQuality().totalVideoFrames > 3, null, { timeout: 10000 });
  check(await viewer.evaluate(() => document.getElementById("replay").videoWidth > 0), "the replay shows the host's camera");

  check(errors.length === 0, errors.join("\n"));
  console.log("live flow: ok");
});
