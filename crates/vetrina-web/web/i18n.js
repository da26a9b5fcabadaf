// English and Italian for every page. t("key", {var}) looks a string up in the chosen language,
// falling back to English; the choice is remembered in localStorage.

const strings = {
  en: {
    "app.name": "Vetrina",
    "lang.switch": "Italiano",
    "signin.title": "Sign in to your shop",
    "signin.email": "Email",
    "signin.password": "Password",
    "signin.submit": "Sign in",
    "signout": "Sign out",
    "nav.shows": "Shows",
    "nav.products": "Products",
    "nav.team": "Team",
    "nav.settings": "Settings",
    "org.none": "You are not part of a shop yet. Create one:",
    "org.name": "Shop name",
    "org.create": "Create shop",
    "org.currency": "Currency",
    "org.time_zone": "Time zone",
    "org.save": "Save settings",
    "creator.shows": "Shows you host as a creator",
    "products.title": "Products",
    "products.search": "Search title, SKU, vendor…",
    "products.new": "New product",
    "products.import": "Import from Shopify or WooCommerce (CSV or products.json)",
    "products.import.done": "Imported: {created} new, {updated} updated.",
    "products.export": "Export CSV",
    "products.empty": "No products yet. Import your Shopify export or add one.",
    "products.variants": "{n} variants",
    "products.stock": "{n} in stock",
    "products.untracked": "not tracked",
    "product.title": "Title",
    "product.handle": "Handle",
    "product.description": "Description (HTML)",
    "product.vendor": "Vendor",
    "product.type": "Type",
    "product.tags": "Tags (comma separated)",
    "product.status": "Status",
    "product.options": "Options (comma separated, e.g. Size, Colour)",
    "product.variants": "Variants",
    "product.variant.options": "Option values (comma separated)",
    "product.variant.sku": "SKU",
    "product.variant.price": "Price",
    "product.variant.compare": "Compare at",
    "product.variant.stock": "Stock",
    "product.variant.add": "Add variant",
    "product.images": "Images",
    "product.image.upload": "Upload image",
    "product.save": "Save product",
    "product.delete": "Delete product",
    "product.saved": "Saved.",
    "status.active": "Active",
    "status.draft": "Draft",
    "status.archived": "Archived",
    "shows.title": "Shows",
    "shows.new": "New show",
    "shows.new.title": "Title of the new show",
    "shows.empty": "No shows yet.",
    "show.status.draft": "Draft",
    "show.status.scheduled": "Scheduled",
    "show.status.live": "Live",
    "show.status.ended": "Ended",
    "show.title": "Title",
    "show.slug": "Address (slug)",
    "show.description": "Description",
    "show.starts_at": "Starts at",
    "show.time_zone": "Time zone",
    "show.hosts": "Hosts",
    "show.lineup": "Line-up",
    "show.cover": "Cover image",
    "show.save": "Save show",
    "show.schedule": "Schedule",
    "show.unschedule": "Back to draft",
    "show.go_live": "Mark live",
    "show.end": "End show",
    "show.delete": "Delete show",
    "show.public_page": "Open public page",
    "show.saved": "Saved.",
    "show.invite_creator": "Invite a creator to host (email)",
    "show.invite": "Invite",
    "ros.title": "Run of show",
    "ros.segment": "Segment {n}",
    "ros.add": "Add segment",
    "ros.remove": "Remove",
    "ros.up": "Move up",
    "ros.segment.title": "Segment title",
    "ros.duration": "Minutes",
    "ros.notes": "Notes for the host",
    "ros.products": "Products to pin",
    "ros.deal": "Flash deal",
    "ros.deal.product": "Deal product",
    "ros.deal.none": "No deal",
    "ros.deal.percent": "% off",
    "ros.deal.quantity": "Units at the deal price",
    "ros.deal.per_buyer": "Per buyer",
    "ros.deal.seconds": "Runs for (seconds)",
    "ros.poll.question": "Poll question (optional)",
    "ros.poll.options": "Poll options (one per line)",
    "ros.answers": "Prepared answers: a question, then its answer, on alternate lines",
    "team.title": "Team",
    "team.invite": "Invite a member",
    "team.email": "Email",
    "team.role": "Role",
    "team.send": "Create invitation",
    "team.link": "Send this link to the person you invite:",
    "team.remove": "Remove",
    "team.pending": "Pending invitations",
    "role.owner": "Owner",
    "role.admin": "Admin",
    "role.host": "Host",
    "role.moderator": "Moderator",
    "tokens.title": "API tokens",
    "tokens.name": "Token name",
    "tokens.create": "Create token",
    "tokens.secret": "Copy this secret now; it will not be shown again:",
    "tokens.revoke": "Revoke",
    "join.title": "Join",
    "join.name": "Your name",
    "join.password": "Choose a password (8+ characters)",
    "join.accept": "Accept invitation",
    "error.generic": "Something went wrong.",
    "confirm.delete": "Delete for good?",
    "public.starts_in": "Starts in",
    "public.starting_soon": "Starting soon",
    "public.live": "Live now",
    "public.ended": "This show has ended",
    "public.draft": "Not announced yet",
    "public.calendar": "Add to calendar",
    "public.lineup": "In this show",
    "public.hosts": "With {names}",
    "public.only_left": "Only {n} left",
    "public.sold_out": "Sold out",
    "public.from": "from {price}",
    "public.not_found": "This show does not exist or is not public yet.",
    "public.local_time": "{time} (your time)",
    "public.show_time": "{time} in {zone}",
    "units.d": "d", "units.h": "h", "units.m": "m", "units.s": "s",
    "studio.open": "Open studio",
    "studio.title": "Studio",
    "studio.camera": "Camera",
    "studio.microphone": "Microphone",
    "studio.go_live": "Go live",
    "studio.stop": "Stop streaming",
    "studio.end": "End show",
    "studio.takeover": "Someone else is streaming this show. Take over from them?",
    "studio.connecting": "Connecting…",
    "studio.live": "You are live",
    "studio.offline": "Not streaming",
    "studio.obs": "Streaming from OBS 30+: Settings > Stream > Service: WHIP",
    "studio.server": "Server",
    "studio.token": "Bearer Token (stream key)",
    "studio.copy": "Copy",
    "studio.rotate": "Rotate stream key",
    "studio.viewers": "{n} watching",
    "studio.no_camera": "No camera or microphone: allow access in the browser, or stream from OBS.",
    "public.unmute": "Unmute",
    "public.waiting": "Waiting for the host…",
    "public.reconnecting": "The host is reconnecting…",
    "public.viewers": "{n} watching",
  },
  it: {
    "lang.switch": "English",
    "signin.title": "Accedi al tuo negozio",
    "signin.email": "Email",
    "signin.password": "Password",
    "signin.submit": "Accedi",
    "signout": "Esci",
    "nav.shows": "Dirette",
    "nav.products": "Prodotti",
    "nav.team": "Squadra",
    "nav.settings": "Impostazioni",
    "org.none": "Non fai ancora parte di un negozio. Creane uno:",
    "org.name": "Nome del negozio",
    "org.create": "Crea negozio",
    "org.currency": "Valuta",
    "org.time_zone": "Fuso orario",
    "org.save": "Salva impostazioni",
    "creator.shows": "Dirette che conduci come creator",
    "products.title": "Prodotti",
    "products.search": "Cerca titolo, SKU, marca…",
    "products.new": "Nuovo prodotto",
    "products.import": "Importa da Shopify o WooCommerce (CSV o products.json)",
    "products.import.done": "Importati: {created} nuovi, {updated} aggiornati.",
    "products.export": "Esporta CSV",
    "products.empty": "Nessun prodotto. Importa l'export di Shopify o aggiungine uno.",
    "products.variants": "{n} varianti",
    "products.stock": "{n} disponibili",
    "products.untracked": "non tracciato",
    "product.title": "Titolo",
    "product.handle": "Handle",
    "product.description": "Descrizione (HTML)",
    "product.vendor": "Marca",
    "product.type": "Tipo",
    "product.tags": "Tag (separati da virgole)",
    "product.status": "Stato",
    "product.options": "Opzioni (separate da virgole, es. Taglia, Colore)",
    "product.variants": "Varianti",
    "product.variant.options": "Valori delle opzioni (separati da virgole)",
    "product.variant.sku": "SKU",
    "product.variant.price": "Prezzo",
    "product.variant.compare": "Prezzo pieno",
    "product.variant.stock": "Scorte",
    "product.variant.add": "Aggiungi variante",
    "product.images": "Immagini",
    "product.image.upload": "Carica immagine",
    "product.save": "Salva prodotto",
    "product.delete": "Elimina prodotto",
    "product.saved": "Salvato.",
    "status.active": "Attivo",
    "status.draft": "Bozza",
    "status.archived": "Archiviato",
    "shows.title": "Dirette",
    "shows.new": "Nuova diretta",
    "shows.new.title": "Titolo della nuova diretta",
    "shows.empty": "Nessuna diretta.",
    "show.status.draft": "Bozza",
    "show.status.scheduled": "Programmata",
    "show.status.live": "In diretta",
    "show.status.ended": "Terminata",
    "show.title": "Titolo",
    "show.slug": "Indirizzo (slug)",
    "show.description": "Descrizione",
    "show.starts_at": "Inizio",
    "show.time_zone": "Fuso orario",
    "show.hosts": "Conduttori",
    "show.lineup": "Prodotti in scaletta",
    "show.cover": "Immagine di copertina",
    "show.save": "Salva diretta",
    "show.schedule": "Programma",
    "show.unschedule": "Torna in bozza",
    "show.go_live": "Segna in diretta",
    "show.end": "Termina diretta",
    "show.delete": "Elimina diretta",
    "show.public_page": "Apri la pagina pubblica",
    "show.saved": "Salvata.",
    "show.invite_creator": "Invita un creator a condurre (email)",
    "show.invite": "Invita",
    "ros.title": "Scaletta",
    "ros.segment": "Segmento {n}",
    "ros.add": "Aggiungi segmento",
    "ros.remove": "Rimuovi",
    "ros.up": "Sposta su",
    "ros.segment.title": "Titolo del segmento",
    "ros.duration": "Minuti",
    "ros.notes": "Appunti per chi conduce",
    "ros.products": "Prodotti da fissare",
    "ros.deal": "Offerta lampo",
    "ros.deal.product": "Prodotto in offerta",
    "ros.deal.none": "Nessuna offerta",
    "ros.deal.percent": "% di sconto",
    "ros.deal.quantity": "Pezzi a prezzo d'offerta",
    "ros.deal.per_buyer": "Per acquirente",
    "ros.deal.seconds": "Durata (secondi)",
    "ros.poll.question": "Domanda del sondaggio (facoltativa)",
    "ros.poll.options": "Opzioni del sondaggio (una per riga)",
    "ros.answers": "Risposte pronte: una domanda, poi la sua risposta, a righe alterne",
    "team.title": "Squadra",
    "team.invite": "Invita un membro",
    "team.email": "Email",
    "team.role": "Ruolo",
    "team.send": "Crea invito",
    "team.link": "Invia questo link alla persona invitata:",
    "team.remove": "Rimuovi",
    "team.pending": "Inviti in attesa",
    "role.owner": "Titolare",
    "role.admin": "Amministratore",
    "role.host": "Conduttore",
    "role.moderator": "Moderatore",
    "tokens.title": "Token API",
    "tokens.name": "Nome del token",
    "tokens.create": "Crea token",
    "tokens.secret": "Copia ora questo segreto: non sarà più mostrato:",
    "tokens.revoke": "Revoca",
    "join.title": "Unisciti",
    "join.name": "Il tuo nome",
    "join.password": "Scegli una password (almeno 8 caratteri)",
    "join.accept": "Accetta l'invito",
    "error.generic": "Qualcosa è andato storto.",
    "confirm.delete": "Eliminare definitivamente?",
    "public.starts_in": "Inizia tra",
    "public.starting_soon": "Sta per iniziare",
    "public.live": "In diretta ora",
    "public.ended": "Questa diretta è terminata",
    "public.draft": "Non ancora annunciata",
    "public.calendar": "Aggiungi al calendario",
    "public.lineup": "In questa diretta",
    "public.hosts": "Con {names}",
    "public.only_left": "Ne restano solo {n}",
    "public.sold_out": "Esaurito",
    "public.from": "da {price}",
    "public.not_found": "Questa diretta non esiste o non è ancora pubblica.",
    "public.local_time": "{time} (ora locale)",
    "public.show_time": "{time} a {zone}",
    "units.d": "g", "units.h": "h", "units.m": "m", "units.s": "s",
    "studio.open": "Apri lo studio",
    "studio.title": "Studio",
    "studio.camera": "Videocamera",
    "studio.microphone": "Microfono",
    "studio.go_live": "Vai in diretta",
    "studio.stop": "Interrompi la trasmissione",
    "studio.end": "Termina la diretta",
    "studio.takeover": "Qualcun altro sta trasmettendo questa diretta. Vuoi sostituirlo?",
    "studio.connecting": "Connessione…",
    "studio.live": "Sei in diretta",
    "studio.offline": "Non stai trasmettendo",
    "studio.obs": "Trasmettere da OBS 30+: Impostazioni > Dirette > Servizio: WHIP",
    "studio.server": "Server",
    "studio.token": "Bearer Token (chiave di trasmissione)",
    "studio.copy": "Copia",
    "studio.rotate": "Cambia chiave di trasmissione",
    "studio.viewers": "{n} spettatori",
    "studio.no_camera": "Nessuna videocamera o microfono: consenti l'accesso nel browser, o trasmetti da OBS.",
    "public.unmute": "Attiva l'audio",
    "public.waiting": "In attesa di chi conduce…",
    "public.reconnecting": "Chi conduce si sta ricollegando…",
    "public.viewers": "{n} spettatori",
  },
};

function initialLang() {
  const query = new URLSearchParams(location.search).get("lang");
  const saved = localStorage.getItem("vetrina.lang");
  const browser = (navigator.language || "en").slice(0, 2);
  for (const candidate of [query, saved, browser]) {
    if (candidate && strings[candidate]) return candidate;
  }
  return "en";
}

export let lang = initialLang();
document.documentElement.lang = lang;

export function setLang(next) {
  if (!strings[next]) return;
  lang = next;
  localStorage.setItem("vetrina.lang", next);
  document.documentElement.lang = next;
}

export function otherLang() {
  return lang === "it" ? "en" : "it";
}

export function t(key, vars = {}) {
  const text = strings[lang][key] ?? strings.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(vars[name] ?? ""));
}

/** Money from minor units, in the page's language. */
export function money(minor, currency) {
  try {
    const digits = new Intl.NumberFormat("en", { style: "currency", currency }).resolvedOptions().maximumFractionDigits;
    return new Intl.NumberFormat(lang, { style: "currency", currency }).format(minor / 10 ** digits);
  } catch {
    return `${(minor / 100).toFixed(2)} ${currency}`;
  }
}

/** A date and time in the page's language, in `timeZone` (or the viewer's). */
export function dateTime(iso, timeZone) {
  const options = { dateStyle: "full", timeStyle: "short" };
  if (timeZone) options.timeZone = timeZone;
  return new Intl.DateTimeFormat(lang, options).format(new Date(iso));
}

/** Replaces `el`'s children; like h(), arrays are flattened, null and false skipped, strings are text. */
export function fill(el, ...children) {
  el.replaceChildren();
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/**
 * Builds an element. Strings become text nodes, never HTML, so nothing a user typed can run.
 * h("a", {href: "/x", onclick: fn}, "text", child)
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "value") el.value = value;
    else if (name === "checked" || name === "selected" || name === "disabled") el[name] = Boolean(value);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  return fill(el, ...children);
}
