//! The gRPC services of `talent.metrics.v1`. Their RPCs answer
//! `UNIMPLEMENTED` until the metrics milestone implements them.

use talent_proto::talent::metrics::v1 as pb;

pub struct Admin;
impl pb::admin_service_server::AdminService for Admin {}

pub struct Ingest;
impl pb::ingest_service_server::IngestService for Ingest {}

pub struct Statistics;
impl pb::statistics_service_server::StatisticsService for Statistics {}
