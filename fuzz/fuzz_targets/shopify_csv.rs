//! Untrusted CSV uploads: the importer must never panic, and what it accepts must pass the
//! catalogue's own validation.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vetrina_domain::import::shopify_csv;
use vetrina_domain::money::Currency;

fuzz_target!(|data: &[u8]| {
    let eur = Currency::parse("EUR").unwrap();
    if let Ok(parsed) = shopify_csv(data, &eur) {
        for product in parsed.products {
            product.validate(&eur).expect("imported products are valid");
        }
    }
});
