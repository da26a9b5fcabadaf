//! The composition root: reads the configuration, opens the store, wires the planes together
//! and runs them until shutdown. Everything else lives in the other crates; this one only
//! connects them (and seeds the demo).

pub mod config;
pub mod demo;
mod png;
mod showtime;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use vetrina_store::Store;
use vetrina_store::blobs::DirBlobs;
use vetrina_web::{AppState, PasswordCost, WebConfig};

pub use config::{Config, Flags};

/// A running server.
pub struct Running {
    pub addr: SocketAddr,
    pub public_url: String,
    pub store: Store,
    pub state: AppState,
    shutdown: CancellationToken,
    server: JoinHandle<std::io::Result<()>>,
}

/// How long a stop waits for requests in flight.
const STOP_WITHIN: std::time::Duration = std::time::Duration::from_secs(10);

impl Running {
    /// Stops accepting, lets requests in flight finish (for up to 10 s: a download to a slow
    /// client must not keep the process alive), closes the store.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        match tokio::time::timeout(STOP_WITHIN, self.server).await {
            Ok(served) => served.context("server task")??,
            Err(_) => tracing::warn!("requests still running {} s after the stop: leaving them", STOP_WITHIN.as_secs()),
        }
        self.state.close_rooms().await;
        tokio::time::timeout(STOP_WITHIN, self.store.close()).await.ok();
        Ok(())
    }

    /// A token that stops the server when cancelled.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Waits until the server stops (after the shutdown token fires).
    pub async fn wait(self) -> anyhow::Result<()> {
        self.shutdown.cancelled().await;
        self.stop().await
    }
}

/// Opens the store (applying migrations) for `config`.
pub async fn open_store(config: &Config) -> anyhow::Result<Store> {
    std::fs::create_dir_all(&config.data_dir).with_context(|| format!("cannot create the data directory {}", config.data_dir.display()))?;
    let url = config.database_url();
    Store::open(&url).await.with_context(|| format!("cannot open the database {}", config::redact_url(&url)))
}

/// Starts the server for `config` with the given password cost, and returns once it listens.
pub async fn start(config: &Config, password_cost: PasswordCost) -> anyhow::Result<Running> {
    vetrina_web::webhooks::install_tls();
    let started = Instant::now();
    let store = open_store(config).await?;
    let blobs = DirBlobs::new(config.data_dir.join("blobs")).context("cannot create the blob directory")?;
    let listener = vetrina_web::net::bind(config.listen_addr()?).with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = listener.local_addr()?;
    let public_url = config.public_url(addr);
    let web = WebConfig {
        public_url: public_url.clone(),
        max_body_bytes: config.max_body_bytes,
        session_days: config.session_days,
        answer_cache: std::time::Duration::from_millis(config.answer_cache_ms),
        password_cost,
        ice_servers: config.media.ice_servers.clone(),
        hold_minutes: config.hold_minutes,
        ledger_batch: config.ledger_batch,
        room_state_every: std::time::Duration::from_secs(config.room_state_seconds),
        chat_lines_per_second: config.chat_lines_per_second,
        header_timeout: std::time::Duration::from_secs(config.header_timeout_seconds),
        idle_timeout: std::time::Duration::from_secs(config.idle_timeout_seconds),
        clips_dir: config.data_dir.join("clips"),
        webhooks_private_networks: config.webhooks_private_networks,
    };
    let shutdown = CancellationToken::new();
    let media = if config.media.enabled {
        vetrina_media::install_crypto();
        let stop = shutdown.clone();
        let (media, events) =
            vetrina_media::Media::start(config.media.media_config(&config.data_dir)?, async move { stop.cancelled().await })
                .await
                .with_context(|| format!("cannot listen for media on UDP {}", config.media.udp_listen))?;
        Some((media, events))
    } else {
        None
    };
    let mut state = AppState::new(store.clone(), Arc::new(blobs), web, media.as_ref().map(|(m, _)| m.clone()));
    if !config.smtp.url.is_empty() {
        state = state.with_mailer(vetrina_web::mail::Mailer::new(&config.smtp.url, &config.smtp.from)?);
    }
    if !config.nats_url.is_empty() {
        state = state.with_bus(vetrina_web::bus::Bus::nats(&config.nats_url).await?);
        tracing::info!(nats_url = %config::redact_url(&config.nats_url), "live rooms shared with other nodes through NATS");
    }
    if let Some((media, events)) = media {
        let grace = std::time::Duration::from_secs(config.media.grace_seconds);
        tokio::spawn(showtime::follow_media(events, media, store.clone(), state.generation.clone(), grace, shutdown.clone()));
    }
    let server = tokio::spawn(vetrina_web::serve(listener, state.clone(), shutdown.clone()));
    tokio::spawn(purge_sessions(store.clone(), shutdown.clone()));
    tokio::spawn(checkpoint(store.clone(), shutdown.clone()));
    {
        let (store, stop, private_networks) = (store.clone(), shutdown.clone(), config.webhooks_private_networks);
        tokio::spawn(vetrina_web::webhooks::send_forever(store, private_networks, stop));
    }
    tracing::info!(%addr, backend = ?store.backend(), elapsed_ms = started.elapsed().as_millis() as u64, "ready");
    Ok(Running { addr, public_url, store, state, shutdown, server })
}

/// Every second, folds SQLite's write-ahead log back into the database (off the writers' path).
async fn checkpoint(store: Store, shutdown: CancellationToken) {
    let mut every_second = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = every_second.tick() => {
                if let Err(e) = store.checkpoint().await {
                    tracing::warn!(error = %e, "could not checkpoint the database's log");
                }
            }
        }
    }
}

/// Every hour, forgets expired sessions so the table holds only live ones.
async fn purge_sessions(store: Store, shutdown: CancellationToken) {
    let mut every_hour = tokio::time::interval(std::time::Duration::from_secs(3600));
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = every_hour.tick() => {
                match store.purge_expired_sessions(vetrina_store::now_ms()).await {
                    Ok(n) if n > 0 => tracing::info!(n_sessions = n, "purged expired sessions"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "could not purge expired sessions"),
                }
            }
        }
    }
}

/// Resolves when the process is asked to stop (SIGINT or SIGTERM).
pub async fn termination() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
