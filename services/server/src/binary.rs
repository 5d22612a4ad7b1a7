//! The `main` of a service's own binary (`recruiting`, `metrics`): its
//! flags, its settings from the file, the environment and the flags, logs,
//! and a run that stops on SIGINT or SIGTERM. Both binaries are
//! [`main`] over their service.

use std::{future::Future, net::SocketAddr};

use clap::{Args, Command, FromArgMatches};
use serde::{Serialize, de::DeserializeOwned};

use crate::{
    CancellationToken, Server, ServerConfig, ServerFlags, TlsReloader, config, shutdown, telemetry,
};

/// A service as its binary, the `talent` command and the tests run it.
pub trait Service: Sized {
    /// All of the service's settings, among them those every service has.
    type Config: Default + Serialize + DeserializeOwned + AsRef<ServerConfig>;
    /// The binary's name; environment variables that configure the service
    /// start with `TALENT_{NAME}_` ([`env_prefix`]).
    const NAME: &'static str;

    /// Connects to and migrates the database, then binds the gRPC port.
    fn build(config: Self::Config) -> impl Future<Output = anyhow::Result<Self>>;

    /// Serves until `shutdown` is cancelled, drains, then closes its pools.
    fn run_until_stopped(
        self,
        shutdown: CancellationToken,
    ) -> impl Future<Output = anyhow::Result<()>>;

    /// The server the service is bound with.
    fn server(&self) -> &Server;

    /// The gRPC address, with the real port when 0 was asked for.
    fn local_addr(&self) -> SocketAddr {
        self.server().local_addr()
    }

    /// The Prometheus `/metrics` address, when enabled.
    fn prometheus_addr(&self) -> Option<SocketAddr> {
        self.server().prometheus_addr()
    }

    /// The TLS configuration in use, when TLS is on (to reload it).
    fn tls(&self) -> Option<TlsReloader> {
        self.server().tls()
    }
}

/// The prefix of the environment variables that configure service `S`:
/// `TALENT_RECRUITING_` for `recruiting`.
pub fn env_prefix<S: Service>() -> String {
    format!("TALENT_{}_", S::NAME.to_uppercase())
}

/// The command line of service `S`.
fn command<S: Service>() -> Command {
    let about = format!(
        "The talent {name} service. Every flag can also be set in the environment as \
         {prefix}<FLAG> (e.g. {prefix}DATABASE_URL) or in the --config file.",
        name = S::NAME,
        prefix = env_prefix::<S>(),
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
        &env_prefix::<S>(),
        &flags,
    )?;
    let traces = telemetry::init(config.as_ref().log_format, &format!("talent-{}", S::NAME))?;
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

        async fn build(_: Self::Config) -> anyhow::Result<Self> {
            Ok(Self)
        }

        async fn run_until_stopped(self, _: CancellationToken) -> anyhow::Result<()> {
            Ok(())
        }

        fn server(&self) -> &Server {
            unimplemented!("the command line's tests never build the fake")
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
