// The embeddable player for a merchant's own site (docs/embed.md):
//
//   <script type="module" src="https://YOUR-VETRINA/embed.js"></script>
//   <vetrina-player show="spring-collection"></vetrina-player>      (or clip="clp_…")
//
// A web component in a shadow root, no iframe: it plays the show live (WHEP) or its replay (the
// recording, with the pins of the timeline in sync), or a clip, and lists the products with the
// one on screen first. "Add to cart" and "Checkout" fire DOM events that bubble out of the player
// (`vetrina:add-to-cart`, `vetrina:checkout`); a site that calls preventDefault() takes over with
// its own cart; otherwise the player keeps a basket and checks out on Vetrina's show page.
//
// It runs under a strict Content-Security-Policy: its styles are a constructed stylesheet (no
// inline <style>), it fetches only from its own origin (CORS), and it uses no eval.

import { watch } from "./assets/live.js";
import { replay, chapterAt, clock } from "./assets/replay.js";
import { h, fill, t, money } from "./assets/i18n.js";

const BASE = new URL(import.meta.url).origin;
const api = (path) => `${BASE}/api/v1${path}`;

const CSS = `
:host { display: block; font: 15px/1.4 system-ui, sans-serif; color: #222; max-width: 960px; }
.frame { position: relative; background: #111; border-radius: 10px; overflow: hidden; }
video { display: block; width: 100%; aspect-ratio: 16 / 9; background: #111; }
.state { position: absolute; left: .75rem; top: .75rem; margin: 0; color: #fff; background: rgba(0,0,0,.55); padding: .15rem .55rem; border-radius: 99px; font-size: .85rem; }
.state.live { background: #c0262d; }
.unmute { position: absolute; left: .75rem; bottom: .75rem; }
button { font: inherit; cursor: pointer; border: 0; border-radius: 8px; padding: .45rem .8rem; background: #7a4b2a; color: #fff; }
button.secondary { background: #eee; color: #222; }
ul { list-style: none; padding: 0; margin: .75rem 0 0; display: grid; grid-template-columns: repeat(auto-fill, minmax(180px, 1fr)); gap: .75rem; }
li { border: 1px solid #ddd; border-radius: 10px; padding: .6rem; display: flex; flex-direction: column; gap: .35rem; background: #fff; }
li.on-screen { border: 2px solid #7a4b2a; }
li img { width: 100%; aspect-ratio: 4 / 5; object-fit: cover; border-radius: 6px; }
.title { font-weight: 600; }
.badge { font-size: .75rem; text-transform: uppercase; letter-spacing: .06em; color: #7a4b2a; }
.basket { margin-top: .75rem; display: flex; gap: .75rem; align-items: center; }
select { font: inherit; }
`;

let sheet = null;
function styles() {
  if (!sheet) {
    sheet = new CSSStyleSheet();
    sheet.replaceSync(CSS);
  }
  return sheet;
}

/** An absolute URL for a path of this Vetrina (images uploaded to it are relative). */
function absolute(src) {
  return new URL(src, BASE).toString();
}

class VetrinaPlayer extends HTMLElement {
  static observedAttributes = ["show", "clip"];

  constructor() {
    super();
    this.root = this.attachShadow({ mode: "open" });
    this.root.adoptedStyleSheets = [styles()];
    this.video = h("video", { part: "video", playsinline: true, muted: true, autoplay: true });
    this.video.muted = true;
    this.state = h("p", { class: "state", part: "state" });
    this.unmute = h("button", { type: "button", class: "unmute secondary", onclick: () => this.toggleSound() });
    this.list = h("ul", { part: "products" });
    this.basket = h("div", { class: "basket", part: "basket" });
    this.items = [];
    this.pinned = null;
    this.session = null;
    this.timer = null;
    this.root.append(h("div", { class: "frame" }, this.video, this.state, this.unmute), this.list, this.basket);
  }

  // A player in the page's HTML is upgraded when this module runs: it gets an attribute change
  // for each attribute, then `connectedCallback`. It starts once, and again only when `show` or
  // `clip` changes afterwards.
  connectedCallback() {
    if (!this.started) this.restart();
  }

  disconnectedCallback() {
    this.stop();
    this.started = false;
  }

  attributeChangedCallback(_name, before, after) {
    if (this.started && before !== after) this.restart();
  }

  restart() {
    this.stop();
    this.started = true;
    this.start();
  }

  stop() {
    clearInterval(this.timer);
    this.timer = null;
    this.session?.stop();
    this.session = null;
  }

  toggleSound() {
    this.video.muted = !this.video.muted;
    this.video.play().catch(() => {});
    this.drawSound();
  }

  drawSound() {
    fill(this.unmute, this.video.muted ? `🔇 ${t("public.unmute")}` : "🔊");
    this.unmute.hidden = this.video.controls;
  }

  async start() {
    const clipId = this.getAttribute("clip");
    const slug = this.getAttribute("show");
    try {
      if (clipId) {
        const clip = await (await fetch(api(`/clips/${encodeURIComponent(clipId)}`))).json();
        this.show = clip.show;
        this.play({ src: clip.video_url, offsetMs: clip.start_ms, chapters: clip.chapters });
      } else if (slug) {
        const r = await fetch(api(`/shows/${encodeURIComponent(slug)}`));
        if (!r.ok) throw new Error(`show ${slug}: ${r.status}`);
        this.show = await r.json();
        const chapters = await (await fetch(api(`/shows/${encodeURIComponent(slug)}/chapters`))).json();
        if (this.show.status === "ended" && chapters.recording_url) {
          this.play({ src: chapters.recording_url, offsetMs: 0, chapters: chapters.chapters });
        } else {
          this.goLive(chapters.chapters);
        }
      }
    } catch (e) {
      fill(this.state, t("public.not_found"));
      this.emit("vetrina:error", { message: e.message }, false);
      return;
    }
    this.drawProducts();
    this.emit("vetrina:ready", { show: this.show.slug, status: this.show.status }, false);
  }

  /** The replay or a clip: the recording plays, pins follow the timeline. */
  play({ src, offsetMs, chapters }) {
    this.video.controls = true;
    this.video.autoplay = false;
    this.video.src = src;
    fill(this.state, t("replay.label"));
    this.drawSound();
    this.session = replay({
      video: this.video,
      base: BASE,
      slug: this.show.slug,
      offsetMs,
      onReset: (moment) => this.pin(chapterAt(chapters, moment)?.product_id ?? null),
      onEvent: (e) => {
        if (e.kind === "pin" && e.data?.product_id) this.pin(e.data.product_id);
      },
    });
    this.moment = () => this.session.moment();
  }

  /** Live (or about to be): WHEP video; the product on screen from the show's chapters. */
  async goLive(chapters) {
    const live = this.show.status === "live";
    this.state.className = live ? "state live" : "state";
    fill(this.state, live ? t("public.live") : t("public.waiting"));
    this.drawSound();
    this.pin(chapters.at(-1)?.product_id ?? null);
    const slug = encodeURIComponent(this.show.slug);
    let startedAt = null;
    const connect = async () => {
      try {
        const media = await (await fetch(api(`/shows/${slug}/media`))).json();
        startedAt = media.recording_started_at ?? null;
        if (media.status === "ended") return this.restart();
        if (!this.session && (media.publishing || media.status === "live")) {
          this.session = await watch(api(`/shows/${slug}/whep`), (stream) => {
            if (this.video.srcObject !== stream) this.video.srcObject = stream;
            this.video.play().catch(() => {});
          }, { iceServers: media.ice_servers || [] });
          this.session.pc.addEventListener("connectionstatechange", () => {
            if (["failed", "closed"].includes(this.session?.pc.connectionState)) {
              this.session?.stop();
              this.session = null;
            }
          });
          this.state.className = "state live";
          fill(this.state, t("public.live"));
        }
        const latest = await (await fetch(api(`/shows/${slug}/chapters`))).json();
        this.pin(latest.chapters.at(-1)?.product_id ?? null);
      } catch (e) {
        console.warn("vetrina-player:", e.message);
      }
    };
    this.moment = () => (startedAt ? Math.max(0, Date.now() - startedAt) : null);
    await connect();
    this.timer = setInterval(connect, 5000);
  }

  pin(productId) {
    if (productId === this.pinned) return;
    this.pinned = productId;
    this.drawProducts();
    if (productId) this.emit("vetrina:product-shown", { show: this.show.slug, product_id: productId }, false);
  }

  drawProducts() {
    if (!this.show) return;
    const products = [...this.show.lineup].sort((a, b) => (b.id === this.pinned) - (a.id === this.pinned));
    fill(this.list, products.map((p) => this.card(p)));
    fill(this.basket, this.items.length
      ? [h("span", {}, `${this.items.reduce((n, i) => n + i.quantity, 0)} × 🛍`),
        h("button", { type: "button", class: "checkout", onclick: () => this.checkout() }, t("checkout.title"))]
      : null);
  }

  card(p) {
    const variants = p.variants.filter((v) => v.available);
    const select = h("select", { "aria-label": t("cart.variant") },
      variants.map((v) => h("option", { value: v.id }, `${v.title} · ${money(v.price_minor, p.currency)}`)));
    return h("li", { class: p.id === this.pinned ? "on-screen" : "", "data-product": p.id },
      p.id === this.pinned ? h("span", { class: "badge" }, t("room.pinned")) : null,
      p.images[0] ? h("img", { src: absolute(p.images[0].src), alt: p.images[0].alt || p.title, loading: "lazy" }) : null,
      h("span", { class: "title" }, p.title),
      h("span", {}, money(p.price_from_minor, p.currency)),
      variants.length > 1 ? select : null,
      variants.length
        ? h("button", { type: "button", class: "add", onclick: () => this.add(p, variants.find((v) => v.id === select.value) || variants[0]) }, t("cart.add"))
        : h("span", {}, t("public.sold_out")));
  }

  /** Fires `vetrina:add-to-cart`; unless the site takes over, the item joins the player's basket. */
  add(product, variant) {
    const item = {
      show: this.show.slug,
      product_id: product.id,
      variant_id: variant.id,
      sku: variant.sku,
      title: product.title,
      variant_title: variant.title,
      price_minor: variant.price_minor,
      currency: product.currency,
      quantity: 1,
      media_ms: this.moment?.() ?? null,
      shopify_variant_id: variant.shopify_variant_id ?? null,
      woocommerce_id: variant.woocommerce_id ?? null,
    };
    if (!this.emit("vetrina:add-to-cart", item, true)) return;
    const same = this.items.find((i) => i.variant_id === item.variant_id);
    if (same) same.quantity += 1;
    else this.items.push(item);
    this.drawProducts();
  }

  /** Fires `vetrina:checkout`; unless the site takes over, checks out on the show's page. */
  checkout() {
    const detail = { show: this.show.slug, items: this.items.map((i) => ({ ...i })) };
    if (!this.emit("vetrina:checkout", detail, true)) return;
    const add = this.items.flatMap((i) => Array(i.quantity).fill(i.variant_id)).join(",");
    window.open(`${BASE}/shows/${encodeURIComponent(this.show.slug)}?add=${encodeURIComponent(add)}`, "_blank", "noopener");
  }

  /** Dispatches a bubbling event out of the shadow root; false when a listener prevented it. */
  emit(type, detail, cancelable) {
    return this.dispatchEvent(new CustomEvent(type, { detail, bubbles: true, composed: true, cancelable }));
  }
}

if (!customElements.get("vetrina-player")) customElements.define("vetrina-player", VetrinaPlayer);
export { VetrinaPlayer, clock };
