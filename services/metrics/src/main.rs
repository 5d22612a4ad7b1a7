//! `metrics`: runs the metrics service alone (production; see also
//! `talent up`, which runs both services in one process).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    talent_server::binary::main::<talent_metrics::Application>().await
}
