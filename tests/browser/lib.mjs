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

/**
 * A merchant's site on another origin (localhost, while Vetrina is at 127.0.0.1) with a strict
 * Content-Security-Policy that allows only Vetrina's origin, embedding `<vetrina-player attrs>`.
 * Its page records the player's events and any CSP violation in `window.seen`, and takes over
 * add-to-cart (preventDefault) unless the page's address ends with `?player-cart`. Returns
 * { url, close }.
 */
export async function merchantSite(vetrina, attrs) {
  const http = await import("node:http");
  const csp = `default-src 'none'; script-src 'nonce-t3st' ${vetrina}; connect-src ${vetrina}; media-src ${vetrina} blob:; img-src ${vetrina} https: data:; style-src 'none'`;
  const site = http.createServer((req, res) => {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8", "content-security-policy": csp });
    res.end(`<!doctype html><html><head><meta charset="utf-8"><title>Shop</title>
<script type="module" src="${vetrina}/embed.js"></script></head>
<body><h1>Our shop</h1><vetrina-player ${attrs}></vetrina-player>
<script type="module" nonce="t3st">
window.seen = [];
document.addEventListener("securitypolicyviolation", (e) => window.seen.push({ type: "csp", directive: e.violatedDirective, uri: e.blockedURI }));
for (const type of ["vetrina:ready", "vetrina:product-shown", "vetrina:add-to-cart", "vetrina:checkout"]) {
  document.addEventListener(type, (e) => {
    window.seen.push({ type, detail: e.detail });
    // Our own cart takes over, unless this page lets the player keep its basket.
    if (type === "vetrina:add-to-cart" && !location.search.includes("player-cart")) e.preventDefault();
  });
}
</script></body></html>`);
  });
  await new Promise((resolve) => site.listen(0, "127.0.0.1", resolve));
  return { url: `http://localhost:${site.address().port}/`, close: () => site.close() };
}
