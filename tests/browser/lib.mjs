// Shared by the browser tests: launch Debian's Chromium with the flags this machine needs.
import { chromium } from "playwright-core";

/** Chromium; with `media`, a fake camera and microphone and WebRTC on loopback. */
export async function launch({ media = false } = {}) {
  const mediaArgs = media
    ? ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream", "--allow-loopback-in-peer-connection",
      "--autoplay-policy=no-user-gesture-required"]
    : [];
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", ...mediaArgs],
  });
}

export function check(condition, message) {
  if (!condition) throw new Error(`check failed: ${message}`);
}

/** Fails the test on any page error or console error the page did not expect. */
export function watch(page, errors) {
  page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "warning" || m.type() === "error") console.log(`[${m.type()}] ${m.text()}`);
  });
  page.on("dialog", async (d) => {
    if (d.type() === "confirm") return d.accept();
    errors.push(`unexpected dialog: ${d.message()}`);
    await d.dismiss();
  });
}

/** Runs a test body with a browser; on failure, screenshots every page (paths printed). */
export async function withBrowser(name, options, body) {
  const browser = await launch(options);
  try {
    await body(browser);
  } catch (e) {
    for (const [i, p] of browser.contexts().flatMap((c) => c.pages()).entries()) {
      const path = `${process.env.TMPDIR || "/tmp"}/vetrina-${name}-${i}.png`;
      await p.screenshot({ path, fullPage: true }).catch(() => {});
      console.error(`screenshot: ${path} (${p.url()})`);
    }
    throw e;
  } finally {
    await browser.close();
  }
}

/** Signs in to the console with EMAIL and PASSWORD from the environment and waits for the shows. */
export async function signIn(page, base) {
  await page.goto(`${base}/console`);
  await page.getByLabel("Email").fill(process.env.EMAIL);
  await page.getByLabel("Password").fill(process.env.PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { name: "Shows" }).waitFor();
}
