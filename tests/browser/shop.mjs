// Buying from the show page in Chromium: the host pins a product from the studio; a viewer adds
// the pinned product to the cart, sees it reserved, checks out and sees the confirmation with
// the server's totals; the console's orders page shows the order with where it came from.
//
// Env: BASE_URL, EMAIL, PASSWORD, ORG_ID, SHOW_ID, SLUG, PRODUCT (title of a line-up product).
import { check, signIn, watch, withBrowser } from "./lib.mjs";

const { BASE_URL: base, ORG_ID: org, SHOW_ID: show, SLUG: slug, PRODUCT: product } = process.env;
const errors = [];
await withBrowser("shop", { media: true }, async (browser) => {
  const host = await (await browser.newContext({ permissions: ["camera", "microphone"] })).newPage();
  watch(host, errors);
  await signIn(host, base);
  await host.goto(`${base}/console#/orgs/${org}/shows/${show}/studio`);
  await host.getByRole("heading", { name: "Live room" }).waitFor();
  await host.getByRole("button", { name: `Pin: ${product}` }).click();

  const viewer = await (await browser.newContext()).newPage();
  watch(viewer, errors);
  await viewer.goto(`${base}/shows/${slug}`);
  await viewer.locator("#pinned-title", { hasText: product }).waitFor();
  await viewer.locator("#buy-pinned").click();
  await viewer.locator("#cart-lines li", { hasText: product }).waitFor();
  await viewer.locator("#cart-reserved", { hasText: /Reserved for you for \d+:\d\d/ }).waitFor();
  // The cart survives a reload.
  await viewer.reload();
  await viewer.locator("#cart-lines li", { hasText: product }).waitFor();
  // Two of them: the units are held at once; then a discount code, quoted before the order.
  const one = await viewer.locator("#cart-subtotal").textContent();
  await viewer.locator("#cart-lines li", { hasText: product }).locator("select.quantity").selectOption("2");
  await viewer.waitForFunction((one) => document.getElementById("cart-subtotal").textContent !== one, one);
  await viewer.getByPlaceholder("Discount code").fill("nope");
  await viewer.getByRole("button", { name: "Apply" }).click();
  await viewer.locator(".flash.error", { hasText: "NOPE is not a code of this shop" }).waitFor();
  await viewer.getByPlaceholder("Discount code").fill("diretta10");
  await viewer.getByRole("button", { name: "Apply" }).click();
  await viewer.locator("#cart-discount", { hasText: "DIRETTA10" }).waitFor();
  const quoted = await viewer.locator("#cart-total").textContent();

  await viewer.getByLabel("Email").fill("giulia@example.com");
  await viewer.getByLabel("Full name").fill("Giulia <b>Verdi</b>");
  await viewer.getByLabel("Address").fill("Via dei Servi 12");
  await viewer.getByLabel("City").fill("Firenze");
  await viewer.getByLabel("Postal code").fill("50122");
  await viewer.getByLabel("Country (2 letters)").fill("IT");
  await viewer.locator("#place-order").click();
  await viewer.getByRole("heading", { name: /Thank you! Order #\d+ is placed/ }).waitFor();
  const total = await viewer.locator("#order-total").textContent();
  check(total.includes(quoted.trim()), `the order's total ${total} is the quote's ${quoted}`);

  await host.goto(`${base}/console#/orgs/${org}/orders`);
  const row = host.locator("#orders tr", { hasText: "giulia@example.com" });
  await row.waitFor();
  check((await row.textContent()).includes(product), "the order lists the product");
  await row.locator(".attribution", { hasText: "before the show" }).waitFor();
  check((await host.locator("#orders b").count()) === 0, "a name became markup");
  await row.getByRole("button", { name: "Mark paid" }).click();
  await host.locator("#orders tr", { hasText: "giulia@example.com" }).locator(".order-status", { hasText: "Paid" }).waitFor();
  // Discount codes: the one used shows its use; a new one, switched off and on.
  const codes = host.locator("#discount-codes");
  await codes.locator("li[data-code=DIRETTA10]", { hasText: "used 1 times" }).waitFor();
  await codes.getByLabel("Code").fill("flash5");
  await codes.getByLabel("or amount off").fill("5");
  await codes.getByLabel("Uses at most (optional)").fill("50");
  await codes.getByRole("button", { name: "Add code" }).click();
  await host.locator("#discount-codes li[data-code=FLASH5]", { hasText: "used 0 of 50" }).waitFor();
  await host.locator("#discount-codes li[data-code=FLASH5]").getByRole("button", { name: "Switch off" }).click();
  await host.locator("#discount-codes li[data-code=FLASH5]", { hasText: "off" }).getByRole("button", { name: "Switch on" }).waitFor();
  // The shop's systems hear about orders: a webhook endpoint from the settings page.
  await host.goto(`${base}/console#/orgs/${org}/settings`);
  await host.getByLabel("Endpoint URL").fill("https://erp.example/vetrina");
  await host.getByRole("button", { name: "Add endpoint" }).click();
  await host.locator("#webhooks li", { hasText: "https://erp.example/vetrina" }).locator("code", { hasText: "whsec_" }).waitFor();
  await host.locator("#webhooks li", { hasText: "https://erp.example/vetrina" }).getByRole("button", { name: "Latest deliveries" }).click();
  await host.locator("#webhooks li", { hasText: "https://erp.example/vetrina" }).getByText("Nothing sent yet.").waitFor();
  // The show's sales and its presenters' commissions: set a rate, see what it earns.
  await host.goto(`${base}/console#/orgs/${org}/shows/${show}`);
  const commissions = host.locator("#commissions");
  await commissions.getByText(/1 orders/).waitFor();
  const presenter = commissions.locator("tr").first();
  await presenter.locator("input").fill("10");
  await presenter.getByRole("button", { name: "Set" }).click();
  await host.waitForFunction(() => document.querySelector("#commissions tr .earned")?.textContent.match(/[1-9]/));
  check(errors.length === 0, errors.join("\n"));
  console.log("shop flow: ok");
});
