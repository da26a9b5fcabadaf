-- Discount codes per shop, and what an order took off with one.
CREATE TABLE discount_codes (
    org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    code TEXT NOT NULL,
    percent_off BIGINT,
    amount_off_minor BIGINT,
    min_subtotal_minor BIGINT,
    max_uses BIGINT,
    uses BIGINT NOT NULL DEFAULT 0,
    expires_at BIGINT,
    active BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (org_id, code),
    CHECK (max_uses IS NULL OR uses <= max_uses)
);
ALTER TABLE orders ADD COLUMN discount_code TEXT;
ALTER TABLE orders ADD COLUMN discount_minor BIGINT NOT NULL DEFAULT 0;
