//! Test settings and typed helpers for the recruiting service.

use prost::Message as _;
use talent_proto::talent::{events::v1 as ev, recruiting::v1 as pb};
use tonic::{Request, transport::Channel};

use super::TestApp;

/// The admin key every test service is configured with.
pub const ADMIN_KEY: &str = "test-admin-key-0123456789";

/// Settings the recruiting service gets in every test.
pub fn configure(config: &mut talent_recruiting::Config) {
    config.server.admin_key = Some(ADMIN_KEY.to_owned());
    config.person_key_secret = "test-city-secret-0123456789".to_owned();
    config.encryption_key =
        "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff".to_owned();
    // No background sweep: tests see only what they cause.
    config.expiry_sweep_secs = 0;
}

/// `message` with `authorization: Bearer <key>`.
pub fn authed<T>(message: T, key: &str) -> Request<T> {
    let mut request = Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {key}").parse().expect("a valid header"),
    );
    request
}

/// A platform created by the admin, with one API key.
#[derive(Debug, Clone)]
pub struct TestPlatform {
    pub id: String,
    pub key: String,
}

impl TestPlatform {
    pub fn posting_name(&self, external_id: &str) -> String {
        format!("platforms/{}/postings/{external_id}", self.id)
    }
}

/// The clients of the recruiting service.
pub struct Clients {
    pub admin: pb::admin_service_client::AdminServiceClient<Channel>,
    pub employers: pb::employer_service_client::EmployerServiceClient<Channel>,
    pub postings: pb::posting_service_client::PostingServiceClient<Channel>,
}

impl TestApp {
    /// The URL of the recruiting service's database, to inspect it raw.
    pub fn recruiting_database_url(&self) -> &str {
        &self.databases.recruiting_url
    }

    /// The URL of the metrics service's database, to inspect it raw.
    pub fn metrics_database_url(&self) -> &str {
        &self.databases.metrics_url
    }

    pub async fn recruiting(&self) -> Clients {
        let channel = self.recruiting_channel().await;
        Clients {
            admin: pb::admin_service_client::AdminServiceClient::new(channel.clone()),
            employers: pb::employer_service_client::EmployerServiceClient::new(channel.clone()),
            postings: pb::posting_service_client::PostingServiceClient::new(channel),
        }
    }

    /// Creates platform `id` and issues it a key.
    pub async fn create_platform(&self, id: &str) -> TestPlatform {
        let mut admin = self.recruiting().await.admin;
        admin
            .create_platform(authed(
                pb::CreatePlatformRequest {
                    platform_id: id.to_owned(),
                    platform: Some(pb::Platform {
                        display_name: format!("Platform {id}"),
                        ..Default::default()
                    }),
                    request_id: String::new(),
                },
                ADMIN_KEY,
            ))
            .await
            .expect("creating a platform");
        let key = admin
            .issue_api_key(authed(
                pb::IssueApiKeyRequest {
                    parent: format!("platforms/{id}"),
                    expire_time: None,
                },
                ADMIN_KEY,
            ))
            .await
            .expect("issuing a key")
            .into_inner()
            .secret;
        TestPlatform {
            id: id.to_owned(),
            key,
        }
    }

    pub async fn push_employers(
        &self,
        platform: &TestPlatform,
        employers: Vec<pb::Employer>,
    ) -> Vec<pb::EmployerResult> {
        self.recruiting()
            .await
            .employers
            .batch_upsert_employers(authed(
                pb::BatchUpsertEmployersRequest { employers },
                &platform.key,
            ))
            .await
            .expect("BatchUpsertEmployers")
            .into_inner()
            .results
    }

    /// Pushes postings with `BatchUpsertPostings`.
    pub async fn push_postings(
        &self,
        platform: &TestPlatform,
        postings: Vec<pb::Posting>,
    ) -> Vec<pb::PostingResult> {
        self.recruiting()
            .await
            .postings
            .batch_upsert_postings(authed(
                pb::BatchUpsertPostingsRequest { postings },
                &platform.key,
            ))
            .await
            .expect("BatchUpsertPostings")
            .into_inner()
            .results
    }

    pub async fn get_posting(&self, platform: &TestPlatform, external_id: &str) -> pb::Posting {
        self.recruiting()
            .await
            .postings
            .get_posting(authed(
                pb::GetPostingRequest {
                    name: platform.posting_name(external_id),
                },
                &platform.key,
            ))
            .await
            .expect("GetPosting")
            .into_inner()
            .posting
            .expect("a posting")
    }

    /// Writes an employer and a posting of it as a new platform `id`,
    /// waits for the relay to deliver the outbox, and checks that the
    /// relay counts every outbox row delivered; returns recruiting's
    /// `/metrics` page as it is then.
    pub async fn relay_a_posting(&self, id: &str) -> String {
        let platform = self.create_platform(id).await;
        let code = credit_code("91370212MA3C00007");
        self.push_employers(
            &platform,
            vec![employer(&code, "Laoshan Software", "370212", "I")],
        )
        .await;
        self.push_postings(&platform, vec![posting("p1", "Rust Engineer", &code)])
            .await;
        let written = self.outbox().await.len();
        assert!(written > 0, "the posting wrote events");
        self.relay_drained().await;
        let page = TestApp::prometheus_text(self.recruiting_prometheus_addr).await;
        assert_eq!(
            super::sample(&page, "talent_relay_delivered_total"),
            Some(written as f64),
            "{page}"
        );
        page
    }

    /// Every outbox row in sequence order: (seq, delivered, decoded event).
    pub async fn outbox(&self) -> Vec<(i64, ev::Event)> {
        let rows: Vec<(i64, Vec<u8>)> = match self.backend {
            talent_server::Backend::Sqlite => {
                let pool = sqlx::SqlitePool::connect(self.recruiting_database_url())
                    .await
                    .unwrap();
                let rows = sqlx::query_as("SELECT seq, payload FROM outbox ORDER BY seq")
                    .fetch_all(&pool)
                    .await
                    .unwrap();
                pool.close().await;
                rows
            }
            talent_server::Backend::Postgres => {
                let pool = sqlx::PgPool::connect(self.recruiting_database_url())
                    .await
                    .unwrap();
                let rows = sqlx::query_as("SELECT seq, payload FROM outbox ORDER BY seq")
                    .fetch_all(&pool)
                    .await
                    .unwrap();
                pool.close().await;
                rows
            }
        };
        rows.into_iter()
            .map(|(seq, payload)| (seq, ev::Event::decode(payload.as_slice()).unwrap()))
            .collect()
    }

    /// The payloads of the outbox, in order.
    pub async fn outbox_payloads(&self) -> Vec<ev::event::Payload> {
        self.outbox()
            .await
            .into_iter()
            .map(|(_, e)| e.payload.expect("every event has a payload"))
            .collect()
    }
}

/// The unified social credit code `base17` + its GB 32100-2015 check
/// character.
pub fn credit_code(base17: &str) -> String {
    talent_codes::credit_code::with_check_character(base17).expect("17 credit code characters")
}

pub fn employer(code: &str, name: &str, district: &str, industry: &str) -> pb::Employer {
    pb::Employer {
        credit_code: code.to_owned(),
        display_name: name.to_owned(),
        district: district.to_owned(),
        industry: industry.to_owned(),
        ..Default::default()
    }
}

/// A minimal valid posting.
pub fn posting(external_id: &str, title: &str, employer_code: &str) -> pb::Posting {
    pb::Posting {
        external_id: external_id.to_owned(),
        title: title.to_owned(),
        employer_credit_code: employer_code.to_owned(),
        headcount: 1,
        ..Default::default()
    }
}

/// Seconds since the epoch as a timestamp.
pub fn ts(seconds: i64) -> prost_types::Timestamp {
    prost_types::Timestamp { seconds, nanos: 0 }
}

/// Now, in whole seconds.
pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

pub const DAY: i64 = 86_400;

// google.rpc messages, decoded here so the tests need no extra crate.

#[derive(Clone, PartialEq, prost::Message)]
pub struct RpcStatus {
    #[prost(int32, tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub message: String,
    #[prost(message, repeated, tag = "3")]
    pub details: Vec<prost_types::Any>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct BadRequest {
    #[prost(message, repeated, tag = "1")]
    pub field_violations: Vec<FieldViolation>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct FieldViolation {
    #[prost(string, tag = "1")]
    pub field: String,
    #[prost(string, tag = "2")]
    pub description: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ErrorInfo {
    #[prost(string, tag = "1")]
    pub reason: String,
    #[prost(string, tag = "2")]
    pub domain: String,
}

pub fn violations_in(details: &[prost_types::Any]) -> Vec<String> {
    details
        .iter()
        .filter(|any| any.type_url.ends_with("google.rpc.BadRequest"))
        .flat_map(|any| {
            BadRequest::decode(any.value.as_slice())
                .unwrap()
                .field_violations
        })
        .map(|v| v.field)
        .collect()
}

/// The field paths of the BadRequest of a call's error.
pub fn violated_fields(status: &tonic::Status) -> Vec<String> {
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    violations_in(&RpcStatus::decode(status.details()).unwrap().details)
}

/// The ErrorInfo reason of a call's error.
pub fn error_reason(status: &tonic::Status) -> Option<String> {
    RpcStatus::decode(status.details())
        .ok()?
        .details
        .iter()
        .find(|any| any.type_url.ends_with("google.rpc.ErrorInfo"))
        .map(|any| ErrorInfo::decode(any.value.as_slice()).unwrap().reason)
}

/// `(code, field paths)` of a rejected batch result's `error`.
#[allow(unused_macros)]
macro_rules! item_error {
    ($result:expr) => {{
        let error = $result
            .error
            .as_ref()
            .expect("a rejected item carries its error");
        (
            tonic::Code::from_i32(error.code),
            $crate::support::recruiting::violations_in(&error.details),
        )
    }};
}
#[allow(unused_imports)]
pub(crate) use item_error;
