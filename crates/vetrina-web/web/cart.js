// The buyer's cart on the show page (docs/shop.md): add from the pinned card or the line-up,
// live stock ("only 3 left", from the room), the reservation timer, checkout and confirmation.
// Prices and totals always come from the server.

import { h, fill, t, money } from "./i18n.js";

const cart = {
  slug: null,
  data: null,
  order: null,
  box: h("section", { class: "cart card", id: "cart", "aria-live": "polite" }),
  /** Units still available per variant, as the room last said. */
  stock: new Map(),
  message: null,
  /** The discount code the buyer applied (quoted by the server). */
  code: null,
};

/** The moment of video (ms) the buyer is watching, or null: set by the page. */
let moment = () => null;
export function setMoment(fn) {
  moment = fn;
}

const api = (path) => `/api/v1/shows/${encodeURIComponent(cart.slug)}${path}`;

async function call(method, path, body, headers = {}) {
  const r = await fetch(api(path), {
    method,
    headers: body ? { "content-type": "application/json", ...headers } : headers,
    body: body ? JSON.stringify(body) : undefined,
  });
  const data = r.status === 204 ? null : await r.json().catch(() => null);
  if (!r.ok) throw Object.assign(new Error(data?.detail || r.statusText), { problem: data, status: r.status });
  return data;
}

export async function loadCart(slug) {
  cart.slug = slug;
  try {
    cart.data = await call("GET", "/cart");
  } catch {
    cart.data = null;
  }
  drawCart();
  return cart.box;
}

/** The room's stock lines (snapshot or frame). */
export function stockChanged(lines) {
  for (const l of lines || []) cart.stock.set(l.variant_id, l.available);
  for (const el of document.querySelectorAll("[data-stock-for]")) drawStockNote(el);
}

function available(variant) {
  return cart.stock.has(variant.id) ? cart.stock.get(variant.id) : variant.stock;
}

function drawStockNote(el) {
  const n = cart.stock.get(el.dataset.stockFor);
  if (n === undefined || n === null) return;
  fill(el, n === 0 ? t("public.sold_out") : n <= 5 ? t("public.only_left", { n }) : null);
  el.className = n === 0 ? "stock out" : "stock low";
}

/** Variant choice and an add-to-cart button for a product. */
export function buyBox(product, id) {
  const choices = product.variants.filter((v) => available(v) === null || available(v) > 0 || v.available);
  const select = h("select", { "aria-label": t("cart.variant") }, choices.map((v) => h("option", { value: v.id }, `${v.title} · ${money(v.price_minor, product.currency)}`)));
  const note = h("p", { class: "stock", "data-stock-for": choices[0]?.id || "" });
  select.addEventListener("change", () => {
    note.dataset.stockFor = select.value;
    fill(note);
    drawStockNote(note);
  });
  drawStockNote(note);
  const button = h("button", { type: "button", class: "buy", id, onclick: () => add(select.value, true) }, t("cart.add"));
  if (!choices.length) return h("p", { class: "stock out" }, t("public.sold_out"));
  return h("div", { class: "buy-box" }, choices.length > 1 || product.options.length ? select : null, button, note);
}

/** Adds what the embedded player's basket sent (`?add=var_1,var_1,var_2`), one unit each. */
export async function addFromLink(variantIds) {
  for (const id of variantIds) await add(id, true);
}

async function add(variantId, deal) {
  cart.message = null;
  try {
    const at = moment();
    const added = await call("POST", "/cart/lines", { variant_id: variantId, quantity: 1, deal, ...(at === null ? {} : { media_ms: at }) });
    cart.message = { kind: "ok", text: t("cart.added", { title: added.title }) };
    if (added.available !== null) stockChanged([{ variant_id: variantId, available: added.available }]);
  } catch (e) {
    if (e.problem?.code === "deal_sold_out") {
      cart.message = { kind: "error", text: t("cart.deal_gone"), retry: () => add(variantId, false) };
    } else {
      cart.message = { kind: "error", text: e.message };
      if (e.problem?.code === "sold_out") stockChanged([{ variant_id: variantId, available: e.problem.available }]);
    }
  }
  cart.data = await call("GET", "/cart").catch(() => cart.data);
  drawCart();
}

function left(expiresAt) {
  const s = Math.max(0, Math.round((expiresAt - Date.now()) / 1000));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

function drawCart() {
  const lines = cart.data?.lines || [];
  const message = cart.message
    ? h("p", { class: `flash ${cart.message.kind}`, role: "status" }, cart.message.text, " ",
      cart.message.retry ? h("button", { type: "button", class: "link", onclick: cart.message.retry }, t("cart.regular_price")) : null)
    : null;
  if (cart.order) {
    const o = cart.order;
    return fill(cart.box,
      h("h2", {}, t("order.thanks", { number: o.number })),
      h("ul", { class: "cart-lines" }, o.lines.map((l) => h("li", {}, `${l.quantity} × ${l.title}`, " ", h("span", { class: "muted" }, money(l.unit_price_minor, o.currency))))),
      o.discount_minor ? h("p", {}, t("order.discount", { code: o.discount_code }), " −", money(o.discount_minor, o.currency)) : null,
      h("p", {}, t("order.shipping"), " ", money(o.shipping_minor, o.currency)),
      h("p", {}, t("order.tax"), " ", money(o.tax_minor, o.currency)),
      h("p", { id: "order-total" }, h("strong", {}, t("order.total"), " ", money(o.total_minor, o.currency))),
      o.handoff_urls.length ? h("p", {}, h("a", { href: o.handoff_urls[0], rel: "noopener" }, t("order.finish"))) : h("p", { class: "muted" }, t("order.pay_later")));
  }
  if (!lines.length) return fill(cart.box, h("h2", {}, t("cart.title")), message, h("p", { class: "muted" }, t("cart.empty")));
  const first = Math.min(...lines.map((l) => l.expires_at));
  fill(cart.box,
    h("h2", {}, t("cart.title")),
    message,
    h("ul", { class: "cart-lines", id: "cart-lines" }, lines.map((l) => h("li", { "data-variant": l.variant_id },
      h("strong", {}, l.title), l.options.length ? ` (${l.options.join(" / ")})` : "", " ",
      quantityChoice(l), " ",
      money(l.unit_price_minor * l.quantity, l.currency),
      l.unit_price_minor < l.regular_price_minor ? [" ", h("s", {}, money(l.regular_price_minor * l.quantity, l.currency))] : null, " ",
      h("button", { type: "button", class: "link", onclick: async () => {
        await call("DELETE", `/cart/lines/${encodeURIComponent(l.variant_id)}`).catch(() => {});
        await refresh();
      } }, t("cart.remove"))))),
    totalsBox(cart.data),
    h("p", { class: "muted", id: "cart-reserved", "data-expires": first }, t("cart.reserved", { left: left(first) })),
    checkoutForm());
}

/** The cart again, quoted with the applied code (dropped if it no longer applies). */
async function refresh() {
  const query = cart.code ? `?discount_code=${encodeURIComponent(cart.code)}` : "";
  try {
    cart.data = await call("GET", `/cart${query}`);
  } catch (e) {
    if (cart.code) {
      cart.message = { kind: "error", text: e.message };
      cart.code = null;
      cart.data = await call("GET", "/cart").catch(() => cart.data);
    }
  }
  drawCart();
}

/** 1 to 10 (or what is left) of a line; changing it holds or frees units at once. */
function quantityChoice(line) {
  const most = Math.max(line.quantity, Math.min(10, line.quantity + (line.available ?? 10)));
  const select = h("select", { "aria-label": t("cart.quantity", { title: line.title }), class: "quantity" },
    Array.from({ length: most }, (_, i) => h("option", { value: i + 1, selected: i + 1 === line.quantity }, String(i + 1))));
  select.addEventListener("change", async () => {
    cart.message = null;
    try {
      await call("PATCH", `/cart/lines/${encodeURIComponent(line.variant_id)}`, { quantity: Number(select.value) });
    } catch (e) {
      cart.message = { kind: "error", text: e.message };
    }
    await refresh();
  });
  return select;
}

/** What the order will cost: the server's quote (discount, shipping, taxes) before it is placed. */
function totalsBox(data) {
  const tt = data.totals;
  const c = data.currency;
  const codeInput = h("input", { name: "discount_code", autocomplete: "off", value: cart.code || "", "aria-label": t("checkout.discount_code"), placeholder: t("checkout.discount_code") });
  const apply = async (e) => {
    e.preventDefault();
    cart.message = null;
    cart.code = codeInput.value.trim() || null;
    try {
      cart.data = await call("GET", `/cart${cart.code ? `?discount_code=${encodeURIComponent(cart.code)}` : ""}`);
    } catch (err) {
      cart.message = { kind: "error", text: err.message };
      cart.code = null;
    }
    drawCart();
  };
  return h("div", { class: "totals", id: "cart-totals" },
    h("p", {}, t("cart.subtotal"), " ", h("strong", { id: "cart-subtotal" }, money(tt.subtotal_minor, c))),
    tt.discount_minor ? h("p", { id: "cart-discount" }, t("order.discount", { code: data.discount_code }), " −", money(tt.discount_minor, c)) : null,
    h("p", {}, t("order.shipping"), " ", h("span", { id: "cart-shipping" }, money(tt.shipping_minor, c))),
    h("p", {}, t("order.tax"), " ", h("span", { id: "cart-tax" }, money(tt.tax_minor, c))),
    h("p", {}, h("strong", {}, t("order.total"), " ", h("span", { id: "cart-total" }, money(tt.total_minor, c)))),
    h("form", { class: "inline discount", onsubmit: apply }, codeInput, h("button", { type: "submit", class: "secondary" }, t("checkout.apply"))));
}

function checkoutForm() {
  const input = (name, type = "text", required = true, extra = {}) =>
    h("label", { class: "field" }, h("span", {}, t(`checkout.${name}`)), h("input", { name, type, required, ...extra }));
  const form = h("form", { class: "checkout", id: "checkout", onsubmit: async (e) => {
    e.preventDefault();
    const f = new FormData(form);
    const body = {
      email: f.get("email"), name: f.get("name"), phone: f.get("phone") || "",
      address: { line1: f.get("line1"), city: f.get("city"), postal_code: f.get("postal_code"), country: f.get("country") },
      payment: f.get("payment") || "pay_later",
      ...(cart.code ? { discount_code: cart.code } : {}),
    };
    const button = form.querySelector("button");
    button.disabled = true; // one tap, one order (and the key makes a second tap harmless)
    try {
      cart.order = await call("POST", "/checkout", body, { "idempotency-key": form.dataset.key });
      cart.data = null;
    } catch (err) {
      cart.message = { kind: "error", text: err.message };
      button.disabled = false;
    }
    drawCart();
  } },
  input("email", "email", true, { autocomplete: "email" }), input("name", "text", true, { autocomplete: "name" }),
  input("phone", "tel", false, { autocomplete: "tel" }), input("line1", "text", true, { autocomplete: "address-line1" }),
  input("city", "text", true, { autocomplete: "address-level2" }), input("postal_code", "text", true, { autocomplete: "postal-code" }),
  input("country", "text", true, { autocomplete: "country", maxlength: 2, placeholder: "IT" }),
  (cart.data?.payments || []).length > 1
    ? h("fieldset", { class: "payments" }, h("legend", {}, t("checkout.payment")), cart.data.payments.map((p, i) =>
      h("label", {}, h("input", { type: "radio", name: "payment", value: p, checked: i === 0 }), " ", t(`payment.${p}`))))
    : null,
  h("button", { type: "submit", id: "place-order" }, t("checkout.place")));
  form.dataset.key = crypto.randomUUID();
  return h("details", { open: true }, h("summary", {}, t("checkout.title")), form);
}

setInterval(() => {
  const el = document.getElementById("cart-reserved");
  if (el) fill(el, t("cart.reserved", { left: left(Number(el.dataset.expires)) }));
}, 1000);
