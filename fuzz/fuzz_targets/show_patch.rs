//! Untrusted show edits (JSON bodies): parsing and applying a patch never panics.
#![no_main]

use std::collections::HashSet;

use libfuzzer_sys::fuzz_target;
use vetrina_domain::ids::{ProductId, UserId};
use vetrina_domain::show::{ShowContext, ShowPatch};

fuzz_target!(|data: &[u8]| {
    let Ok(patch) = serde_json::from_slice::<ShowPatch>(data) else { return };
    let products: HashSet<ProductId> = [ProductId("prd_a".into())].into();
    let hosts: HashSet<UserId> = [UserId("usr_a".into())].into();
    let cx = ShowContext { now: 1_795_000_000_000, products: &products, hosts: &hosts, default_time_zone: "Europe/Rome" };
    let _ = patch.apply(None, &cx);
});
