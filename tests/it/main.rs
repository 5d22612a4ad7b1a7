//! The end-to-end tests: both services in-process on fresh databases,
//! reached through their public gRPC APIs (see `support`). One test binary
//! for all of them, so the workspace links it once instead of once a file.

mod support;

mod audit;
mod cli;
mod codes_conformance;
mod disclosure;
mod e2e;
mod faults;
mod foundation;
mod fuzz;
mod metrics_api;
mod metrics_bulk;
mod metrics_figures;
mod metrics_model;
mod openings_order;
mod quotas;
mod recruiting_admin;
mod recruiting_applications;
mod recruiting_batches;
mod recruiting_employers;
mod recruiting_employments;
mod recruiting_erasure;
mod recruiting_fairs;
mod recruiting_hires_batch;
mod recruiting_outbox;
mod recruiting_postings;
mod recruiting_resumes;
mod recruiting_store;
mod reflection;
mod relay_health;
mod relay_key_file;
mod shutdown;
mod startup;
mod timestamps;
mod tls;
mod traces;
