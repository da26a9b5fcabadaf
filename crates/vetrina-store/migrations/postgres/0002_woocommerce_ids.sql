-- WooCommerce's product or variation id of a variant, for add-to-cart links into the shop.
ALTER TABLE variants ADD COLUMN woocommerce_id TEXT;
