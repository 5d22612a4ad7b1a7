//! The pusher: postings in batches over `BatchUpsertPostings`, spread
//! round robin across the recruiting replicas; a batch that fails (its
//! replica down) goes to the next replica, and is sent again until one
//! accepts it (re-sending is idempotent).

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use anyhow::bail;
use talent::client::{self, Authed};
use talent_proto::talent::recruiting::v1::{
    self as rpb, posting_service_client::PostingServiceClient,
};

const BATCH: u64 = 500;

/// Pushes `total` postings made from `template`; `pushed` counts those
/// acknowledged.
pub async fn push_all(
    addrs: Vec<String>,
    key: String,
    template: rpb::Posting,
    total: u64,
    pushed: Arc<AtomicU64>,
) -> anyhow::Result<()> {
    let mut channels: Vec<Option<Authed>> = vec![None; addrs.len()];
    let mut replica = 0;
    let mut next = 0;
    let mut failures = 0u32;
    while next < total {
        let end = (next + BATCH).min(total);
        let postings: Vec<rpb::Posting> = (next..end)
            .map(|i| rpb::Posting {
                external_id: format!("fault-{i:07}"),
                title: format!("{} #{i}", template.title),
                // Published now: the figure is read for the days around today.
                publish_time: None,
                expire_time: None,
                fair: String::new(),
                ..template.clone()
            })
            .collect();
        let slot = &mut channels[replica];
        let attempt = async {
            let channel = match slot {
                Some(channel) => channel.clone(),
                None => {
                    let channel =
                        client::connect_with_key(&addrs[replica], "recruiting", &key).await?;
                    *slot = Some(channel.clone());
                    channel
                }
            };
            let response = PostingServiceClient::new(channel)
                .batch_upsert_postings(rpb::BatchUpsertPostingsRequest { postings })
                .await?
                .into_inner();
            for r in &response.results {
                if let Some(err) = &r.error {
                    bail!("posting {} rejected: {}", r.external_id, err.message);
                }
            }
            anyhow::Ok(())
        };
        match attempt.await {
            Ok(()) => {
                next = end;
                pushed.store(next, Ordering::Relaxed);
                failures = 0;
            }
            Err(err) if err.to_string().contains("rejected") => return Err(err),
            Err(_) => {
                // Reconnect to this replica next time it is tried.
                channels[replica] = None;
                failures += 1;
                // Every replica failed in turn: wait before the next round.
                if failures.is_multiple_of(addrs.len() as u32) {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        replica = (replica + 1) % addrs.len();
    }
    Ok(())
}
