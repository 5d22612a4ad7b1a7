//! `recruiting`: runs the recruiting service alone (production; see also
//! `talent up`, which runs both services in one process).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    talent_server::binary::main::<talent_recruiting::Application>().await
}
