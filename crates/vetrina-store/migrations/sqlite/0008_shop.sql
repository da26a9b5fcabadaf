-- Buying (docs/shop.md): units held in carts, carts, holds and the flash deals of shows.
-- A variant's `held` units are in carts; `stock` are on hand and not yet sold. Never more held
-- than on hand when stock is tracked: the database refuses it, whatever the code does.
ALTER TABLE variants ADD COLUMN held BIGINT NOT NULL DEFAULT 0 CHECK (held >= 0 AND (held <= stock OR track_stock = 0));

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
