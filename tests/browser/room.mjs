// The live room in Chromium: a viewer picks a name and chats; the host pins a product from the
// studio and sees the viewer's message; the viewer sees the pinned product arrive. Names with
// HTML stay text.
//
// Env: BASE_URL, EMAIL, PASSWORD, ORG_ID, SHOW_ID, SLUG, PRODUCT (title of a line-up product).
import { check, signIn, watch, withBrowser } from "./lib.mjs";

const { BASE_URL: base, ORG_ID: org, SHOW_ID: show, SLUG: slug, PRODUCT: product } = process.env;
const errors = [];
await withBrowser("room", { media: true }, async (browser) => {
  const viewer = await (await browser.newContext()).newPage();
  watch(viewer, errors);
  // What the viewer's page sends: likes go as counts, not one message per tap.
  const likeMessages = [];
  viewer.on("websocket", (ws) => ws.on("framesent", (f) => {
    try {
      const m = JSON.parse(f.payload);
      if (m.type === "like") likeMessages.push(m.count);
    } catch {}
  }));
  await viewer.goto(`${base}/shows/${slug}`);
  await viewer.getByRole("heading", { name: "Chat" }).waitFor();
  await viewer.getByLabel("Your name in the chat").fill("Giulia <b>V</b>");
  await viewer.getByRole("button", { name: "Join the chat" }).click();
  await viewer.locator("#chat-input").waitFor();
  await viewer.locator("#chat-input").fill("Avete la taglia M?");
  await viewer.getByRole("button", { name: "Send" }).click();
  await viewer.locator("#chat li", { hasText: "Avete la taglia M?" }).waitFor();
  check((await viewer.locator("#chat b").count()) === 0, "a name became markup");
  await viewer.locator("#like").click();
  await viewer.locator("#likes", { hasText: /^1 like$/ }).waitFor();

  const host = await (await browser.newContext({ permissions: ["camera", "microphone"] })).newPage();
  watch(host, errors);
  await signIn(host, base);
  await host.goto(`${base}/console#/orgs/${org}/shows/${show}/studio`);
  await host.getByRole("heading", { name: "Live room" }).waitFor();
  await host.locator("#studio-chat li", { hasText: "Avete la taglia M?" }).waitFor();
  await host.getByRole("button", { name: `Pin: ${product}` }).click();
  await host.locator("#studio-pinned", { hasText: product }).waitFor();
  await host.locator("#studio-chat-input").fill("Sì, certo!");
  await host.locator("#studio-chat-input").press("Enter");

  await viewer.locator("#pinned-title", { hasText: product }).waitFor();
  const answer = viewer.locator("#chat li.host", { hasText: "Sì, certo!" });
  await answer.waitFor();
  check((await answer.locator(".role-badge").textContent()) === "Host", "the host's line has a Host badge");
  // The viewer answers the host's line; both see which line it answers.
  await viewer.waitForTimeout(1050);
  await answer.locator("button.reply").click();
  await viewer.locator("#replying", { hasText: "Replying to" }).waitFor();
  await viewer.locator("#chat-input").fill("Grazie mille");
  await viewer.getByRole("button", { name: "Send" }).click();
  await viewer.locator("#chat li", { hasText: "Grazie mille" }).locator(".reply-quote", { hasText: "Sì, certo!" }).waitFor();
  await host.locator("#studio-chat li", { hasText: "Grazie mille" }).locator(".reply-quote", { hasText: "Sì, certo!" }).waitFor();
  check(await viewer.locator("#replying").isHidden(), "the reply note goes once sent");
  // Taps on the heart: counted on the page, sent a few times a second.
  for (let i = 0; i < 12; i++) await viewer.locator("#like").click();
  await viewer.locator("#likes", { hasText: "13 likes" }).waitFor();
  check(likeMessages.reduce((a, b) => a + b, 0) === 13, `13 likes sent: ${likeMessages}`);
  check(likeMessages.length < 13, `taps are batched: ${likeMessages.length} like messages`);
  // Late joiners see what was shown already, and when.
  await viewer.locator(".shown-earlier summary").click();
  await viewer.locator("#chapters li", { hasText: product }).waitFor({ timeout: 5000 });
  const late = await (await browser.newContext()).newPage();
  watch(late, errors);
  await late.goto(`${base}/shows/${slug}`);
  await late.locator(".shown-earlier summary").click();
  await late.locator("#chapters li", { hasText: product }).waitFor({ timeout: 5000 });
  await late.locator(".lineup .product", { hasText: product }).locator(".shown-at").waitFor();
  await late.close();

  // The run of show: the second segment opens its poll and announces its deal.
  await host.locator("#next-segment").click();
  await viewer.locator("#segment", { hasText: "Benvenuti da Firenze" }).waitFor();
  await host.locator("#next-segment").click();
  await viewer.locator("#segment", { hasText: "La giacca di lino" }).waitFor();
  await viewer.locator("#segment", { hasText: "-20%" }).waitFor();
  await viewer.locator("#poll", { hasText: "Quale colore preferite?" }).waitFor();
  await viewer.getByRole("button", { name: "Sabbia · 0" }).click();
  await viewer.getByRole("button", { name: "Sabbia · 1" }).waitFor();
  await host.locator("#studio-poll", { hasText: "Sabbia: 1" }).waitFor();
  // A poll of the host's own, from the studio's form.
  await host.getByText("New poll").click();
  await host.locator("#poll-question").fill("Che taglia portate?");
  await host.locator("#poll-options").fill("S\nM\nL");
  await host.locator("#open-poll").click();
  await viewer.locator("#poll", { hasText: "Che taglia portate?" }).waitFor();
  await viewer.getByRole("button", { name: "M · 0" }).click();
  await host.locator("#studio-poll", { hasText: "M: 1" }).waitFor();
  check((await host.locator("#poll-question").inputValue()) === "", "the form is ready for the next poll");

  // A question, answered with one click from the prepared answers.
  await viewer.getByText("Questions").click();
  await viewer.locator("#ask-input").fill("Spedite all'estero?");
  await viewer.getByRole("button", { name: "Ask", exact: true }).click();
  await host.locator("#studio-questions li", { hasText: "Spedite all'estero?" }).waitFor();
  await host.getByRole("button", { name: "Answer: Spedite all'estero?" }).click();
  await viewer.locator("#questions .answer", { hasText: "in tutta l'Unione Europea" }).waitFor();
  // An XSS corpus in chat, questions and names: all of it shows as text, none of it runs.
  const corpus = [
    "<script>window.__xss=1</script>",
    "<img src=x onerror=window.__xss=2>",
    "<svg onload=window.__xss=3>",
    "\"><iframe src=javascript:window.__xss=4>",
    "javascript:window.__xss=5",
    "{{constructor.constructor('window.__xss=6')()}}",
  ];
  for (const payload of corpus) {
    await viewer.waitForTimeout(1050); // the viewer's pace: one message a second
    await viewer.locator("#chat-input").fill(payload);
    await viewer.getByRole("button", { name: "Send" }).click();
    await viewer.locator("#chat li").filter({ hasText: payload }).first().waitFor();
  }
  await host.locator("#studio-chat li").filter({ hasText: corpus[corpus.length - 1] }).first().waitFor();
  // In questions, both ways.
  for (const payload of corpus.slice(0, 3)) {
    await viewer.locator("#ask-input").fill(payload);
    await viewer.getByRole("button", { name: "Ask", exact: true }).click();
    await host.locator("#studio-questions li").filter({ hasText: payload }).first().waitFor();
    await viewer.locator("#questions li").filter({ hasText: payload }).first().waitFor();
  }
  // In a display name: another viewer's line, seen by the host and the first viewer (with a
  // reply quoting it).
  const sly = await (await browser.newContext()).newPage();
  watch(sly, errors);
  await sly.goto(`${base}/shows/${slug}`);
  await sly.getByLabel("Your name in the chat").fill("<img src=x onerror=window.__xss=7>");
  await sly.getByRole("button", { name: "Join the chat" }).click();
  await sly.locator("#chat-input").fill("<svg onload=window.__xss=8>");
  await sly.getByRole("button", { name: "Send" }).click();
  const slyLine = viewer.locator("#chat li", { hasText: "<img src=x onerror=window.__xss=7>" });
  await slyLine.waitFor();
  await host.locator("#studio-chat li", { hasText: "<img src=x onerror=window.__xss=7>" }).waitFor();
  await viewer.waitForTimeout(1050);
  await slyLine.locator("button.reply").click();
  await viewer.locator("#chat-input").fill("no");
  await viewer.getByRole("button", { name: "Send" }).click();
  await viewer.locator("#chat li .reply-quote", { hasText: "<svg onload=window.__xss=8>" }).waitFor();
  // In poll questions and options, opened by the host.
  await host.locator("#poll-question").fill("<img src=x onerror=window.__xss=9>?");
  await host.locator("#poll-options").fill("<script>window.__xss=10</script>\n<b onmouseover=window.__xss=11>B</b>");
  await host.locator("#open-poll").click();
  await viewer.locator("#poll", { hasText: "<img src=x onerror=window.__xss=9>?" }).waitFor();
  await viewer.getByRole("button", { name: "<script>window.__xss=10</script> · 0" }).waitFor();
  await host.locator("#studio-poll", { hasText: "<b onmouseover=window.__xss=11>B</b>: 0" }).waitFor();
  const markup = ["img", "svg", "iframe", "script", "b"].flatMap((tag) =>
    ["#chat", "#studio-chat", "#questions", "#studio-questions", "#poll", "#studio-poll"].map((box) => `${box} ${tag}`)).join(", ");
  for (const page of [viewer, host, sly]) {
    check((await page.evaluate(() => window.__xss)) === undefined, "a payload ran");
    check((await page.locator(markup).count()) === 0, "a payload became markup");
  }
  await sly.close();

  // The deal's countdown runs on the viewer's page; the studio counts viewers and likes.
  await viewer.locator("#deal-countdown", { hasText: /ends in \d+:\d\d/ }).waitFor();
  await host.locator("#studio-counters", { hasText: /\d+ watching \(peak \d+\) · 13 likes/ }).waitFor();
  // An announcement reaches the viewer above the chat, and comes down.
  await host.locator("#announce-input").fill("Spedizione gratuita stasera <b>!</b>");
  await host.locator("#announce").click();
  await viewer.locator("#announcement", { hasText: "Spedizione gratuita stasera <b>!</b>" }).waitFor();
  await host.getByRole("button", { name: "Take down" }).click();
  await viewer.locator("#announcement").waitFor({ state: "hidden" });
  // Moderation from the studio: delete a viewer's line, then mute its author.
  await viewer.waitForTimeout(1050);
  await viewer.locator("#chat-input").fill("compra su spam punto com");
  await viewer.getByRole("button", { name: "Send" }).click();
  const spam = host.locator("#studio-chat li", { hasText: "compra su spam punto com" }).first();
  await spam.waitFor();
  // The host answers it first: the answer quotes it.
  await spam.locator("button.reply").click();
  await host.locator("#studio-chat-input").fill("Niente pubblicità, grazie");
  await host.locator("#studio-chat-input").press("Enter");
  const reply = viewer.locator("#chat li", { hasText: "Niente pubblicità" });
  await reply.locator(".reply-quote", { hasText: "compra su spam" }).waitFor();
  await spam.locator('[data-action="mute"]').click();
  await spam.locator('[data-action="delete"]').click();
  await reply.locator(".reply-quote", { hasText: "a message no longer shown" }).waitFor();
  check(!(await viewer.locator("#chat").textContent()).includes("compra su spam"), "a deleted line lives on in a quote");
  await host.locator("#studio-chat li", { hasText: "compra su spam punto com" }).waitFor({ state: "detached" });
  await viewer.waitForTimeout(1050);
  await viewer.locator("#chat-input").fill("ancora io");
  await viewer.getByRole("button", { name: "Send" }).click();
  await viewer.locator("#chat li.error", { hasText: "muted you" }).waitFor();
  await host.locator("#slow-mode").selectOption("10");
  await viewer.locator("#slow-note", { hasText: "one message every 10 s" }).waitFor();
  // In Italian: the page, and the room's refusals, by their code.
  await viewer.locator("#lang").click();
  await viewer.locator("#slow-note", { hasText: "Modalità lenta: un messaggio ogni 10 s" }).waitFor();
  await viewer.locator("#chat-input").fill("ci sono ancora");
  await viewer.getByRole("button", { name: "Invia" }).click();
  await viewer.locator("#chat li.error", { hasText: /Un moderatore ti ha silenziato: potrai scrivere di nuovo tra \d+ s\./ }).waitFor();
  check(errors.length === 0, errors.join("\n"));
  console.log("room flow: ok");
});
