-- Holds outside deals (most of them) need no entry in the deal's per-buyer index: a partial
-- index writes one less random key per add-to-cart.
DROP INDEX holds_deal_buyer;
CREATE INDEX holds_deal_buyer ON holds(deal_id, buyer) WHERE deal_id IS NOT NULL;
