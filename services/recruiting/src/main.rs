//! `recruiting`: runs the recruiting service alone (production; see also
//! `talent up`, which runs both services in one process).

use clap::Parser;
use talent_recruiting::{Application, Config, ENV_PREFIX};
use talent_server::{CancellationToken, ServerFlags, config, shutdown, telemetry};

/// The talent recruiting service. Every flag can also be set in the
/// environment as TALENT_RECRUITING_<FLAG> (e.g. TALENT_RECRUITING_DATABASE_URL)
/// or in the --config file.
#[derive(Parser)]
#[command(version)]
struct Cli {
    #[command(flatten)]
    server: ServerFlags,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config: Config = config::load(
        &Config::default(),
        cli.server.config.as_deref(),
        ENV_PREFIX,
        &cli.server,
    )?;
    telemetry::init(config.server.log_format);
    let app = Application::build(config).await?;
    let token = CancellationToken::new();
    tokio::spawn(shutdown::cancel_on_signal(token.clone()));
    app.run_until_stopped(token).await
}
