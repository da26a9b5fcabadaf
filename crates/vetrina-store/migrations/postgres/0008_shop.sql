-- Buying (docs/shop.md): units held in carts, carts, holds and the flash deals of shows.
-- A variant's `held` units are in carts; `stock` are on hand and not yet sold. Never more held
-- than on hand when stock is tracked: the database refuses it, whatever the code does.
ALTER TABLE variants ADD COLUMN held BIGINT NOT NULL DEFAULT 0;
ALTER TABLE variants ADD CONSTRAINT variants_held_within_stock CHECK (held >= 0 AND (held <= stock OR track_stock = 0));

CREATE TABLE carts (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    buyer TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (org_id, buyer)
);

CREATE TABLE deals (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    show_id TEXT NOT NULL REFERENCES shows(id) ON DELETE CASCADE,
    segment BIGINT NOT NULL,
    product_id TEXT NOT NULL,
    variant_id TEXT,
    price_minor BIGINT,
    percent_off BIGINT,
    quantity BIGINT,
    per_buyer_limit BIGINT,
    starts_at BIGINT NOT NULL,
    ends_at BIGINT NOT NULL,
    held BIGINT NOT NULL DEFAULT 0 CHECK (held >= 0),
    sold BIGINT NOT NULL DEFAULT 0 CHECK (sold >= 0),
    CHECK (quantity IS NULL OR held + sold <= quantity),
    UNIQUE (show_id, segment)
);
CREATE INDEX deals_product ON deals(product_id, ends_at);

CREATE TABLE holds (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL,
    cart_id TEXT NOT NULL REFERENCES carts(id) ON DELETE CASCADE,
    variant_id TEXT NOT NULL REFERENCES variants(id) ON DELETE CASCADE,
    product_id TEXT NOT NULL,
    deal_id TEXT REFERENCES deals(id) ON DELETE SET NULL,
    buyer TEXT NOT NULL,
    quantity BIGINT NOT NULL CHECK (quantity > 0),
    show_id TEXT,
    source TEXT NOT NULL,
    media_ms BIGINT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX holds_expiry ON holds(expires_at);
CREATE INDEX holds_cart ON holds(cart_id, variant_id);
CREATE INDEX holds_deal_buyer ON holds(deal_id, buyer);

-- Orders (docs/shop.md): what checkout made of a cart, priced on the server, with where it came
-- from (the show, live or replay, the moment of video). Lines keep what was bought as it was.
ALTER TABLE orgs ADD COLUMN shop_settings TEXT NOT NULL DEFAULT '{}';
ALTER TABLE orgs ADD COLUMN next_order_number BIGINT NOT NULL DEFAULT 1001;

CREATE TABLE orders (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    number BIGINT NOT NULL,
    buyer TEXT NOT NULL,
    email TEXT NOT NULL,
    name TEXT NOT NULL,
    phone TEXT NOT NULL,
    address TEXT NOT NULL,
    currency TEXT NOT NULL,
    subtotal_minor BIGINT NOT NULL,
    shipping_minor BIGINT NOT NULL,
    tax_minor BIGINT NOT NULL,
    total_minor BIGINT NOT NULL,
    status TEXT NOT NULL,
    payment TEXT NOT NULL,
    handoff_urls TEXT NOT NULL,
    show_id TEXT,
    source TEXT NOT NULL,
    media_ms BIGINT,
    refund_note TEXT NOT NULL DEFAULT '',
    idempotency_key TEXT,
    request_hash TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (org_id, number),
    UNIQUE (org_id, buyer, idempotency_key)
);
CREATE INDEX orders_by_time ON orders(org_id, created_at);
CREATE INDEX orders_by_buyer ON orders(buyer);

CREATE TABLE order_lines (
    order_id TEXT NOT NULL REFERENCES orders(id) ON DELETE CASCADE,
    position BIGINT NOT NULL,
    variant_id TEXT NOT NULL,
    product_id TEXT NOT NULL,
    deal_id TEXT,
    title TEXT NOT NULL,
    options TEXT NOT NULL,
    sku TEXT NOT NULL,
    quantity BIGINT NOT NULL CHECK (quantity > 0),
    unit_price_minor BIGINT NOT NULL,
    show_id TEXT,
    source TEXT NOT NULL,
    media_ms BIGINT,
    PRIMARY KEY (order_id, position)
);
CREATE INDEX order_lines_deal ON order_lines(deal_id);

-- Webhooks (docs/webhooks.md): endpoints a merchant registers, and the outbox of deliveries,
-- written in the same transaction as what they announce, sent and retried by every node.
CREATE TABLE webhooks (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    url TEXT NOT NULL,
    secret TEXT NOT NULL,
    events TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE webhook_deliveries (
    id TEXT PRIMARY KEY,
    webhook_id TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    org_id TEXT NOT NULL,
    event TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    last_status BIGINT,
    last_error TEXT NOT NULL DEFAULT '',
    next_attempt_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    delivered_at BIGINT
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(status, next_attempt_at);
CREATE INDEX webhook_deliveries_by_hook ON webhook_deliveries(webhook_id, created_at);

-- What a creator or host earns on the sales of the shows they present, in basis points.
CREATE TABLE commission_rates (
    org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    rate_bp BIGINT NOT NULL CHECK (rate_bp >= 0 AND rate_bp <= 10000),
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX orders_by_show ON orders(show_id, status);
