//! The `main` of a service's own binary (`recruiting`, `metrics`): its
//! flags, its settings from the file, the environment and the flags, logs,
//! and a run that stops on SIGINT or SIGTERM. Both binaries are
//! [`main`] over their service.

use std::future::Future;

use clap::{Args, Command, FromArgMatches};
use serde::{Serialize, de::DeserializeOwned};

use crate::{CancellationToken, LogFormat, ServerFlags, config, shutdown, telemetry};

/// A service as its binary runs it.
pub trait Service: Sized {
    /// All of the service's settings.
    type Config: Default + Serialize + DeserializeOwned;
    /// The binary's name.
    const NAME: &'static str;
    /// Environment variables that configure the service start with this.
    const ENV_PREFIX: &'static str;

    fn log_format(config: &Self::Config) -> LogFormat;

    fn build(config: Self::Config) -> impl Future<Output = anyhow::Result<Self>>;

    fn run_until_stopped(
        self,
        shutdown: CancellationToken,
    ) -> impl Future<Output = anyhow::Result<()>>;
}

/// The command line of service `S`.
fn command<S: Service>() -> Command {
    let about = format!(
        "The talent {name} service. Every flag can also be set in the environment as \
         {prefix}<FLAG> (e.g. {prefix}DATABASE_URL) or in the --config file.",
        name = S::NAME,
        prefix = S::ENV_PREFIX,
    );
    // After the flags, whose own description would replace it.
    ServerFlags::augment_args(Command::new(S::NAME))
        .about(about)
        .version(env!("CARGO_PKG_VERSION"))
}

/// Parses the command line, loads the settings, starts logging, builds the
/// service and runs it until a signal.
pub async fn main<S: Service>() -> anyhow::Result<()> {
    let flags = ServerFlags::from_arg_matches(&command::<S>().get_matches())?;
    let config: S::Config = config::load(
        &S::Config::default(),
        flags.config.as_deref(),
        S::ENV_PREFIX,
        &flags,
    )?;
    let traces = telemetry::init(S::log_format(&config), &format!("talent-{}", S::NAME))?;
    let app = S::build(config).await?;
    let token = CancellationToken::new();
    tokio::spawn(shutdown::cancel_on_signal(token.clone()));
    let ran = app.run_until_stopped(token).await;
    if let Some(traces) = traces {
        traces.shutdown().await;
    }
    ran
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fake;

    impl Service for Fake {
        type Config = crate::ServerConfig;
        const NAME: &'static str = "fake";
        const ENV_PREFIX: &'static str = "TALENT_FAKE_";

        fn log_format(config: &Self::Config) -> LogFormat {
            config.log_format
        }

        async fn build(_: Self::Config) -> anyhow::Result<Self> {
            Ok(Self)
        }

        async fn run_until_stopped(self, _: CancellationToken) -> anyhow::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_command_line_names_the_service_and_its_environment() {
        command::<Fake>().debug_assert();
        let help = command::<Fake>().render_help().to_string();
        assert!(help.contains("The talent fake service"), "{help}");
        assert!(help.contains("TALENT_FAKE_DATABASE_URL"), "{help}");
        let matches = command::<Fake>()
            .try_get_matches_from(["fake", "--database-url", "sqlite://x.db"])
            .unwrap();
        let flags = ServerFlags::from_arg_matches(&matches).unwrap();
        assert_eq!(flags.database_url.as_deref(), Some("sqlite://x.db"));
    }
}
