//! Configuration: defaults, then `vetrina.toml`, then `VETRINA_*` environment variables, then
//! command-line flags, each layer overriding the one before. Checked once at start; a bad value
//! stops the process with a message that says what to change.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

/// The effective configuration.
#[derive(Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address the HTTP server listens on.
    pub listen: String,
    /// Where the SQLite file, uploads and (later) recordings live.
    pub data_dir: PathBuf,
    /// `postgres://...` for PostgreSQL; empty for SQLite at `<data_dir>/vetrina.db`.
    pub database_url: String,
    /// The address people reach the server at, for links; `http://<listen>` when empty.
    pub public_url: String,
    /// Largest request body, in bytes.
    pub max_body_bytes: usize,
    /// How long a sign-in lasts, in days.
    pub session_days: i64,
    /// How long hot read answers (public show pages, catalogue listings) may be served from
    /// memory, in milliseconds. A node always sees its own writes at once; other nodes' writes
    /// within this time. 0 turns the cache off.
    pub answer_cache_ms: u64,
    /// How long an item added to a cart stays reserved for the buyer, in minutes.
    pub hold_minutes: i64,
    /// Most add-to-cart requests the inventory ledger decides in one transaction (1 to 400;
    /// 1 is one transaction per request, only for comparison).
    pub ledger_batch: usize,
    /// How long a new connection may take to send its first request's headers, in seconds
    /// (clients that connect and send nothing, or dribble a request, are cut off after it).
    pub header_timeout_seconds: u64,
    /// How long a connection may stay with nothing moving either way (no request coming, no
    /// answer going out), in seconds, before it is closed; WebSockets are exempt (they keep
    /// their own liveness).
    pub idle_timeout_seconds: u64,
    /// How often each live room's state (pinned product, poll and votes, questions, recent chat,
    /// mutes) is saved, in seconds; also when a room closes. A restarted node, or a node that
    /// joins a show later, takes it up.
    pub room_state_seconds: u64,
    /// Viewers' chat lines a second each viewer of a live room sees at most: above it, a fair
    /// sample (hosts' and moderators' lines, and one's own, always arrive).
    pub chat_lines_per_second: usize,
    /// Log filter, such as `info` or `vetrina_web=debug,info`.
    pub log: String,
    /// `nats://host:4222` when several nodes serve the same shows (with one PostgreSQL): their
    /// live rooms share chat, pins, polls and viewer counts through NATS (JetStream). Empty: one
    /// node.
    pub nats_url: String,
    /// Let webhook URLs reach private and local addresses (127.0.0.1, 10.x, 192.168.x, fc00::/7,
    /// ...). Off by default: a merchant's admin must not make this server call into its own
    /// network. Turn on for receivers on the same machine or LAN.
    pub webhooks_private_networks: bool,
    /// Live video (WHIP/WHEP).
    pub media: MediaSettings,
    /// Outgoing email (order confirmations).
    pub smtp: SmtpSettings,
}

/// The `[smtp]` table. Without a URL no email is sent.
#[derive(Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmtpSettings {
    /// `smtp://host:25`, `smtp://user:password@host:587?tls=required`, `smtps://host:465`.
    pub url: String,
    /// The sender: `Bottega Aurora <orders@bottega.example>`.
    pub from: String,
}

impl std::fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSettings").field("url", &redact_url(&self.url)).field("from", &self.from).finish()
    }
}

/// The `[media]` table.
#[derive(Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct MediaSettings {
    /// Whether this node serves live video.
    pub enabled: bool,
    /// The one UDP address every WebRTC session shares.
    pub udp_listen: String,
    /// Addresses advertised to browsers and OBS as ICE candidates (the machine's public
    /// addresses behind NAT); the `udp_listen` address when empty.
    pub public_ips: Vec<String>,
    /// How long a show stays live after its publisher disappears, so a host can reconnect.
    pub grace_seconds: u64,
    /// Media engine threads, each with its share of the viewers (all on the one UDP port); 0
    /// (the default): one per core.
    pub threads: usize,
    /// STUN/TURN servers offered to clients, for viewers whose network blocks UDP:
    /// `[[media.ice_servers]] urls = ["turn:turn.example.com:443?transport=tcp"]`, `username`, `credential`.
    pub ice_servers: Vec<vetrina_web::IceServer>,
}

impl Default for MediaSettings {
    fn default() -> Self {
        MediaSettings {
            enabled: true,
            udp_listen: "127.0.0.1:8189".into(),
            public_ips: Vec::new(),
            grace_seconds: 60,
            threads: 0,
            ice_servers: Vec::new(),
        }
    }
}

impl MediaSettings {
    /// The media plane's settings; recordings go under `data_dir/recordings`.
    pub fn media_config(&self, data_dir: &std::path::Path) -> anyhow::Result<vetrina_media::MediaConfig> {
        let udp_listen = self
            .udp_listen
            .parse()
            .with_context(|| format!("media.udp_listen {:?} is not an address such as 0.0.0.0:8189", self.udp_listen))?;
        let mut public_ips = Vec::new();
        for ip in &self.public_ips {
            public_ips.push(ip.trim().parse().with_context(|| format!("media.public_ips: {ip:?} is not an IP address"))?);
        }
        if public_ips.is_empty() && matches!(udp_listen, std::net::SocketAddr::V4(a) if a.ip().is_unspecified()) {
            bail!("media.udp_listen {udp_listen} listens on every address: list the ones clients reach in media.public_ips");
        }
        Ok(vetrina_media::MediaConfig {
            udp_listen,
            public_ips,
            connect_timeout: std::time::Duration::from_secs(20),
            recordings: Some(data_dir.join("recordings")),
            threads: self.threads,
        })
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("./vetrina-data"),
            database_url: String::new(),
            public_url: String::new(),
            max_body_bytes: 20 * 1024 * 1024,
            session_days: 30,
            answer_cache_ms: 1000,
            log: "info".into(),
            hold_minutes: 10,
            ledger_batch: 400,
            room_state_seconds: 10,
            chat_lines_per_second: 150,
            header_timeout_seconds: 30,
            idle_timeout_seconds: 120,
            nats_url: String::new(),
            webhooks_private_networks: false,
            media: MediaSettings::default(),
            smtp: SmtpSettings::default(),
        }
    }
}

// Secrets (a password inside the database URL) never reach logs through `Debug`.
impl std::fmt::Debug for MediaSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let servers: Vec<&Vec<String>> = self.ice_servers.iter().map(|s| &s.urls).collect();
        f.debug_struct("MediaSettings")
            .field("enabled", &self.enabled)
            .field("udp_listen", &self.udp_listen)
            .field("public_ips", &self.public_ips)
            .field("grace_seconds", &self.grace_seconds)
            .field("threads", &self.threads)
            .field("ice_servers", &servers)
            .finish()
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("data_dir", &self.data_dir)
            .field("database_url", &redact_url(&self.database_url))
            .field("public_url", &self.public_url)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("session_days", &self.session_days)
            .field("answer_cache_ms", &self.answer_cache_ms)
            .field("hold_minutes", &self.hold_minutes)
            .field("ledger_batch", &self.ledger_batch)
            .field("room_state_seconds", &self.room_state_seconds)
            .field("chat_lines_per_second", &self.chat_lines_per_second)
            .field("header_timeout_seconds", &self.header_timeout_seconds)
            .field("idle_timeout_seconds", &self.idle_timeout_seconds)
            .field("log", &self.log)
            .field("nats_url", &redact_url(&self.nats_url))
            .field("webhooks_private_networks", &self.webhooks_private_networks)
            .field("media", &self.media)
            .field("smtp", &self.smtp)
            .finish()
    }
}

/// Values given on the command line; `None` leaves the layer below.
#[derive(Clone, Debug, Default)]
pub struct Flags {
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
}

impl Config {
    /// Builds the configuration from its layers. `file` is an explicit config file (which must
    /// exist); without it `./vetrina.toml` is read when present.
    pub fn load(file: Option<&Path>, env: impl Fn(&str) -> Option<String>, flags: &Flags) -> anyhow::Result<Config> {
        let mut config = match file {
            Some(path) => Config::from_file(path)?,
            None if Path::new("vetrina.toml").exists() => Config::from_file(Path::new("vetrina.toml"))?,
            None => Config::default(),
        };
        let var = |name: &str| env(&format!("VETRINA_{name}")).filter(|v| !v.is_empty());
        if let Some(v) = var("LISTEN") {
            config.listen = v;
        }
        if let Some(v) = var("DATA_DIR") {
            config.data_dir = v.into();
        }
        if let Some(v) = var("DATABASE_URL") {
            config.database_url = v;
        }
        if let Some(v) = var("PUBLIC_URL") {
            config.public_url = v;
        }
        if let Some(v) = var("MAX_BODY_BYTES") {
            config.max_body_bytes = v.parse().with_context(|| format!("VETRINA_MAX_BODY_BYTES={v:?} is not a number of bytes"))?;
        }
        if let Some(v) = var("SESSION_DAYS") {
            config.session_days = v.parse().with_context(|| format!("VETRINA_SESSION_DAYS={v:?} is not a number of days"))?;
        }
        if let Some(v) = var("ANSWER_CACHE_MS") {
            config.answer_cache_ms = v.parse().with_context(|| format!("VETRINA_ANSWER_CACHE_MS={v:?} is not a number of milliseconds"))?;
        }
        if let Some(v) = var("MEDIA_ENABLED") {
            config.media.enabled = v.parse().with_context(|| format!("VETRINA_MEDIA_ENABLED={v:?} is not true or false"))?;
        }
        if let Some(v) = var("MEDIA_UDP_LISTEN") {
            config.media.udp_listen = v;
        }
        if let Some(v) = var("MEDIA_PUBLIC_IPS") {
            config.media.public_ips = v.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
        }
        if let Some(v) = var("MEDIA_GRACE_SECONDS") {
            config.media.grace_seconds =
                v.parse().with_context(|| format!("VETRINA_MEDIA_GRACE_SECONDS={v:?} is not a number of seconds"))?;
        }
        if let Some(v) = var("MEDIA_THREADS") {
            config.media.threads = v.parse().with_context(|| format!("VETRINA_MEDIA_THREADS={v:?} is not a number of threads"))?;
        }
        if let Some(v) = var("HOLD_MINUTES") {
            config.hold_minutes = v.parse().with_context(|| format!("VETRINA_HOLD_MINUTES={v:?} is not a number of minutes"))?;
        }
        if let Some(v) = var("WEBHOOKS_PRIVATE_NETWORKS") {
            config.webhooks_private_networks =
                v.parse().with_context(|| format!("VETRINA_WEBHOOKS_PRIVATE_NETWORKS={v:?} is not true or false"))?;
        }
        if let Some(v) = var("LEDGER_BATCH") {
            config.ledger_batch = v.parse().with_context(|| format!("VETRINA_LEDGER_BATCH={v:?} is not a number of requests"))?;
        }
        if let Some(v) = var("HEADER_TIMEOUT_SECONDS") {
            config.header_timeout_seconds =
                v.parse().with_context(|| format!("VETRINA_HEADER_TIMEOUT_SECONDS={v:?} is not a number of seconds"))?;
        }
        if let Some(v) = var("IDLE_TIMEOUT_SECONDS") {
            config.idle_timeout_seconds =
                v.parse().with_context(|| format!("VETRINA_IDLE_TIMEOUT_SECONDS={v:?} is not a number of seconds"))?;
        }
        if let Some(v) = var("ROOM_STATE_SECONDS") {
            config.room_state_seconds =
                v.parse().with_context(|| format!("VETRINA_ROOM_STATE_SECONDS={v:?} is not a number of seconds"))?;
        }
        if let Some(v) = var("CHAT_LINES_PER_SECOND") {
            config.chat_lines_per_second =
                v.parse().with_context(|| format!("VETRINA_CHAT_LINES_PER_SECOND={v:?} is not a number of lines"))?;
        }
        if let Some(v) = var("SMTP_URL") {
            config.smtp.url = v;
        }
        if let Some(v) = var("SMTP_FROM") {
            config.smtp.from = v;
        }
        if let Some(v) = var("NATS_URL") {
            config.nats_url = v;
        }
        if let Some(v) = var("LOG") {
            config.log = v;
        }
        if let Some(v) = &flags.listen {
            config.listen = v.clone();
        }
        if let Some(v) = &flags.data_dir {
            config.data_dir = v.clone();
        }
        if let Some(v) = &flags.database_url {
            config.database_url = v.clone();
        }
        config.validate()?;
        Ok(config)
    }

    fn from_file(path: &Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read the config file {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("the config file {} is not valid", path.display()))
    }

    fn validate(&self) -> anyhow::Result<()> {
        self.listen_addr()?;
        if self.media.enabled {
            self.media.media_config(&self.data_dir)?;
        }
        if !self.public_url.is_empty() && !self.public_url.starts_with("http://") && !self.public_url.starts_with("https://") {
            bail!("public_url {:?} must start with http:// or https://", self.public_url);
        }
        if self.max_body_bytes < 1024 {
            bail!("max_body_bytes {} is too small: allow at least 1024", self.max_body_bytes);
        }
        if self.answer_cache_ms > 60_000 {
            bail!("answer_cache_ms {} is too long: at most 60000 (a minute)", self.answer_cache_ms);
        }
        if !(1..=365).contains(&self.session_days) {
            bail!("session_days {} must be between 1 and 365", self.session_days);
        }
        if !self.smtp.url.is_empty() {
            vetrina_web::mail::Mailer::new(&self.smtp.url, &self.smtp.from)?;
        }
        if !(1..=600).contains(&self.header_timeout_seconds) {
            bail!("header_timeout_seconds {} must be between 1 and 600", self.header_timeout_seconds);
        }
        if !(1..=86_400).contains(&self.idle_timeout_seconds) {
            bail!("idle_timeout_seconds {} must be between 1 and 86400", self.idle_timeout_seconds);
        }
        if !(1..=3600).contains(&self.room_state_seconds) {
            bail!("room_state_seconds {} must be between 1 and 3600", self.room_state_seconds);
        }
        if !(10..=2_000).contains(&self.chat_lines_per_second) {
            bail!("chat_lines_per_second {} must be between 10 and 2000", self.chat_lines_per_second);
        }
        if !(1..=400).contains(&self.ledger_batch) {
            bail!("ledger_batch {} must be between 1 and 400", self.ledger_batch);
        }
        if !(1..=1440).contains(&self.hold_minutes) {
            bail!("hold_minutes {} must be between 1 and 1440 (a day)", self.hold_minutes);
        }
        if !self.nats_url.is_empty() {
            if !["nats://", "tls://"].iter().any(|s| self.nats_url.starts_with(s)) {
                bail!("nats_url {:?} must start with nats:// or tls://", redact_url(&self.nats_url));
            }
            if !self.database_url.starts_with("postgres") {
                bail!("nats_url is for several nodes, and they share one PostgreSQL: set database_url to postgres://...");
            }
        }
        if self.log.parse::<tracing_subscriber::filter::Targets>().is_err() {
            bail!("log {:?} is not a log filter such as \"info\" or \"vetrina_web=debug,info\"", self.log);
        }
        Ok(())
    }

    pub fn listen_addr(&self) -> anyhow::Result<SocketAddr> {
        self.listen.parse().with_context(|| format!("listen {:?} is not an address such as 127.0.0.1:8080", self.listen))
    }

    /// The database URL in effect (SQLite under the data dir unless one is given).
    pub fn database_url(&self) -> String {
        if self.database_url.is_empty() {
            format!("sqlite://{}", self.data_dir.join("vetrina.db").display())
        } else {
            self.database_url.clone()
        }
    }

    /// The public URL, given the address actually bound (port 0 in tests).
    pub fn public_url(&self, bound: SocketAddr) -> String {
        if self.public_url.is_empty() { format!("http://{bound}") } else { self.public_url.trim_end_matches('/').to_string() }
    }

    /// The configuration as TOML with secrets replaced by `***`.
    pub fn redacted_toml(&self) -> String {
        let mut shown = self.clone();
        shown.database_url = redact_url(&self.database_url);
        for server in &mut shown.media.ice_servers {
            if server.credential.is_some() {
                server.credential = Some("***".into());
            }
        }
        let mut text = toml::to_string(&shown).unwrap_or_default();
        text.push_str(&format!("# database in effect: {}\n", redact_url(&self.database_url())));
        text
    }
}

/// Hides the password in `scheme://user:password@host/...` and any `password=` parameter.
pub fn redact_url(url: &str) -> String {
    let mut out = url.to_string();
    if let Some(scheme_end) = out.find("://") {
        let rest_start = scheme_end + 3;
        let authority_end = out[rest_start..].find(['/', '?']).map_or(out.len(), |i| rest_start + i);
        if let Some(at) = out[rest_start..authority_end].rfind('@') {
            let userinfo = &out[rest_start..rest_start + at];
            if let Some(colon) = userinfo.find(':') {
                out.replace_range(rest_start + colon + 1..rest_start + at, "***");
            }
        }
    }
    if let Some(i) = out.find("password=") {
        let end = out[i..].find('&').map_or(out.len(), |j| i + j);
        out.replace_range(i + "password=".len()..end, "***");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers() {
        let dir = std::env::temp_dir().join(format!("vetrina-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("vetrina.toml");
        std::fs::write(&file, "listen = \"127.0.0.1:9000\"\nsession_days = 7\nlog = \"debug\"\n").unwrap();
        let env = |k: &str| match k {
            "VETRINA_SESSION_DAYS" => Some("9".to_string()),
            "VETRINA_LISTEN" => Some("127.0.0.1:9001".to_string()),
            _ => None,
        };
        let flags = Flags { listen: Some("127.0.0.1:9002".into()), ..Default::default() };
        let c = Config::load(Some(&file), env, &flags).unwrap();
        assert_eq!(c.listen, "127.0.0.1:9002", "flags win");
        assert_eq!(c.session_days, 9, "environment beats the file");
        assert_eq!(c.log, "debug", "the file beats defaults");
        assert_eq!(c.max_body_bytes, 20 * 1024 * 1024, "defaults fill the rest");

        std::fs::write(&file, "listen = \"nowhere\"\n").unwrap();
        let err = Config::load(Some(&file), |_| None, &Flags::default()).unwrap_err();
        assert!(format!("{err:#}").contains("\"nowhere\" is not an address"), "{err:#}");
        std::fs::write(&file, "chat_lines_per_second = 300\n").unwrap();
        assert_eq!(Config::load(Some(&file), |_| None, &Flags::default()).unwrap().chat_lines_per_second, 300);
        let many = |k: &str| (k == "VETRINA_CHAT_LINES_PER_SECOND").then(|| "5000".to_string());
        let err = Config::load(Some(&file), many, &Flags::default()).unwrap_err();
        assert!(format!("{err:#}").contains("chat_lines_per_second 5000 must be between 10 and 2000"), "{err:#}");
        std::fs::write(&file, "lisen = \"typo\"\n").unwrap();
        let err = Config::load(Some(&file), |_| None, &Flags::default()).unwrap_err();
        assert!(format!("{err:#}").contains("unknown field"), "{err:#}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn secrets_are_redacted() {
        assert_eq!(redact_url("postgres://app:s3cret@db:5432/vetrina"), "postgres://app:***@db:5432/vetrina");
        assert_eq!(redact_url("postgres://db/v?user=a&password=s3cret&x=1"), "postgres://db/v?user=a&password=***&x=1");
        assert_eq!(redact_url("sqlite://./vetrina-data/vetrina.db"), "sqlite://./vetrina-data/vetrina.db");
        let c = Config { database_url: "postgres://app:s3cret@db/v".into(), ..Default::default() };
        assert!(!format!("{c:?}").contains("s3cret"));
        assert!(!c.redacted_toml().contains("s3cret"));
    }
}
