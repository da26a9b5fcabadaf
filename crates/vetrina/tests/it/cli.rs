//! The `vetrina` binary as a newcomer runs it: demo, restart, print-config, user create, signals.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::temp_dir;

const BIN: &str = env!("CARGO_BIN_EXE_vetrina");

struct Demo {
    child: Child,
    lines: Vec<String>,
}

impl Demo {
    fn line(&self, prefix: &str) -> String {
        self.lines
            .iter()
            .find_map(|l| l.strip_prefix(prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} in {:?}", self.lines))
            .trim()
            .to_string()
    }

    /// SIGTERM, then the process must exit cleanly on its own.
    fn terminate(self) {
        self.terminate_within(Duration::from_secs(10));
    }

    fn terminate_within(mut self, within: Duration) {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "graceful shutdown exits 0: {status}");
                return;
            }
            assert!(Instant::now() < deadline, "no exit within {within:?} of SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn start_demo(dir: &std::path::Path) -> Demo {
    let mut child = Command::new(BIN)
        .args(["demo", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .env("VETRINA_LOG", "warn")
        .env("VETRINA_MEDIA_UDP_LISTEN", "127.0.0.1:0")
        .env_remove("VETRINA_DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut lines = Vec::new();
    while lines.len() < 7 {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap() == 0 {
            panic!("demo exited early: {lines:?}");
        }
        lines.push(line.trim_end().to_string());
    }
    Demo { child, lines }
}

fn get(url: &str) -> (u16, String) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        vetrina_web::webhooks::install_tls();
        let r = reqwest::get(url).await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    })
}

#[test]
fn demo_starts_and_restarts_without_duplicates() {
    let dir = temp_dir("demo");
    let demo = start_demo(&dir);
    let console = demo.line("console:");
    let show = demo.line("show:");
    assert!(console.ends_with("/console"), "{console}");
    assert!(demo.line("owner login:").contains('@'));
    assert!(demo.line("host login:").contains('@'));
    assert!(demo.line("whip:").ends_with("/api/v1/shows/primavera-dal-vivo/whip"));
    assert!(demo.line("whep:").ends_with("/api/v1/shows/primavera-dal-vivo/whep"));
    let key = demo.line("stream key:");
    assert!(key.starts_with("sk_") && key.len() > 20, "{key}");
    assert_eq!(get(&console).0, 200);
    assert_eq!(get(&show).0, 200);
    let api = show.replace("/shows/", "/api/v1/shows/");
    let (status, body) = get(&api);
    assert_eq!(status, 200);
    let first: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(first["status"], "scheduled");
    assert!(first["lineup"].as_array().unwrap().len() >= 6);
    let starts: jiff::Timestamp = first["starts_at"].as_str().unwrap().parse().unwrap();
    let ahead = starts.as_second() - jiff::Timestamp::now().as_second();
    assert!((8 * 60..=10 * 60).contains(&ahead), "ten minutes ahead, got {ahead} s");
    demo.terminate();

    let again = start_demo(&dir);
    assert_eq!(again.line("stream key:"), key, "the same show keeps its key");
    let (_, body) = get(&again.line("show:").replace("/shows/", "/api/v1/shows/"));
    let second: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(second["lineup"], first["lineup"], "same products, not new copies");
    again.terminate();

    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let store = vetrina_store::Store::open(&format!("sqlite://{}", dir.join("vetrina.db").display())).await.unwrap();
        let orgs = store.memberships(&store.user_by_email(vetrina::demo::OWNER_EMAIL).await.unwrap().unwrap().0.id).await.unwrap();
        assert_eq!(orgs.len(), 1, "one demo organisation after two starts");
        let (products, total) =
            store.products(&orgs[0].0.id, &vetrina_store::catalogue::ProductQuery { limit: 100, ..Default::default() }).await.unwrap();
        assert_eq!(total, 12);
        assert!(products.iter().all(|p| p.images.len() == 1 && !p.variants.is_empty()));
        store.close().await;
    });
    std::fs::remove_dir_all(dir).unwrap();
}

/// A client that sent half a request and went quiet (slow or hostile) does not keep the server
/// from stopping: requests get 10 s to finish, then the process exits anyway, cleanly.
#[test]
fn a_stalled_request_does_not_hold_the_stop() {
    use std::io::Write;
    let dir = temp_dir("stalled");
    let demo = start_demo(&dir);
    let show = demo.line("show:");
    let addr = show.trim_start_matches("http://").split('/').next().unwrap().to_string();
    let mut stalled = std::net::TcpStream::connect(&addr).unwrap();
    stalled.write_all(b"GET /healthz HTTP/1.1\r\nHost: vetrina\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    demo.terminate_within(Duration::from_secs(15));
    assert!(started.elapsed() >= Duration::from_secs(9), "the request in flight had its time to finish");
    drop(stalled);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn print_config_layers_and_redacts() {
    let dir = temp_dir("config");
    std::fs::write(
        dir.join("vetrina.toml"),
        "listen = \"127.0.0.1:9100\"\nsession_days = 3\n[media]\nudp_listen = \"127.0.0.1:0\"\n[[media.ice_servers]]\nurls = [\"turn:t.example:443\"]\nusername = \"u\"\ncredential = \"turnpass\"\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .current_dir(&dir)
        .args(["print-config", "--database-url", "postgres://app:hunter2@db.internal/vetrina"])
        .env("VETRINA_SESSION_DAYS", "5")
        .env_remove("VETRINA_LISTEN")
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "{text}");
    assert!(text.contains("listen = \"127.0.0.1:9100\""), "{text}");
    assert!(text.contains("session_days = 5"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
    assert!(!text.contains("turnpass") && text.contains("turn:t.example:443"), "{text}");
    assert!(text.contains("postgres://app:***@db.internal/vetrina"), "{text}");

    let bad = Command::new(BIN).current_dir(&dir).args(["serve", "--listen", "not-an-address"]).output().unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("is not an address"));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn user_create_bootstraps_an_owner() {
    let dir = temp_dir("user");
    let run = |args: &[&str]| {
        Command::new(BIN)
            .args(args)
            .arg("--data-dir")
            .arg(&dir)
            .env("VETRINA_LOG", "warn")
            .env("VETRINA_PASSWORD", "a long password")
            .output()
            .unwrap()
    };
    let out = run(&["user", "create", "--email", "Boss@Shop.example", "--name", "Boss", "--org", "Negozio"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("boss@shop.example") && text.contains("Negozio (owner)"), "{text}");
    let again = run(&["user", "create", "--email", "boss@shop.example", "--name", "Boss"]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    let migrate = run(&["migrate"]);
    assert!(String::from_utf8_lossy(&migrate.stdout).contains(&format!("schema version {}", vetrina_store::MIGRATIONS_APPLIED)));
    std::fs::remove_dir_all(dir).unwrap();
}
