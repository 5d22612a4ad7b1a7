//! A fact recruiting accepts is a fact metrics accepts: the same industry
//! codes, districts, credit codes and resident ID numbers sent to both
//! services through their public APIs, each accepted by both or by neither
//! (and, for codes, exactly when the standard says so); and facts with the
//! last sections of GB/T 4754-2017 (S96, T97) carried by the relay and
//! counted.

use crate::support;

use support::{
    TestApp,
    metrics::{self as m, Metrics},
    recruiting::{TestPlatform, authed, credit_code, employer, posting, violations_in},
};
use talent_proto::{
    google::r#type::Date,
    talent::{
        events::v1::{self as ev, event::Payload},
        metrics::v1 as mpb,
        recruiting::v1 as rpb,
        r#type::v1::{DegreeLevel, Discipline},
    },
};

const PLATFORM: &str = "alpha";

/// GB/T 4754-2017's sections and the divisions each holds, as the
/// standard lists them.
const GB_T_4754_2017: [(u8, u8, u8); 20] = [
    (b'A', 1, 5),
    (b'B', 6, 12),
    (b'C', 13, 43),
    (b'D', 44, 46),
    (b'E', 47, 50),
    (b'F', 51, 52),
    (b'G', 53, 60),
    (b'H', 61, 62),
    (b'I', 63, 65),
    (b'J', 66, 69),
    (b'K', 70, 70),
    (b'L', 71, 72),
    (b'M', 73, 75),
    (b'N', 76, 79),
    (b'O', 80, 82),
    (b'P', 83, 83),
    (b'Q', 84, 85),
    (b'R', 86, 90),
    (b'S', 91, 96),
    (b'T', 97, 97),
];

/// Whether the standard has `code` (either case): a section letter, or a
/// section letter and one of its divisions.
fn in_standard(code: &str) -> bool {
    let up = code.to_ascii_uppercase();
    let b = up.as_bytes();
    let Some(&(_, first, last)) = GB_T_4754_2017.iter().find(|s| Some(&s.0) == b.first()) else {
        return false;
    };
    match b[1..] {
        [] => true,
        [t @ b'0'..=b'9', u @ b'0'..=b'9'] => {
            (first..=last).contains(&((t - b'0') * 10 + u - b'0'))
        }
        _ => false,
    }
}

fn date(year: i32, month: i32, day: i32) -> Date {
    Date { year, month, day }
}

/// The n-th distinct employer of these tests.
fn code(n: usize) -> String {
    credit_code(&format!("91370200MA{n:07}"))
}

/// Which employers recruiting accepts; a rejection must name exactly
/// `field` of the employer.
async fn recruiting_accepts(
    app: &TestApp,
    platform: &TestPlatform,
    employers: Vec<rpb::Employer>,
    field: &str,
) -> Vec<bool> {
    let mut accepted = Vec::new();
    for chunk in employers.chunks(1000) {
        for r in app.push_employers(platform, chunk.to_vec()).await {
            let rejected = r.outcome() == rpb::UpsertOutcome::Rejected;
            if rejected {
                let error = r.error.as_ref().expect("a rejection says why");
                assert_eq!(
                    violations_in(&error.details),
                    [format!("employers[{}].{field}", r.index)],
                    "{r:?}"
                );
            }
            accepted.push(!rejected);
        }
    }
    accepted
}

/// A hire event as the relay would send it, for employment `n`.
fn hire(n: usize, employer: &str, district: &str, industry: &str) -> ev::Hired {
    ev::Hired {
        employment: format!("platforms/{PLATFORM}/employments/c{n}"),
        person_key: m::person(n as u64),
        employer_credit_code: employer.into(),
        workplace_district: district.into(),
        industry: industry.into(),
        start_date: Some(date(2024, 3, 1)),
        reporting_platform_id: PLATFORM.into(),
        ..Default::default()
    }
}

/// Which hire events metrics applies; a rejection must name exactly
/// `hired.{field}`.
async fn metrics_accepts(metrics: &Metrics, hires: Vec<ev::Hired>, field: &str) -> Vec<bool> {
    let batches = hires
        .chunks(1000)
        .map(|c| {
            c.iter()
                .map(|h| m::event(PLATFORM, Payload::Hired(h.clone())))
                .collect()
        })
        .collect();
    let acks = metrics
        .publish_batches_with(&metrics.relay_key, batches)
        .await
        .expect("publishing");
    acks.into_iter()
        .flatten()
        .map(|ack| match ack.outcome() {
            mpb::EventOutcome::Applied => true,
            mpb::EventOutcome::Rejected => {
                let error = ack.error.as_ref().expect("a rejection says why");
                assert_eq!(
                    m::violated_fields(&error.details),
                    [format!("hired.{field}")],
                    "{ack:?}"
                );
                false
            }
            other => panic!("{other:?}: {ack:?}"),
        })
        .collect()
}

/// The inputs on which the two services (and the expectation) differ.
fn disagreements(
    inputs: &[String],
    expected: &[bool],
    recruiting: &[bool],
    metrics: &[bool],
) -> Vec<String> {
    assert_eq!(inputs.len(), recruiting.len());
    assert_eq!(inputs.len(), metrics.len());
    inputs
        .iter()
        .zip(expected)
        .zip(recruiting.iter().zip(metrics))
        .filter(|((_, e), (r, m))| !(**e == **r && **r == **m))
        .map(|((i, e), (r, m))| format!("{i:?}: standard {e}, recruiting {r}, metrics {m}"))
        .collect()
}

#[tokio::test]
async fn every_section_and_division_is_accepted_by_both_services_or_by_neither() {
    let app = TestApp::spawn().await;
    let metrics = Metrics::connect(&app).await;
    let platform = app.create_platform(PLATFORM).await;
    let mut inputs: Vec<String> = Vec::new();
    for letter in 'A'..='Z' {
        inputs.push(letter.to_string());
        inputs.extend((0..100).map(|d| format!("{letter}{d:02}")));
    }
    for odd in [
        "s96", "t97", "s97", "t98", "c39", "C3", "C391", " C39", "C39 ", "T 97", "CC", "97",
        "Ｔ97", "T９7",
    ] {
        inputs.push(odd.into());
    }
    let expected: Vec<bool> = inputs.iter().map(|c| in_standard(c)).collect();
    assert_eq!(expected.iter().filter(|e| **e).count(), 20 + 97 + 3);

    let employers = inputs
        .iter()
        .enumerate()
        .map(|(n, i)| employer(&code(n), "n", "370212", i))
        .collect();
    let recruiting = recruiting_accepts(&app, &platform, employers, "industry").await;
    let hires = inputs
        .iter()
        .enumerate()
        .map(|(n, i)| hire(n, &code(0), "370212", i))
        .collect();
    let metrics = metrics_accepts(&metrics, hires, "industry").await;
    assert_eq!(
        disagreements(&inputs, &expected, &recruiting, &metrics),
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn districts_and_credit_codes_are_accepted_by_both_services_or_by_neither() {
    let app = TestApp::spawn().await;
    let metrics = Metrics::connect(&app).await;
    let platform = app.create_platform(PLATFORM).await;

    let districts: Vec<(String, bool)> = [
        ("370212", true),
        ("110105", true),
        ("000000", true),
        ("37021", false),
        ("3702120", false),
        ("37021a", false),
        (" 370212", false),
        ("370212 ", false),
        ("３７０２１２", false),
    ]
    .into_iter()
    .map(|(d, ok)| (d.to_owned(), ok))
    .collect();
    let inputs: Vec<String> = districts.iter().map(|d| d.0.clone()).collect();
    let expected: Vec<bool> = districts.iter().map(|d| d.1).collect();
    let employers = inputs
        .iter()
        .enumerate()
        .map(|(n, d)| employer(&code(n), "n", d, "C"))
        .collect();
    let recruiting = recruiting_accepts(&app, &platform, employers, "district").await;
    let hires = inputs
        .iter()
        .enumerate()
        .map(|(n, d)| hire(n, &code(0), d, "C"))
        .collect();
    let applied = metrics_accepts(&metrics, hires, "workplace_district").await;
    assert_eq!(
        disagreements(&inputs, &expected, &recruiting, &applied),
        Vec::<String>::new()
    );

    let good = code(100);
    let check = good.chars().last().unwrap();
    let other = if check == '0' { '1' } else { '0' };
    let codes: Vec<(String, bool)> = vec![
        (good.clone(), true),
        (good.to_lowercase(), true),
        ("91350100M000100Y43".into(), true),
        ("91110000802100433B".into(), true),
        (format!("{}{other}", &good[..17]), false),
        (good[..17].to_owned(), false),
        (format!("{good}0"), false),
        (format!(" {good}"), false),
        (format!("{good} "), false),
        ("91350100M000100I43".into(), false),
        ("91350100M000100Y4３".into(), false),
    ];
    let inputs: Vec<String> = codes.iter().map(|c| c.0.clone()).collect();
    let expected: Vec<bool> = codes.iter().map(|c| c.1).collect();
    let employers = inputs
        .iter()
        .map(|c| employer(c, "n", "370212", "C"))
        .collect();
    let recruiting = recruiting_accepts(&app, &platform, employers, "credit_code").await;
    let hires = inputs
        .iter()
        .enumerate()
        .map(|(n, c)| hire(100 + n, c, "370212", "C"))
        .collect();
    let applied = metrics_accepts(&metrics, hires, "employer_credit_code").await;
    assert_eq!(
        disagreements(&inputs, &expected, &recruiting, &applied),
        Vec::<String>::new()
    );
}

/// Résumés with one resident ID number each; the result of each.
async fn push_resumes(
    app: &TestApp,
    platform: &TestPlatform,
    ids: &[String],
) -> Vec<rpb::ResumeResult> {
    let resumes = ids
        .iter()
        .enumerate()
        .map(|(n, id)| rpb::Resume {
            external_id: format!("r{n}"),
            resident_id_number: id.clone(),
            full_name: format!("Person {n}"),
            ..Default::default()
        })
        .collect();
    let mut client =
        rpb::resume_service_client::ResumeServiceClient::new(app.recruiting_channel().await);
    let mut responses = client
        .upsert_resumes(authed(
            tokio_stream::iter([rpb::UpsertResumesRequest { resumes }]),
            &platform.key,
        ))
        .await
        .expect("UpsertResumes")
        .into_inner();
    responses
        .message()
        .await
        .unwrap()
        .expect("one response")
        .results
}

fn roster_row(n: usize, person: mpb::graduate_roster_row::Person) -> mpb::GraduateRosterRow {
    mpb::GraduateRosterRow {
        row_id: n.to_string(),
        person: Some(person),
        university_code: "4137010423".into(),
        university_name: "Ocean University of China".into(),
        degree_level: DegreeLevel::Bachelor as i32,
        discipline: Discipline::Engineering as i32,
        graduation_date: Some(date(2020, 6, 30)),
    }
}

#[tokio::test]
async fn resident_ids_are_accepted_and_keyed_alike_by_both_services() {
    // The relay's setup gives both services the same city secret.
    let app = TestApp::spawn_with_relay().await;
    let metrics = Metrics::connect(&app).await;
    let platform = app.create_platform(PLATFORM).await;

    // The standard's example number, written as platforms and universities
    // type it: lower-case x, white space around (the ideographic space of
    // Chinese input methods too).
    let written = [
        "11010519491231002X",
        "11010519491231002x",
        " 11010519491231002X",
        "11010519491231002x \n",
        "\u{3000}11010519491231002X\t",
    ];
    let cases: Vec<(String, bool)> = written
        .iter()
        .map(|w| (w.to_string(), true))
        .chain(
            [
                ("440524188001010014", true),  // the standard's other example, born 1880
                ("110105194912310021", false), // wrong check character
                ("11010519491231002Y", false),
                ("1101051949123 1002X", false), // white space inside
                ("11010519491231002", false),
                ("11010519491231002X0", false),
                ("110105194913310021", false),  // month 13
                ("110105194902290029", false),  // 29 February 1949
                ("1101051949123100２X", false), // a full-width digit
            ]
            .map(|(id, ok)| (id.to_owned(), ok)),
        )
        .collect();
    let ids: Vec<String> = cases.iter().map(|c| c.0.clone()).collect();

    let results = push_resumes(&app, &platform, &ids).await;
    let roster = metrics
        .import_roster(
            ids.iter()
                .enumerate()
                .map(|(n, id)| {
                    roster_row(
                        n,
                        mpb::graduate_roster_row::Person::ResidentIdNumber(id.clone()),
                    )
                })
                .collect(),
        )
        .await;
    let rejected_rows: Vec<&str> = roster
        .rejected_rows
        .iter()
        .map(|r| r.row_id.as_str())
        .collect();
    let mut differing = Vec::new();
    for (n, ((id, ok), r)) in cases.iter().zip(&results).enumerate() {
        let recruiting = r.outcome() != rpb::UpsertOutcome::Rejected;
        let metrics = !rejected_rows.contains(&n.to_string().as_str());
        if !(recruiting == *ok && metrics == *ok) {
            differing.push(format!(
                "{id:?}: expected {ok}, recruiting {recruiting}, metrics {metrics}"
            ));
        }
        if !ok {
            let error = r.error.as_ref().expect("a rejection says why");
            assert_eq!(
                violations_in(&error.details),
                [format!("resumes[{n}].resident_id_number")]
            );
        }
    }
    assert_eq!(differing, Vec::<String>::new());
    for row in &roster.rejected_rows {
        let error = row.error.as_ref().unwrap();
        assert_eq!(m::violated_fields(&error.details), ["resident_id_number"]);
    }

    // One key for every written form, in recruiting ...
    let key = &results[0].person_key;
    for r in &results[..written.len()] {
        assert_eq!(&r.person_key, key, "{r:?}");
    }
    assert_ne!(&results[written.len()].person_key, key);
    // ... and in metrics: the written forms are one roster row (the first
    // accepted, the rest unchanged); the 1880 number is the other row.
    assert_eq!(
        (roster.accepted_count, roster.unchanged_count),
        (2, written.len() as i64 - 1)
    );
    // Recruiting's key names the row metrics keyed from the number.
    let again = metrics
        .import_roster(vec![roster_row(
            0,
            mpb::graduate_roster_row::Person::PersonKey(key.clone()),
        )])
        .await;
    assert_eq!((again.accepted_count, again.unchanged_count), (0, 1));
}

/// Noon in the city on a day.
fn noon(y: i32, mo: i32, d: i32) -> prost_types::Timestamp {
    m::at(date(y, mo, d))
}

#[tokio::test]
async fn facts_of_sections_s_and_t_reach_every_figure_through_the_relay() {
    let app = TestApp::spawn_with_relay().await;
    let metrics = Metrics::connect(&app).await;
    let platform = app.create_platform(PLATFORM).await;
    let (e_t, e_s) = (code(1), code(2));
    for r in app
        .push_employers(
            &platform,
            vec![
                employer(&e_t, "International Org", "370212", "T97"),
                employer(&e_s, "Residents' Committee", "370202", "S96"),
            ],
        )
        .await
    {
        assert!(r.error.is_none(), "{r:?}");
    }
    let mut p_t = posting("pt", "Interpreter", &e_t);
    p_t.headcount = 2;
    p_t.industry = "T97".into();
    p_t.publish_time = Some(noon(2020, 2, 1));
    let mut p_s = posting("ps", "Community worker", &e_s);
    p_s.headcount = 3;
    p_s.industry = "s96".into();
    p_s.publish_time = Some(noon(2020, 2, 3));
    for r in app.push_postings(&platform, vec![p_t, p_s]).await {
        assert!(r.error.is_none(), "{r:?}");
    }

    // Two bachelors (GENERAL), hired by each employer.
    let birth = time::macros::date!(1998 - 03 - 01);
    let ids: Vec<String> = (1..=2)
        .map(|n| talent_codes::resident_id::make("370202", birth, n))
        .collect();
    let mut resumes =
        rpb::resume_service_client::ResumeServiceClient::new(app.recruiting_channel().await);
    let request = ids
        .iter()
        .enumerate()
        .map(|(n, id)| rpb::Resume {
            external_id: format!("r{n}"),
            resident_id_number: id.clone(),
            full_name: format!("Person {n}"),
            statistical_use_consent: true,
            receive_time: Some(noon(2020, 1, 15)),
            education: vec![rpb::EducationEntry {
                degree_level: DegreeLevel::Bachelor as i32,
                university_code: "4137010423".into(),
                university_name: "Ocean University of China".into(),
                discipline: Discipline::Law as i32,
                graduation_date: Some(date(2019, 6, 30)),
                ..Default::default()
            }],
            ..Default::default()
        })
        .collect();
    let mut responses = resumes
        .upsert_resumes(authed(
            tokio_stream::iter([rpb::UpsertResumesRequest { resumes: request }]),
            &platform.key,
        ))
        .await
        .unwrap()
        .into_inner();
    for r in responses.message().await.unwrap().unwrap().results {
        assert_eq!(r.outcome(), rpb::UpsertOutcome::Created, "{r:?}");
    }
    let mut employments = rpb::employment_service_client::EmploymentServiceClient::new(
        app.recruiting_channel().await,
    );
    for (id, employer, industry) in [(&ids[0], &e_t, "T97"), (&ids[1], &e_s, "S96")] {
        employments
            .record_hire(authed(
                rpb::RecordHireRequest {
                    parent: format!("platforms/{PLATFORM}"),
                    person: Some(rpb::record_hire_request::Person::ResidentIdNumber(
                        id.clone(),
                    )),
                    employer_credit_code: employer.clone(),
                    industry: industry.into(),
                    start_date: Some(date(2020, 3, 1)),
                    ..Default::default()
                },
                &platform.key,
            ))
            .await
            .expect("RecordHire");
    }
    app.relay_drained().await;

    let by_industry = vec![mpb::Dimension::Industry as i32];
    let year = m::period(date(2020, 1, 1), date(2021, 1, 1));
    let label = |d: &mpb::DimensionValue| match &d.value {
        Some(mpb::dimension_value::Value::Industry(s)) => s.clone(),
        other => panic!("{other:?}"),
    };
    let g = metrics
        .gathered(mpb::GetTalentGatheredRequest {
            period: year,
            group_by: by_industry.clone(),
            ..Default::default()
        })
        .await;
    let rows: Vec<(String, i64, i64)> = g
        .rows
        .iter()
        .map(|r| {
            let f = r.figures.as_ref().unwrap();
            (
                label(&r.dimensions[0]),
                m::value(&f.talents_gathered),
                m::value(&f.general_tier),
            )
        })
        .collect();
    assert_eq!(rows, [("S".into(), 1, 1), ("T".into(), 1, 1)]);
    // The division itself arrived: a filter on T97 finds its hire.
    let t97 = metrics
        .gathered(mpb::GetTalentGatheredRequest {
            period: year,
            filter: Some(mpb::Filter {
                industries: vec!["T97".into()],
                ..Default::default()
            }),
            ..Default::default()
        })
        .await;
    assert_eq!(m::value(&t97.total.unwrap().talents_gathered), 1);

    let a = metrics
        .activity(mpb::GetRecruitmentActivityRequest {
            period: year,
            group_by: by_industry,
            filter: None,
            as_known_at: None,
        })
        .await;
    let rows: Vec<(String, i64, i64)> = a
        .rows
        .iter()
        .map(|r| {
            let f = r.figures.as_ref().unwrap();
            (
                label(&r.dimensions[0]),
                m::value(&f.postings),
                m::value(&f.headcount_demanded),
            )
        })
        .collect();
    assert_eq!(rows, [("S".into(), 1, 3), ("T".into(), 1, 2)]);
}
