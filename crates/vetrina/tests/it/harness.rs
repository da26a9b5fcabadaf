//! The test harness: a server per test, HTTP agents with their own cookies, and fixtures.

use std::path::PathBuf;

use reqwest::Method;
use serde_json::{Value, json};
use sqlx::Executor;
use vetrina::{Config, Running};
use vetrina_domain::account::Role;
use vetrina_web::PasswordCost;

/// Cheap hashing: tests sign in hundreds of times. Production uses Argon2id's defaults.
pub const TEST_COST: PasswordCost = PasswordCost { memory_kib: 64, iterations: 1 };
pub const PASSWORD: &str = "correct horse battery";

/// Runs a story on both databases: `story!(name, |app| async move { ... })`.
macro_rules! story {
    ($name:ident, |$app:ident| $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn run($app: &crate::harness::TestApp) {
                $body
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let app = crate::harness::TestApp::spawn(crate::harness::Db::Sqlite).await;
                run(&app).await;
                app.stop().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let app = crate::harness::TestApp::spawn(crate::harness::Db::Postgres).await;
                run(&app).await;
                app.stop().await;
            }
        }
    };
}
pub(crate) use story;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

fn postgres_url() -> String {
    std::env::var("VETRINA_TEST_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

pub fn temp_dir(kind: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vetrina-test-{kind}-{}", vetrina_store::random_token(8)));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

pub struct TestApp {
    pub base: String,
    pub running: Option<Running>,
    dir: PathBuf,
    schema: Option<String>,
    /// Where its data is (empty: SQLite in its data directory).
    pub database_url: String,
}

/// Largest body the test server takes; small so oversize checks are cheap.
pub const TEST_MAX_BODY: usize = 256 * 1024;

impl TestApp {
    pub async fn spawn(db: Db) -> TestApp {
        TestApp::spawn_with(db, |_| {}).await
    }

    /// A server whose configuration `adjust` changes first.
    pub async fn spawn_with(db: Db, adjust: impl FnOnce(&mut Config)) -> TestApp {
        vetrina_web::webhooks::install_tls();
        // VETRINA_TEST_LOG=vetrina_media=debug (a log filter) shows the server's logs.
        if let Ok(filter) = std::env::var("VETRINA_TEST_LOG") {
            use tracing_subscriber::layer::SubscriberExt;
            use tracing_subscriber::util::SubscriberInitExt;
            let targets: tracing_subscriber::filter::Targets = filter.parse().unwrap_or_default();
            let _ = tracing_subscriber::registry().with(tracing_subscriber::fmt::layer().with_test_writer()).with(targets).try_init();
        }
        let dir = temp_dir("app");
        let (database_url, schema) = match db {
            Db::Sqlite => (String::new(), None),
            Db::Postgres => {
                let schema = format!("t_{}", vetrina_store::random_token(8));
                sqlx::any::install_default_drivers();
                let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&postgres_url())
                    .await
                    .expect("PostgreSQL must run at 127.0.0.1:5432 for the tests (see README)");
                conn.execute(format!("CREATE SCHEMA {schema}").as_str()).await.expect("create schema");
                let sep = if postgres_url().contains('?') { '&' } else { '?' };
                (format!("{}{sep}options=-c%20search_path%3D{schema}", postgres_url()), Some(schema))
            }
        };
        let config = Config {
            listen: "127.0.0.1:0".into(),
            data_dir: dir.clone(),
            database_url,
            max_body_bytes: TEST_MAX_BODY,
            log: "warn".into(),
            media: vetrina::config::MediaSettings { udp_listen: "127.0.0.1:0".into(), grace_seconds: 2, ..Default::default() },
            ..Config::default()
        };
        let mut config = config;
        adjust(&mut config);
        let running = vetrina::start(&config, TEST_COST).await.expect("server starts");
        TestApp { base: running.public_url.clone(), running: Some(running), dir, schema, database_url: config.database_url.clone() }
    }

    /// Where its files are (SQLite at `vetrina.db`).
    pub fn data_dir(&self) -> &std::path::Path {
        &self.dir
    }

    pub fn store(&self) -> &vetrina_store::Store {
        &self.running.as_ref().expect("running").store
    }

    pub async fn stop(mut self) {
        if let Some(running) = self.running.take() {
            running.stop().await.expect("clean stop");
        }
        if let Some(schema) = &self.schema {
            let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&postgres_url()).await.expect("connect");
            // A statement a background task had sent before the stop may still run on the server
            // (its client gave up on it): dropping the schema under it can deadlock, and
            // PostgreSQL then cancels the drop. Try again once it is through.
            for attempt in 1.. {
                match conn.execute(format!("DROP SCHEMA {schema} CASCADE").as_str()).await {
                    Ok(_) => break,
                    Err(e) if attempt < 5 => {
                        eprintln!("drop schema {schema}, attempt {attempt}: {e}");
                        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                    }
                    Err(e) => panic!("drop schema {schema}: {e}"),
                }
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }

    /// An agent that has signed in nobody.
    pub fn anonymous(&self) -> Agent {
        Agent { base: self.base.clone(), http: reqwest::Client::new(), cookie: None, csrf: None, bearer: None }
    }

    /// Creates an account directly in the store (no web) and returns its id.
    pub async fn user(&self, email: &str, name: &str) -> String {
        let hash = vetrina_web::auth::hash_password(PASSWORD, TEST_COST).unwrap();
        self.store().create_user(email, name, &hash).await.expect("user").id.0
    }

    /// Signs in through the API; panics unless it works.
    pub async fn sign_in(&self, email: &str) -> Agent {
        self.sign_in_with(email, PASSWORD).await
    }

    pub async fn sign_in_with(&self, email: &str, password: &str) -> Agent {
        sign_in_at(&self.base, email, password).await
    }

    /// An organisation with an owner (signed in), in EUR and Europe/Rome.
    pub async fn org(&self, label: &str) -> Org {
        let email = format!("owner@{label}.example");
        let user_id = self.user(&email, &format!("Owner {label}")).await;
        let owner = self.sign_in(&email).await;
        let r = owner.post("/api/v1/orgs", json!({ "name": format!("Boutique {label}") })).await;
        assert_eq!(r.status, 201, "{}", r.text);
        Org { id: r.body["id"].as_str().unwrap().to_string(), label: label.into(), owner, owner_id: user_id }
    }

    /// A member of `org` with `role`, signed in.
    pub async fn member(&self, org: &Org, role: Role) -> Agent {
        let email = format!("{}@{}.example", role.as_str(), org.label);
        let id = self.user(&email, &format!("{} {}", role.as_str(), org.label)).await;
        self.store().add_member(&vetrina_domain::ids::OrgId(org.id.clone()), &vetrina_domain::ids::UserId(id), role).await.unwrap();
        self.sign_in(&email).await
    }
}

pub struct Org {
    pub id: String,
    pub label: String,
    pub owner: Agent,
    pub owner_id: String,
}

impl Org {
    pub fn path(&self, rest: &str) -> String {
        format!("/api/v1/orgs/{}{rest}", self.id)
    }
}

/// A product body with sizes S/M/L at `price_minor`.
pub fn product_json(title: &str, price_minor: i64) -> Value {
    json!({
        "title": title,
        "description_html": "<p>Made in <b>Italy</b></p>",
        "vendor": "Bottega",
        "options": ["Size"],
        "variants": [
            { "option_values": ["S"], "price_minor": price_minor, "stock": 5, "sku": format!("{title}-S") },
            { "option_values": ["M"], "price_minor": price_minor, "stock": 3, "sku": format!("{title}-M") },
            { "option_values": ["L"], "price_minor": price_minor, "stock": 0, "sku": format!("{title}-L") }
        ]
    })
}

/// An HTTP client with its own cookie jar of one session (and CSRF token), or an API token.
/// Signs in to the server at `base` through the API; panics unless it works.
pub async fn sign_in_at(base: &str, email: &str, password: &str) -> Agent {
    let mut agent = Agent { base: base.to_string(), http: reqwest::Client::new(), cookie: None, csrf: None, bearer: None };
    let r = agent.post("/api/v1/session", json!({ "email": email, "password": password })).await;
    assert_eq!(r.status, 200, "sign in {email}: {}", r.text);
    agent.take_cookie(&r);
    agent.csrf = r.body["csrf_token"].as_str().map(str::to_string);
    agent
}

#[derive(Clone)]
pub struct Agent {
    pub base: String,
    pub http: reqwest::Client,
    pub cookie: Option<String>,
    pub csrf: Option<String>,
    pub bearer: Option<String>,
}

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub body: Value,
    pub text: String,
    pub headers: reqwest::header::HeaderMap,
}

impl Resp {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    /// Asserts the answer is a problem document with `status` whose detail mentions `needle`.
    #[track_caller]
    pub fn problem(&self, status: u16, needle: &str) -> &Resp {
        assert_eq!(self.status, status, "{}", self.text);
        assert!(self.header("content-type").starts_with("application/problem+json"), "{:?} {}", self.headers, self.text);
        assert_eq!(self.body["status"], status);
        let detail = self.body["detail"].as_str().unwrap_or("");
        assert!(detail.to_lowercase().contains(&needle.to_lowercase()), "detail {detail:?} should mention {needle:?}");
        self
    }
}

impl Agent {
    pub fn with_token(&self, token: &str) -> Agent {
        Agent { base: self.base.clone(), http: reqwest::Client::new(), cookie: None, csrf: None, bearer: Some(token.into()) }
    }

    pub fn without_csrf(&self) -> Agent {
        Agent { csrf: None, ..self.clone() }
    }

    fn take_cookie(&mut self, r: &Resp) {
        for v in r.headers.get_all("set-cookie") {
            let v = v.to_str().unwrap();
            if let Some(pair) = v.split(';').next()
                && pair.starts_with(vetrina_web::auth::SESSION_COOKIE)
            {
                self.cookie = Some(pair.to_string());
            }
        }
    }

    pub async fn raw(&self, method: Method, path: &str, content_type: Option<&str>, body: Vec<u8>) -> Resp {
        let mut req = self.http.request(method.clone(), format!("{}{path}", self.base));
        if let Some(c) = &self.cookie {
            req = req.header("cookie", c);
        }
        if let Some(t) = &self.csrf {
            req = req.header("x-csrf-token", t);
        }
        if let Some(b) = &self.bearer {
            req = req.header("authorization", format!("Bearer {b}"));
        }
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        if !body.is_empty() || method != Method::GET {
            req = req.body(body);
        }
        let res = req.send().await.expect("request sent");
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let text = res.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp { status, body, text, headers }
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.raw(Method::GET, path, None, Vec::new()).await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        self.raw(Method::DELETE, path, None, Vec::new()).await
    }

    pub async fn json(&self, method: Method, path: &str, body: Value) -> Resp {
        self.raw(method, path, Some("application/json"), serde_json::to_vec(&body).unwrap()).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.json(Method::POST, path, body).await
    }

    pub async fn put(&self, path: &str, body: Value) -> Resp {
        self.json(Method::PUT, path, body).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Resp {
        self.json(Method::PATCH, path, body).await
    }
}

/// A real recording as a live show leaves it: fragmented MP4 with H.264 (a keyframe a second)
/// and Opus, `seconds` long, made once per test run by ffmpeg (scripts/test installs it).
pub fn recording_file(seconds: u32) -> PathBuf {
    static MADE: std::sync::Mutex<Vec<(u32, PathBuf)>> = std::sync::Mutex::new(Vec::new());
    let mut made = MADE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, path)) = made.iter().find(|(s, _)| *s == seconds) {
        return path.clone();
    }
    let path = temp_dir("recording").join(format!("{seconds}s.mp4"));
    let out = std::process::Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240:rate=30",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=48000",
        ])
        .args(["-t", &seconds.to_string(), "-pix_fmt", "yuv420p", "-c:v", "libx264", "-profile:v", "baseline", "-g", "30", "-bf", "0"])
        .args(["-c:a", "libopus", "-movflags", "frag_keyframe+empty_moov+default_base_moof"])
        .arg(&path)
        .output()
        .expect("ffmpeg runs (scripts/test installs it)");
    assert!(out.status.success(), "ffmpeg: {}", String::from_utf8_lossy(&out.stderr));
    made.push((seconds, path.clone()));
    path
}

/// Gives `show` a recording (a copy of [`recording_file`]) whose media time 0 is `started_at`.
pub async fn attach_recording(app: &TestApp, show_id: &str, seconds: u32, started_at: i64) -> PathBuf {
    let copy = temp_dir("show-recording").join("show.mp4");
    std::fs::copy(recording_file(seconds), &copy).expect("copy the recording");
    let show = vetrina_domain::ids::ShowId(show_id.to_string());
    app.store().add_recording(&show, &copy.display().to_string(), started_at).await.expect("add the recording");
    copy
}

/// (duration in seconds, codec names) as ffprobe sees the file.
pub fn ffprobe(file: &std::path::Path) -> (f64, String) {
    let out = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-show_entries", "format=duration:stream=codec_name,codec_type,width,height", "-of", "default=nw=1"])
        .arg(file)
        .output()
        .expect("ffprobe runs (scripts/test installs ffmpeg)");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let duration = text.lines().find_map(|l| l.strip_prefix("duration=")).and_then(|d| d.parse().ok()).unwrap_or(0.0);
    (duration, text)
}
