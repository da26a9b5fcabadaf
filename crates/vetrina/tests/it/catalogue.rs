//! Products, variants, images, Shopify imports and the CSV export.

use reqwest::Method;
use serde_json::json;

use crate::harness::{product_json, story};

const REAL_EXPORT: &[u8] = include_bytes!("../../../../testdata/shopify/blessed-dressed-products_export.csv");
const SAMPLE_CSV: &[u8] = include_bytes!("../../../../testdata/shopify/sample_products.csv");
const SAMPLE_JSON: &[u8] = include_bytes!("../../../../testdata/shopify/products.json");
const WOOCOMMERCE: &[u8] = include_bytes!("../../../../testdata/woocommerce/wc-product-export.csv");

story!(products_with_variants, |app| {
    let org = app.org("cat").await;
    let r = org.owner.post(&org.path("/products"), product_json("Giacca di lino", 18900)).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["handle"], "giacca-di-lino");
    assert_eq!(r.body["currency"], "EUR");
    assert_eq!(r.body["variants"].as_array().unwrap().len(), 3);
    assert_eq!(r.body["variants"][1]["title"], "M");
    let id = r.body["id"].as_str().unwrap().to_string();
    let kept = r.body["variants"][0]["id"].as_str().unwrap().to_string();

    org.owner
        .post(&org.path("/products"), product_json("Giacca di lino", 100))
        .await
        .problem(409, "handle \"giacca-di-lino\" already exists");

    // Edit: keep S (by id) with new stock, drop M and L, add XL.
    let mut body = product_json("Giacca di lino", 19900);
    body["variants"] = json!([
        { "id": kept, "option_values": ["S"], "price_minor": 19900, "stock": 9 },
        { "option_values": ["XL"], "price_minor": 20900, "stock": 2 }
    ]);
    let r = org.owner.put(&org.path(&format!("/products/{id}")), body.clone()).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["variants"][0]["id"], kept.as_str());
    assert_eq!(r.body["variants"][0]["stock"], 9);
    assert_eq!(r.body["variants"][1]["option_values"], json!(["XL"]));
    assert_eq!(r.body["variants"].as_array().unwrap().len(), 2);

    body["variants"][0]["id"] = json!("var_notmine");
    org.owner.put(&org.path(&format!("/products/{id}")), body).await.problem(409, "not a variant of product");

    let list = org.owner.get(&org.path("/products?q=LINO")).await;
    assert_eq!(list.body["total"], 1, "{}", list.text);
    let list = org.owner.get(&org.path("/products?q=nothing-like-this")).await;
    assert_eq!(list.body["total"], 0);
    let list = org.owner.get(&org.path("/products?q=100%25_")).await;
    assert_eq!(list.body["total"], 0, "LIKE wildcards are escaped");

    assert_eq!(org.owner.delete(&org.path(&format!("/products/{id}"))).await.status, 204);
    org.owner.get(&org.path(&format!("/products/{id}"))).await.problem(404, "product");
});

story!(invalid_products_say_which_field, |app| {
    let org = app.org("invalid").await;
    let check = |body: serde_json::Value, field: &'static str| {
        let owner = org.owner.clone();
        let path = org.path("/products");
        async move {
            let r = owner.post(&path, body).await;
            r.problem(422, "");
            assert_eq!(r.body["field"], field, "{}", r.text);
        }
    };
    let mut b = product_json("X", 100);
    b["variants"][0]["price_minor"] = json!(-5);
    check(b, "variants/0/price_minor").await;
    let mut b = product_json("X", 100);
    b["variants"][1]["option_values"] = json!(["S"]);
    check(b, "variants/1/option_values").await;
    let mut b = product_json("X", 100);
    b["variants"][0]["stock"] = json!(-1);
    check(b, "variants/0/stock").await;
    let mut b = product_json("X", 100);
    b["variants"] = json!([]);
    check(b, "variants").await;
    let mut b = product_json("X", 100);
    b["images"] = json!([{"src": "javascript:alert(1)"}]);
    check(b, "images/0/src").await;
    let mut b = product_json("X", 100);
    b["variants"][0]["price_minor"] = json!(1e15 as i64);
    check(b, "variants/0/price_minor").await;
    let list = org.owner.get(&org.path("/products")).await;
    assert_eq!(list.body["total"], 0, "nothing was written");
});

story!(imports_the_real_shopify_export, |app| {
    let org = app.org("import").await;
    let r = org.owner.raw(Method::POST, &org.path("/products/import"), Some("text/csv"), REAL_EXPORT.to_vec()).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["created"], 7);
    assert!(r.body["warnings"][0].as_str().unwrap().contains("Variant Inventory Qty"));
    let list = org.owner.get(&org.path("/products?limit=200")).await;
    assert_eq!(list.body["total"], 7);
    let suit =
        list.body["items"].as_array().unwrap().iter().find(|p| p["handle"] == "double-breasted-navy-birds-eye-fabric-100-wool").unwrap();
    assert_eq!(suit["variants"].as_array().unwrap().len(), 7);
    assert_eq!(suit["images"].as_array().unwrap().len(), 5);
    assert_eq!(suit["variants"][0]["price_minor"], 60000);
    let positions: Vec<i64> = suit["images"].as_array().unwrap().iter().map(|i| i["position"].as_i64().unwrap()).collect();
    assert_eq!(positions, [1, 2, 3, 4, 5]);
    assert!(suit["images"][0]["src"].as_str().unwrap().contains("DAY9079_1.jpg"));

    // Importing again updates in place and keeps variant ids.
    let first_ids: Vec<String> = suit["variants"].as_array().unwrap().iter().map(|v| v["id"].as_str().unwrap().to_string()).collect();
    let again = org.owner.raw(Method::POST, &org.path("/products/import"), Some("text/csv"), REAL_EXPORT.to_vec()).await;
    assert_eq!(again.body["updated"], 7, "{}", again.text);
    assert_eq!(again.body["created"], 0);
    let p = org.owner.get(&org.path(&format!("/products/{}", suit["id"].as_str().unwrap()))).await;
    let ids: Vec<String> = p.body["variants"].as_array().unwrap().iter().map(|v| v["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(ids, first_ids);
    assert_eq!(p.body["images"].as_array().unwrap().len(), 5, "images are not duplicated");
});

story!(a_bad_row_imports_nothing, |app| {
    let org = app.org("allornothing").await;
    let mut csv = String::from_utf8(SAMPLE_CSV.to_vec()).unwrap();
    let ok = org.owner.raw(Method::POST, &org.path("/products/import"), Some("text/csv"), csv.clone().into_bytes()).await;
    assert_eq!(ok.status, 200, "the sample imports: {}", ok.text);
    let n_before = org.owner.get(&org.path("/products")).await.body["total"].as_i64().unwrap();

    // Columns of the sample: 0 Handle, 1 Title, 7 Option1 Name, 8 Option1 Value, 15 Variant Price.
    let row = |fields: &[(usize, &str)]| {
        let mut v = vec![""; 22];
        for (i, s) in fields {
            v[*i] = s;
        }
        v.join(",") + "\n"
    };
    csv.push_str(&row(&[(0, "brand-new"), (1, "Brand new"), (7, "Title"), (8, "Default Title"), (15, "10.00")]));
    csv.push_str(&row(&[(0, "broken"), (1, "Broken"), (7, "Title"), (8, "Default Title"), (15, "ten euros")]));
    let lines_before_bad = csv.lines().count() as u64;
    let r = org.owner.raw(Method::POST, &org.path("/products/import"), Some("text/csv"), csv.into_bytes()).await;
    r.problem(422, "nothing was imported");
    assert_eq!(r.body["errors"][0]["line"], lines_before_bad, "{}", r.text);
    assert!(r.body["errors"][0]["reason"].as_str().unwrap().contains("\"ten euros\" is not a price"));
    let n_after = org.owner.get(&org.path("/products")).await.body["total"].as_i64().unwrap();
    assert_eq!(n_after, n_before, "brand-new was not half-imported");

    org.owner.raw(Method::POST, &org.path("/products/import"), Some("text/csv"), b"\xff\xfe garbage".to_vec()).await.problem(422, "");
    org.owner.raw(Method::POST, &org.path("/products/import"), Some("image/png"), b"x".to_vec()).await.problem(415, "text/csv");
});

story!(imports_products_json_with_variant_ids, |app| {
    let org = app.org("json").await;
    let r = org.owner.raw(Method::POST, &org.path("/products/import"), Some("application/json"), SAMPLE_JSON.to_vec()).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let list = org.owner.get(&org.path("/products?q=borsa")).await;
    let bag = &list.body["items"][0];
    assert_eq!(bag["variants"][0]["shopify_variant_id"], "40001", "{}", list.text);
    let bad = org
        .owner
        .raw(
            Method::POST,
            &org.path("/products/import"),
            Some("application/json"),
            br#"{"products":[{"title":"X","variants":[{"price":"1,5"}]}]}"#.to_vec(),
        )
        .await;
    bad.problem(422, "products/0/variants/0/price");
});

story!(imports_a_woocommerce_export, |app| {
    let org = app.org("woo").await;
    let r = org.owner.raw(Method::POST, &org.path("/products/import"), Some("text/csv"), WOOCOMMERCE.to_vec()).await;
    assert_eq!(r.status, 200, "the layout is read from the header: {}", r.text);
    assert_eq!(r.body["created"], 2);
    let list = org.owner.get(&org.path("/products?q=felpa")).await;
    let hoodie = &list.body["items"][0];
    assert_eq!(hoodie["options"], json!(["Colore", "Taglia"]));
    assert_eq!(hoodie["variants"][0]["woocommerce_id"], "44", "{}", list.text);
    assert_eq!(hoodie["variants"][0]["compare_at_minor"], 5500);
    let forced =
        org.owner.raw(Method::POST, &org.path("/products/import?format=woocommerce-csv"), Some("text/csv"), REAL_EXPORT.to_vec()).await;
    forced.problem(422, "is this a WooCommerce product export?");
});

story!(export_round_trips, |app| {
    let org = app.org("export").await;
    org.owner.raw(Method::POST, &org.path("/products/import"), Some("text/csv"), REAL_EXPORT.to_vec()).await;
    // A title a spreadsheet would run as a formula (OWASP CSV injection).
    let formula = "=HYPERLINK(\"http://evil.example\",\"Sconto\")";
    let r = org.owner.post(&org.path("/products"), product_json(formula, 1000)).await;
    assert_eq!(r.status, 201, "{}", r.text);
    // The 201 names the new product (RFC 9110 section 15.3.2), and that address is the product.
    let location = r.header("location").to_string();
    assert_eq!(location, org.path(&format!("/products/{}", r.body["id"].as_str().unwrap())));
    assert_eq!(org.owner.get(&location).await.body["title"], formula);
    // Someone's own answers are kept by no cache; a 401 says how to authenticate.
    let anonymous = app.anonymous().get(&location).await;
    anonymous.problem(401, "sign in");
    assert_eq!(anonymous.header("www-authenticate"), "Bearer realm=\"vetrina\"");
    let before = org.owner.get(&org.path("/products?limit=200")).await;
    let csv = org.owner.get(&org.path("/products/export.csv")).await;
    let mut cells = csv::ReaderBuilder::new().has_headers(false).from_reader(csv.text.as_bytes());
    let cells: Vec<String> = cells.records().flat_map(|r| r.unwrap().iter().map(str::to_string).collect::<Vec<_>>()).collect();
    assert!(cells.iter().any(|c| c == &format!("'{formula}")), "the formula is quoted for spreadsheets");
    assert!(!cells.iter().any(|c| c.starts_with(['=', '+', '@'])), "no cell starts a formula");
    assert_eq!(csv.status, 200);
    assert!(csv.header("content-type").starts_with("text/csv"));
    assert_eq!(csv.header("cache-control"), "no-store", "an export is the merchant's own");
    assert!(csv.text.starts_with("Handle,Title,Body (HTML)"));
    let header_ends = csv.text.find('\n').unwrap();
    assert!(csv.text[..header_ends].ends_with('\r') && csv.text.ends_with("\r\n"), "RFC 4180: records end with CRLF");

    let copy = app.org("copy").await;
    let r = copy.owner.raw(Method::POST, &copy.path("/products/import"), Some("text/csv"), csv.text.into_bytes()).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let after = copy.owner.get(&copy.path("/products?limit=200")).await;
    let strip = |v: &serde_json::Value| {
        let mut products = v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                let variants: Vec<_> = p["variants"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| {
                        (
                            v["option_values"].clone(),
                            v["price_minor"].clone(),
                            v["compare_at_minor"].clone(),
                            v["stock"].clone(),
                            v["sku"].clone(),
                        )
                    })
                    .collect();
                let images: Vec<_> = p["images"].as_array().unwrap().iter().map(|i| i["src"].clone()).collect();
                (
                    p["handle"].clone(),
                    p["title"].clone(),
                    p["description_html"].clone(),
                    p["options"].clone(),
                    p["tags"].clone(),
                    variants,
                    images,
                )
            })
            .collect::<Vec<_>>();
        products.sort_by_key(|p| p.0.to_string());
        products
    };
    assert_eq!(strip(&after.body), strip(&before.body));
});

story!(uploaded_images, |app| {
    let org = app.org("images").await;
    let p = org.owner.post(&org.path("/products"), product_json("Borsa", 24900)).await;
    let id = p.body["id"].as_str().unwrap();
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR fake but sniffable".to_vec();
    let r = org.owner.raw(Method::POST, &org.path(&format!("/products/{id}/images?alt=Front")), Some("image/png"), png.clone()).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let src = r.body["src"].as_str().unwrap().to_string();
    assert!(src.starts_with("/media/images/"));
    let served = app.anonymous().get(&src).await;
    assert_eq!(served.status, 200);
    assert_eq!(served.header("content-type"), "image/png");
    org.owner
        .raw(Method::POST, &org.path(&format!("/products/{id}/images")), Some("image/png"), b"<svg onload=alert(1)>".to_vec())
        .await
        .problem(415, "not a JPEG");
    let image_id = r.body["id"].as_str().unwrap();
    assert_eq!(org.owner.delete(&org.path(&format!("/products/{id}/images/{image_id}"))).await.status, 204);
    assert_eq!(app.anonymous().get(&src).await.status, 404);
});

/// SQLite has one writer at a time, and a transaction that reads before it writes must not fail
/// when another connection writes in between (the flash-sale ledger has a connection of its own;
/// webhook deliveries and the sweeper write through the pool): an edit made while another
/// connection holds the write lock waits for it, then succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_waits_for_another_writer_on_sqlite() {
    use sqlx::Connection;
    let app = crate::harness::TestApp::spawn(crate::harness::Db::Sqlite).await;
    let org = app.org("writers").await;
    let r = org.owner.post(&org.path("/products"), product_json("Borsa a mano", 9_900)).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.body["id"].as_str().unwrap().to_string();

    let file = app.data_dir().join("vetrina.db");
    let mut other = sqlx::SqliteConnection::connect(&format!("sqlite://{}", file.display())).await.unwrap();
    sqlx::query("BEGIN IMMEDIATE").execute(&mut other).await.unwrap();
    sqlx::query("UPDATE products SET updated_at = updated_at + 1 WHERE id = $1").bind(&id).execute(&mut other).await.unwrap();
    let path = org.path(&format!("/products/{id}"));
    let edit = org.owner.put(&path, product_json("Borsa a tracolla", 9_900));
    let (edited, ()) = tokio::join!(edit, async {
        // The edit is under way (reading, or waiting to write) when the other writer commits.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        sqlx::query("COMMIT").execute(&mut other).await.unwrap();
    });
    assert_eq!(edited.status, 200, "{}", edited.text);
    assert_eq!(edited.body["title"], "Borsa a tracolla");
    app.stop().await;
}

story!(imports_take_the_content_type_as_browsers_and_old_spreadsheets_send_it, |app| {
    let org = app.org("charsets").await;
    // Latin-1 bytes from an old spreadsheet, the type in capitals (types are case-insensitive).
    let csv = b"Handle,Title,Variant Price\r\ncaffe,Caff\xe8 \x80 speciale,5.00\r\n".to_vec();
    let r = org.owner.raw(Method::POST, &org.path("/products/import"), Some("Text/CSV; charset=windows-1252"), csv.clone()).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let products = org.owner.get(&org.path("/products")).await;
    assert_eq!(products.body["items"][0]["title"], "Caffè € speciale");
    // Windows browsers send a .csv file as Excel's type.
    let utf8 = "Handle,Title,Variant Price\r\ntè,Tè verde,3.00\r\n".as_bytes().to_vec();
    let r = org.owner.raw(Method::POST, &org.path("/products/import"), Some("application/vnd.ms-excel"), utf8).await;
    assert_eq!(r.status, 200, "{}", r.text);
    org.owner.raw(Method::POST, &org.path("/products/import"), Some("text/csv; charset=shift_jis"), csv).await.problem(415, "shift_jis");
    // An export edited in a spreadsheet in Italian and saved again as CSV: `;` between fields,
    // decimal commas, Windows-1252.
    let excel = b"Handle;Title;Variant Price\r\nmoka;Moka \x93Caff\xe8\x94 6 tazze;1.049,90\r\n".to_vec();
    let r = org.owner.raw(Method::POST, &org.path("/products/import"), Some("text/csv;charset=windows-1252"), excel).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let moka = org.owner.get(&org.path("/products?q=Moka")).await;
    let moka = moka.body["items"].as_array().unwrap().iter().find(|p| p["handle"] == "moka").cloned().unwrap();
    assert_eq!((moka["title"].as_str(), moka["variants"][0]["price_minor"].as_i64()), (Some("Moka “Caffè” 6 tazze"), Some(104_990)));
    org.owner
        .raw(Method::POST, &org.path("/products/import"), Some("text/csv"), b"\xEF\xBB\xBF\r\n".to_vec())
        .await
        .problem(422, "the file is empty");
    // Past the cap of problems collected, the count says there may be more.
    let mut bad = b"Handle,Title,Variant Price\r\n".to_vec();
    for i in 0..80 {
        bad.extend(format!("p{i},Prodotto {i},gratis\r\n").as_bytes());
    }
    let many = org.owner.raw(Method::POST, &org.path("/products/import"), Some("text/csv"), bad).await;
    many.problem(422, "at least 50 problems");
});
