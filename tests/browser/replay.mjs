// The replay in Chromium: an ended show's page plays its recording with the room's timeline in
// sync (chat lines at their video times, the pinned product of the moment, also after seeks),
// chapters on the seek bar and "jump to when this was shown" on the shelf; the replay price in
// the cart; a clip's page; and <vetrina-player> embedded on another origin under a strict CSP.
//
// Env: BASE_URL, SLUG (a 10 s show: product A pinned from the start, a chat line at 2 s, segment
// "Il lino" pinning product B at 4 s, a chat line at 5 s, A again at 7 s), PRODUCT_A, PRODUCT_B,
// CLIP_ID (4 s to 6 s), SHOPIFY_VARIANT (product B's first variant's Shopify id), and the
// owner's EMAIL, PASSWORD, ORG_ID, SHOW_ID for the console's clips.
import { check, merchantSite, signIn, watch, withBrowser } from "./lib.mjs";

const { BASE_URL: base, SLUG: slug, PRODUCT_A: productA, PRODUCT_B: productB, CLIP_ID: clipId, SHOPIFY_VARIANT: shopifyVariant } = process.env;
const errors = [];

/** Records, for each chat line added to the page, the video time it appeared at. */
async function observeChat(page, videoId) {
  await page.evaluate((videoId) => {
    window.chatSeen = [];
    const video = document.getElementById(videoId);
    new MutationObserver((records) => {
      for (const r of records) {
        for (const n of r.addedNodes) {
          if (n.nodeType === 1) window.chatSeen.push({ text: n.textContent, at: video.currentTime, seeking: video.seeking });
        }
      }
    }).observe(document.getElementById("chat"), { childList: true });
  }, videoId);
}

const pinnedTitle = (page) => page.evaluate(() => {
  const p = document.getElementById("pinned");
  return p.hidden ? null : document.getElementById("pinned-title")?.textContent ?? null;
});

async function waitFor(page, label, fn, arg, timeout = 8000) {
  try {
    await page.waitForFunction(fn, arg, { timeout, polling: 50 });
  } catch {
    throw new Error(`${label}: not within ${timeout} ms`);
  }
}

await withBrowser("replay", { media: true }, async (browser) => {
  const context = await browser.newContext();
  const page = await context.newPage();
  watch(page, errors);
  const opened = Date.now();
  await page.goto(`${base}/shows/${slug}`);
  await page.locator("#replay").waitFor();
  await waitFor(page, "the recording loads", () => document.getElementById("replay").readyState >= 2);
  const duration = await page.evaluate(() => document.getElementById("replay").duration);
  check(Math.abs(duration - 10) < 0.6, `the replay is the 10 s recording: ${duration}`);
  // Chapters on the seek bar: A at 0, the segment at 4 s, A at 7 s.
  await waitFor(page, "chapter markers", () => document.querySelectorAll("#chapter-bar .marker").length === 3);
  check((await pinnedTitle(page)) === productA, `at 0 s the pinned product is ${productA}: ${await pinnedTitle(page)}`);

  // Play: the first frame, then the chat line said at 2 s appears at 2 s of video.
  await observeChat(page, "replay");
  await page.evaluate(() => { const v = document.getElementById("replay"); v.muted = true; return v.play(); });
  await waitFor(page, "frames decode", () => document.getElementById("replay").getVideoPlaybackQuality().totalVideoFrames > 0);
  console.log(`replay first frame ${Date.now() - opened} ms after the page opened`);
  await waitFor(page, "the 2 s chat line", () => window.chatSeen.some((l) => l.text.includes("ciao a tutti")), null, 10000);
  const first = await page.evaluate(() => window.chatSeen.find((l) => l.text.includes("ciao a tutti")));
  check(Math.abs(first.at - 2.0) <= 0.1, `the chat line said at 2.000 s appears at ${first.at.toFixed(3)} s of video`);
  // The segment pins product B at 4 s.
  await waitFor(page, "the 4 s pin", (title) => document.getElementById("pinned-title")?.textContent === title, productB, 10000);
  const pinnedAt = await page.evaluate(() => document.getElementById("replay").currentTime);
  check(pinnedAt >= 4.0 && pinnedAt <= 4.1, `product B is pinned at ${pinnedAt.toFixed(3)} s of video (pinned live at 4 s)`);
  check((await page.locator("#segment").textContent()).includes("Il lino"), "the segment banner");
  check((await page.locator("#segment").textContent()).includes("replay price"), "the live deal shows its replay price");
  await page.evaluate(() => document.getElementById("replay").pause());

  // Seek back to 1 s: product A again, and the later chat lines are gone.
  await page.evaluate(() => { document.getElementById("replay").currentTime = 1; });
  await waitFor(page, "after seeking back", (title) => document.getElementById("pinned-title")?.textContent === title
    && !document.getElementById("chat").textContent.includes("ciao a tutti"), productA);

  // "Jump to when this was shown" on product B's card: the segment's moment, B pinned, the chat
  // of before it (2 s) there and the line of 5 s not yet.
  await page.locator(".lineup [data-jump]").filter({ hasText: "Jump to when this was shown" }).first().waitFor();
  const jumps = await page.locator(".lineup .product").filter({ hasText: productB }).locator("[data-jump]");
  await jumps.click();
  await waitFor(page, "jumped to product B", (title) => document.getElementById("pinned-title")?.textContent === title
    && Math.abs(document.getElementById("replay").currentTime - 4) < 0.6, productB);
  const chatText = await page.locator("#chat").textContent();
  check(chatText.includes("ciao a tutti") && !chatText.includes("che bella borsa"), `the chat up to 4 s: ${chatText}`);
  // After the seek, the line said at 5 s still appears at 5 s of video.
  await waitFor(page, "the 5 s chat line", () => window.chatSeen.some((l) => l.text.includes("che bella borsa")), null, 10000);
  const later = await page.evaluate(() => window.chatSeen.find((l) => l.text.includes("che bella borsa")));
  check(Math.abs(later.at - 5.0) <= 0.1, `after a seek, the chat line said at 5.000 s appears at ${later.at.toFixed(3)} s of video`);
  // The poll of 3 s with the vote of 3.5 s (caught up after the jump), then the vote of 6 s.
  check((await page.locator("#poll").textContent()).includes("Blu · 1"), `the poll at 5 s: ${await page.locator("#poll").textContent()}`);
  await waitFor(page, "the 6 s vote", () => document.getElementById("poll").textContent.includes("Blu · 2"), null, 10000);
  await page.evaluate(() => document.getElementById("replay").pause());

  // Buying in the replay: the replay price (80.00), not the live deal's.
  await page.locator("#buy-pinned").click();
  await page.locator("#cart").getByText(/80[.,]00/).first().waitFor({ timeout: 5000 });

  // Italian.
  await page.locator("#lang").click();
  await page.getByText("Capitoli").first().waitFor();
  await page.locator("#lang").click();

  // A clip's page plays its range with the product shown in it.
  const clipPage = await context.newPage();
  watch(clipPage, errors);
  await clipPage.goto(`${base}/clips/${clipId}`);
  await clipPage.locator("#clip-video").waitFor();
  await waitFor(clipPage, "the clip loads", () => document.getElementById("clip-video").readyState >= 2);
  const clipDuration = await clipPage.evaluate(() => document.getElementById("clip-video").duration);
  check(Math.abs(clipDuration - 2) < 0.6, `the clip is 2 s: ${clipDuration}`);
  await waitFor(clipPage, "the clip's pin", (title) => document.getElementById("pinned-title")?.textContent === title, productB);
  check((await clipPage.locator(".lineup .product h3").first().textContent()) === productB, "the clip's product leads the shelf");

  // <vetrina-player> on a merchant's site: another origin, a strict CSP, no iframe.
  const site = await merchantSite(new URL(base).origin, `show="${slug}"`);
  const siteUrl = site.url;
  try {
    const shop = await context.newPage();
    watch(shop, errors);
    await shop.goto(siteUrl);
    await waitFor(shop, "the player is ready", () => window.seen.some((e) => e.type === "vetrina:ready"));
    const player = shop.locator("vetrina-player");
    await player.locator("li").first().waitFor();
    check((await player.locator("li").count()) === 2, "the embed lists the show's products");
    // It plays the replay, and the product on screen follows the video.
    await shop.evaluate(() => { const v = document.querySelector("vetrina-player").shadowRoot.querySelector("video"); v.muted = true; v.currentTime = 4.5; return v.play(); });
    await waitFor(shop, "the embed's video plays", () => document.querySelector("vetrina-player").shadowRoot.querySelector("video").getVideoPlaybackQuality().totalVideoFrames > 0);
    await waitFor(shop, "product B on screen", (title) => document.querySelector("vetrina-player").shadowRoot.querySelector("li.on-screen .title")?.textContent === title, productB);
    await shop.evaluate(() => document.querySelector("vetrina-player").shadowRoot.querySelector("video").pause());
    await player.locator("li.on-screen button.add").click();
    await waitFor(shop, "the add-to-cart event", () => window.seen.some((e) => e.type === "vetrina:add-to-cart"));
    const added = await shop.evaluate(() => window.seen.find((e) => e.type === "vetrina:add-to-cart").detail);
    check(added.title === productB && added.show === slug, `the event names the product: ${JSON.stringify(added)}`);
    check(added.shopify_variant_id === shopifyVariant, `with its Shopify variant for the site's cart: ${added.shopify_variant_id}`);
    check(added.media_ms >= 4000 && added.media_ms < 6000, `and the moment of video: ${added.media_ms}`);
    check((await player.locator("button.checkout").count()) === 0, "the site took over: the player's basket stays empty");
    const violations = await shop.evaluate(() => window.seen.filter((e) => e.type === "csp"));
    check(violations.length === 0, `no CSP violations: ${JSON.stringify(violations)}`);

    // A site without a cart of its own: the player keeps a basket and checks out on Vetrina,
    // where the basket is in the buyer's cart.
    const plain = await context.newPage();
    watch(plain, errors);
    await plain.goto(`${siteUrl}?player-cart`);
    const player2 = plain.locator("vetrina-player");
    await player2.locator("li").first().waitFor();
    await player2.locator("li", { hasText: productA }).locator("button.add").click();
    await player2.locator("button.checkout").waitFor();
    const [vetrinaPage] = await Promise.all([context.waitForEvent("page"), player2.locator("button.checkout").click()]);
    watch(vetrinaPage, errors);
    await vetrinaPage.locator("#cart-lines li", { hasText: productA }).waitFor({ timeout: 10000 });
    check(!vetrinaPage.url().includes("add="), `the basket is added once: ${vetrinaPage.url()}`);
    await vetrinaPage.close();
    await plain.close();
  } finally {
    site.close();
  }

  // The console: the embed snippet, a suggested clip per segment, a clip cut by hand.
  const consolePage = await context.newPage();
  watch(consolePage, errors);
  await signIn(consolePage, base);
  await consolePage.goto(`${base}/console#/orgs/${process.env.ORG_ID}/shows/${process.env.SHOW_ID}`);
  check((await consolePage.locator("#embed-snippet").textContent()).includes(`<vetrina-player show="${slug}">`), "the embed snippet");
  const clips = consolePage.locator("#clips");
  await clips.locator(".clip-list li").first().waitFor();
  check((await clips.locator(".clip-list li").count()) === 1, "the clip cut before");
  await clips.locator(".suggested li", { hasText: "Il lino" }).getByRole("button", { name: "Cut clip" }).click();
  await consolePage.getByText('Clip "Il lino" cut').waitFor();
  await consolePage.locator("#clips .clip-list li", { hasText: "Il lino" }).waitFor();
  await consolePage.locator("input[name=clip-title]").fill("Prova <b>bold</b>");
  await consolePage.locator("input[name=clip-from]").fill("0:01");
  await consolePage.locator("input[name=clip-to]").fill("abc");
  await consolePage.locator("#clips form").getByRole("button", { name: "Cut clip" }).click();
  await consolePage.getByText("Write the times as m:ss").waitFor();
  await consolePage.locator("input[name=clip-to]").fill("0:03");
  await consolePage.locator("#clips form").getByRole("button", { name: "Cut clip" }).click();
  await consolePage.locator("#clips .clip-list li", { hasText: "Prova <b>bold</b>" }).waitFor();
  check((await consolePage.locator("#clips .clip-list li").count()) === 3, "three clips now");
  check((await consolePage.locator("#clips b").count()) === 0, "a clip title stays text");

  check(errors.length === 0, errors.join("\n"));
  console.log("replay flow: ok");
});
