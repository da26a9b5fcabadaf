// A clip's public page: the clip plays with the show's chat and pins in sync (replay.js, its time
// 0 is the clip's start on the show's media clock), the products shown in it first on the shelf,
// and the cart of the show it comes from.

import { h, fill, t, setLang, otherLang, money } from "./i18n.js";
import { buyBox, loadCart, setMoment } from "./cart.js";
import { replay, chapterAt } from "./replay.js";

const id = decodeURIComponent(location.pathname.split("/").filter(Boolean)[1] || "");
const root = document.getElementById("clip");
let clip = null;
let session = null;
let cartBox = null;
const video = h("video", { id: "clip-video", controls: true, playsinline: true, preload: "auto" });
const pinned = h("div", { class: "pinned", id: "pinned", hidden: true });
const chat = h("ol", { class: "chat-lines", id: "chat", "aria-live": "polite" });
let pinnedId = null;

function product(id) {
  return clip?.show.lineup.find((p) => p.id === id) ?? null;
}

function drawPinned() {
  const p = product(pinnedId);
  pinned.hidden = !p;
  if (!p) return fill(pinned);
  fill(pinned,
    h("p", { class: "label" }, t("room.pinned")),
    p.images[0] ? h("img", { src: p.images[0].src, alt: p.images[0].alt || p.title }) : null,
    h("div", {}, h("strong", { id: "pinned-title" }, p.title), h("p", { class: "price" }, money(p.price_from_minor, p.currency)), buyBox(p, "buy-pinned")));
}

function card(p) {
  return h("li", { class: "product" },
    p.images[0] ? h("img", { src: p.images[0].src, alt: p.images[0].alt || p.title, loading: "lazy" }) : h("div", { class: "noimg" }),
    h("h3", {}, p.title),
    h("p", { class: "price" }, money(p.price_from_minor, p.currency)),
    buyBox(p, null));
}

function render() {
  document.title = `${clip.title} — ${clip.show.merchant}`;
  // Products shown in the clip first, then the rest of the show's line-up.
  const shown = [...new Set(clip.chapters.map((c) => c.product_id).filter(Boolean))];
  const shelf = [...shown.map(product).filter(Boolean), ...clip.show.lineup.filter((p) => !shown.includes(p.id))];
  fill(root,
    h("header", { class: "hero" },
      h("div", { class: "player replay" }, video),
      h("p", { class: "merchant" }, clip.show.merchant),
      h("h1", {}, clip.title),
      h("p", {}, h("a", { href: `${clip.show.page_url}?t=${Math.floor(clip.start_ms / 1000)}` }, t("clip.from_show", { title: clip.show.title })))),
    h("div", { class: "live-row" }, pinned, h("aside", { class: "room replay-room" }, h("h2", {}, t("room.chat")), chat)),
    h("section", {}, h("h2", {}, t("public.lineup")), h("ul", { class: "lineup" }, shelf.map(card))),
    cartBox);
  drawPinned();
}

async function load() {
  const r = await fetch(`/api/v1/clips/${encodeURIComponent(id)}`);
  if (!r.ok) {
    fill(root, h("p", { class: "state" }, t("clip.not_found")));
    return;
  }
  clip = await r.json();
  if (!cartBox) cartBox = await loadCart(clip.show.slug);
  render();
  if (!session) {
    video.src = clip.video_url;
    session = replay({
      video,
      slug: clip.show.slug,
      offsetMs: clip.start_ms,
      onReset(moment) {
        fill(chat);
        pinnedId = chapterAt(clip.chapters, moment)?.product_id ?? null;
        drawPinned();
      },
      onEvent(e) {
        // The chat of the clip only (the timeline's window starts a little earlier).
        if (e.kind === "chat" && (e.media_ms ?? -1) < clip.start_ms) return;
        if (e.kind === "chat" && !chat.querySelector(`[data-id="${Number(e.data.id)}"]`)) {
          chat.append(h("li", { class: `line ${e.data.role}`, "data-id": e.data.id }, h("strong", {}, e.data.name), " ", e.data.text));
          chat.scrollTop = chat.scrollHeight;
        } else if (e.kind === "pin" && e.data?.product_id) {
          pinnedId = e.data.product_id;
          drawPinned();
        } else if (e.kind === "moderation" && e.data?.action === "delete") {
          chat.querySelector(`[data-id="${Number(e.data.message_id)}"]`)?.remove();
        }
      },
    });
    setMoment(() => session.moment());
  }
}

document.getElementById("lang").addEventListener("click", () => {
  setLang(otherLang());
  document.getElementById("lang").textContent = t("lang.switch");
  if (clip) render();
});
document.getElementById("lang").textContent = t("lang.switch");
load();
