//! The `vetrina` command: serve, demo, migrate, user create, print-config.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use vetrina::{Config, Flags};
use vetrina_domain::account::{self, Role};
use vetrina_domain::money::Currency;
use vetrina_web::PasswordCost;

#[derive(Parser)]
#[command(name = "vetrina", version, about = "Self-hostable live video shopping")]
struct Cli {
    /// Configuration file (default: ./vetrina.toml when it exists).
    #[arg(long, global = true, env = "VETRINA_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve(ServerFlags),
    /// Run the server with a demo boutique, its team and a show ten minutes ahead.
    Demo(ServerFlags),
    /// Apply database migrations and exit.
    Migrate(ServerFlags),
    /// Manage accounts without the web.
    #[command(subcommand)]
    User(UserCommand),
    /// Print the effective configuration, secrets redacted.
    PrintConfig(ServerFlags),
}

#[derive(Args, Clone, Default)]
struct ServerFlags {
    /// Address to listen on, such as 127.0.0.1:8080.
    #[arg(long)]
    listen: Option<String>,
    /// Directory for the SQLite database and uploads.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// postgres://... to use PostgreSQL instead of SQLite.
    #[arg(long)]
    database_url: Option<String>,
}

impl ServerFlags {
    fn flags(&self) -> Flags {
        Flags { listen: self.listen.clone(), data_dir: self.data_dir.clone(), database_url: self.database_url.clone() }
    }
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create an account; with --org, also an organisation it owns.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        /// The password (or set VETRINA_PASSWORD; never logged).
        #[arg(long, env = "VETRINA_PASSWORD", hide_env_values = true)]
        password: String,
        /// Create an organisation with this name, owned by the new account.
        #[arg(long)]
        org: Option<String>,
        #[arg(long, default_value = "EUR")]
        currency: String,
        #[arg(long, default_value = "Europe/Rome")]
        time_zone: String,
        #[command(flatten)]
        server: ServerFlags,
    },
}

fn init_logging(filter: &str) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    // Validated with the config, so the fallback is never used.
    let targets: tracing_subscriber::filter::Targets = filter.parse().unwrap_or_default();
    let _ = tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())))
        .with(targets)
        .try_init();
}

fn load(cli_config: Option<&PathBuf>, flags: &ServerFlags) -> anyhow::Result<Config> {
    Config::load(cli_config.map(PathBuf::as_path), |k| std::env::var(k).ok(), &flags.flags())
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the async runtime")?;
    runtime.block_on(run(cli))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::PrintConfig(flags) => {
            let config = load(cli.config.as_ref(), &flags)?;
            print!("{}", config.redacted_toml());
            Ok(())
        }
        Command::Migrate(flags) => {
            let config = load(cli.config.as_ref(), &flags)?;
            init_logging(&config.log);
            let store = vetrina::open_store(&config).await?;
            println!("schema version {}", store.schema_version().await?);
            store.close().await;
            Ok(())
        }
        Command::Serve(flags) => {
            let config = load(cli.config.as_ref(), &flags)?;
            init_logging(&config.log);
            let running = vetrina::start(&config, PasswordCost::default()).await?;
            println!("listening: {}", running.public_url);
            stop_on_signal(running).await
        }
        Command::Demo(flags) => {
            let config = load(cli.config.as_ref(), &flags)?;
            init_logging(&config.log);
            let running = vetrina::start(&config, PasswordCost::default()).await?;
            let demo = vetrina::demo::seed(&running.store, running.state.blobs.clone()).await?;
            let url = &running.public_url;
            let mut out = std::io::stdout().lock();
            writeln!(out, "console: {url}/console")?;
            writeln!(out, "show: {url}/shows/{}", demo.show_slug)?;
            if running.state.media.is_some() {
                let show = running.store.show_by_slug(&demo.show_slug).await?;
                writeln!(out, "whip: {url}/api/v1/shows/{}/whip", demo.show_slug)?;
                writeln!(out, "stream key: {}", running.store.stream_key(&show.id).await?)?;
                writeln!(out, "whep: {url}/api/v1/shows/{}/whep", demo.show_slug)?;
            }
            writeln!(out, "owner login: {} / {}", vetrina::demo::OWNER_EMAIL, vetrina::demo::PASSWORD)?;
            writeln!(out, "host login: {} / {}", vetrina::demo::HOST_EMAIL, vetrina::demo::PASSWORD)?;
            out.flush()?;
            drop(out);
            stop_on_signal(running).await
        }
        Command::User(UserCommand::Create { email, name, password, org, currency, time_zone, server }) => {
            let config = load(cli.config.as_ref(), &server)?;
            init_logging(&config.log);
            let email = account::email(&email)?;
            let name = vetrina_domain::text::name("name", &name, 100)?;
            account::password(&password)?;
            let currency = Currency::parse(&currency)?;
            let time_zone = vetrina_domain::show::time_zone(&time_zone)?;
            let store = vetrina::open_store(&config).await?;
            if store.user_by_email(&email).await?.is_some() {
                bail!("an account with the email {email} already exists");
            }
            let hash = vetrina_web::auth::hash_password(&password, PasswordCost::default())?;
            let user = store.create_user(&email, &name, &hash).await?;
            println!("user: {} {}", user.id, user.email);
            if let Some(org_name) = org {
                let org_name = vetrina_domain::text::required("org", &org_name, 120)?;
                let org = store.create_org(&org_name, &currency, &time_zone, &user.id).await?;
                println!("organisation: {} {} ({})", org.id, org.name, Role::Owner.as_str());
            }
            store.close().await;
            Ok(())
        }
    }
}

async fn stop_on_signal(running: vetrina::Running) -> anyhow::Result<()> {
    let token = running.shutdown_token();
    tokio::spawn(async move {
        vetrina::termination().await;
        tracing::info!("shutting down");
        token.cancel();
    });
    running.wait().await?;
    tracing::info!("stopped");
    Ok(())
}
