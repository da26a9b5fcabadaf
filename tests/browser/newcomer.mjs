// The newcomer's first session, in Chromium: sign in to the console with the demo owner, import
// the sample Shopify CSV, plan and schedule a show with a run of show, open its public page and
// read it in English and Italian. Names with HTML in them must show as text.
//
// Env: BASE_URL, EMAIL, PASSWORD, CSV (path), XSS_TITLE (a product title the API already made).
import { check, signIn, watch, withBrowser } from "./lib.mjs";

const base = process.env.BASE_URL;
const errors = [];
await withBrowser("newcomer", {}, async (browser) => {
  const context = await browser.newContext({ locale: "en-GB", timezoneId: "America/New_York" });
  const page = await context.newPage();
  watch(page, errors);

  await signIn(page, base);

  // Import the sample Shopify export.
  await page.getByRole("link", { name: "Products" }).click();
  await page.getByRole("heading", { name: "Products" }).waitFor();
  await page.getByLabel("Import from Shopify or WooCommerce (CSV or products.json)").setInputFiles(process.env.CSV);
  await page.getByText(/Imported: 2 new, 2 updated\./).waitFor();
  await page.getByText("Giacca in lino").first().waitFor();
  // The XSS probe is text, not markup.
  await page.getByText(process.env.XSS_TITLE).first().waitFor();
  check((await page.locator("img[src=x]").count()) === 0, "a product title became an <img>");

  // A bad file says which line is wrong.
  const bad = Buffer.from("Handle,Title,Variant Price\nbad-one,Bad,not a price\n");
  await page.getByLabel("Import from Shopify or WooCommerce (CSV or products.json)").setInputFiles({ name: "bad.csv", mimeType: "text/csv", buffer: bad });
  await page.getByText(/line 2: Variant Price: "not a price" is not a price/).first().waitFor();

  // Plan a show.
  await page.getByRole("link", { name: "Shows" }).click();
  await page.getByLabel("Title of the new show").fill("Serata <b>lino</b> & seta");
  await page.getByRole("button", { name: "New show" }).click();
  await page.getByLabel("Address (slug)").waitFor();
  await page.getByLabel("Address (slug)").fill("serata-lino-browser");
  await page.getByLabel("Starts at").fill("2099-05-01T18:30");
  await page.getByLabel("Time zone").selectOption("Europe/Rome");
  await page.locator("fieldset.checks").first().getByLabel("Foulard in seta", { exact: true }).check();
  await page.getByRole("button", { name: "Add segment" }).click();
  const segment = page.locator("li.segment").last();
  await segment.getByLabel("Segment title").first().fill("Il lino");
  await segment.getByLabel("Minutes").fill("20");
  await segment.getByLabel("Products to pin").selectOption({ label: "Giacca in lino" });
  await segment.getByLabel("Poll question (optional)").fill("Sabbia o blu?");
  await segment.getByLabel("Poll options (one per line)").fill("Sabbia\nBlu notte");
  await segment.getByLabel("Prepared answers: a question, then its answer, on alternate lines").fill("Si stropiccia?\nPoco, e si stira in un minuto.");
  // A flash deal that keeps a price in the replay.
  await segment.locator("summary", { hasText: "Flash deal" }).click();
  await segment.getByLabel("Deal product").selectOption({ label: "Giacca in lino" });
  await segment.getByLabel("% off").fill("20");
  await segment.getByLabel("Price in the replay (empty: the deal ends with the show)").fill("149,00");
  await page.getByRole("button", { name: "Save show" }).click();
  await page.getByText("Saved.").waitFor();
  await page.reload();
  await page.locator("li.segment input[name=replay-price]").last().waitFor();
  const replayPrice = await page.locator("li.segment input[name=replay-price]").last().inputValue();
  check(replayPrice === "149.00", `the replay price is kept: ${replayPrice}`);
  await page.getByRole("button", { name: "Schedule" }).click();
  await page.locator("#show-status", { hasText: "Scheduled" }).waitFor();

  // The public page: countdown, both times, the line-up, the calendar.
  const publicPage = await context.newPage();
  watch(publicPage, errors);
  await publicPage.goto(`${base}/shows/serata-lino-browser`);
  await publicPage.getByRole("heading", { name: "Serata <b>lino</b> & seta" }).waitFor();
  check((await publicPage.locator("h1 b").count()) === 0, "the show title became markup");
  await publicPage.getByText("Starts in").waitFor();
  const countdown = await publicPage.locator("#countdown").textContent();
  check(/\d+d \d+h \d+m/.test(countdown), `countdown looks like a countdown: ${countdown}`);
  await publicPage.getByText(/in Europe\/Rome/).waitFor();
  await publicPage.getByRole("heading", { name: "Giacca in lino" }).waitFor();
  await publicPage.getByRole("heading", { name: "Foulard in seta" }).waitFor();
  const ics = await publicPage.getByRole("link", { name: "Add to calendar" }).getAttribute("href");
  const calendar = await (await fetch(ics)).text();
  check(calendar.includes("DTSTART:20990501T163000Z"), `calendar start: ${calendar}`);

  // Italian.
  await publicPage.getByRole("button", { name: "Italiano" }).click();
  await publicPage.getByRole("link", { name: "Aggiungi al calendario" }).waitFor();
  await publicPage.getByText("Inizia tra").waitFor();
  await publicPage.reload();
  await publicPage.getByText("In questa diretta").waitFor();
  // The console remembers the language too.
  await page.reload();
  await page.getByRole("link", { name: "Prodotti" }).waitFor();

  check(errors.length === 0, errors.join("\n"));
  console.log("newcomer flow: ok");
});
