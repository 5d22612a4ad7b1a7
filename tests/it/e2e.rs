//! From a platform's push to the bureau's figure: two platforms push through
//! the public recruiting API, the relay carries the events to metrics, a
//! university roster is imported, and every figure of the period report is
//! checked against numbers worked out by hand below. Then the same under
//! faults: metrics down mid-stream, recruiting restarted mid-relay, and
//! duplicate deliveries.

use crate::support;

use support::{
    TestApp,
    metrics::{self as m, Metrics},
    recruiting::{TestPlatform, authed, credit_code, employer, posting},
};
use talent_proto::{
    google::r#type::Date,
    talent::{
        metrics::v1 as mpb,
        recruiting::v1 as rpb,
        r#type::v1::{DegreeLevel, Discipline, Period},
    },
};

const UNIVERSITY: &str = "4137010423";

fn date(y: i32, mo: i32, d: i32) -> Date {
    Date {
        year: y,
        month: mo,
        day: d,
    }
}

/// Noon in the city (UTC+8) on a day, as a timestamp.
fn noon(y: i32, mo: u8, d: u8) -> prost_types::Timestamp {
    let day = time::Date::from_calendar_date(y, time::Month::try_from(mo).unwrap(), d).unwrap();
    let at = day.with_hms(4, 0, 0).unwrap().assume_utc();
    prost_types::Timestamp {
        seconds: at.unix_timestamp(),
        nanos: 0,
    }
}

fn resident_id(n: u16) -> String {
    talent_codes::resident_id::make(
        "370202",
        time::Date::from_calendar_date(1998, time::Month::March, 1).unwrap(),
        n,
    )
}

fn resume(external_id: &str, person: u16, degree: DegreeLevel) -> rpb::Resume {
    rpb::Resume {
        external_id: external_id.into(),
        resident_id_number: resident_id(person),
        full_name: format!("Person {person}"),
        statistical_use_consent: true,
        receive_time: Some(noon(2020, 1, 15)),
        education: if degree == DegreeLevel::Unspecified {
            vec![]
        } else {
            vec![rpb::EducationEntry {
                degree_level: degree as i32,
                university_code: UNIVERSITY.into(),
                university_name: "Ocean University of China".into(),
                discipline: Discipline::Engineering as i32,
                graduation_date: Some(date(2020, 6, 30)),
                ..Default::default()
            }]
        },
        ..Default::default()
    }
}

async fn push_resumes(app: &TestApp, platform: &TestPlatform, resumes: Vec<rpb::Resume>) {
    let mut client =
        rpb::resume_service_client::ResumeServiceClient::new(app.recruiting_channel().await);
    let request = authed(
        tokio_stream::iter([rpb::UpsertResumesRequest { resumes }]),
        &platform.key,
    );
    let mut results = client.upsert_resumes(request).await.unwrap().into_inner();
    use tokio_stream::StreamExt;
    while let Some(message) = results.next().await {
        for r in message.unwrap().results {
            assert_eq!(r.outcome(), rpb::UpsertOutcome::Created, "{r:?}");
        }
    }
}

async fn record_hire(
    app: &TestApp,
    platform: &TestPlatform,
    person: u16,
    employer: &str,
    start: Date,
) -> String {
    let mut client = rpb::employment_service_client::EmploymentServiceClient::new(
        app.recruiting_channel().await,
    );
    client
        .record_hire(authed(
            rpb::RecordHireRequest {
                parent: format!("platforms/{}", platform.id),
                person: Some(rpb::record_hire_request::Person::ResidentIdNumber(
                    resident_id(person),
                )),
                employer_credit_code: employer.into(),
                start_date: Some(start),
                ..Default::default()
            },
            &platform.key,
        ))
        .await
        .unwrap()
        .into_inner()
        .employment
        .unwrap()
        .name
}

struct City {
    alpha: TestPlatform,
    beta: TestPlatform,
    e1: String,
    e2: String,
    e3: String,
}

/// The scenario of the module comment, pushed through the public API.
async fn push_city(app: &TestApp) -> City {
    let alpha = app.create_platform("alpha").await;
    let beta = app.create_platform("beta").await;
    let e1 = credit_code("91370212MA3C00001");
    let e2 = credit_code("91370211MA3C00002");
    let e3 = credit_code("91110105MA3C00003");
    for result in app
        .push_employers(
            &alpha,
            vec![
                employer(&e1, "Laoshan Software", "370212", "I"),
                employer(&e2, "Huangdao Shipyard", "370211", "C"),
                employer(&e3, "Beijing Software", "110105", "I"),
            ],
        )
        .await
    {
        assert!(result.error.is_none(), "{result:?}");
    }
    app.push_employers(
        &beta,
        vec![employer(&e1, "Laoshan Software", "370212", "I")],
    )
    .await;

    // Postings: alpha's p1 and beta's q1 are one opening (same employer,
    // title up to case and spaces, district, overlapping); p2 another.
    let mut p1 = posting("p1", "Rust Engineer", &e1);
    p1.headcount = 3;
    p1.publish_time = Some(noon(2020, 2, 1));
    let mut q1 = posting("q1", "rust  engineer", &e1);
    q1.headcount = 5;
    q1.publish_time = Some(noon(2020, 2, 10));
    let mut p2 = posting("p2", "Welder", &e2);
    p2.headcount = 2;
    p2.publish_time = Some(noon(2020, 3, 1));
    for (platform, postings) in [(&alpha, vec![p1, p2]), (&beta, vec![q1])] {
        for r in app.push_postings(platform, postings).await {
            assert!(r.error.is_none(), "{r:?}");
        }
    }

    // A fair with two employers.
    let mut fairs =
        rpb::fair_service_client::FairServiceClient::new(app.recruiting_channel().await);
    let fair = fairs
        .create_fair(authed(
            rpb::CreateFairRequest {
                parent: "platforms/alpha".into(),
                fair_id: "spring".into(),
                fair: Some(rpb::Fair {
                    display_name: "Spring online fair".into(),
                    start_time: Some(noon(2020, 4, 1)),
                    end_time: Some(noon(2020, 4, 2)),
                    ..Default::default()
                }),
                request_id: String::new(),
            },
            &alpha.key,
        ))
        .await
        .unwrap()
        .into_inner()
        .fair
        .unwrap();
    for code in [&e1, &e2] {
        fairs
            .register_participation(authed(
                rpb::RegisterParticipationRequest {
                    parent: fair.name.clone(),
                    participation: Some(rpb::Participation {
                        employer_credit_code: code.clone(),
                        ..Default::default()
                    }),
                },
                &alpha.key,
            ))
            .await
            .unwrap();
    }

    // Résumés: persons 1–5 on alpha, person 1 again on beta.
    push_resumes(
        app,
        &alpha,
        vec![
            resume("r1", 1, DegreeLevel::Master),
            resume("r2", 2, DegreeLevel::Bachelor),
            resume("r3", 3, DegreeLevel::Bachelor),
            resume("r4", 4, DegreeLevel::JuniorCollege),
            resume("r5", 5, DegreeLevel::Unspecified),
        ],
    )
    .await;
    push_resumes(app, &beta, vec![resume("s1", 1, DegreeLevel::Bachelor)]).await;

    // Applications: person 2 is hired through the pipeline (March, in the
    // city); person 3's application is rejected.
    let mut apps = rpb::application_service_client::ApplicationServiceClient::new(
        app.recruiting_channel().await,
    );
    let create =
        |resume: &str, posting: &str, id: &str, month: u8, day: u8| rpb::CreateApplicationRequest {
            parent: "platforms/alpha".into(),
            application_id: id.into(),
            application: Some(rpb::Application {
                resume: format!("platforms/alpha/resumes/{resume}"),
                posting: format!("platforms/alpha/postings/{posting}"),
                submit_time: Some(noon(2020, month, day)),
                ..Default::default()
            }),
            request_id: String::new(),
        };
    let hired = apps
        .create_application(authed(create("r2", "p1", "a1", 2, 5), &alpha.key))
        .await
        .unwrap()
        .into_inner()
        .application
        .unwrap();
    for state in [
        rpb::ApplicationState::Screening,
        rpb::ApplicationState::Interview,
        rpb::ApplicationState::Offered,
    ] {
        apps.update_application_status(authed(
            rpb::UpdateApplicationStatusRequest {
                name: hired.name.clone(),
                state: state as i32,
                ..Default::default()
            },
            &alpha.key,
        ))
        .await
        .unwrap();
    }
    apps.update_application_status(authed(
        rpb::UpdateApplicationStatusRequest {
            name: hired.name.clone(),
            state: rpb::ApplicationState::Hired as i32,
            hire: Some(rpb::HireDetails {
                start_date: Some(date(2020, 3, 1)),
                ..Default::default()
            }),
            ..Default::default()
        },
        &alpha.key,
    ))
    .await
    .unwrap();
    let rejected = apps
        .create_application(authed(create("r3", "p2", "a2", 3, 5), &alpha.key))
        .await
        .unwrap()
        .into_inner()
        .application
        .unwrap();
    apps.update_application_status(authed(
        rpb::UpdateApplicationStatusRequest {
            name: rejected.name,
            state: rpb::ApplicationState::Rejected as i32,
            ..Default::default()
        },
        &alpha.key,
    ))
    .await
    .unwrap();

    // Direct hires: person 1 (HIGH) by beta in April, in the city; person
    // 4 outside the city; person 3 in May, separated on 1 June; person 5
    // (no qualification: not a talent) in March.
    record_hire(app, &beta, 1, &e1, date(2020, 4, 1)).await;
    record_hire(app, &alpha, 4, &e3, date(2020, 2, 1)).await;
    let p3 = record_hire(app, &alpha, 3, &e2, date(2020, 5, 10)).await;
    record_hire(app, &alpha, 5, &e2, date(2020, 3, 15)).await;
    let mut employments = rpb::employment_service_client::EmploymentServiceClient::new(
        app.recruiting_channel().await,
    );
    employments
        .record_separation(authed(
            rpb::RecordSeparationRequest {
                name: p3,
                end_date: Some(date(2020, 6, 1)),
            },
            &alpha.key,
        ))
        .await
        .unwrap();
    City {
        alpha,
        beta,
        e1,
        e2,
        e3,
    }
}

/// The cohort of 2020 at the university: persons 1, 2, 3, 4 and 6.
async fn import_roster(metrics: &Metrics) {
    let rows = [
        (1, DegreeLevel::Master),
        (2, DegreeLevel::Bachelor),
        (3, DegreeLevel::Bachelor),
        (4, DegreeLevel::JuniorCollege),
        (6, DegreeLevel::Bachelor),
    ]
    .into_iter()
    .map(|(person, degree)| mpb::GraduateRosterRow {
        row_id: person.to_string(),
        person: Some(mpb::graduate_roster_row::Person::ResidentIdNumber(
            resident_id(person),
        )),
        university_code: UNIVERSITY.into(),
        university_name: "Ocean University of China".into(),
        degree_level: degree as i32,
        discipline: Discipline::Engineering as i32,
        graduation_date: Some(date(2020, 6, 30)),
    })
    .collect();
    let response = metrics.import_roster(rows).await;
    assert_eq!(
        (
            response.accepted_count + response.unchanged_count,
            response.rejected_count
        ),
        (5, 0),
        "{response:?}"
    );
}

fn half_year() -> Period {
    Period {
        start_date: Some(date(2020, 1, 1)),
        end_date: Some(date(2020, 7, 1)),
    }
}

async fn report(metrics: &Metrics, key: &str) -> mpb::GetPeriodReportResponse {
    metrics
        .stats()
        .get_period_report(m::with_key(
            mpb::GetPeriodReportRequest {
                period: Some(half_year()),
                cohort_year: 2020,
                as_of: Some(date(2020, 6, 30)),
                as_known_at: None,
            },
            key,
        ))
        .await
        .unwrap()
        .into_inner()
}

/// Every figure of the period report, worked out by hand from the scenario.
fn assert_report(r: &mpb::GetPeriodReportResponse) {
    let g = r.talent_gathered.as_ref().unwrap();
    // Gathered: person 2 (GENERAL, March), 1 (HIGH, April), 3 (GENERAL,
    // May). Person 4 works outside the city; person 5 is not a talent.
    assert_eq!(m::value(&g.talents_gathered), 3, "talents gathered");
    assert_eq!(m::value(&g.high_tier), 1, "of which HIGH");
    let o = r.graduate_outcomes.as_ref().unwrap();
    // Cohort 1, 2, 3, 4, 6; on 30 June employed: 1 and 2 (city), 4
    // (outside); 3 left on 1 June; 6 never worked.
    assert_eq!(m::value(&o.cohort_size), 5, "cohort");
    assert_eq!(m::value(&o.employed), 3, "employed");
    assert_eq!(m::value(&o.retained), 2, "retained");
    let retention = o.retention_rate.as_ref().unwrap();
    assert_eq!((retention.numerator, retention.denominator), (2, 5));
    let employment = o.employment_rate.as_ref().unwrap();
    assert_eq!((employment.numerator, employment.denominator), (3, 5));
    let a = r.recruitment_activity.as_ref().unwrap();
    assert_eq!(m::value(&a.postings), 3, "postings (every copy)");
    assert_eq!(m::value(&a.openings), 2, "openings (copies merged)");
    assert_eq!(m::value(&a.headcount_demanded), 7, "max(3, 5) + 2");
    assert_eq!(m::value(&a.employers_posting), 2, "employers posting");
    assert_eq!(m::value(&a.fairs_held), 1, "fairs");
    assert_eq!(m::value(&a.employer_participations), 2, "participations");
    assert_eq!(m::value(&a.resumes_received), 6, "résumés");
    assert_eq!(m::value(&a.distinct_job_seekers), 5, "job seekers");
    assert_eq!(m::value(&a.applications), 2, "applications");
}

#[tokio::test]
async fn the_period_report_counts_what_the_platforms_pushed() {
    let app = TestApp::spawn_with_relay().await;
    // The bureau's own READ key (EXACT) sees the true figures, small as
    // every one here is.
    let metrics = Metrics::connect(&app).await;
    let exact = metrics.exact_key.clone();
    let city = push_city(&app).await;
    import_roster(&metrics).await;
    app.relay_drained().await;
    let r = report(&metrics, &exact).await;
    assert_report(&r);

    // Attribution: person 1's hire was reported by beta, the others by alpha.
    let by_platform = metrics
        .stats()
        .get_talent_gathered(m::with_key(
            mpb::GetTalentGatheredRequest {
                period: Some(half_year()),
                group_by: vec![mpb::Dimension::Platform as i32],
                ..Default::default()
            },
            &exact,
        ))
        .await
        .unwrap()
        .into_inner();
    let mut counts: Vec<(String, i64)> = by_platform
        .rows
        .iter()
        .map(|row| {
            let platform = format!("{:?}", row.dimensions);
            (
                platform,
                m::value(&row.figures.as_ref().unwrap().talents_gathered),
            )
        })
        .collect();
    counts.sort();
    assert_eq!(counts.len(), 2, "{counts:?}");
    assert!(
        counts[0].0.contains("alpha") && counts[0].1 == 2,
        "{counts:?}"
    );
    assert!(
        counts[1].0.contains("beta") && counts[1].1 == 1,
        "{counts:?}"
    );
    let _ = (city.e1, city.e2, city.e3, city.alpha.id, city.beta.id);
    app.stop().await;
}

/// Pushes postings `bulk-{i}` for `i` in `range` (one event each).
async fn push_many(
    app: &TestApp,
    platform: &TestPlatform,
    employer: &str,
    range: std::ops::Range<u32>,
) {
    let postings: Vec<rpb::Posting> = range
        .map(|i| {
            let mut p = posting(&format!("bulk-{i}"), &format!("Job {i}"), employer);
            p.publish_time = Some(noon(2020, 5, 1));
            p
        })
        .collect();
    for chunk in postings.chunks(100) {
        for r in app.push_postings(platform, chunk.to_vec()).await {
            assert!(r.error.is_none(), "{r:?}");
        }
    }
}

async fn postings_count(metrics: &Metrics, key: &str) -> i64 {
    let response = metrics
        .stats()
        .get_recruitment_activity(m::with_key(
            mpb::GetRecruitmentActivityRequest {
                period: Some(half_year()),
                ..Default::default()
            },
            key,
        ))
        .await
        .unwrap()
        .into_inner();
    m::value(&response.total.unwrap().postings)
}

async fn fault_setup(app: &TestApp) -> (Metrics, String, TestPlatform, String) {
    let metrics = Metrics::connect(app).await;
    let operator = metrics.operator_key.clone();
    let platform = app.create_platform("bulk").await;
    let employer_code = credit_code("91370212MA3C00009");
    app.push_employers(
        &platform,
        vec![employer(&employer_code, "Bulk Co", "370212", "I")],
    )
    .await;
    (metrics, operator, platform, employer_code)
}

#[tokio::test]
async fn metrics_down_in_the_middle_of_the_stream_loses_and_doubles_nothing() {
    let mut app = TestApp::spawn_with_relay().await;
    let (_, operator, platform, employer) = fault_setup(&app).await;
    push_many(&app, &platform, &employer, 0..300).await;
    app.stop_metrics().await;
    // Pushed while metrics is down: the relay backs off and keeps them.
    push_many(&app, &platform, &employer, 300..600).await;
    app.start_metrics().await;
    push_many(&app, &platform, &employer, 600..700).await;
    app.relay_drained().await;
    let metrics = Metrics::connect(&app).await;
    assert_eq!(postings_count(&metrics, &operator).await, 700);
    app.stop().await;
}

/// Holds the advisory lock of `platform` on the PostgreSQL recruiting
/// database, which every writer of the platform takes first: a writer then
/// waits holding its pool connection.
async fn hold_platform_lock(app: &TestApp, platform: &str) -> sqlx::PgConnection {
    use sqlx::Connection;
    let mut c = sqlx::PgConnection::connect(app.recruiting_database_url())
        .await
        .unwrap();
    sqlx::query("SELECT pg_advisory_lock(hashtext($1))")
        .bind(format!("platform:{platform}"))
        .execute(&mut c)
        .await
        .unwrap();
    c
}

/// gRPC calls recruiting is serving now (its Prometheus gauge).
async fn calls_in_flight(app: &TestApp) -> i64 {
    let text = TestApp::prometheus_text(app.recruiting_prometheus_addr).await;
    text.lines()
        .find_map(|l| l.strip_prefix("talent_grpc_server_in_flight "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn the_relay_delivers_while_api_calls_hold_every_connection_of_the_pool() {
    let mut app = TestApp::spawn_with_relay().await;
    // PostgreSQL only: on SQLite the only way to make writers wait is to
    // hold the database's write lock, which the relay's lease needs too.
    if app.backend != talent_server::Backend::Postgres {
        app.stop().await;
        return;
    }
    let (_, operator, platform, employer) = fault_setup(&app).await;
    // Events waiting in the outbox while metrics is down.
    app.stop_metrics().await;
    push_many(&app, &platform, &employer, 0..50).await;

    // As many posting batches as the service's pool has connections, each
    // waiting for the platform's lock while holding its connection.
    let mut blocker = hold_platform_lock(&app, &platform.id).await;
    let mut waiting = tokio::task::JoinSet::new();
    for i in 0..support::POOL_SIZE {
        let mut client = app.recruiting().await.postings;
        let request = authed(
            rpb::BatchUpsertPostingsRequest {
                postings: vec![{
                    let mut p = posting(&format!("late-{i}"), "Late job", &employer);
                    p.publish_time = Some(noon(2020, 5, 1));
                    p
                }],
            },
            &platform.key,
        );
        waiting.spawn(async move { client.batch_upsert_postings(request).await });
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while calls_in_flight(&app).await < i64::from(support::POOL_SIZE) {
        assert!(
            std::time::Instant::now() < deadline,
            "the batches never all waited: {}",
            TestApp::prometheus_text(app.recruiting_prometheus_addr).await
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }

    // The relay delivers the waiting events meanwhile, on its own
    // connections.
    app.start_metrics().await;
    let metrics = Metrics::connect(&app).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while postings_count(&metrics, &operator).await < 50 {
        assert!(
            std::time::Instant::now() < deadline,
            "the relay delivered nothing while the API's calls held the pool"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    sqlx::query("SELECT pg_advisory_unlock_all()")
        .execute(&mut blocker)
        .await
        .unwrap();
    while let Some(call) = waiting.join_next().await {
        let results = call
            .unwrap()
            .expect("the waiting batch is written")
            .into_inner()
            .results;
        assert!(results[0].error.is_none(), "{results:?}");
    }
    app.relay_drained().await;
    assert_eq!(postings_count(&metrics, &operator).await, 54);
    app.stop().await;
}

#[tokio::test]
async fn recruiting_restarted_in_the_middle_of_a_relay_batch_resumes_where_it_stopped() {
    let mut app = TestApp::spawn_with_relay().await;
    let (metrics, operator, platform, employer) = fault_setup(&app).await;
    push_many(&app, &platform, &employer, 0..500).await;
    // Restart at once: the relay is in the middle of delivering.
    app.restart_recruiting().await;
    push_many(&app, &platform, &employer, 500..600).await;
    app.restart_recruiting().await;
    app.relay_drained().await;
    assert_eq!(postings_count(&metrics, &operator).await, 600);
    app.stop().await;
}

#[tokio::test]
async fn duplicate_deliveries_change_nothing() {
    let app = TestApp::spawn_with_relay().await;
    let metrics = Metrics::connect(&app).await;
    let exact = metrics.exact_key.clone();
    push_city(&app).await;
    import_roster(&metrics).await;
    app.relay_drained().await;
    assert_report(&report(&metrics, &exact).await);

    // As if the relay had crashed after metrics applied every event but
    // before it recorded the deliveries: everything is delivered again.
    let reset = "UPDATE outbox SET delivered_at = NULL";
    match app.backend {
        talent_server::Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(app.recruiting_database_url())
                .await
                .unwrap();
            sqlx::query(reset).execute(&pool).await.unwrap();
            pool.close().await;
        }
        talent_server::Backend::Postgres => {
            let pool = sqlx::PgPool::connect(app.recruiting_database_url())
                .await
                .unwrap();
            sqlx::query(reset).execute(&pool).await.unwrap();
            pool.close().await;
        }
    }
    // And the roster once more.
    import_roster(&metrics).await;
    app.relay_drained().await;
    assert_report(&report(&metrics, &exact).await);
    app.stop().await;
}
