//! `vetrina demo`: an Italian boutique with a catalogue, a team and a show ten minutes ahead.
//! Seeding runs once per database; a restart finds the seed and only moves a show whose start
//! has passed back to ten minutes ahead, so the countdown is always there to see.

use std::collections::HashSet;
use std::sync::Arc;

use anyhow::Context;
use vetrina_domain::account::Role;
use vetrina_domain::catalogue::{ProductInput, ProductStatus, VariantInput};
use vetrina_domain::ids::ProductId;
use vetrina_domain::money::Currency;
use vetrina_domain::show::{Deal, Poll, PreparedAnswer, RunOfShow, Segment, ShowContext, ShowPatch, ShowPlan, ShowStatus, rfc3339};
use vetrina_store::blobs::Blobs;
use vetrina_store::{Store, now_ms};
use vetrina_web::PasswordCost;

pub const OWNER_EMAIL: &str = "owner@bottega-aurora.example";
pub const HOST_EMAIL: &str = "host@bottega-aurora.example";
pub const PASSWORD: &str = "vetrina-demo";
pub const SHOW_SLUG: &str = "primavera-dal-vivo";
const SEED: &str = "demo";

/// What the demo prints.
pub struct Demo {
    pub show_slug: String,
}

struct DemoProduct {
    handle: &'static str,
    title: &'static str,
    description: &'static str,
    product_type: &'static str,
    price: i64,
    compare_at: Option<i64>,
    options: &'static [(&'static str, &'static [&'static str])],
    colours: ([u8; 3], [u8; 3]),
}

const PRODUCTS: &[DemoProduct] = &[
    DemoProduct {
        handle: "giacca-lino",
        title: "Giacca in lino",
        description: "<p>Lino toscano, taglio morbido, bottoni in corozo.</p>",
        product_type: "Giacche",
        price: 18900,
        compare_at: Some(23900),
        options: &[("Taglia", &["S", "M", "L"]), ("Colore", &["Sabbia", "Blu notte"])],
        colours: ([214, 196, 160], [120, 100, 70]),
    },
    DemoProduct {
        handle: "camicia-seta",
        title: "Camicia di seta",
        description: "<p>Seta di Como, collo alla coreana.</p>",
        product_type: "Camicie",
        price: 12900,
        compare_at: None,
        options: &[("Taglia", &["S", "M", "L"])],
        colours: ([240, 232, 220], [190, 170, 150]),
    },
    DemoProduct {
        handle: "foulard-stampato",
        title: "Foulard in seta stampato",
        description: "<p>Stampa a mano, 90 x 90 cm.</p>",
        product_type: "Accessori",
        price: 5900,
        compare_at: None,
        options: &[],
        colours: ([200, 60, 70], [60, 40, 120]),
    },
    DemoProduct {
        handle: "borsa-pelle",
        title: "Borsa in pelle",
        description: "<p>Pelle conciata al vegetale a Santa Croce sull'Arno.</p>",
        product_type: "Borse",
        price: 24900,
        compare_at: Some(29900),
        options: &[("Colore", &["Cuoio", "Nero"])],
        colours: ([170, 100, 50], [70, 40, 20]),
    },
    DemoProduct {
        handle: "cintura-pelle",
        title: "Cintura in pelle",
        description: "<p>Fibbia in ottone, pelle pieno fiore.</p>",
        product_type: "Accessori",
        price: 6900,
        compare_at: None,
        options: &[("Taglia", &["85", "90", "95", "100"])],
        colours: ([120, 70, 40], [40, 25, 15]),
    },
    DemoProduct {
        handle: "mocassini-camoscio",
        title: "Mocassini in camoscio",
        description: "<p>Cuciti a mano nelle Marche.</p>",
        product_type: "Scarpe",
        price: 21900,
        compare_at: None,
        options: &[("Taglia", &["39", "40", "41", "42", "43", "44"])],
        colours: ([160, 120, 90], [90, 60, 40]),
    },
    DemoProduct {
        handle: "cardigan-cashmere",
        title: "Cardigan in cashmere",
        description: "<p>Cashmere 100%, filato in Umbria.</p>",
        product_type: "Maglieria",
        price: 28900,
        compare_at: None,
        options: &[("Taglia", &["S", "M", "L"]), ("Colore", &["Grigio", "Cammello"])],
        colours: ([180, 180, 185], [110, 110, 120]),
    },
    DemoProduct {
        handle: "abito-cotone",
        title: "Abito in cotone",
        description: "<p>Popeline di cotone, lunghezza midi.</p>",
        product_type: "Abiti",
        price: 15900,
        compare_at: None,
        options: &[("Taglia", &["XS", "S", "M", "L"])],
        colours: ([120, 160, 200], [40, 70, 120]),
    },
    DemoProduct {
        handle: "occhiali-sole",
        title: "Occhiali da sole",
        description: "<p>Acetato, lenti polarizzate.</p>",
        product_type: "Accessori",
        price: 13900,
        compare_at: None,
        options: &[],
        colours: ([60, 60, 60], [10, 10, 10]),
    },
    DemoProduct {
        handle: "cappello-paglia",
        title: "Cappello di paglia",
        description: "<p>Paglia di Firenze intrecciata a mano.</p>",
        product_type: "Cappelli",
        price: 7900,
        compare_at: None,
        options: &[("Taglia", &["M", "L"])],
        colours: ([230, 210, 150], [180, 150, 90]),
    },
    DemoProduct {
        handle: "sciarpa-merino",
        title: "Sciarpa in lana merino",
        description: "<p>Morbida, leggera, calda.</p>",
        product_type: "Accessori",
        price: 8900,
        compare_at: None,
        options: &[("Colore", &["Bordeaux", "Verde bosco", "Antracite"])],
        colours: ([130, 30, 50], [50, 70, 50]),
    },
    DemoProduct {
        handle: "orecchini-argento",
        title: "Orecchini in argento",
        description: "<p>Argento 925, lavorazione a cera persa.</p>",
        product_type: "Gioielli",
        price: 9900,
        compare_at: None,
        options: &[],
        colours: ([220, 220, 230], [150, 150, 170]),
    },
];

fn variants(p: &DemoProduct, seed: usize) -> Vec<VariantInput> {
    let mut combos: Vec<Vec<String>> = vec![Vec::new()];
    for (_, values) in p.options {
        combos = combos.into_iter().flat_map(|c| values.iter().map(move |v| [c.clone(), vec![v.to_string()]].concat())).collect();
    }
    combos
        .into_iter()
        .enumerate()
        .map(|(i, option_values)| VariantInput {
            sku: format!("BA-{}-{:02}", p.handle.to_uppercase().replace('-', "").get(..6).unwrap_or("X"), i + 1),
            option_values,
            price_minor: p.price,
            compare_at_minor: p.compare_at,
            // A spread of stock levels, some low, so "only 3 left" shows up in the demo.
            stock: [3, 12, 25, 7, 40, 1][(seed + i) % 6],
            track_stock: true,
            ..Default::default()
        })
        .collect()
}

/// Seeds the demo once, or finds it; keeps the show ahead of now.
pub async fn seed(store: &Store, blobs: Arc<dyn Blobs>) -> anyhow::Result<Demo> {
    if let Some(org) = store.seeded_org(SEED).await? {
        let show = store.show_by_slug(SHOW_SLUG).await.context("the demo show is gone")?;
        if show.org_id == org && show.status == ShowStatus::Scheduled && show.starts_at.is_some_and(|t| t < now_ms()) {
            let mut plan = ShowPlan::of(&show);
            plan.starts_at = Some(ten_minutes_ahead());
            store.update_show(&org, &show.id, show.status, &plan).await?;
        }
        return Ok(Demo { show_slug: SHOW_SLUG.into() });
    }
    let hash = vetrina_web::auth::hash_password(PASSWORD, PasswordCost::default())?;
    let mut users = Vec::new();
    for (email, name) in [(OWNER_EMAIL, "Aurora Bellini"), (HOST_EMAIL, "Marco Rinaldi")] {
        let user = match store.user_by_email(email).await? {
            Some((user, _)) => user,
            None => store.create_user(email, name, &hash).await?,
        };
        users.push(user);
    }
    let eur = Currency::parse("EUR")?;
    let org = store.create_org("Bottega Aurora", &eur, "Europe/Rome", &users[0].id).await?;
    store.add_member(&org.id, &users[1].id, Role::Host).await?;

    let mut ids: Vec<ProductId> = Vec::new();
    for (i, p) in PRODUCTS.iter().enumerate() {
        let input = ProductInput {
            handle: Some(p.handle.into()),
            title: p.title.into(),
            description_html: p.description.into(),
            vendor: "Bottega Aurora".into(),
            product_type: p.product_type.into(),
            tags: vec!["primavera".into(), "made in Italy".into()],
            status: ProductStatus::Active,
            options: p.options.iter().map(|(name, _)| name.to_string()).collect(),
            variants: variants(p, i),
            images: Vec::new(),
        };
        let product = store.create_product(&org.id, input.validate(&eur)?).await?;
        let key = format!("images/{}/{}.png", org.id, p.handle);
        let png = crate::png::gradient(160, 200, p.colours.0, p.colours.1);
        let put_blobs = blobs.clone();
        let put_key = key.clone();
        tokio::task::spawn_blocking(move || put_blobs.put(&put_key, &png)).await??;
        store.add_image(&org.id, &product.id, &format!("/media/{key}"), &key, p.title).await?;
        ids.push(product.id);
    }

    let segment = |title: &str, minutes: u32, products: &[usize]| Segment {
        title: title.into(),
        duration_minutes: Some(minutes),
        product_ids: products.iter().map(|&i| ids[i].clone()).collect(),
        ..Default::default()
    };
    let answer = |q: &str, a: &str| PreparedAnswer { question: q.into(), answer: a.into() };
    let run_of_show = RunOfShow {
        segments: vec![
            Segment {
                notes: "Saluta, presenta la bottega e il programma.".into(),
                prepared_answers: vec![answer("Spedite all'estero?", "Sì, in tutta l'Unione Europea in 3-5 giorni lavorativi.")],
                ..segment("Benvenuti da Firenze", 5, &[0])
            },
            Segment {
                deal: Some(Deal {
                    product_id: ids[0].clone(),
                    percent_off: Some(20),
                    quantity: Some(30),
                    per_buyer_limit: Some(2),
                    duration_seconds: 300,
                    ..Default::default()
                }),
                poll: Some(Poll { question: "Quale colore preferite?".into(), options: vec!["Sabbia".into(), "Blu notte".into()] }),
                prepared_answers: vec![answer("Il lino si stropiccia?", "Un poco: è il suo carattere. Si stira a vapore in un minuto.")],
                ..segment("La giacca di lino", 10, &[0, 1])
            },
            Segment {
                prepared_answers: vec![answer("Che pelle usate?", "Pelle conciata al vegetale, dal distretto di Santa Croce sull'Arno.")],
                ..segment("Accessori in pelle", 10, &[3, 4])
            },
            segment("Saluti e codice sconto", 5, &[2, 6]),
        ],
    };
    let products: HashSet<ProductId> = ids.iter().cloned().collect();
    let hosts = store.eligible_hosts(&org.id, None).await?;
    let cx = ShowContext { now: now_ms(), products: &products, hosts: &hosts, default_time_zone: &org.time_zone };
    let plan = ShowPatch {
        title: Some("Primavera dal vivo: la nuova collezione da Firenze".into()),
        slug: Some(SHOW_SLUG.into()),
        description: Some(
            "Aurora e Marco presentano in diretta la collezione primavera: lino, seta e pelle, tutto fatto in Italia. Domande benvenute!"
                .into(),
        ),
        starts_at: Some(Some(rfc3339(ten_minutes_ahead()))),
        host_ids: Some(users.iter().map(|u| u.id.clone()).collect()),
        lineup: Some(vec![
            ids[0].clone(),
            ids[1].clone(),
            ids[3].clone(),
            ids[4].clone(),
            ids[2].clone(),
            ids[6].clone(),
            ids[7].clone(),
            ids[10].clone(),
        ]),
        run_of_show: Some(run_of_show),
        status: Some(ShowStatus::Scheduled),
        ..Default::default()
    }
    .apply(None, &cx)?;
    store.create_show(&org.id, &plan).await?;
    store.record_seed(SEED, &org.id).await?;
    tracing::info!(org_id = %org.id, "seeded the demo");
    Ok(Demo { show_slug: SHOW_SLUG.into() })
}

fn ten_minutes_ahead() -> i64 {
    // Whole minutes read better on the countdown and in calendars.
    (now_ms() / 60_000 + 10) * 60_000
}
