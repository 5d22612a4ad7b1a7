//! The gRPC services of `talent.recruiting.v1`. Their RPCs answer
//! `UNIMPLEMENTED` until the recruiting milestone implements them.

use talent_proto::talent::recruiting::v1 as pb;

pub struct Admin;
impl pb::admin_service_server::AdminService for Admin {}

pub struct Employers;
impl pb::employer_service_server::EmployerService for Employers {}

pub struct Postings;
impl pb::posting_service_server::PostingService for Postings {}

pub struct Resumes;
impl pb::resume_service_server::ResumeService for Resumes {}

pub struct Applications;
impl pb::application_service_server::ApplicationService for Applications {}

pub struct Employments;
impl pb::employment_service_server::EmploymentService for Employments {}

pub struct Fairs;
impl pb::fair_service_server::FairService for Fairs {}
