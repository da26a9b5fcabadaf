//! Untrusted products.json uploads: never panic; accepted products are valid.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vetrina_domain::import::shopify_json;
use vetrina_domain::money::Currency;

fuzz_target!(|data: &[u8]| {
    let jpy = Currency::parse("JPY").unwrap();
    if let Ok(parsed) = shopify_json(data, &jpy) {
        for product in parsed.products {
            product.validate(&jpy).expect("imported products are valid");
        }
    }
});
