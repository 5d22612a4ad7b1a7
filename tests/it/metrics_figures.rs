//! The statistics, on small scenarios built by hand; every expected figure
//! is worked out in the comments of the test, not read from the service.

use crate::support;

use support::{
    TestApp,
    metrics::{
        self as m, Metrics, date, hired, label, period, person, roster_row, separated, value,
        with_key,
    },
};
use talent_proto::talent::events::v1 as ev;
use talent_proto::talent::metrics::v1::{self as pb, Dimension};

const U1: &str = "4137010001";
const U2: &str = "4137010002";
const U3: &str = "4137010003";
const BACHELOR: i32 = 3;
const MASTER: i32 = 4;
const ENGINEERING: i32 = 8;

fn outcomes_req(
    as_of: talent_proto::google::r#type::Date,
    group_by: &[Dimension],
) -> pb::GetGraduateOutcomesRequest {
    pb::GetGraduateOutcomesRequest {
        cohort_year: 2024,
        as_of: Some(as_of),
        group_by: group_by.iter().map(|d| *d as i32).collect(),
        ..Default::default()
    }
}

/// (cohort, employed, retained) of a figures message.
fn cer(f: &Option<pb::GraduateOutcomeFigures>) -> (i64, i64, i64) {
    let f = f.as_ref().unwrap();
    (
        value(&f.cohort_size),
        value(&f.employed),
        value(&f.retained),
    )
}

/// The cohort of 2024 and their employment histories:
/// - P1: in the city from 07-01 (370212, I); changes job on 09-01 to
///   370203, C39 (separation of the first job, hire of the second).
/// - P2: outside the city (110101) from 07-15; from 10-01 also in the city
///   (370211, F), the outside job continuing.
/// - P3: in the city 07-01 .. 08-01; again in the city from 11-01.
/// - P4: on the roster, never employed.
/// - P5: outside the city only (310101) from 08-01.
/// - P6: on the roster twice (bachelor at U1, master at U2): counts once,
///   as a master of U2; in the city 07-01 .. 12-01, the separation sent
///   before the hire.
///
/// Not on the roster: P7 (nothing known: tier NONE) and P8 (a bachelor's
/// résumé: GENERAL), both hired in the city on 07-01.
fn cohort_events() -> Vec<ev::Event> {
    vec![
        hired("p1a", &person(1), "370212", "I", date(2024, 7, 1), "pa"),
        separated("p1a", &person(1), date(2024, 9, 1), "pa", 1),
        hired("p1b", &person(1), "370203", "C39", date(2024, 9, 1), "pb"),
        hired("p2a", &person(2), "110101", "I", date(2024, 7, 15), "pa"),
        hired("p2b", &person(2), "370211", "F", date(2024, 10, 1), "pb"),
        hired("p3a", &person(3), "370212", "I", date(2024, 7, 1), "pa"),
        separated("p3a", &person(3), date(2024, 8, 1), "pa", 1),
        hired("p3b", &person(3), "370212", "I", date(2024, 11, 1), "pa"),
        hired("p5a", &person(5), "310101", "I", date(2024, 8, 1), "pa"),
        separated("p6a", &person(6), date(2024, 12, 1), "pa", 1),
        hired("p6a", &person(6), "370212", "I", date(2024, 7, 1), "pa"),
        hired("p7a", &person(7), "370212", "I", date(2024, 7, 1), "pa"),
        m::resume("r8", &person(8), BACHELOR, date(2024, 5, 1), "pa", 1),
        hired("p8a", &person(8), "370212", "I", date(2024, 7, 1), "pa"),
    ]
}

fn cohort_roster() -> Vec<pb::GraduateRosterRow> {
    let grad = date(2024, 6, 30);
    vec![
        roster_row(&person(1), U1, BACHELOR, ENGINEERING, grad),
        roster_row(&person(2), U1, BACHELOR, ENGINEERING, grad),
        roster_row(&person(3), U1, BACHELOR, ENGINEERING, grad),
        roster_row(&person(4), U1, BACHELOR, ENGINEERING, grad),
        roster_row(&person(5), U1, BACHELOR, ENGINEERING, grad),
        roster_row(&person(6), U1, BACHELOR, ENGINEERING, grad),
        roster_row(&person(6), U2, MASTER, ENGINEERING, grad),
    ]
}

async fn check_cohort_figures(metrics: &Metrics) {
    // 08-15: employed P1 (city), P2 (outside), P5 (outside), P6 (city).
    let o = metrics.outcomes(outcomes_req(date(2024, 8, 15), &[])).await;
    assert_eq!(cer(&o.total), (6, 4, 2));
    // 10-15: P1 (city, new job), P2 (city and outside: retained), P5
    // (outside), P6 (city); P3 and P4 not employed.
    let o = metrics
        .outcomes(outcomes_req(date(2024, 10, 15), &[]))
        .await;
    assert_eq!(cer(&o.total), (6, 4, 3));
    let rate = o.total.as_ref().unwrap().retention_rate.unwrap();
    assert_eq!((rate.numerator, rate.denominator), (3, 6));
    assert!((rate.value - 0.5).abs() < 1e-9);
    let share = o.total.as_ref().unwrap().local_share_of_employed.unwrap();
    assert_eq!((share.numerator, share.denominator), (3, 4));
    // By district on 10-15: P1 370203, P2 370211, P6 370212, P3 and P4
    // NONE, P5 OUTSIDE.
    let o = metrics
        .outcomes(outcomes_req(date(2024, 10, 15), &[Dimension::District]))
        .await;
    let rows: Vec<(String, (i64, i64, i64))> = o
        .rows
        .iter()
        .map(|r| (label(&r.dimensions[0]), cer(&r.figures)))
        .collect();
    assert_eq!(
        rows,
        vec![
            ("370203".into(), (1, 1, 1)),
            ("370211".into(), (1, 1, 1)),
            ("370212".into(), (1, 1, 1)),
            ("NONE".into(), (2, 0, 0)),
            ("OUTSIDE".into(), (1, 1, 0)),
        ]
    );
    // By industry on 10-15: P1 C (C39 reported by section), P2 F, P6 I.
    let o = metrics
        .outcomes(outcomes_req(date(2024, 10, 15), &[Dimension::Industry]))
        .await;
    let industries: Vec<String> = o.rows.iter().map(|r| label(&r.dimensions[0])).collect();
    assert_eq!(industries, ["C", "F", "I", "NONE", "OUTSIDE"]);
    // 12-15: P1, P2, P3 (back in the city) retained; P5 outside; P6's job
    // ended on 12-01.
    let o = metrics
        .outcomes(outcomes_req(date(2024, 12, 15), &[Dimension::DegreeLevel]))
        .await;
    assert_eq!(cer(&o.total), (6, 4, 3));
    let rows: Vec<(String, (i64, i64, i64))> = o
        .rows
        .iter()
        .map(|r| (label(&r.dimensions[0]), cer(&r.figures)))
        .collect();
    assert_eq!(rows, vec![("3".into(), (5, 4, 3)), ("4".into(), (1, 0, 0))]);
    // By university: P6 is U2's (the higher degree), with U2's label.
    let o = metrics
        .outcomes(outcomes_req(date(2024, 12, 15), &[Dimension::University]))
        .await;
    assert_eq!(o.rows.len(), 2);
    assert_eq!(label(&o.rows[1].dimensions[0]), U2);
    assert_eq!(o.rows[1].dimensions[0].label, format!("University {U2}"));
    // Filter on the employment district: members placed in 3702 on 12-15.
    let mut req = outcomes_req(date(2024, 12, 15), &[]);
    req.filter = Some(pb::Filter {
        districts: vec!["3702".into()],
        ..Default::default()
    });
    assert_eq!(cer(&metrics.outcomes(req).await.total), (3, 3, 3));

    // Talents gathered in 2024: P1, P3, P6 (HIGH), P8 in July; P2 in
    // October. P1's job change and P3's return are not gathered again; P5
    // never worked in the city; P7 is not talent.
    let year = period(date(2024, 1, 1), date(2025, 1, 1));
    let g = metrics
        .gathered(pb::GetTalentGatheredRequest {
            period: year,
            group_by: vec![Dimension::Month as i32],
            ..Default::default()
        })
        .await;
    let t = g.total.unwrap();
    assert_eq!(
        (
            value(&t.talents_gathered),
            value(&t.high_tier),
            value(&t.general_tier)
        ),
        (5, 1, 4)
    );
    let months: Vec<(String, i64)> = g
        .rows
        .iter()
        .map(|r| {
            (
                label(&r.dimensions[0]),
                value(&r.figures.as_ref().unwrap().talents_gathered),
            )
        })
        .collect();
    assert_eq!(months, vec![("2024-07".into(), 4), ("2024-10".into(), 1)]);
    // From August: only P2.
    let g = metrics
        .gathered(pb::GetTalentGatheredRequest {
            period: period(date(2024, 8, 1), date(2025, 1, 1)),
            group_by: vec![Dimension::District as i32, Dimension::Platform as i32],
            ..Default::default()
        })
        .await;
    assert_eq!(value(&g.total.unwrap().talents_gathered), 1);
    assert_eq!(g.rows.len(), 1);
    assert_eq!(label(&g.rows[0].dimensions[0]), "370211");
    assert_eq!(label(&g.rows[0].dimensions[1]), "pb");
}

#[tokio::test]
async fn outcomes_and_gathered_follow_employment_histories() {
    let app = TestApp::spawn().await;
    let metrics = Metrics::connect(&app).await;
    metrics.import_roster(cohort_roster()).await;
    metrics.publish(cohort_events()).await;
    check_cohort_figures(&metrics).await;
    app.stop().await;
}

#[tokio::test]
async fn late_out_of_order_and_duplicate_events_give_the_same_figures() {
    let app = TestApp::spawn().await;
    let metrics = Metrics::connect(&app).await;
    // Events first, newest first, one message each, every one sent twice;
    // the roster last.
    let mut events = cohort_events();
    events.reverse();
    let doubled: Vec<ev::Event> = events.iter().flat_map(|e| [e.clone(), e.clone()]).collect();
    metrics.publish_each(doubled).await;
    metrics.import_roster(cohort_roster()).await;
    metrics.import_roster(cohort_roster()).await;
    check_cohort_figures(&metrics).await;
    // Erasure keeps the pseudonymous facts counting.
    metrics
        .publish(vec![m::event(
            "",
            ev::event::Payload::PersonErased(ev::PersonErased {
                person_key: person(1),
                erase_time: Some(m::at(date(2025, 1, 2))),
            }),
        )])
        .await;
    check_cohort_figures(&metrics).await;
    app.stop().await;
}

#[tokio::test]
async fn as_known_at_answers_as_the_facts_were_known_then() {
    let app = TestApp::spawn().await;
    let metrics = Metrics::connect(&app).await;
    metrics.import_roster(cohort_roster()).await;
    metrics
        .publish(vec![hired(
            "p1a",
            &person(1),
            "370212",
            "I",
            date(2024, 7, 1),
            "pa",
        )])
        .await;
    let before = metrics.outcomes(outcomes_req(date(2024, 8, 15), &[])).await;
    assert_eq!(cer(&before.total), (6, 1, 1));
    let then = before.as_known_at.unwrap();
    // A late hire dated last summer, and a roster change.
    metrics
        .publish(vec![hired(
            "p2a",
            &person(2),
            "370211",
            "I",
            date(2024, 7, 20),
            "pa",
        )])
        .await;
    metrics
        .import_roster(vec![roster_row(
            &person(9),
            U3,
            BACHELOR,
            ENGINEERING,
            date(2024, 6, 30),
        )])
        .await;
    let now = metrics.outcomes(outcomes_req(date(2024, 8, 15), &[])).await;
    assert_eq!(cer(&now.total), (7, 2, 2));
    let mut req = outcomes_req(date(2024, 8, 15), &[]);
    req.as_known_at = Some(then);
    let replay = metrics.outcomes(req).await;
    assert_eq!(cer(&replay.total), (6, 1, 1));
    assert_eq!(replay.as_known_at, Some(then));
    // Gathered likewise: P1 then, P1 and P2 now (both GENERAL).
    let g = |known| pb::GetTalentGatheredRequest {
        period: period(date(2024, 1, 1), date(2025, 1, 1)),
        as_known_at: known,
        ..Default::default()
    };
    assert_eq!(
        value(
            &metrics
                .gathered(g(Some(then)))
                .await
                .total
                .unwrap()
                .talents_gathered
        ),
        1
    );
    assert_eq!(
        value(
            &metrics
                .gathered(g(None))
                .await
                .total
                .unwrap()
                .talents_gathered
        ),
        2
    );
    // The future is a field violation.
    let mut req = outcomes_req(date(2024, 8, 15), &[]);
    req.as_known_at = Some(prost_types::Timestamp {
        seconds: 4_000_000_000,
        nanos: 0,
    });
    let err = metrics
        .stats()
        .get_graduate_outcomes(with_key(req, &metrics.operator_key))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    app.stop().await;
}

#[tokio::test]
async fn a_perturbed_key_never_reads_a_small_cells_true_value() {
    let app = TestApp::spawn().await;
    let metrics = Metrics::connect(&app).await;
    // U1: 7 members, U2: 2, U3: 6 (15 in all); nobody employed.
    let grad = date(2024, 6, 30);
    let mut rows = Vec::new();
    for (n, uni) in (0..7)
        .map(|_| U1)
        .chain((0..2).map(|_| U2))
        .chain((0..6).map(|_| U3))
        .enumerate()
    {
        rows.push(roster_row(
            &person(100 + n as u64),
            uni,
            BACHELOR,
            ENGINEERING,
            grad,
        ));
    }
    metrics.import_roster(rows).await;
    let req = |by: &[Dimension]| outcomes_req(date(2024, 8, 1), by);
    let ask = |key: &str, req: pb::GetGraduateOutcomesRequest| {
        let mut stats = metrics.stats();
        let key = key.to_owned();
        async move {
            stats
                .get_graduate_outcomes(with_key(req, &key))
                .await
                .unwrap()
                .into_inner()
        }
    };
    let cohorts = |o: &pb::GetGraduateOutcomesResponse| -> Vec<(String, i64)> {
        o.rows
            .iter()
            .map(|r| {
                let c = r.figures.as_ref().unwrap().cohort_size.unwrap();
                (label(&r.dimensions[0]), c.value)
            })
            .collect()
    };

    // The bureau's EXACT key and the OPERATOR key see the true figures.
    for key in [&metrics.exact_key, &metrics.operator_key] {
        let o = ask(key, req(&[Dimension::University])).await;
        let control = o.disclosure_control.unwrap();
        assert_eq!(control.protection(), pb::Protection::Exact);
        assert_eq!(control.max_adjustment, 0);
        assert_eq!(
            cohorts(&o),
            vec![(U1.into(), 7), (U2.into(), 2), (U3.into(), 6)]
        );
        assert_eq!(cer(&o.total), (15, 0, 0));
    }

    // A READ key issued without a protection is PERTURBED: every count of
    // persons is perturbed (at most 3 off, never negative), U2's 2 is never
    // published as 2, and 0 employed stays 0.
    let o = ask(&metrics.read_key, req(&[Dimension::University])).await;
    let control = o.disclosure_control.unwrap();
    assert_eq!(control.protection(), pb::Protection::Perturbed);
    assert_eq!(control.max_adjustment, 3);
    let truth = [(U1, 7), (U2, 2), (U3, 6)];
    for (uni, published) in cohorts(&o) {
        let (_, n) = truth.iter().find(|(u, _)| *u == uni).unwrap();
        assert!(
            (published - n).abs() <= 3 && published > 0,
            "{uni}: {published}"
        );
        if uni == U2 {
            assert_ne!(published, 2, "U2's true value");
        }
    }
    for figures in o
        .rows
        .iter()
        .map(|r| r.figures.as_ref().unwrap())
        .chain(o.total.as_ref())
    {
        let (cohort, employed) = (figures.cohort_size.unwrap(), figures.employed.unwrap());
        assert!(cohort.perturbed && employed.perturbed);
        assert_eq!(employed.value, 0);
        let rate = figures.employment_rate.unwrap();
        assert!(rate.perturbed);
        assert_eq!((rate.numerator, rate.denominator), (0, cohort.value));
    }
    let total = o.total.unwrap().cohort_size.unwrap().value;
    assert!((total - 15).abs() <= 3, "{total}");
    // Asking again gives the same figures: nothing to average away.
    let again = ask(&metrics.read_key, req(&[Dimension::University])).await;
    assert_eq!(again.rows, o.rows);
    assert_eq!(again.total, o.total);

    // One employed person: the total employed (a true 1) is never
    // published as 1, and the rates are of the published figures.
    metrics
        .publish(vec![hired(
            "x",
            &person(100),
            "370212",
            "I",
            date(2024, 7, 1),
            "pa",
        )])
        .await;
    let o = ask(&metrics.read_key, req(&[])).await;
    let total = o.total.unwrap();
    let employed = total.employed.unwrap();
    assert!(employed.perturbed);
    assert_ne!(employed.value, 1);
    assert!((0..=4).contains(&employed.value), "{}", employed.value);
    let rate = total.employment_rate.unwrap();
    assert_eq!(
        (rate.numerator, rate.denominator),
        (employed.value, total.cohort_size.unwrap().value)
    );
    // The person is retained too (in the city): the same one person, so
    // the same published value.
    assert_eq!(total.retained.unwrap().value, employed.value);
    assert_eq!(
        cer(&ask(&metrics.exact_key, req(&[])).await.total),
        (15, 1, 1)
    );
    app.stop().await;
}

#[tokio::test]
async fn recruitment_activity_counts_postings_openings_fairs_resumes_and_applications() {
    let app = TestApp::spawn().await;
    let metrics = Metrics::connect(&app).await;
    let (e1, e2) = (m::employer(1), m::employer(2));
    let (o1, o2, o3) = (m::opening(1), m::opening(2), m::opening(3));
    let t = |mo, d| m::at(date(2024, mo, d));
    let fair = |platform: &str, id: &str, start| {
        m::event(
            platform,
            ev::event::Payload::FairHeld(ev::FairHeld {
                fair: format!("platforms/{platform}/fairs/{id}"),
                organiser_platform_id: platform.into(),
                format: 1,
                start_time: Some(start),
                end_time: Some(start),
            }),
        )
    };
    let participation = |id: &str, employer: &str, start, registered| {
        m::event(
            "pa",
            ev::event::Payload::FairParticipation(ev::FairParticipation {
                fair: format!("platforms/pa/fairs/{id}"),
                employer_credit_code: employer.into(),
                employer_district: "370212".into(),
                employer_industry: "I".into(),
                fair_start_time: Some(start),
                register_time: Some(registered),
            }),
        )
    };
    let application = |id: &str, submitted| {
        m::event(
            "pa",
            ev::event::Payload::ApplicationSubmitted(ev::ApplicationSubmitted {
                application: format!("platforms/pa/applications/{id}"),
                resume: "platforms/pa/resumes/r1".into(),
                posting: "platforms/pa/postings/x1".into(),
                opening_id: o1.clone(),
                employer_credit_code: e1.clone(),
                workplace_district: "370212".into(),
                industry: "I".into(),
                submit_time: Some(submitted),
                fair: String::new(),
            }),
        )
    };
    let events = vec![
        // O1: x1 on pa (3 positions, 03-10) and its copy y1 on pb (5, 03-12):
        // one opening of 5 positions, counted on pa.
        m::posting("pa", "x1", 1, &o1, &e1, "370212", 3, t(3, 10)),
        m::posting("pb", "y1", 1, &o1, &e1, "370212", 5, t(3, 12)),
        // O2: x2's update (headcount 4) arrives before its publication (2).
        m::posting("pa", "x2", 2, &o2, &e2, "370203", 4, t(4, 1)),
        m::posting("pa", "x2", 1, &o2, &e2, "370203", 2, t(4, 1)),
        // O3: published in February, outside the period.
        m::posting("pa", "x3", 1, &o3, &e1, "370212", 9, t(2, 28)),
        fair("pa", "f1", t(3, 20)),
        fair("pa", "f2", t(6, 1)),
        participation("f1", &e1, t(3, 20), t(3, 1)),
        participation("f1", &e2, t(3, 20), t(3, 2)),
        participation("f1", &e1, t(3, 20), t(3, 3)),
        participation("f2", &e1, t(6, 1), t(3, 3)),
        // Résumés: r1 twice (revisions), r2 same person on pb, r3 another
        // person with a master's.
        m::resume("r1", &person(1), BACHELOR, date(2024, 3, 5), "pa", 1),
        m::resume("r1", &person(1), BACHELOR, date(2024, 3, 5), "pa", 2),
        m::resume("r2", &person(1), BACHELOR, date(2024, 3, 6), "pb", 1),
        m::resume("r3", &person(2), MASTER, date(2024, 4, 10), "pa", 1),
        application("a1", t(3, 15)),
        application("a2", t(3, 16)),
        application("a1", t(3, 15)),
    ];
    metrics.publish(events).await;

    let req =
        |group_by: &[Dimension], filter: Option<pb::Filter>| pb::GetRecruitmentActivityRequest {
            period: period(date(2024, 3, 1), date(2024, 5, 1)),
            group_by: group_by.iter().map(|d| *d as i32).collect(),
            filter,
            as_known_at: None,
        };
    let a = metrics.activity(req(&[], None)).await;
    let t = a.total.unwrap();
    let figures = |f: &pb::RecruitmentActivityFigures| {
        [
            &f.postings,
            &f.openings,
            &f.headcount_demanded,
            &f.employers_posting,
            &f.fairs_held,
            &f.employer_participations,
            &f.resumes_received,
            &f.distinct_job_seekers,
            &f.applications,
        ]
        .map(|c| c.map(|c| c.value))
    };
    // postings x1 y1 x2; openings O1 O2 with 5 + 4 positions; employers
    // E1 E2; fair f1 with E1 and E2; résumés r1 r2 r3 of persons 1 and 2;
    // applications a1 a2.
    assert_eq!(
        figures(&t),
        [
            Some(3),
            Some(2),
            Some(9),
            Some(2),
            Some(1),
            Some(2),
            Some(3),
            Some(2),
            Some(2)
        ]
    );

    // By platform: O1 counts on pa, its earliest copy's platform.
    let a = metrics.activity(req(&[Dimension::Platform], None)).await;
    let rows: Vec<(String, [Option<i64>; 9])> = a
        .rows
        .iter()
        .map(|r| {
            (
                label(&r.dimensions[0]),
                figures(r.figures.as_ref().unwrap()),
            )
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            (
                "pa".into(),
                [
                    Some(2),
                    Some(2),
                    Some(9),
                    Some(2),
                    Some(1),
                    Some(2),
                    Some(2),
                    Some(2),
                    Some(2)
                ]
            ),
            (
                "pb".into(),
                [
                    Some(1),
                    Some(0),
                    Some(0),
                    Some(1),
                    Some(0),
                    Some(0),
                    Some(1),
                    Some(1),
                    Some(0)
                ]
            ),
        ]
    );

    // By tier: only résumés and job seekers apply; person 1 GENERAL, 2 HIGH.
    let a = metrics.activity(req(&[Dimension::Tier], None)).await;
    let rows: Vec<(String, [Option<i64>; 9])> = a
        .rows
        .iter()
        .map(|r| {
            (
                label(&r.dimensions[0]),
                figures(r.figures.as_ref().unwrap()),
            )
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            (
                "2".into(),
                [None, None, None, None, None, None, Some(2), Some(1), None]
            ),
            (
                "3".into(),
                [None, None, None, None, None, None, Some(1), Some(1), None]
            ),
        ]
    );
    // A district filter leaves résumés and fairs unset.
    let a = metrics
        .activity(req(
            &[],
            Some(pb::Filter {
                districts: vec!["370203".into()],
                ..Default::default()
            }),
        ))
        .await;
    assert_eq!(
        figures(&a.total.unwrap()),
        [
            Some(1),
            Some(1),
            Some(4),
            Some(1),
            None,
            Some(0),
            None,
            None,
            Some(0)
        ]
    );

    // The period report: its figures and the paragraph rendered from them.
    let r = metrics
        .stats()
        .get_period_report(with_key(
            pb::GetPeriodReportRequest {
                period: period(date(2024, 3, 1), date(2024, 5, 1)),
                cohort_year: 2024,
                ..Default::default()
            },
            &metrics.operator_key,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.as_of, Some(date(2024, 4, 30)));
    assert_eq!(
        value(&r.recruitment_activity.as_ref().unwrap().headcount_demanded),
        9
    );
    assert!(r.text_zh.contains("提供就业岗位9个"), "{}", r.text_zh);
    assert!(r.text_en.contains("offering 9 positions"), "{}", r.text_en);
    // A PERTURBED key: the notices (fairs, positions) are exact, the
    // counts of persons perturbed, and the paragraph says so.
    let r = metrics
        .stats()
        .get_period_report(with_key(
            pb::GetPeriodReportRequest {
                period: period(date(2024, 3, 1), date(2024, 5, 1)),
                cohort_year: 2024,
                ..Default::default()
            },
            &metrics.read_key,
        ))
        .await
        .unwrap()
        .into_inner();
    let a = r.recruitment_activity.as_ref().unwrap();
    assert_eq!(value(&a.headcount_demanded), 9);
    assert_eq!(value(&a.fairs_held), 1);
    assert!(a.resumes_received.unwrap().perturbed);
    assert!(r.text_zh.contains("举办网络招聘会1场"), "{}", r.text_zh);
    assert!(r.text_en.contains("offering 9 positions"), "{}", r.text_en);
    assert!(
        r.text_en
            .ends_with("(each by at most 3) and need not add up."),
        "{}",
        r.text_en
    );
    assert!(r.text_zh.contains("扰动"), "{}", r.text_zh);
    app.stop().await;
}

#[tokio::test]
async fn concurrent_streams_apply_each_event_once() {
    let app = TestApp::spawn().await;
    let metrics = Metrics::connect(&app).await;
    metrics.import_roster(cohort_roster()).await;
    // Two relays send the same events at once, in opposite orders.
    let events = cohort_events();
    let mut reversed = events.clone();
    reversed.reverse();
    let one = |events: Vec<ev::Event>| events.into_iter().map(|e| vec![e]).collect::<Vec<_>>();
    let (a, b) = tokio::join!(
        metrics.publish_batches_with(&metrics.relay_key, one(events.clone())),
        metrics.publish_batches_with(&metrics.relay_key, one(reversed)),
    );
    let applied = a
        .unwrap()
        .into_iter()
        .chain(b.unwrap())
        .flatten()
        .filter(|ack| ack.outcome() == pb::EventOutcome::Applied)
        .count();
    assert_eq!(
        applied,
        events.len(),
        "each event applied by exactly one stream"
    );
    check_cohort_figures(&metrics).await;
    app.stop().await;
}

#[tokio::test]
async fn the_tier_follows_consent_and_the_highest_qualification() {
    let app = TestApp::spawn().await;
    let metrics = Metrics::connect(&app).await;
    let year = || pb::GetTalentGatheredRequest {
        period: period(date(2024, 1, 1), date(2025, 1, 1)),
        group_by: vec![Dimension::Tier as i32],
        ..Default::default()
    };
    let tiers = |g: &pb::GetTalentGatheredResponse| -> Vec<(String, i64)> {
        g.rows
            .iter()
            .map(|r| {
                (
                    label(&r.dimensions[0]),
                    value(&r.figures.as_ref().unwrap().talents_gathered),
                )
            })
            .collect()
    };
    // P1: a master's résumé and a hire in the city: HIGH.
    // P2: a senior-worker skill and a bachelor's degree: HIGH once (one
    // tier however many ladders qualify).
    let mut skilled = m::resume("r2", &person(2), BACHELOR, date(2024, 1, 5), "pa", 1);
    if let Some(ev::event::Payload::ResumeReceived(r)) = &mut skilled.payload {
        r.attributes.as_mut().unwrap().vocational_skill_level = 4;
    }
    metrics
        .publish(vec![
            m::resume("r1", &person(1), MASTER, date(2024, 1, 5), "pa", 1),
            hired("e1", &person(1), "370212", "I", date(2024, 3, 1), "pa"),
            skilled,
            hired("e2", &person(2), "370212", "I", date(2024, 3, 1), "pa"),
        ])
        .await;
    let before = metrics.gathered(year()).await;
    assert_eq!(tiers(&before), vec![("3".into(), 2)]);
    // P1 withdraws consent: nothing qualifies P1 any more, so P1 is no
    // longer counted; the answer as known before stays.
    let mut withdrawn = m::resume("r1", &person(1), MASTER, date(2024, 1, 5), "pa", 2);
    if let Some(ev::event::Payload::ResumeReceived(r)) = &mut withdrawn.payload {
        r.statistical_use_consent = false;
        r.attributes = None;
    }
    metrics.publish(vec![withdrawn]).await;
    assert_eq!(
        tiers(&metrics.gathered(year()).await),
        vec![("3".into(), 1)]
    );
    let mut replay = year();
    replay.as_known_at = before.as_known_at;
    assert_eq!(
        tiers(&metrics.gathered(replay).await),
        vec![("3".into(), 2)]
    );
    // A bachelor's on the roster makes P1 GENERAL.
    metrics
        .import_roster(vec![roster_row(
            &person(1),
            U1,
            BACHELOR,
            ENGINEERING,
            date(2023, 6, 30),
        )])
        .await;
    assert_eq!(
        tiers(&metrics.gathered(year()).await),
        vec![("2".into(), 1), ("3".into(), 1)]
    );
    app.stop().await;
}
