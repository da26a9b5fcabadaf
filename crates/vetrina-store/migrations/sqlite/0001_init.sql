-- Vetrina schema, SQLite flavour. Times are Unix milliseconds (BIGINT); ids are prefixed random
-- text; lists (tags, options, run of show) are JSON text. Keep in step with ../postgres/.

CREATE TABLE orgs (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    currency TEXT NOT NULL,
    time_zone TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE members (
    org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX members_user ON members(user_id);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions(user_id);

CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT
);

CREATE TABLE guests (
    id TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE products (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    handle TEXT NOT NULL,
    title TEXT NOT NULL,
    description_html TEXT NOT NULL,
    vendor TEXT NOT NULL,
    product_type TEXT NOT NULL,
    tags TEXT NOT NULL,
    status TEXT NOT NULL,
    currency TEXT NOT NULL,
    options TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (org_id, handle)
);
CREATE INDEX products_org_title ON products(org_id, title);

CREATE TABLE variants (
    id TEXT PRIMARY KEY,
    product_id TEXT NOT NULL REFERENCES products(id) ON DELETE CASCADE,
    org_id TEXT NOT NULL,
    position BIGINT NOT NULL,
    sku TEXT NOT NULL,
    option_values TEXT NOT NULL,
    price_minor BIGINT NOT NULL CHECK (price_minor >= 0),
    compare_at_minor BIGINT,
    stock BIGINT NOT NULL CHECK (stock >= 0),
    track_stock BIGINT NOT NULL,
    barcode TEXT NOT NULL,
    grams BIGINT,
    shopify_variant_id TEXT,
    image_src TEXT
);
CREATE INDEX variants_product ON variants(product_id, position);

CREATE TABLE images (
    id TEXT PRIMARY KEY,
    product_id TEXT NOT NULL REFERENCES products(id) ON DELETE CASCADE,
    org_id TEXT NOT NULL,
    position BIGINT NOT NULL,
    src TEXT NOT NULL,
    alt TEXT NOT NULL,
    blob_key TEXT
);
CREATE INDEX images_product ON images(product_id, position);

CREATE TABLE shows (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    slug TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    status TEXT NOT NULL,
    starts_at BIGINT,
    time_zone TEXT NOT NULL,
    cover_src TEXT,
    run_of_show TEXT NOT NULL,
    live_at BIGINT,
    ended_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX shows_org ON shows(org_id, starts_at);

CREATE TABLE show_products (
    show_id TEXT NOT NULL REFERENCES shows(id) ON DELETE CASCADE,
    product_id TEXT NOT NULL REFERENCES products(id),
    position BIGINT NOT NULL,
    PRIMARY KEY (show_id, product_id)
);
CREATE INDEX show_products_product ON show_products(product_id);

CREATE TABLE show_hosts (
    show_id TEXT NOT NULL REFERENCES shows(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    position BIGINT NOT NULL,
    PRIMARY KEY (show_id, user_id)
);

-- Creators: people from outside the organisation invited to host one show.
CREATE TABLE show_creators (
    show_id TEXT NOT NULL REFERENCES shows(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (show_id, user_id)
);
CREATE INDEX show_creators_user ON show_creators(user_id);

CREATE TABLE invitations (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    email TEXT NOT NULL,
    -- A member role, or NULL for a creator invited to one show.
    role TEXT,
    show_id TEXT REFERENCES shows(id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    accepted_at BIGINT
);
CREATE INDEX invitations_org ON invitations(org_id);

-- Products and shows made by `vetrina demo`, so a restart finds them instead of duplicating them.
CREATE TABLE demo_seed (
    name TEXT PRIMARY KEY,
    org_id TEXT NOT NULL
);
