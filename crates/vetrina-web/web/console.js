// The merchant console: a small hash-routed app over the JSON API.
// Routes: #/signin, #/join/TOKEN, #/orgs/ID/{shows,products,team,settings}, #/orgs/ID/products/PID,
// #/orgs/ID/shows/SID. Every string from the server is rendered as text (see h()).

import { api, setCsrf } from "./api.js";
import { publish, HttpError } from "./live.js";
import { joinRoom, chatLine, refusalText, removeLine } from "./room.js";
import { h, fill, t, lang, setLang, otherLang, money } from "./i18n.js";

const main = document.getElementById("main");
const header = document.getElementById("header");
let session = null;

function go(hash) {
  location.hash = hash;
}

function flash(message, kind = "ok") {
  const box = h("p", { class: `flash ${kind}`, role: kind === "error" ? "alert" : "status" }, message);
  main.prepend(box);
  setTimeout(() => box.remove(), kind === "error" ? 12000 : 4000);
}

/** Runs an action, showing the server's explanation when it fails. */
async function attempt(fn) {
  try {
    return await fn();
  } catch (e) {
    const detail = e.problem?.errors?.length
      ? [e.message, ...e.problem.errors.slice(0, 10).map((p) => (p.line ? `line ${p.line}: ${p.reason}` : `${p.path}: ${p.reason}`))].join("\n")
      : e.message || t("error.generic");
    flash(detail, "error");
    if (e.status === 401) go("#/signin");
    return undefined;
  }
}

function field(label, input) {
  return h("label", { class: "field" }, h("span", {}, label), input);
}

function renderHeader(orgId) {
  fill(header,
    h("a", { href: "#/", class: "brand" }, t("app.name")),
    orgId && session
      ? h(
          "nav",
          {},
          ["shows", "products", ...(["owner", "admin"].includes(roleIn(orgId)) ? ["orders"] : []), "team", "settings"]
            .map((s) => h("a", { href: `#/orgs/${orgId}/${s}` }, t(`nav.${s}`))),
        )
      : null,
    h("span", { class: "spacer" }),
    session && session.memberships.length > 1
      ? h(
          "select",
          { "aria-label": "organisation", onchange: (e) => go(`#/orgs/${e.target.value}/shows`) },
          session.memberships.map((m) => h("option", { value: m.org.id, selected: m.org.id === orgId }, m.org.name)),
        )
      : null,
    h("button", { class: "link", id: "lang", onclick: () => { setLang(otherLang()); route(); } }, t("lang.switch")),
    session ? h("button", { class: "link", onclick: signOut }, t("signout")) : null,
  );
}

async function loadSession() {
  try {
    session = await api("GET", "/api/v1/session");
    setCsrf(session.csrf_token);
  } catch {
    session = null;
  }
}

async function signOut() {
  await attempt(() => api("DELETE", "/api/v1/session"));
  session = null;
  go("#/signin");
}

function signIn() {
  renderHeader(null);
  const email = h("input", { type: "email", name: "email", required: true, autocomplete: "username" });
  const password = h("input", { type: "password", name: "password", required: true, autocomplete: "current-password" });
  const form = h(
    "form",
    {
      class: "card narrow",
      onsubmit: async (e) => {
        e.preventDefault();
        const s = await attempt(() => api("POST", "/api/v1/session", { email: email.value, password: password.value }));
        if (s) {
          session = s;
          setCsrf(s.csrf_token);
          go("#/");
        }
      },
    },
    h("h1", {}, t("signin.title")),
    field(t("signin.email"), email),
    field(t("signin.password"), password),
    h("button", { type: "submit" }, t("signin.submit")),
  );
  fill(main, form);
}

function join(token) {
  renderHeader(null);
  const name = h("input", { name: "name", autocomplete: "name" });
  const password = h("input", { type: "password", name: "password", autocomplete: "new-password" });
  const accept = async (e) => {
    e.preventDefault();
    const body = session ? { token } : { token, name: name.value, password: password.value };
    const s = await attempt(() => api("POST", "/api/v1/invitations/accept", body));
    if (s) {
      session = s;
      setCsrf(s.csrf_token);
      go("#/");
    }
  };
  fill(main,
    h(
      "form",
      { class: "card narrow", onsubmit: accept },
      h("h1", {}, t("join.title")),
      session ? null : [field(t("join.name"), name), field(t("join.password"), password)],
      h("button", { type: "submit" }, t("join.accept")),
    ),
  );
}

function home() {
  renderHeader(null);
  if (session.memberships.length > 0) return go(`#/orgs/${session.memberships[0].org.id}/shows`);
  const name = h("input", { name: "org-name", required: true });
  fill(main,
    session.creator_shows.length
      ? h("section", { class: "card" }, h("h2", {}, t("creator.shows")),
          h("ul", {}, session.creator_shows.map((s) => h("li", {}, h("a", { href: `#/orgs/${s.org_id}/shows/${s.show_id}` }, s.title)))))
      : null,
    h(
      "form",
      {
        class: "card narrow",
        onsubmit: async (e) => {
          e.preventDefault();
          const org = await attempt(() => api("POST", "/api/v1/orgs", { name: name.value }));
          if (org) {
            await loadSession();
            go(`#/orgs/${org.id}/products`);
          }
        },
      },
      h("p", {}, t("org.none")),
      field(t("org.name"), name),
      h("button", { type: "submit" }, t("org.create")),
    ),
  );
}

function roleIn(orgId) {
  return session.memberships.find((m) => m.org.id === orgId)?.role;
}

function orgOf(orgId) {
  return session.memberships.find((m) => m.org.id === orgId)?.org;
}

// ---------- products ----------

async function products(orgId) {
  const search = h("input", { type: "search", placeholder: t("products.search"), "aria-label": t("products.search") });
  const list = h("div", { class: "grid" });
  const refresh = async () => {
    const page = await attempt(() => api("GET", `/api/v1/orgs/${orgId}/products?limit=200&q=${encodeURIComponent(search.value)}`));
    if (!page) return;
    fill(list,
      page.items.length === 0
        ? h("p", { class: "muted" }, t("products.empty"))
        : page.items.map((p) => {
            const stock = p.variants.every((v) => v.track_stock) ? p.variants.reduce((n, v) => n + v.stock, 0) : null;
            return h(
              "a",
              { class: "tile", href: `#/orgs/${orgId}/products/${p.id}` },
              p.images[0] ? h("img", { src: p.images[0].src, alt: p.images[0].alt || p.title, loading: "lazy" }) : h("div", { class: "noimg" }),
              h("strong", {}, p.title),
              h("span", {}, money(Math.min(...p.variants.map((v) => v.price_minor)), p.currency)),
              h("span", { class: "muted" }, t("products.variants", { n: p.variants.length }), " · ",
                stock === null ? t("products.untracked") : t("products.stock", { n: stock })),
              h("span", { class: `badge ${p.status}` }, t(`status.${p.status}`)),
            );
          }),
    );
  };
  search.addEventListener("input", () => refresh());
  const file = h("input", { type: "file", accept: ".csv,.json,text/csv,application/json", "aria-label": t("products.import") });
  file.addEventListener("change", async () => {
    const f = file.files[0];
    if (!f) return;
    const isJson = f.name.endsWith(".json") || f.type === "application/json";
    const report = await attempt(() =>
      api("POST", `/api/v1/orgs/${orgId}/products/import`, f, isJson ? "application/json" : "text/csv"),
    );
    file.value = "";
    if (report) {
      flash(t("products.import.done", report));
      report.warnings.forEach((w) => flash(w, "warn"));
      refresh();
    }
  });
  const canEdit = ["owner", "admin"].includes(roleIn(orgId));
  fill(main,
    h("div", { class: "toolbar" },
      h("h1", {}, t("products.title")),
      search,
      canEdit ? h("button", { onclick: () => go(`#/orgs/${orgId}/products/new`) }, t("products.new")) : null,
      h("a", { class: "button secondary", href: `/api/v1/orgs/${orgId}/products/export.csv`, download: "products_export.csv" }, t("products.export")),
    ),
    canEdit ? h("div", { class: "card" }, field(t("products.import"), file)) : null,
    list,
  );
  await refresh();
}

async function productEditor(orgId, productId) {
  const org = orgOf(orgId);
  const isNew = productId === "new";
  const p = isNew
    ? { title: "", handle: "", description_html: "", vendor: "", product_type: "", tags: [], status: "active", options: [], variants: [{ option_values: [], price_minor: 0, stock: 0, track_stock: true, sku: "" }], images: [], currency: org.currency }
    : await attempt(() => api("GET", `/api/v1/orgs/${orgId}/products/${productId}`));
  if (!p) return;
  const digits = new Intl.NumberFormat("en", { style: "currency", currency: p.currency }).resolvedOptions().maximumFractionDigits;
  const toMajor = (minor) => (minor == null ? "" : (minor / 10 ** digits).toFixed(digits));
  const toMinor = (text) => (text.trim() === "" ? null : Math.round(Number(text.replace(",", ".")) * 10 ** digits));
  const inputs = {
    title: h("input", { name: "title", value: p.title, required: true }),
    handle: h("input", { name: "handle", value: p.handle }),
    description_html: h("textarea", { name: "description", rows: 4 }, p.description_html),
    vendor: h("input", { name: "vendor", value: p.vendor }),
    product_type: h("input", { name: "type", value: p.product_type }),
    tags: h("input", { name: "tags", value: p.tags.join(", ") }),
    status: h("select", { name: "status" }, ["active", "draft", "archived"].map((s) => h("option", { value: s, selected: s === p.status }, t(`status.${s}`)))),
    options: h("input", { name: "options", value: p.options.join(", ") }),
  };
  const rows = h("tbody");
  const addRow = (v) => {
    const cells = {
      id: v.id,
      values: h("input", { value: v.option_values.join(", "), "aria-label": t("product.variant.options") }),
      sku: h("input", { value: v.sku, "aria-label": t("product.variant.sku") }),
      price: h("input", { value: toMajor(v.price_minor), inputmode: "decimal", "aria-label": t("product.variant.price") }),
      compare: h("input", { value: toMajor(v.compare_at_minor), inputmode: "decimal", "aria-label": t("product.variant.compare") }),
      stock: h("input", { type: "number", min: 0, value: v.stock, "aria-label": t("product.variant.stock") }),
      extra: v,
    };
    const tr = h("tr", {}, h("td", {}, cells.values), h("td", {}, cells.sku), h("td", {}, cells.price), h("td", {}, cells.compare), h("td", {}, cells.stock),
      h("td", {}, h("button", { type: "button", class: "link", onclick: () => tr.remove() }, "✕")));
    tr.cells = cells;
    rows.append(tr);
  };
  p.variants.forEach(addRow);
  const split = (s) => s.split(",").map((x) => x.trim()).filter(Boolean);
  const save = async (e) => {
    e.preventDefault();
    const body = {
      handle: inputs.handle.value || null,
      title: inputs.title.value,
      description_html: inputs.description_html.value,
      vendor: inputs.vendor.value,
      product_type: inputs.product_type.value,
      tags: split(inputs.tags.value),
      status: inputs.status.value,
      options: split(inputs.options.value),
      images: p.images.filter((i) => !i.src.startsWith("/media/")).map((i) => ({ src: i.src, alt: i.alt })),
      variants: [...rows.children].map((tr) => {
        const c = tr.cells;
        const variant = {
          option_values: split(c.values.value),
          sku: c.sku.value,
          price_minor: toMinor(c.price.value) ?? 0,
          compare_at_minor: toMinor(c.compare.value),
          stock: Number(c.stock.value || 0),
          track_stock: c.extra.track_stock ?? true,
        };
        // The change is applied to the stock as it is when saved: sales meanwhile stay sold.
        if (c.id) Object.assign(variant, { id: c.id, stock_was: c.extra.stock });
        for (const k of ["barcode", "grams", "shopify_variant_id", "woocommerce_id", "image_src"]) if (c.extra[k] != null) variant[k] = c.extra[k];
        return variant;
      }),
    };
    const saved = isNew
      ? await attempt(() => api("POST", `/api/v1/orgs/${orgId}/products`, body))
      : await attempt(() => api("PUT", `/api/v1/orgs/${orgId}/products/${productId}`, body));
    if (saved) {
      if (isNew) return go(`#/orgs/${orgId}/products/${saved.id}`);
      flash(t("product.saved"));
    }
  };
  const upload = h("input", { type: "file", accept: "image/*", "aria-label": t("product.image.upload") });
  upload.addEventListener("change", async () => {
    const f = upload.files[0];
    if (f && (await attempt(() => api("POST", `/api/v1/orgs/${orgId}/products/${productId}/images?alt=${encodeURIComponent(p.title)}`, f)))) route();
  });
  fill(main,
    h("form", { class: "card", onsubmit: save },
      h("h1", {}, isNew ? t("products.new") : p.title),
      h("div", { class: "cols" }, field(t("product.title"), inputs.title), field(t("product.handle"), inputs.handle)),
      field(t("product.description"), inputs.description_html),
      h("div", { class: "cols" }, field(t("product.vendor"), inputs.vendor), field(t("product.type"), inputs.product_type), field(t("product.status"), inputs.status)),
      field(t("product.tags"), inputs.tags),
      field(t("product.options"), inputs.options),
      h("h2", {}, t("product.variants"), " (", p.currency, ")"),
      h("table", { class: "variants" },
        h("thead", {}, h("tr", {}, ["product.variant.options", "product.variant.sku", "product.variant.price", "product.variant.compare", "product.variant.stock"].map((k) => h("th", {}, t(k))), h("th"))),
        rows),
      h("button", { type: "button", class: "secondary", onclick: () => addRow({ option_values: [], price_minor: 0, stock: 0, track_stock: true, sku: "" }) }, t("product.variant.add")),
      h("div", { class: "actions" },
        h("button", { type: "submit" }, t("product.save")),
        isNew ? null : h("button", { type: "button", class: "danger", onclick: async () => {
          if (confirm(t("confirm.delete")) && (await attempt(() => api("DELETE", `/api/v1/orgs/${orgId}/products/${productId}`))) !== undefined) go(`#/orgs/${orgId}/products`);
        } }, t("product.delete"))),
    ),
    isNew ? null : h("section", { class: "card" },
      h("h2", {}, t("product.images")),
      h("div", { class: "thumbs" }, p.images.map((i) => h("figure", {}, h("img", { src: i.src, alt: i.alt, loading: "lazy" }),
        h("button", { class: "link", onclick: async () => { if ((await attempt(() => api("DELETE", `/api/v1/orgs/${orgId}/products/${productId}/images/${i.id}`))) !== undefined) route(); } }, "✕")))),
      field(t("product.image.upload"), upload)),
  );
}

// ---------- shows ----------

async function shows(orgId) {
  const list = await attempt(() => api("GET", `/api/v1/orgs/${orgId}/shows`));
  if (!list) return;
  const title = h("input", { name: "new-show-title", placeholder: t("shows.new.title"), "aria-label": t("shows.new.title"), required: true });
  const canEdit = ["owner", "admin"].includes(roleIn(orgId));
  fill(main,
    h("div", { class: "toolbar" }, h("h1", {}, t("shows.title"))),
    canEdit ? h("form", { class: "card inline", onsubmit: async (e) => {
      e.preventDefault();
      const show = await attempt(() => api("POST", `/api/v1/orgs/${orgId}/shows`, { title: title.value }));
      if (show) go(`#/orgs/${orgId}/shows/${show.id}`);
    } }, title, h("button", { type: "submit" }, t("shows.new"))) : null,
    list.length === 0 ? h("p", { class: "muted" }, t("shows.empty")) : h("ul", { class: "shows" }, list.map((s) =>
      h("li", {}, h("a", { href: `#/orgs/${orgId}/shows/${s.id}` }, s.title),
        h("span", { class: `badge ${s.status}` }, t(`show.status.${s.status}`)),
        s.starts_at ? h("span", { class: "muted" }, new Intl.DateTimeFormat(lang, { dateStyle: "medium", timeStyle: "short", timeZone: s.time_zone }).format(new Date(s.starts_at)), " ", s.time_zone) : null))),
  );
}

/** `datetime-local` value for a Unix-ms time in a time zone. */
function localInputValue(ms, timeZone) {
  if (ms == null) return "";
  const parts = Object.fromEntries(new Intl.DateTimeFormat("en-GB", { timeZone, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23" })
    .formatToParts(new Date(ms)).map((p) => [p.type, p.value]));
  return `${parts.year}-${parts.month}-${parts.day}T${parts.hour}:${parts.minute}`;
}

async function showEditor(orgId, showId) {
  const show = await attempt(() => api("GET", `/api/v1/orgs/${orgId}/shows/${showId}`));
  if (!show) return;
  const role = roleIn(orgId);
  const canPlan = ["owner", "admin"].includes(role);
  const [catalogue, members] = role
    ? await Promise.all([
        attempt(() => api("GET", `/api/v1/orgs/${orgId}/products?limit=200`)),
        attempt(() => api("GET", `/api/v1/orgs/${orgId}/members`)),
      ])
    : [null, null];
  const currency = orgOf(orgId)?.currency || "EUR";
  const digits = new Intl.NumberFormat("en", { style: "currency", currency }).resolvedOptions().maximumFractionDigits;
  // Creators cannot read the catalogue: they see the show's own products by id.
  const products = catalogue?.items ??
    [...new Set([...show.lineup, ...show.run_of_show.segments.flatMap((s) => s.product_ids)])].map((id) => ({ id, title: id }));
  const nameOf = (id) => products.find((p) => p.id === id)?.title ?? id;
  const zones = Intl.supportedValuesOf ? Intl.supportedValuesOf("timeZone") : [show.time_zone];
  const inputs = {
    title: h("input", { name: "show-title", value: show.title, disabled: !canPlan }),
    slug: h("input", { name: "slug", value: show.slug, disabled: !canPlan }),
    description: h("textarea", { name: "show-description", rows: 3, disabled: !canPlan }, show.description),
    starts_at: h("input", { type: "datetime-local", name: "starts-at", value: localInputValue(show.starts_at, show.time_zone), disabled: !canPlan }),
    time_zone: h("select", { name: "time-zone", disabled: !canPlan }, zones.map((z) => h("option", { value: z, selected: z === show.time_zone }, z))),
  };
  const lineup = h("fieldset", { class: "checks" }, h("legend", {}, t("show.lineup")),
    products.map((p) => h("label", {}, h("input", { type: "checkbox", value: p.id, checked: show.lineup.includes(p.id), disabled: !canPlan }), p.title)));
  const hosts = h("fieldset", { class: "checks" }, h("legend", {}, t("show.hosts")),
    (members ?? []).filter((m) => m.role !== "moderator").map((m) => h("label", {}, h("input", { type: "checkbox", value: m.user.id, checked: show.host_ids.includes(m.user.id), disabled: !canPlan }), m.user.name)));

  const segments = h("ol", { class: "segments" });
  const addSegment = (s) => {
    const productSelect = h("select", { multiple: true, size: Math.min(6, Math.max(2, products.length)), "aria-label": t("ros.products") },
      products.map((p) => h("option", { value: p.id, selected: s.product_ids?.includes(p.id) }, p.title)));
    const dealProduct = h("select", { "aria-label": t("ros.deal.product") }, h("option", { value: "" }, t("ros.deal.none")),
      products.map((p) => h("option", { value: p.id, selected: s.deal?.product_id === p.id }, p.title)));
    const num = (value, label) => h("input", { type: "number", min: 1, value: value ?? "", "aria-label": label });
    const c = {
      title: h("input", { value: s.title ?? "", "aria-label": t("ros.segment.title"), placeholder: t("ros.segment.title") }),
      duration: num(s.duration_minutes, t("ros.duration")),
      notes: h("textarea", { rows: 2, "aria-label": t("ros.notes") }, s.notes ?? ""),
      products: productSelect,
      dealProduct,
      percent: num(s.deal?.percent_off, t("ros.deal.percent")),
      quantity: num(s.deal?.quantity, t("ros.deal.quantity")),
      perBuyer: num(s.deal?.per_buyer_limit, t("ros.deal.per_buyer")),
      seconds: num(s.deal?.duration_seconds ?? 300, t("ros.deal.seconds")),
      replayPrice: h("input", { inputmode: "decimal", name: "replay-price", value: s.deal?.replay_price_minor != null ? (s.deal.replay_price_minor / 10 ** digits).toFixed(digits) : "", "aria-label": t("ros.deal.replay_price") }),
      pollQ: h("input", { value: s.poll?.question ?? "", "aria-label": t("ros.poll.question") }),
      pollO: h("textarea", { rows: 2, "aria-label": t("ros.poll.options") }, (s.poll?.options ?? []).join("\n")),
      answers: h("textarea", { rows: 3, "aria-label": t("ros.answers") }, (s.prepared_answers ?? []).flatMap((a) => [a.question, a.answer]).join("\n")),
      deal: s.deal,
    };
    const li = h("li", { class: "segment card" },
      h("div", { class: "cols" }, field(t("ros.segment.title"), c.title), field(t("ros.duration"), c.duration)),
      field(t("ros.notes"), c.notes),
      field(t("ros.products"), c.products),
      h("details", { open: Boolean(s.deal) }, h("summary", {}, t("ros.deal")),
        h("div", { class: "cols" }, field(t("ros.deal.product"), c.dealProduct), field(t("ros.deal.percent"), c.percent), field(t("ros.deal.quantity"), c.quantity),
          field(t("ros.deal.per_buyer"), c.perBuyer), field(t("ros.deal.seconds"), c.seconds), field(t("ros.deal.replay_price"), c.replayPrice))),
      h("div", { class: "cols" }, field(t("ros.poll.question"), c.pollQ), field(t("ros.poll.options"), c.pollO)),
      field(t("ros.answers"), c.answers),
      h("div", { class: "actions" },
        h("button", { type: "button", class: "link", onclick: () => li.previousElementSibling && segments.insertBefore(li, li.previousElementSibling) }, t("ros.up")),
        h("button", { type: "button", class: "link", onclick: () => li.remove() }, t("ros.remove"))),
    );
    li.cells = c;
    segments.append(li);
  };
  show.run_of_show.segments.forEach(addSegment);
  const lines = (text) => text.split("\n").map((x) => x.trim()).filter(Boolean);
  const numberOr = (input) => (input.value === "" ? null : Number(input.value));
  const runOfShow = () => ({
    segments: [...segments.children].map((li) => {
      const c = li.cells;
      const answers = lines(c.answers.value);
      const segment = {
        title: c.title.value,
        notes: c.notes.value,
        duration_minutes: numberOr(c.duration),
        product_ids: [...c.products.selectedOptions].map((o) => o.value),
        prepared_answers: [],
      };
      for (let i = 0; i + 1 < answers.length; i += 2) segment.prepared_answers.push({ question: answers[i], answer: answers[i + 1] });
      if (c.dealProduct.value) {
        segment.deal = { product_id: c.dealProduct.value, duration_seconds: numberOr(c.seconds) ?? 300, quantity: numberOr(c.quantity), per_buyer_limit: numberOr(c.perBuyer) };
        if (c.deal?.price_minor != null && c.percent.value === "") segment.deal.price_minor = c.deal.price_minor;
        else segment.deal.percent_off = numberOr(c.percent);
        const replay = c.replayPrice.value.trim();
        if (replay !== "") segment.deal.replay_price_minor = Math.round(Number(replay.replace(",", ".")) * 10 ** digits);
      }
      if (c.pollQ.value.trim()) segment.poll = { question: c.pollQ.value, options: lines(c.pollO.value) };
      return segment;
    }),
  });
  const patch = async (extra) => {
    const body = canPlan
      ? {
          title: inputs.title.value,
          slug: inputs.slug.value,
          description: inputs.description.value,
          time_zone: inputs.time_zone.value,
          starts_at: inputs.starts_at.value || null,
          // Keep the presenting order of products already in the line-up; new ones go last.
          lineup: [...lineup.querySelectorAll("input:checked")].map((i) => i.value)
            .sort((a, b) => (show.lineup.indexOf(a) + 1 || Infinity) - (show.lineup.indexOf(b) + 1 || Infinity)),
          host_ids: [...hosts.querySelectorAll("input:checked")].map((i) => i.value),
          run_of_show: runOfShow(),
          ...extra,
        }
      : { run_of_show: runOfShow(), ...extra };
    const saved = await attempt(() => api("PATCH", `/api/v1/orgs/${orgId}/shows/${showId}`, body));
    if (saved) {
      await showEditor(orgId, showId);
      flash(t("show.saved"));
    }
  };
  const status = (s) => () => patch({ status: s });
  const cover = h("input", { type: "file", accept: "image/*", "aria-label": t("show.cover") });
  cover.addEventListener("change", async () => {
    if (cover.files[0] && (await attempt(() => api("PUT", `/api/v1/orgs/${orgId}/shows/${showId}/cover`, cover.files[0])))) route();
  });
  const creatorEmail = h("input", { type: "email", "aria-label": t("show.invite_creator") });
  const transitions = {
    draft: [["show.schedule", "scheduled"], ["show.go_live", "live"]],
    scheduled: [["show.unschedule", "draft"], ["show.go_live", "live"]],
    live: [["show.end", "ended"]],
    ended: [],
  }[show.status];
  fill(main,
    h("form", { class: "card", onsubmit: (e) => { e.preventDefault(); patch({}); } },
      h("div", { class: "toolbar" },
        h("h1", {}, show.title),
        h("span", { class: `badge ${show.status}`, id: "show-status" }, t(`show.status.${show.status}`)),
        show.status !== "draft" ? h("a", { href: `/shows/${encodeURIComponent(show.slug)}`, target: "_blank", rel: "noopener" }, t("show.public_page")) : null,
        show.status !== "ended" ? h("a", { href: `#/orgs/${orgId}/shows/${showId}/studio`, class: "button secondary" }, t("studio.open")) : null),
      h("div", { class: "cols" }, field(t("show.title"), inputs.title), field(t("show.slug"), inputs.slug)),
      field(t("show.description"), inputs.description),
      h("div", { class: "cols" }, field(t("show.starts_at"), inputs.starts_at), field(t("show.time_zone"), inputs.time_zone)),
      canPlan ? h("div", { class: "cols" }, lineup, hosts) : h("p", {}, t("show.lineup"), ": ", show.lineup.map(nameOf).join(", ")),
      h("h2", {}, t("ros.title")),
      segments,
      h("button", { type: "button", class: "secondary", onclick: () => addSegment({}) }, t("ros.add")),
      h("div", { class: "actions" },
        h("button", { type: "submit" }, t("show.save")),
        transitions.filter(([, to]) => canPlan || to === "live" || to === "ended").map(([label, to]) => h("button", { type: "button", class: "secondary", onclick: status(to) }, t(label))),
        canPlan && show.status !== "live" ? h("button", { type: "button", class: "danger", onclick: async () => {
          if (confirm(t("confirm.delete")) && (await attempt(() => api("DELETE", `/api/v1/orgs/${orgId}/shows/${showId}`))) !== undefined) go(`#/orgs/${orgId}/shows`);
        } }, t("show.delete")) : null),
    ),
    canPlan ? h("section", { class: "card" },
      show.cover_src ? h("img", { class: "cover", src: show.cover_src, alt: "" }) : null,
      field(t("show.cover"), cover),
      h("form", { class: "inline", onsubmit: async (e) => {
        e.preventDefault();
        const inv = await attempt(() => api("POST", `/api/v1/orgs/${orgId}/shows/${showId}/creators`, { email: creatorEmail.value }));
        if (inv) flash(`${t("team.link")} ${inv.accept_url}`);
      } }, field(t("show.invite_creator"), creatorEmail), h("button", { type: "submit" }, t("show.invite")))) : null,
    show.status === "draft" ? null : embedCard(show),
  );
  if (show.status === "live" || show.status === "ended") clipsCard(orgId, show).then((card) => card && main.append(card));
  if (show.status !== "draft" && canPlan) commissionsCard(orgId, show).then((card) => card && main.append(card));
}

/** "1:05", "1:02:03" or seconds, to ms; NaN when it is none of them. */
function parseClock(text) {
  const parts = text.trim().split(":").map((p) => (p === "" ? NaN : Number(p)));
  if (!parts.length || parts.length > 3 || parts.some((n) => !Number.isFinite(n) || n < 0)) return NaN;
  return Math.round(parts.reduce((total, n) => total * 60 + n, 0) * 1000);
}

function clockOf(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  const mm = String(Math.floor(s / 60) % 60).padStart(2, "0");
  const ss = String(s % 60).padStart(2, "0");
  return s >= 3600 ? `${Math.floor(s / 3600)}:${mm}:${ss}` : `${Math.floor(s / 60)}:${ss}`;
}

function embedSnippet(attr, value) {
  return `<script type="module" src="${location.origin}/embed.js"></script>\n<vetrina-player ${attr}="${value}"></vetrina-player>`;
}

function embedCard(show) {
  return h("section", { class: "card" },
    h("h2", {}, t("embed.title")),
    h("p", { class: "muted" }, t("embed.hint")),
    h("pre", { class: "snippet", id: "embed-snippet" }, embedSnippet("show", show.slug)));
}

/** The show's clips: cut one (or a suggested one, per run-of-show segment), copy its embed, delete it. */
async function clipsCard(orgId, show) {
  const base = `/api/v1/orgs/${orgId}/shows/${show.id}/clips`;
  const data = await attempt(() => api("GET", base));
  if (!data) return null;
  const card = h("section", { class: "card", id: "clips" });
  const title = h("input", { name: "clip-title", maxlength: 200 });
  const from = h("input", { name: "clip-from", placeholder: "0:00", size: 8 });
  const to = h("input", { name: "clip-to", placeholder: "1:00", size: 8 });
  const cut = async (body) => {
    const made = await attempt(() => api("POST", base, body));
    if (made) {
      flash(t("clips.cut_done", { title: made.title, from: clockOf(made.start_ms), to: clockOf(made.end_ms) }));
      card.replaceWith((await clipsCard(orgId, show)) || h("div"));
    }
  };
  fill(card,
    h("h2", {}, t("clips.title")),
    data.recording_ms === null
      ? h("p", { class: "muted" }, t("clips.no_recording"))
      : [
        h("p", { class: "muted" }, t("clips.recording", { length: clockOf(data.recording_ms) })),
        data.suggested.length ? h("ul", { class: "suggested" }, data.suggested.map((s) => h("li", {},
          h("strong", {}, s.title), ` ${clockOf(s.start_ms)}–${clockOf(s.end_ms)} `,
          h("button", { type: "button", class: "secondary", onclick: () => cut({ title: s.title, start_ms: s.start_ms, end_ms: s.end_ms }) }, t("clips.cut"))))) : null,
        h("form", { class: "inline", onsubmit: (e) => {
          e.preventDefault();
          const start = parseClock(from.value);
          const end = parseClock(to.value);
          if (Number.isNaN(start) || Number.isNaN(end)) return flash(t("clips.bad_time"), "error");
          cut({ title: title.value, start_ms: start, end_ms: end });
        } }, field(t("clips.clip_title"), title), field(t("clips.from"), from), field(t("clips.to"), to), h("button", { type: "submit" }, t("clips.cut"))),
      ],
    h("ul", { class: "clip-list" }, data.clips.map((c) => h("li", { "data-clip": c.id },
      h("a", { href: c.page_url, target: "_blank", rel: "noopener" }, c.title), " ",
      h("span", { class: "clip-range" }, `${clockOf(c.start_ms)}–${clockOf(c.end_ms)}`), " ",
      h("details", { class: "inline-details" }, h("summary", {}, t("embed.title")), h("pre", { class: "snippet" }, embedSnippet("clip", c.id))),
      h("button", { type: "button", class: "link", onclick: async () => {
        if (confirm(t("confirm.delete")) && (await attempt(() => api("DELETE", `${base}/${c.id}`))) !== undefined) card.replaceWith((await clipsCard(orgId, show)) || h("div"));
      } }, t("clips.delete"))))));
  return card;
}


// ---------- studio ----------

let studioSession = null;

async function studio(orgId, showId) {
  const show = await attempt(() => api("GET", `/api/v1/orgs/${orgId}/shows/${showId}`));
  const ingest = await attempt(() => api("GET", `/api/v1/orgs/${orgId}/shows/${showId}/ingest`));
  if (!show || !ingest) return;
  const preview = h("video", { id: "preview", autoplay: true, muted: true, playsinline: true });
  preview.muted = true;
  const cameras = h("select", { "aria-label": t("studio.camera") });
  const mics = h("select", { "aria-label": t("studio.microphone") });
  const state = h("p", { id: "studio-state", class: "state" }, studioSession ? t("studio.live") : t("studio.offline"));
  const viewers = h("p", { class: "muted", id: "studio-viewers" });
  let stream = null;

  const openDevices = async () => {
    if (stream) stream.getTracks().forEach((tr) => tr.stop());
    try {
      stream = await navigator.mediaDevices.getUserMedia({
        video: cameras.value ? { deviceId: { exact: cameras.value } } : { width: 1280, height: 720 },
        audio: mics.value ? { deviceId: { exact: mics.value } } : true,
      });
    } catch {
      flash(t("studio.no_camera"), "error");
      return;
    }
    preview.srcObject = stream;
    const devices = await navigator.mediaDevices.enumerateDevices();
    const fillSelect = (select, kind, current) => fill(select, devices.filter((d) => d.kind === kind).map((d, i) =>
      h("option", { value: d.deviceId, selected: d.deviceId === current }, d.label || `${kind} ${i + 1}`)));
    fillSelect(cameras, "videoinput", stream.getVideoTracks()[0]?.getSettings().deviceId);
    fillSelect(mics, "audioinput", stream.getAudioTracks()[0]?.getSettings().deviceId);
  };
  cameras.addEventListener("change", openDevices);
  mics.addEventListener("change", openDevices);

  const goLive = async (takeover = false) => {
    if (!stream) await openDevices();
    if (!stream) return;
    fill(state, t("studio.connecting"));
    try {
      studioSession = await publish(ingest.whip_url, ingest.stream_key, stream, { takeover, iceServers: ingest.ice_servers || [] });
      studioSession.pc.addEventListener("connectionstatechange", () => {
        const c = studioSession?.pc.connectionState;
        fill(state, c === "connected" ? t("studio.live") : c === "failed" || c === "closed" ? t("studio.offline") : t("studio.connecting"));
      });
    } catch (e) {
      if (e instanceof HttpError && e.status === 409 && confirm(t("studio.takeover"))) return goLive(true);
      fill(state, t("studio.offline"));
      flash(e.message, "error");
    }
  };
  const stop = async () => {
    if (studioSession) await studioSession.stop();
    studioSession = null;
    fill(state, t("studio.offline"));
  };
  const end = async () => {
    await stop();
    if (await attempt(() => api("PATCH", `/api/v1/orgs/${orgId}/shows/${showId}`, { status: "ended" }))) go(`#/orgs/${orgId}/shows/${showId}`);
  };
  const copy = (text) => navigator.clipboard?.writeText(text);
  const keyField = h("code", { id: "stream-key" }, ingest.stream_key);
  fill(main,
    h("div", { class: "toolbar" }, h("h1", {}, t("studio.title"), ": ", show.title), h("span", { class: `badge ${show.status}` }, t(`show.status.${show.status}`))),
    h("section", { class: "card studio" },
      preview,
      h("div", { class: "cols" }, field(t("studio.camera"), cameras), field(t("studio.microphone"), mics)),
      state, viewers,
      h("div", { class: "actions" },
        h("button", { type: "button", id: "go-live", onclick: () => goLive(false) }, t("studio.go_live")),
        h("button", { type: "button", class: "secondary", onclick: stop }, t("studio.stop")),
        h("button", { type: "button", class: "danger", onclick: end }, t("studio.end")))),
    h("section", { class: "card" },
      h("h2", {}, t("studio.obs")),
      h("p", {}, t("studio.server"), ": ", h("code", {}, ingest.whip_url), " ", h("button", { class: "link", onclick: () => copy(ingest.whip_url) }, t("studio.copy"))),
      h("p", {}, t("studio.token"), ": ", keyField, " ", h("button", { class: "link", onclick: () => copy(keyField.textContent) }, t("studio.copy"))),
      h("button", { type: "button", class: "secondary", onclick: async () => {
        const fresh = await attempt(() => api("POST", `/api/v1/orgs/${orgId}/shows/${showId}/ingest`));
        if (fresh) { ingest.stream_key = fresh.stream_key; fill(keyField, fresh.stream_key); }
      } }, t("studio.rotate"))),
  );
  if (show.status !== "draft") studioRoom(show);
  await openDevices();
  const poll = async () => {
    if (!document.body.contains(viewers)) return;
    try {
      const live = await (await fetch(`/api/v1/shows/${encodeURIComponent(show.slug)}/media`)).json();
      fill(viewers, t("studio.viewers", { n: live.viewers }));
    } catch {}
    setTimeout(poll, 3000);
  };
  poll();
}

let studioConnection = null;

/** The room as the host sees it: the chat, a message box, and the line-up to pin from. */
async function studioRoom(show) {
  const pub = await fetch(`/api/v1/shows/${encodeURIComponent(show.slug)}`).then((r) => (r.ok ? r.json() : null)).catch(() => null);
  const lines = h("ol", { class: "chat-lines", id: "studio-chat" });
  const input = h("input", { id: "studio-chat-input", maxlength: 500, "aria-label": t("room.say"), placeholder: t("room.say") });
  // The line the next message answers, if any.
  let replyingTo = null;
  const replying = h("p", { class: "replying muted", id: "studio-replying", hidden: true });
  const replyTo = (line) => {
    replyingTo = line ? line.id : null;
    replying.hidden = !line;
    fill(replying, line
      ? [t("room.replying", { name: line.name }), " ", h("button", { type: "button", class: "link", "aria-label": t("room.cancel_reply"), onclick: () => replyTo(null) }, "✕")]
      : null);
    if (line) input.focus();
  };
  const pollQuestion = h("input", { id: "poll-question", maxlength: 300 });
  const pollOptions = h("textarea", { id: "poll-options", rows: 3 });
  const pinned = h("p", { id: "studio-pinned", class: "muted" });
  const questions = h("ol", { class: "questions", id: "studio-questions" });
  const pollBox = h("div", { id: "studio-poll" });
  const segmentLine = h("p", { id: "studio-segment", class: "muted" });
  const counterLine = h("p", { id: "studio-counters", class: "muted" });
  const announcementLine = h("p", { id: "studio-announcement", class: "announcement" });
  const announceInput = h("input", { id: "announce-input", maxlength: 300, "aria-label": t("room.announce"), placeholder: t("room.announce") });
  const slowMode = h("select", { id: "slow-mode", "aria-label": t("room.slow_mode"), onchange: () => studioConnection.send({ type: "slow_mode", seconds: Number(slowMode.value) }) },
    [0, 5, 10, 30, 60].map((s) => h("option", { value: String(s) }, s ? t("room.slow_every", { s }) : t("room.slow_off"))));
  // A value set elsewhere (another moderator's tool, the API) gets its own option.
  const showSlowMode = (seconds) => {
    if (![...slowMode.options].some((o) => o.value === String(seconds))) slowMode.append(h("option", { value: String(seconds) }, t("room.slow_every", { s: seconds })));
    slowMode.value = String(seconds);
  };
  const prepared = show.run_of_show.segments.flatMap((seg) => seg.prepared_answers);
  const questionItems = new Map();
  const drawQuestion = (q) => {
    const item = h("li", { class: q.answered ? "answered" : "" }, h("strong", {}, q.name), " ", q.text,
      q.answered
        ? h("p", { class: "answer muted" }, q.answer || t("room.answered"))
        : h("div", { class: "pin-list" },
          h("button", { type: "button", class: "link", onclick: () => studioConnection.send({ type: "answer", question_id: q.id }) }, t("room.mark_answered")),
          prepared.map((a) => h("button", { type: "button", class: "secondary", title: a.answer, onclick: () => studioConnection.send({ type: "answer", question_id: q.id, text: a.answer }) }, `${t("room.answer_with")}: ${a.question}`))));
    const old = questionItems.get(q.id);
    if (old) old.replaceWith(item);
    else questions.append(item);
    questionItems.set(q.id, item);
  };
  const drawPoll = (poll) => fill(pollBox, poll
    ? [h("strong", {}, poll.question), " ", poll.options.map((o, i) => `${o}: ${poll.votes[i]}`).join(" · "), " ",
      poll.open ? h("button", { type: "button", class: "link", onclick: () => studioConnection.send({ type: "close_poll", poll_id: poll.id }) }, t("room.close_poll")) : t("room.poll_closed")]
    : null);
  const products = pub?.lineup ?? [];
  const nameOf = (id) => products.find((p) => p.id === id)?.title ?? id;
  if (studioConnection) studioConnection.close();
  studioConnection = joinRoom(show.slug, (m) => {
    const add = (line) => {
      if (lines.querySelector(`[data-id="${Number(line.id)}"]`)) return;
      const send = (message) => studioConnection.send(message);
      // Moderation on viewers' lines: remove it, silence its author for 5 minutes, or ban them.
      const tools = line.role === "viewer"
        ? h("span", { class: "mod-tools" },
          h("button", { type: "button", class: "link", "data-action": "delete", onclick: () => send({ type: "delete", message_id: line.id }) }, t("room.delete")),
          h("button", { type: "button", class: "link", "data-action": "mute", onclick: () => send({ type: "mute", message_id: line.id, seconds: 300 }) }, t("room.mute")),
          h("button", { type: "button", class: "link", "data-action": "ban", onclick: () => { if (confirm(t("room.ban_confirm", { name: line.name }))) { send({ type: "mute", message_id: line.id }); send({ type: "delete", message_id: line.id }); } } }, t("room.ban")))
        : null;
      const reply = h("button", { type: "button", class: "link reply", "aria-label": t("room.reply_to", { name: line.name }), onclick: () => replyTo(line) }, t("room.reply"));
      lines.append(chatLine(line, lines, reply, tools));
    };
    const counters = (m) => fill(counterLine, t("room.counters", { viewers: m.viewers, peak: m.peak_viewers, likes: m.likes_total }));
    if (m.type === "snapshot") {
      fill(lines, []);
      m.chat.forEach(add);
      fill(questions);
      questionItems.clear();
      (m.questions || []).forEach(drawQuestion);
      drawPoll(m.poll);
      fill(segmentLine, m.segment ? t("room.segment", { title: m.segment.title }) : null);
      fill(pinned, m.pinned ? `${t("room.pinned")}: ${nameOf(m.pinned.product_id)}` : null);
      fill(announcementLine, m.announcement ? m.announcement.text : null);
      showSlowMode(m.slow_mode ?? 0);
      counters(m);
    } else if (m.type === "frame") {
      for (const id of m.deleted || []) removeLine(lines, id);
      (m.chat || []).forEach(add);
      if ("announcement" in m) fill(announcementLine, m.announcement ? m.announcement.text : null);
      if ("slow_mode" in m) showSlowMode(m.slow_mode);
      lines.scrollTop = lines.scrollHeight;
      counters(m);
      (m.questions || []).forEach(drawQuestion);
      if (m.poll) drawPoll(m.poll);
      // The poll the form asked for is open: the form is ready for the next (kept when refused).
      if (m.poll?.open && m.poll.question === pollQuestion.value.trim()) {
        pollQuestion.value = "";
        pollOptions.value = "";
      }
      if (m.segment) fill(segmentLine, t("room.segment", { title: m.segment.title }));
      lines.scrollTop = lines.scrollHeight;
      if ("pinned" in m) fill(pinned, m.pinned ? `${t("room.pinned")}: ${nameOf(m.pinned.product_id)}` : null);
    } else if (m.type === "sent") {
      add(m.line);
    } else if (m.type === "error") {
      flash(refusalText(m), "error");
    }
  });
  main.append(h("section", { class: "card room-panel" },
    h("h2", {}, t("room.title")),
    counterLine,
    segmentLine,
    // The run of show is the host's to play; moderators keep the chat.
    roleIn(show.org_id) === "moderator" ? null : h("button", { type: "button", id: "next-segment", onclick: () => studioConnection.send({ type: "advance" }) }, t("room.next")),
    pinned,
    pollBox,
    h("details", { class: "new-poll" }, h("summary", {}, t("room.new_poll")),
      h("form", { onsubmit: (e) => {
        e.preventDefault();
        const options = pollOptions.value.split("\n").map((o) => o.trim()).filter(Boolean);
        studioConnection.send({ type: "poll", question: pollQuestion.value.trim(), options });
      } },
      field(t("room.poll_question"), pollQuestion),
      field(t("room.poll_options"), pollOptions),
      h("button", { type: "submit", id: "open-poll" }, t("room.poll_open")))),
    h("div", { class: "pin-list" },
      products.map((p) => h("button", { type: "button", class: "secondary", onclick: () => studioConnection.send({ type: "pin", product_id: p.id }) }, `${t("room.pin")}: ${p.title}`)),
      h("button", { type: "button", class: "link", onclick: () => studioConnection.send({ type: "unpin" }) }, t("room.unpin"))),
    lines,
    h("form", { class: "chat-form", onsubmit: (e) => {
      e.preventDefault();
      if (input.value.trim()) studioConnection.send({ type: "chat", text: input.value.trim(), ...(replyingTo !== null ? { reply_to: replyingTo } : {}) });
      input.value = "";
      replyTo(null);
    } }, input, h("button", { type: "submit" }, t("room.send"))),
    replying,
    h("label", { class: "field inline" }, h("span", {}, t("room.slow_mode")), slowMode),
    announcementLine,
    h("form", { class: "chat-form", onsubmit: (e) => {
      e.preventDefault();
      studioConnection.send({ type: "announce", text: announceInput.value.trim() });
      announceInput.value = "";
    } }, announceInput, h("button", { type: "submit", id: "announce" }, t("room.announce_send")),
      h("button", { type: "button", class: "link", onclick: () => studioConnection.send({ type: "announce", text: "" }) }, t("room.take_down"))),
    h("h3", {}, t("room.questions")),
    questions));
}

// ---------- orders ----------

async function orders(orgId) {
  const params = new URLSearchParams(location.hash.split("?")[1] || "");
  const q = h("input", { name: "order-search", type: "search", value: params.get("q") || "", placeholder: t("orders.search") });
  const status = h("select", { name: "order-status" }, ["", "pending_payment", "handed_off", "paid", "fulfilled", "cancelled"].map((s) =>
    h("option", { value: s, selected: s === (params.get("status") || "") }, s ? t(`orders.status.${s}`) : t("orders.all"))));
  const query = new URLSearchParams({ q: q.value, ...(status.value ? { status: status.value } : {}), limit: "100" });
  const page = await attempt(() => api("GET", `/api/v1/orgs/${orgId}/orders?${query}`));
  if (!page) return;
  const move = (o, next) => async () => {
    if (next === "cancelled" && !confirm(t("orders.cancel_confirm", { number: o.number }))) return;
    if (await attempt(() => api("PATCH", `/api/v1/orgs/${orgId}/orders/${o.id}`, { status: next }))) orders(orgId);
  };
  const actions = (o) => [
    ["pending_payment", "handed_off"].includes(o.status) ? h("button", { type: "button", class: "secondary", onclick: move(o, "paid") }, t("orders.mark_paid")) : null,
    ["pending_payment", "handed_off", "paid"].includes(o.status) ? h("button", { type: "button", class: "secondary", onclick: move(o, "fulfilled") }, t("orders.fulfil")) : null,
    ["pending_payment", "handed_off", "paid"].includes(o.status) ? h("button", { type: "button", class: "link", onclick: move(o, "cancelled") }, t("orders.cancel")) : null,
  ];
  fill(main,
    h("h1", {}, t("nav.orders")),
    h("form", { class: "card inline", onsubmit: (e) => {
      e.preventDefault();
      go(`#/orgs/${orgId}/orders?${new URLSearchParams({ q: q.value, status: status.value })}`);
    } }, q, status, h("button", { type: "submit" }, t("orders.find")),
      h("a", { href: `/api/v1/orgs/${orgId}/orders.csv`, download: "orders_export.csv" }, t("orders.export"))),
    h("p", { class: "muted" }, t("orders.count", { n: page.total })),
    h("table", { class: "card orders", id: "orders" }, h("tbody", {}, page.items.map((o) => h("tr", { "data-number": o.number },
      h("td", {}, h("strong", {}, `#${o.number}`), h("br"), h("span", { class: "muted" }, new Date(o.created_at).toLocaleString(lang))),
      h("td", {}, o.name, h("br"), h("span", { class: "muted" }, o.email)),
      h("td", {}, o.lines.map((l) => h("div", {}, `${l.quantity} × ${l.title}`, " ",
        h("span", { class: "muted attribution" }, t(`orders.source.${l.source}`), l.media_ms !== null ? ` @ ${clockOf(l.media_ms)}` : "",
          l.pin_ms !== null && l.pin_ms !== undefined ? ` · ${t("orders.pinned_at", { at: clockOf(l.pin_ms) })}` : "")))),
      h("td", {}, money(o.total_minor, o.currency)),
      h("td", { class: "order-status" }, t(`orders.status.${o.status}`)),
      h("td", {}, actions(o)))))));
  const codes = await discountsCard(orgId);
  if (codes) main.append(codes);
}

/** An endpoint's delivery log under it: what was sent, what the endpoint answered, send again. */
async function showDeliveries(orgId, hook, item) {
  const log = await attempt(() => api("GET", `/api/v1/orgs/${orgId}/webhooks/${hook.id}/deliveries`));
  if (!log) return;
  item.querySelector(".deliveries")?.remove();
  const table = log.length
    ? h("table", { class: "deliveries" }, h("tbody", {}, log.map((d) => h("tr", { "data-delivery": d.id },
      h("td", {}, new Date(d.created_at).toLocaleString(lang)),
      h("td", {}, d.event),
      h("td", { class: `delivery-${d.status}` }, t(`hooks.status.${d.status}`)),
      h("td", { class: "muted" }, t("hooks.attempts", { n: d.attempts }), d.last_status ? ` · HTTP ${d.last_status}` : "", d.last_error ? ` · ${d.last_error}` : ""),
      h("td", {}, h("button", { type: "button", class: "link", onclick: async () => {
        if ((await attempt(() => api("POST", `/api/v1/orgs/${orgId}/webhooks/${hook.id}/deliveries/${d.id}/retry`))) !== undefined) {
          flash(t("hooks.sent_again"));
          showDeliveries(orgId, hook, item);
        }
      } }, t("hooks.send_again")))))))
    : h("p", { class: "muted deliveries" }, t("hooks.none_sent"));
  item.append(table);
}

/** A show's sales and what each presenter earns; owners and admins set the rates. */
async function commissionsCard(orgId, show) {
  const data = await api("GET", `/api/v1/orgs/${orgId}/shows/${show.id}/commissions`).catch(() => null);
  if (!data) return null;
  return h("section", { class: "card", id: "commissions" },
    h("h2", {}, t("commissions.title")),
    h("p", {}, t("commissions.sales", { orders: data.orders, sales: money(data.sales_minor, data.currency) })),
    data.presenters.length === 0 ? h("p", { class: "muted" }, t("commissions.none")) : h("table", {}, h("tbody", {}, data.presenters.map((p) => {
      const rate = h("input", { type: "number", min: 0, max: 100, step: "0.01", value: (p.rate_bp / 100).toString(), "aria-label": t("commissions.rate_of", { name: p.name }) });
      return h("tr", { "data-presenter": p.user_id },
        h("td", {}, h("strong", {}, p.name), " ", h("span", { class: "muted" }, t(`commissions.role.${p.role}`))),
        h("td", {}, h("form", { class: "inline", onsubmit: async (e) => {
          e.preventDefault();
          if (await attempt(() => api("PUT", `/api/v1/orgs/${orgId}/commission-rates/${p.user_id}`, { rate_bp: Math.round(Number(rate.value) * 100) }))) {
            const card = await commissionsCard(orgId, show);
            if (card) document.getElementById("commissions")?.replaceWith(card);
          }
        } }, rate, " % ", h("button", { type: "submit", class: "secondary" }, t("commissions.set")))),
        h("td", { class: "earned" }, money(p.commission_minor, data.currency)));
    }))));
}

/** The shop's discount codes: add one, switch it on or off, delete it. */
async function discountsCard(orgId) {
  const base = `/api/v1/orgs/${orgId}/discount-codes`;
  const codes = await attempt(() => api("GET", base));
  if (!codes) return null;
  const currency = orgOf(orgId)?.currency || "EUR";
  const digits = new Intl.NumberFormat("en", { style: "currency", currency }).resolvedOptions().maximumFractionDigits;
  const toMinor = (text) => (text.trim() === "" ? null : Math.round(Number(text.replace(",", ".")) * 10 ** digits));
  const card = h("section", { class: "card", id: "discount-codes" });
  const again = async () => card.replaceWith((await discountsCard(orgId)) || h("div"));
  const f = {
    code: h("input", { name: "code", required: true, maxlength: 32, placeholder: "LIVE10" }),
    percent: h("input", { name: "percent_off", type: "number", min: 1, max: 100 }),
    amount: h("input", { name: "amount_off", inputmode: "decimal" }),
    min: h("input", { name: "min_subtotal", inputmode: "decimal" }),
    uses: h("input", { name: "max_uses", type: "number", min: 1 }),
  };
  const terms = (c) => [
    c.percent_off ? `−${c.percent_off}%` : `−${money(c.amount_off_minor, currency)}`,
    c.min_subtotal_minor ? t("codes.from", { amount: money(c.min_subtotal_minor, currency) }) : null,
    c.max_uses ? t("codes.used_of", { uses: c.uses, max: c.max_uses }) : t("codes.used", { uses: c.uses }),
  ].filter(Boolean).join(" · ");
  const body = (c, active) => ({
    code: c.code, percent_off: c.percent_off, amount_off_minor: c.amount_off_minor, min_subtotal_minor: c.min_subtotal_minor,
    max_uses: c.max_uses, expires_at: c.expires_at, active,
  });
  fill(card,
    h("h2", {}, t("codes.title")),
    h("ul", { class: "codes" }, codes.map((c) => h("li", { "data-code": c.code },
      h("strong", {}, c.code), " ", terms(c), " ",
      h("span", { class: `badge ${c.active ? "live" : ""}` }, c.active ? t("codes.on") : t("codes.off")), " ",
      h("button", { type: "button", class: "secondary", onclick: async () => {
        if (await attempt(() => api("PUT", `${base}/${encodeURIComponent(c.code)}`, body(c, !c.active)))) again();
      } }, c.active ? t("codes.switch_off") : t("codes.switch_on")), " ",
      h("button", { type: "button", class: "link", onclick: async () => {
        if (confirm(t("confirm.delete")) && (await attempt(() => api("DELETE", `${base}/${encodeURIComponent(c.code)}`))) !== undefined) again();
      } }, t("codes.delete"))))),
    h("form", { class: "inline", onsubmit: async (e) => {
      e.preventDefault();
      const made = await attempt(() => api("POST", base, {
        code: f.code.value,
        ...(f.percent.value ? { percent_off: Number(f.percent.value) } : { amount_off_minor: toMinor(f.amount.value) }),
        min_subtotal_minor: toMinor(f.min.value),
        max_uses: f.uses.value ? Number(f.uses.value) : null,
      }));
      if (made) again();
    } },
    field(t("codes.code"), f.code), field(t("codes.percent"), f.percent), field(t("codes.amount"), f.amount),
    field(t("codes.min"), f.min), field(t("codes.max_uses"), f.uses), h("button", { type: "submit" }, t("codes.add"))));
  return card;
}

// ---------- team and settings ----------

async function team(orgId) {
  const myRole = roleIn(orgId);
  const manage = ["owner", "admin"].includes(myRole);
  const members = await attempt(() => api("GET", `/api/v1/orgs/${orgId}/members`));
  if (!members) return;
  const [invitations, tokens] = manage
    ? await Promise.all([attempt(() => api("GET", `/api/v1/orgs/${orgId}/invitations`)), attempt(() => api("GET", `/api/v1/orgs/${orgId}/tokens`))])
    : [[], []];
  const roles = ["owner", "admin", "host", "moderator"].filter((r) => myRole === "owner" || r !== "owner");
  const email = h("input", { type: "email", name: "invite-email", required: true });
  const role = h("select", { name: "invite-role" }, roles.map((r) => h("option", { value: r, selected: r === "host" }, t(`role.${r}`))));
  const tokenName = h("input", { name: "token-name", required: true });
  const tokenRole = h("select", { name: "token-role" }, roles.filter((r) => r !== "owner").map((r) => h("option", { value: r }, t(`role.${r}`))));
  const output = h("div");
  fill(main,
    h("h1", {}, t("team.title")),
    output,
    h("table", { class: "card" }, h("tbody", {}, members.map((m) => h("tr", {},
      h("td", {}, m.user.name), h("td", { class: "muted" }, m.user.email),
      h("td", {}, manage ? h("select", { "aria-label": t("team.role"), onchange: async (e) => { await attempt(() => api("PATCH", `/api/v1/orgs/${orgId}/members/${m.user.id}`, { role: e.target.value })); route(); } },
        roles.concat(roles.includes(m.role) ? [] : [m.role]).map((r) => h("option", { value: r, selected: r === m.role }, t(`role.${r}`)))) : t(`role.${m.role}`)),
      h("td", {}, manage ? h("button", { class: "link", onclick: async () => { if (confirm(t("confirm.delete")) && (await attempt(() => api("DELETE", `/api/v1/orgs/${orgId}/members/${m.user.id}`))) !== undefined) route(); } }, t("team.remove")) : null))))),
    manage ? h("form", { class: "card inline", onsubmit: async (e) => {
      e.preventDefault();
      const inv = await attempt(() => api("POST", `/api/v1/orgs/${orgId}/invitations`, { email: email.value, role: role.value }));
      if (inv) fill(output, h("p", { class: "flash ok" }, t("team.link"), " ", h("code", { id: "invite-link" }, inv.accept_url)));
    } }, h("h2", {}, t("team.invite")), field(t("team.email"), email), field(t("team.role"), role), h("button", { type: "submit" }, t("team.send"))) : null,
    manage && invitations.length ? h("section", { class: "card" }, h("h2", {}, t("team.pending")),
      h("ul", {}, invitations.map((i) => h("li", {}, i.email, " — ", i.role ? t(`role.${i.role}`) : "creator", " ",
        h("button", { class: "link", onclick: async () => { await attempt(() => api("DELETE", `/api/v1/orgs/${orgId}/invitations/${i.id}`)); route(); } }, t("team.remove")))))) : null,
    manage ? h("section", { class: "card" }, h("h2", {}, t("tokens.title")),
      h("ul", {}, tokens.map((tk) => h("li", {}, tk.name, " — ", t(`role.${tk.role}`), " ",
        h("button", { class: "link", onclick: async () => { await attempt(() => api("DELETE", `/api/v1/orgs/${orgId}/tokens/${tk.id}`)); route(); } }, t("tokens.revoke"))))),
      h("form", { class: "inline", onsubmit: async (e) => {
        e.preventDefault();
        const issued = await attempt(() => api("POST", `/api/v1/orgs/${orgId}/tokens`, { name: tokenName.value, role: tokenRole.value }));
        if (issued) fill(output, h("p", { class: "flash ok" }, t("tokens.secret"), " ", h("code", {}, issued.secret)));
      } }, field(t("tokens.name"), tokenName), field(t("team.role"), tokenRole), h("button", { type: "submit" }, t("tokens.create")))) : null,
  );
}

async function settings(orgId) {
  const org = await attempt(() => api("GET", `/api/v1/orgs/${orgId}`));
  if (!org) return;
  const name = h("input", { name: "org-name", value: org.name });
  const currency = h("input", { name: "currency", value: org.currency, maxlength: 3 });
  const zones = Intl.supportedValuesOf ? Intl.supportedValuesOf("timeZone") : [org.time_zone];
  const zone = h("select", { name: "org-time-zone" }, zones.map((z) => h("option", { value: z, selected: z === org.time_zone }, z)));
  const words = h("textarea", { name: "blocked-words", rows: 4 }, (org.blocked_words || []).join("\n"));
  fill(main, h("form", { class: "card narrow", onsubmit: async (e) => {
    e.preventDefault();
    const blocked_words = words.value.split("\n").map((w) => w.trim()).filter(Boolean);
    if (await attempt(() => api("PATCH", `/api/v1/orgs/${orgId}`, { name: name.value, currency: currency.value, time_zone: zone.value, blocked_words }))) {
      await loadSession();
      flash(t("show.saved"));
    }
  } }, h("h1", {}, t("nav.settings")), field(t("org.name"), name), field(t("org.currency"), currency), field(t("org.time_zone"), zone), field(t("org.blocked_words"), words),
    h("button", { type: "submit" }, t("org.save"))));
  // Webhooks for the shop's own systems (owners and admins).
  const hooks = await api("GET", `/api/v1/orgs/${orgId}/webhooks`).catch(() => null);
  if (hooks) {
    const url = h("input", { name: "webhook-url", type: "url", required: true, placeholder: "https://" });
    const events = ["order.created", "order.paid", "order.cancelled", "show.live", "show.ended"];
    const boxes = events.map((e) => h("label", { class: "inline" }, h("input", { type: "checkbox", value: e, checked: e === "order.created" }), " ", e));
    main.append(h("section", { class: "card narrow", id: "webhooks" }, h("h2", {}, t("hooks.title")),
      h("ul", {}, hooks.map((w) => h("li", {},
        h("code", {}, w.url), " ", h("span", { class: "muted" }, w.events.join(", ")), h("br"),
        h("span", { class: "muted" }, t("hooks.secret")), " ", h("code", {}, w.secret), " ",
        h("button", { type: "button", class: "link", onclick: (e) => showDeliveries(orgId, w, e.target.closest("li")) }, t("hooks.log")), " ",
        h("button", { type: "button", class: "link", onclick: async () => {
          if (confirm(t("confirm.delete")) && (await attempt(() => api("DELETE", `/api/v1/orgs/${orgId}/webhooks/${w.id}`))) !== undefined) settings(orgId);
        } }, t("hooks.remove"))))),
      h("form", { class: "inline", onsubmit: async (e) => {
        e.preventDefault();
        const chosen = boxes.map((b) => b.querySelector("input")).filter((i) => i.checked).map((i) => i.value);
        if (await attempt(() => api("POST", `/api/v1/orgs/${orgId}/webhooks`, { url: url.value, events: chosen }))) settings(orgId);
      } }, field(t("hooks.url"), url), boxes, h("button", { type: "submit" }, t("hooks.add")))));
  }
  // Viewers banned from the live chats, with a way back.
  const bans = await api("GET", `/api/v1/orgs/${orgId}/bans`).catch(() => null);
  if (!bans) return;
  main.append(h("section", { class: "card narrow", id: "bans" }, h("h2", {}, t("bans.title")),
    bans.length === 0 ? h("p", { class: "muted" }, t("bans.none")) : h("ul", {}, bans.map((b) => h("li", {},
      h("strong", {}, b.name), " ", h("span", { class: "muted" }, t("bans.by", { by: b.by, when: new Date(b.created_at).toLocaleString(lang) })), " ",
      h("button", { type: "button", class: "link", onclick: async () => {
        if ((await attempt(() => api("DELETE", `/api/v1/orgs/${orgId}/bans/${encodeURIComponent(b.identity)}`))) !== undefined) settings(orgId);
      } }, t("bans.lift")))))));
}

// ---------- router ----------

async function route() {
  const parts = location.hash.replace(/^#\/?/, "").split("/").filter(Boolean);
  document.title = t("app.name");
  if (parts[0] === "join" && parts[1]) return join(parts[1]);
  if (!session) await loadSession();
  if (!session) return signIn();
  if (parts[0] === "signin") return go("#/");
  if (parts[0] !== "orgs" || !parts[1]) return home();
  const orgId = parts[1];
  renderHeader(orgId);
  const view = parts[2] ?? "shows";
  if (view === "products" && parts[3]) return productEditor(orgId, parts[3]);
  if (view === "products") return products(orgId);
  if (view === "shows" && parts[3] && parts[4] === "studio") return studio(orgId, parts[3]);
  if (view === "shows" && parts[3]) return showEditor(orgId, parts[3]);
  if (view === "team") return team(orgId);
  if (view.startsWith("orders")) return orders(orgId);
  if (view === "settings") return settings(orgId);
  return shows(orgId);
}

window.addEventListener("hashchange", route);
route();
