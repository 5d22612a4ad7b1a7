//! Cases of résumés, hires, separations, applications, request ids and
//! the outbox of failed changes.

use talent_proto::{google::r#type::Date, talent::events::v1 as ev};
use talent_recruiting::{
    pii::Personal,
    store::{
        ApplicationFilter, ApplicationInput, ApplicationRecord, Education, EmploymentFilter,
        EmploymentRecord, FairInput, HireDetails, HireInput, HirePerson, Outcome, PostingInput,
        PostingPatch, RecruitingStore, ResumeAttributes, ResumeInput, ResumeRecord, ResumeSummary,
        StatusChange, StoreError, app_state,
    },
    validate::timestamp,
};

use super::{
    DAY, Env, T0,
    catalog::{created, employer, employer_e1, posting},
    invalid_fields, kinds, request,
};

/// Person keys (HMACs in the service; any 64 hex characters here).
fn person(n: u8) -> String {
    char::from(b'a' + n).to_string().repeat(64)
}

fn resume(id: &str, person_key: &str) -> ResumeInput {
    ResumeInput {
        external_id: id.to_owned(),
        person_key: person_key.to_owned(),
        personal: Personal {
            resident_id_number: "37020219900101123X".to_owned(),
            full_name: "Li Lei".to_owned(),
            phone: "+8613800000000".to_owned(),
            email: "li.lei@example.com".to_owned(),
        },
        attributes: ResumeAttributes {
            education: vec![Education {
                degree_level: 4,
                university_code: "10422".to_owned(),
                university_name: "Shandong University".to_owned(),
                discipline: 7,
                major: "Physics".to_owned(),
                graduation: (2012, 6, 30),
            }],
            title_level: 1,
            skill_level: 2,
            desired_districts: vec!["370202".to_owned()],
            desired_industries: vec!["I64".to_owned()],
        },
        consent: true,
        consent_at: None,
        received_at: None,
    }
}

async fn upsert_resume<S: RecruitingStore>(
    env: &Env<S>,
    platform: &str,
    item: ResumeInput,
    now: i64,
) -> Result<ResumeSummary, talent_recruiting::store::ItemError> {
    let mut results = env
        .store
        .upsert_resumes(platform.to_owned(), vec![item], now)
        .await
        .unwrap();
    results.remove(0)
}

async fn get_resume<S: RecruitingStore>(env: &Env<S>, platform: &str, id: &str) -> ResumeRecord {
    env.store
        .get_resume(platform.to_owned(), id.to_owned())
        .await
        .unwrap()
        .unwrap()
}

fn hire(person: HirePerson, employer: &str, posting: Option<&str>) -> HireInput {
    HireInput {
        person,
        employer_code: employer.to_owned(),
        district: None,
        industry: None,
        start: (2024, 3, 1),
        posting_id: posting.map(str::to_owned),
    }
}

fn date(year: i32, month: i32, day: i32) -> Option<Date> {
    Some(Date { year, month, day })
}

pub async fn resumes_upsert_and_erase<S: RecruitingStore>(env: &Env<S>) {
    env.platform("r1").await;
    env.platform("r2").await;
    let s = &env.store;
    let k = person(0);
    let cv = resume("cv1", &k);
    let summary = upsert_resume(env, "r1", cv.clone(), T0).await.unwrap();
    assert_eq!(
        summary,
        ResumeSummary {
            outcome: Outcome::Created,
            person_key: k.clone(),
        }
    );
    let mut expected = ResumeRecord {
        platform_id: "r1".to_owned(),
        external_id: "cv1".to_owned(),
        person_key: k.clone(),
        personal: Some(cv.personal.clone()),
        attributes: cv.attributes.clone(),
        consent: true,
        consent_at: T0,
        erased_at: None,
        revision: 1,
        created_at: T0,
        updated_at: T0,
    };
    assert_eq!(get_resume(env, "r1", "cv1").await, expected);
    assert_eq!(
        env.events().await,
        [ev::event::Payload::ResumeReceived(ev::ResumeReceived {
            resume: "platforms/r1/resumes/cv1".to_owned(),
            revision: 1,
            person_key: k.clone(),
            first_received_at: Some(timestamp(T0)),
            statistical_use_consent: true,
            attributes: Some(ev::ResumeAttributes {
                education: vec![ev::EducationFacts {
                    degree_level: 4,
                    university_code: "10422".to_owned(),
                    discipline: 7,
                    graduation_date: date(2012, 6, 30),
                }],
                professional_title_level: 1,
                vocational_skill_level: 2,
            }),
        })]
    );

    let outcome = async |item: ResumeInput, now| upsert_resume(env, "r1", item, now).await;
    assert_eq!(
        outcome(cv.clone(), T0 + 1).await.unwrap().outcome,
        Outcome::Unchanged
    );
    // Personal fields are no statistics: updated without an event.
    let mut moved = cv.clone();
    moved.personal.phone = "+8613900000000".to_owned();
    assert_eq!(
        outcome(moved.clone(), T0 + 2).await.unwrap().outcome,
        Outcome::Updated
    );
    expected.personal = Some(moved.personal.clone());
    expected.updated_at = T0 + 2;
    assert_eq!(get_resume(env, "r1", "cv1").await, expected);
    env.no_events().await;
    // A statistical attribute: a revision and its event.
    let mut promoted = moved.clone();
    promoted.attributes.title_level = 3;
    assert_eq!(
        outcome(promoted.clone(), T0 + 3).await.unwrap().outcome,
        Outcome::Updated
    );
    let events = env.events().await;
    match &events[..] {
        [ev::event::Payload::ResumeReceived(e)] => {
            assert_eq!(e.revision, 2);
            assert_eq!(e.attributes.as_ref().unwrap().professional_title_level, 3);
        }
        other => panic!("one ResumeReceived: {other:?}"),
    }
    // Withdrawn consent: consent time is now, and the event carries no
    // attributes.
    let withdrawn = ResumeInput {
        consent: false,
        ..promoted.clone()
    };
    outcome(withdrawn, T0 + 4).await.unwrap();
    let stored = get_resume(env, "r1", "cv1").await;
    assert_eq!(
        (stored.consent, stored.consent_at, stored.revision),
        (false, T0 + 4, 3)
    );
    match &env.events().await[..] {
        [ev::event::Payload::ResumeReceived(e)] => {
            assert_eq!((e.revision, e.statistical_use_consent), (3, false));
            assert_eq!(e.attributes, None);
        }
        other => panic!("one ResumeReceived: {other:?}"),
    }
    // The person of a résumé is fixed.
    let other = resume("cv1", &person(1));
    match outcome(other, T0 + 5).await {
        Err(talent_recruiting::store::ItemError::Invalid(problems)) => {
            assert_eq!(problems[0].0, "resident_id_number");
        }
        other => panic!("a new person key is refused: {other:?}"),
    }

    // Backfilled history keeps the time the platform received it.
    let backfill = ResumeInput {
        received_at: Some(T0 - 10 * DAY),
        ..resume("cv2", &person(1))
    };
    upsert_resume(env, "r1", backfill, T0 + 5).await.unwrap();
    let stored = get_resume(env, "r1", "cv2").await;
    assert_eq!(
        (stored.created_at, stored.consent_at),
        (T0 - 10 * DAY, T0 + 5)
    );
    // The same person on another platform.
    upsert_resume(env, "r2", resume("cv9", &k), T0 + 6)
        .await
        .unwrap();
    assert_eq!(kinds(&env.events().await), ["ResumeReceived"; 2]);
    let names = async |platform: Option<&str>, key: &str| {
        s.person_resumes(platform.map(str::to_owned), key.to_owned())
            .await
            .unwrap()
            .iter()
            .map(ResumeRecord::name)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(None, &k).await,
        ["platforms/r1/resumes/cv1", "platforms/r2/resumes/cv9"]
    );
    assert_eq!(names(Some("r2"), &k).await, ["platforms/r2/resumes/cv9"]);

    // Erasure: every résumé of the person, one event; the count is the
    // calling platform's.
    assert_eq!(
        s.erase_person(Some("r1".into()), k.clone(), T0 + 7)
            .await
            .unwrap(),
        1
    );
    for (platform, id) in [("r1", "cv1"), ("r2", "cv9")] {
        let erased = get_resume(env, platform, id).await;
        assert_eq!(
            (erased.personal, erased.erased_at, erased.updated_at),
            (None, Some(T0 + 7), T0 + 7)
        );
    }
    assert_eq!(
        env.events().await,
        [ev::event::Payload::PersonErased(ev::PersonErased {
            person_key: k.clone(),
            erase_time: Some(timestamp(T0 + 7)),
        })]
    );
    assert_eq!(s.erase_person(None, k.clone(), T0 + 8).await.unwrap(), 0);
    env.no_events().await;
    assert_eq!(s.erase_person(None, person(1), T0 + 8).await.unwrap(), 1);
    assert!(matches!(
        upsert_resume(env, "r1", cv, T0 + 9).await,
        Err(talent_recruiting::store::ItemError::FailedPrecondition(_))
    ));
}

pub async fn hires_one_and_in_batches<S: RecruitingStore>(env: &Env<S>) {
    env.platform("h").await;
    employer_e1(env, "h").await;
    let s = &env.store;
    s.upsert_employers(
        "h".into(),
        vec![employer("E2", "Beta", "370211", "C13")],
        T0,
    )
    .await
    .unwrap();
    let job = PostingInput {
        district: Some("370203".to_owned()),
        industry: Some("I65".to_owned()),
        ..posting("job", "E1", "Engineer")
    };
    let opening = created(env, "h", job, T0).await;
    upsert_resume(env, "h", resume("cv", &person(0)), T0)
        .await
        .unwrap();
    env.events().await;

    // District and industry: given, else the posting's, else the
    // employer's.
    let from_posting = s
        .record_hire(
            "h".into(),
            hire(HirePerson::Resume("cv".into()), "E1", Some("job")),
            None,
            T0 + 1,
        )
        .await
        .unwrap();
    assert!(!from_posting.employment_id.is_empty());
    assert_eq!(
        from_posting,
        EmploymentRecord {
            platform_id: "h".to_owned(),
            employment_id: from_posting.employment_id.clone(),
            resume_id: Some("cv".to_owned()),
            person_key: person(0),
            employer_code: "E1".to_owned(),
            district: "370203".to_owned(),
            industry: "I65".to_owned(),
            start: (2024, 3, 1),
            end: None,
            posting_id: Some("job".to_owned()),
            application_id: None,
            separation_revision: 0,
            created_at: T0 + 1,
            updated_at: T0 + 1,
        }
    );
    assert_eq!(
        env.events().await,
        [ev::event::Payload::Hired(ev::Hired {
            employment: from_posting.name(),
            person_key: person(0),
            employer_credit_code: "E1".to_owned(),
            workplace_district: "370203".to_owned(),
            industry: "I65".to_owned(),
            start_date: date(2024, 3, 1),
            reporting_platform_id: "h".to_owned(),
            posting: "platforms/h/postings/job".to_owned(),
            opening_id: opening,
            application: String::new(),
        })]
    );
    let place = async |input: HireInput| {
        let e = s
            .record_hire("h".into(), input, None, T0 + 1)
            .await
            .unwrap();
        (e.district, e.industry)
    };
    let key = |n| HirePerson::PersonKey(person(n));
    assert_eq!(
        place(hire(key(1), "E2", None)).await,
        ("370211".to_owned(), "C13".to_owned())
    );
    let given = HireInput {
        district: Some("370285".to_owned()),
        ..hire(key(1), "E1", Some("job"))
    };
    assert_eq!(place(given).await, ("370285".to_owned(), "I65".to_owned()));
    assert_eq!(kinds(&env.events().await), ["Hired", "Hired"]);

    let refused = async |input: HireInput| {
        invalid_fields(s.record_hire("h".into(), input, None, T0 + 1).await)
    };
    let nobody = HirePerson::Resume("nobody".into());
    assert_eq!(refused(hire(nobody, "E1", None)).await, ["resume"]);
    assert_eq!(
        refused(hire(key(1), "E9", None)).await,
        ["employer_credit_code"]
    );
    assert_eq!(
        refused(hire(key(1), "E1", Some("nojob"))).await,
        ["posting"]
    );
    assert_eq!(
        refused(hire(key(1), "E2", Some("job"))).await,
        ["employer_credit_code"]
    );
    env.no_events().await;

    // A batch: one result per hire, in order; a bad hire leaves the others.
    let results = s
        .record_hires(
            "h".into(),
            vec![
                (hire(key(3), "E1", None), Some(request("h1", b"x"))),
                (hire(key(4), "E9", None), None),
                (hire(key(5), "E1", None), Some(request("h1", b"x"))),
                (hire(key(6), "E2", None), None),
            ],
            T0 + 2,
        )
        .await
        .unwrap();
    let [first, unknown, repeated, last] = <[_; 4]>::try_from(results).unwrap();
    let first = first.unwrap();
    assert_eq!(first.person_key, person(3));
    assert_eq!(invalid_fields(unknown), ["employer_credit_code"]);
    assert_eq!(invalid_fields(repeated), ["request_id"]);
    assert_eq!(last.unwrap().person_key, person(6));
    assert_eq!(kinds(&env.events().await), ["Hired", "Hired"]);

    // A request id seen before answers what it created, whatever the
    // hire; with another request it is refused.
    let replay = s
        .record_hire(
            "h".into(),
            hire(key(7), "E2", None),
            Some(request("h1", b"x")),
            T0 + 3,
        )
        .await
        .unwrap();
    assert_eq!(replay, first);
    let reused = s.record_hire(
        "h".into(),
        hire(key(3), "E1", None),
        Some(request("h1", b"y")),
        T0 + 3,
    );
    assert!(matches!(reused.await, Err(StoreError::RequestIdReused)));
    let results = s
        .record_hires(
            "h".into(),
            vec![
                (hire(key(3), "E1", None), Some(request("h1", b"y"))),
                (hire(key(8), "E1", None), None),
            ],
            T0 + 3,
        )
        .await
        .unwrap();
    assert!(matches!(results[0], Err(StoreError::RequestIdReused)));
    assert_eq!(results[1].as_ref().unwrap().person_key, person(8));
    assert_eq!(kinds(&env.events().await), ["Hired"]);

    let people = async |filter: EmploymentFilter| {
        s.list_employments("h".into(), filter, None, 100)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.person_key)
            .collect::<Vec<_>>()
    };
    let at_e2 = EmploymentFilter {
        employer_code: Some("E2".to_owned()),
        ..EmploymentFilter::default()
    };
    // Same start date: ordered by id, which the store mints in time order.
    assert_eq!(people(at_e2).await, [person(1), person(6)]);
    let of_person = EmploymentFilter {
        person_key: Some(person(1)),
        ..EmploymentFilter::default()
    };
    assert_eq!(people(of_person).await, [person(1), person(1)]);
    let page = s
        .list_employments("h".into(), EmploymentFilter::default(), None, 2)
        .await
        .unwrap();
    let after = page
        .last()
        .map(|e| (day_text(e.start), e.employment_id.clone()));
    let rest = s
        .list_employments("h".into(), EmploymentFilter::default(), after, 100)
        .await
        .unwrap();
    assert_eq!(page.len() + rest.len(), 6);
    assert_eq!(page[0], from_posting);
}

fn day_text((y, m, d): (i32, i32, i32)) -> String {
    format!("{y:04}-{m:02}-{d:02}")
}

pub async fn separations<S: RecruitingStore>(env: &Env<S>) {
    env.platform("s").await;
    employer_e1(env, "s").await;
    let s = &env.store;
    let hired = s
        .record_hire(
            "s".into(),
            hire(HirePerson::PersonKey(person(0)), "E1", None),
            None,
            T0,
        )
        .await
        .unwrap();
    env.events().await;
    let separate = async |end, now| {
        s.record_separation("s".into(), hired.employment_id.clone(), end, now)
            .await
    };
    let ended = separate((2024, 6, 30), T0 + 1).await.unwrap();
    assert_eq!(
        (ended.end, ended.separation_revision, ended.updated_at),
        (Some((2024, 6, 30)), 1, T0 + 1)
    );
    assert_eq!(
        env.events().await,
        [ev::event::Payload::Separated(ev::Separated {
            employment: hired.name(),
            person_key: person(0),
            end_date: date(2024, 6, 30),
            revision: 1,
        })]
    );
    // The same end again changes nothing; a corrected end is a revision.
    assert_eq!(separate((2024, 6, 30), T0 + 2).await.unwrap(), ended);
    env.no_events().await;
    let corrected = separate((2024, 7, 31), T0 + 3).await.unwrap();
    assert_eq!(corrected.separation_revision, 2);
    match &env.events().await[..] {
        [ev::event::Payload::Separated(e)] => {
            assert_eq!((e.revision, e.end_date), (2, date(2024, 7, 31)));
        }
        other => panic!("one Separated: {other:?}"),
    }
    assert_eq!(
        invalid_fields(separate((2024, 3, 1), T0 + 4).await),
        ["end_date"]
    );
    let unknown = s.record_separation("s".into(), "nope".into(), (2024, 6, 30), T0);
    assert!(matches!(unknown.await, Err(StoreError::NotFound(_))));
    env.no_events().await;

    let active_on = async |day| {
        let filter = EmploymentFilter {
            active_on: Some(day),
            ..EmploymentFilter::default()
        };
        s.list_employments("s".into(), filter, None, 10)
            .await
            .unwrap()
            .len()
    };
    assert_eq!(active_on((2024, 2, 29)).await, 0);
    assert_eq!(active_on((2024, 3, 1)).await, 1);
    assert_eq!(active_on((2024, 7, 30)).await, 1);
    assert_eq!(active_on((2024, 7, 31)).await, 0);
}

pub async fn applications_and_their_states<S: RecruitingStore>(env: &Env<S>) {
    env.platform("ap").await;
    employer_e1(env, "ap").await;
    let s = &env.store;
    let opening = created(env, "ap", posting("job", "E1", "Engineer"), T0).await;
    upsert_resume(env, "ap", resume("cv", &person(0)), T0)
        .await
        .unwrap();
    let expo = FairInput {
        fair_id: "expo".to_owned(),
        display_name: "Expo".to_owned(),
        format: 1,
        start_at: T0,
        end_at: T0 + DAY,
        district: "370202".to_owned(),
    };
    s.create_fair("ap".into(), expo, None, T0).await.unwrap();
    env.events().await;

    let input = |id: &str, submit_at| ApplicationInput {
        application_id: id.to_owned(),
        resume_id: "cv".to_owned(),
        posting_id: "job".to_owned(),
        fair_id: None,
        submit_at: Some(submit_at),
    };
    let create = async |input: ApplicationInput, now| {
        s.create_application("ap".into(), input, None, now).await
    };
    let app = create(input("app1", T0 + 1), T0 + 2).await.unwrap();
    assert_eq!(
        app,
        ApplicationRecord {
            platform_id: "ap".to_owned(),
            application_id: "app1".to_owned(),
            resume_id: "cv".to_owned(),
            posting_id: "job".to_owned(),
            fair_id: None,
            state: app_state::SUBMITTED,
            history: vec![(0, app_state::SUBMITTED, T0 + 1, String::new())],
            submit_at: T0 + 1,
            employment_id: None,
            created_at: T0 + 2,
            updated_at: T0 + 2,
        }
    );
    assert_eq!(
        env.events().await,
        [ev::event::Payload::ApplicationSubmitted(
            ev::ApplicationSubmitted {
                application: "platforms/ap/applications/app1".to_owned(),
                resume: "platforms/ap/resumes/cv".to_owned(),
                posting: "platforms/ap/postings/job".to_owned(),
                opening_id: opening.clone(),
                employer_credit_code: "E1".to_owned(),
                workplace_district: "370202".to_owned(),
                industry: "I64".to_owned(),
                submit_time: Some(timestamp(T0 + 1)),
                fair: String::new(),
            }
        )]
    );
    assert!(matches!(
        create(input("app1", T0 + 1), T0 + 3).await,
        Err(StoreError::AlreadyExists(_))
    ));
    let dangling = ApplicationInput {
        resume_id: "nocv".to_owned(),
        posting_id: "nojob".to_owned(),
        fair_id: Some("nofair".to_owned()),
        ..input("app2", T0 + 1)
    };
    assert_eq!(
        invalid_fields(create(dangling, T0 + 3).await),
        [
            "application.resume",
            "application.posting",
            "application.fair"
        ]
    );
    // Only while the posting is open: from its publication to its expiry.
    for submit_at in [T0 - 1, T0 + 30 * DAY] {
        assert!(matches!(
            create(input("app2", submit_at), T0 + 3).await,
            Err(StoreError::FailedPrecondition(_))
        ));
    }
    let at_expo = ApplicationInput {
        fair_id: Some("expo".to_owned()),
        ..input("app3", T0 + 3)
    };
    let app3 = create(at_expo, T0 + 3).await.unwrap();
    assert_eq!(app3.fair_id.as_deref(), Some("expo"));
    match &env.events().await[..] {
        [ev::event::Payload::ApplicationSubmitted(e)] => {
            assert_eq!(e.fair, "platforms/ap/fairs/expo");
        }
        other => panic!("one ApplicationSubmitted: {other:?}"),
    }

    // The state machine: one step forward, or rejected, or withdrawn.
    let change = |to, at: i64| StatusChange {
        to,
        at: Some(at),
        reason: format!("to {to}"),
        hire: None,
    };
    let update = async |id: &str, change: StatusChange, now| {
        s.update_application_status("ap".into(), id.to_owned(), change, now)
            .await
    };
    let screened = update("app1", change(2, T0 + 4), T0 + 4).await.unwrap();
    assert_eq!(screened.state, 2);
    assert_eq!(
        screened.history.last(),
        Some(&(1, 2, T0 + 4, "to 2".to_owned()))
    );
    assert!(matches!(
        update("app1", change(4, T0 + 5), T0 + 5).await,
        Err(StoreError::FailedPrecondition(_))
    ));
    assert_eq!(
        invalid_fields(update("app1", change(3, T0 + 3), T0 + 5).await),
        ["transition_time"]
    );
    update("app1", change(3, T0 + 5), T0 + 5).await.unwrap();
    update("app1", change(4, T0 + 6), T0 + 6).await.unwrap();
    assert_eq!(
        invalid_fields(update("app1", change(app_state::HIRED, T0 + 7), T0 + 7).await),
        ["hire"]
    );
    env.no_events().await;
    let hired = StatusChange {
        hire: Some(HireDetails {
            start: (2024, 3, 1),
            district: None,
            industry: None,
        }),
        ..change(app_state::HIRED, T0 + 7)
    };
    let app = update("app1", hired, T0 + 7).await.unwrap();
    assert_eq!(app.state, app_state::HIRED);
    assert_eq!(app.history.len(), 5);
    let employment = app
        .employment_id
        .clone()
        .expect("HIRED records the employment");
    match &env.events().await[..] {
        [ev::event::Payload::Hired(e)] => assert_eq!(
            (
                e.employment.as_str(),
                e.application.as_str(),
                e.posting.as_str(),
                &e.opening_id,
                e.workplace_district.as_str()
            ),
            (
                format!("platforms/ap/employments/{employment}").as_str(),
                "platforms/ap/applications/app1",
                "platforms/ap/postings/job",
                &opening,
                "370202"
            )
        ),
        other => panic!("one Hired: {other:?}"),
    }
    assert!(matches!(
        update("app1", change(app_state::REJECTED, T0 + 8), T0 + 8).await,
        Err(StoreError::FailedPrecondition(_))
    ));
    let withdrawn = update("app3", change(app_state::WITHDRAWN, T0 + 8), T0 + 8)
        .await
        .unwrap();
    assert_eq!(withdrawn.state, app_state::WITHDRAWN);
    assert!(matches!(
        update("nope", change(2, T0 + 8), T0 + 8).await,
        Err(StoreError::NotFound(_))
    ));
    env.no_events().await;
    assert_eq!(
        s.get_application("ap".into(), "app1".into()).await.unwrap(),
        Some(app.clone())
    );

    let list = async |filter: ApplicationFilter, after: Option<(i64, &str)>| {
        s.list_applications(
            "ap".into(),
            filter,
            after.map(|(at, id)| (at, id.to_owned())),
            10,
        )
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.application_id)
        .collect::<Vec<_>>()
    };
    let all = ApplicationFilter::default;
    assert_eq!(list(all(), None).await, ["app1", "app3"]);
    assert_eq!(list(all(), Some((T0 + 2, "app1"))).await, ["app3"]);
    let withdrawn_only = ApplicationFilter {
        state: Some(app_state::WITHDRAWN),
        ..all()
    };
    assert_eq!(list(withdrawn_only, None).await, ["app3"]);
    let by_posting = ApplicationFilter {
        posting_id: Some("job".to_owned()),
        resume_id: Some("cv".to_owned()),
        ..all()
    };
    assert_eq!(list(by_posting, None).await, ["app1", "app3"]);

    let (applications, employments) = s.person_records(None, person(0)).await.unwrap();
    assert_eq!(applications, [app, withdrawn]);
    assert_eq!(
        employments
            .iter()
            .map(|e| (e.employment_id.as_str(), e.application_id.as_deref()))
            .collect::<Vec<_>>(),
        [(employment.as_str(), Some("app1"))]
    );
    let (applications, employments) = s
        .person_records(Some("elsewhere".into()), person(0))
        .await
        .unwrap();
    assert!(applications.is_empty() && employments.is_empty());
}

pub async fn request_ids_are_idempotent_for_seven_days<S: RecruitingStore>(env: &Env<S>) {
    env.platform("idem").await;
    env.platform("other").await;
    employer_e1(env, "idem").await;
    let s = &env.store;
    created(env, "idem", posting("job", "E1", "Engineer"), T0).await;
    upsert_resume(env, "idem", resume("cv", &person(0)), T0)
        .await
        .unwrap();
    env.events().await;
    let fair = |id: &str| FairInput {
        fair_id: id.to_owned(),
        display_name: id.to_owned(),
        format: 1,
        start_at: T0 + DAY,
        end_at: T0 + 2 * DAY,
        district: "370202".to_owned(),
    };
    let create = async |platform: &str, id: &str, fingerprint: &[u8], now| {
        s.create_fair(
            platform.to_owned(),
            fair(id),
            Some(request("r", fingerprint)),
            now,
        )
        .await
    };
    let one = create("idem", "one", b"a", T0).await.unwrap();
    assert_eq!(kinds(&env.events().await), ["FairHeld"]);
    // The same request again: the same answer, nothing new.
    assert_eq!(create("idem", "two", b"a", T0 + DAY).await.unwrap(), one);
    env.no_events().await;
    // Another request with the id, within seven days: refused.
    assert!(matches!(
        create("idem", "two", b"b", T0 + 6 * DAY).await,
        Err(StoreError::RequestIdReused)
    ));
    // Ids are the calling platform's.
    create("other", "one", b"b", T0).await.unwrap();
    // After seven days the id is forgotten and may be used again.
    let three = create("idem", "three", b"b", T0 + 8 * DAY).await.unwrap();
    assert_eq!(three.fair_id, "three");
    assert_eq!(kinds(&env.events().await), ["FairHeld", "FairHeld"]);
    let fairs = s
        .list_fairs("idem".into(), None, None, None, 10)
        .await
        .unwrap();
    assert_eq!(
        fairs.iter().map(|f| f.fair_id.as_str()).collect::<Vec<_>>(),
        ["one", "three"]
    );

    let apply = async |id: &str, fingerprint: &[u8]| {
        let input = ApplicationInput {
            application_id: id.to_owned(),
            resume_id: "cv".to_owned(),
            posting_id: "job".to_owned(),
            fair_id: None,
            submit_at: Some(T0 + 1),
        };
        s.create_application(
            "idem".into(),
            input,
            Some(request("ra", fingerprint)),
            T0 + 2,
        )
        .await
    };
    let first = apply("app1", b"1").await.unwrap();
    assert_eq!(apply("app9", b"1").await.unwrap(), first);
    assert!(matches!(
        apply("app9", b"2").await,
        Err(StoreError::RequestIdReused)
    ));
    assert_eq!(kinds(&env.events().await), ["ApplicationSubmitted"]);
    let listed = s
        .list_applications("idem".into(), ApplicationFilter::default(), None, 10)
        .await
        .unwrap();
    assert_eq!(listed, [first]);
}

pub async fn a_failed_change_writes_no_events<S: RecruitingStore>(env: &Env<S>) {
    env.platform("tx").await;
    employer_e1(env, "tx").await;
    let s = &env.store;
    created(env, "tx", posting("job", "E1", "Engineer"), T0).await;
    upsert_resume(env, "tx", resume("cv", &person(0)), T0)
        .await
        .unwrap();
    assert_eq!(
        kinds(&env.events().await),
        ["PostingPublished", "ResumeReceived"]
    );

    // A call refused as a whole leaves neither its change nor its events.
    let patch = PostingPatch {
        headcount: Some(9),
        expire_at: Some(Some(T0)),
        ..PostingPatch::default()
    };
    let refused = s.update_posting("tx".into(), "job".into(), patch, T0 + 1);
    assert_eq!(invalid_fields(refused.await), ["posting.expire_time"]);
    let job = s
        .get_posting("tx".into(), "job".into())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((job.fields.headcount, job.revision), (1, 1));

    let bad = |n| (hire(HirePerson::PersonKey(person(n)), "E9", None), None);
    let results = s
        .record_hires("tx".into(), vec![bad(1), bad(2)], T0 + 1)
        .await
        .unwrap();
    assert!(results.iter().all(Result::is_err));
    let stored = s
        .list_employments("tx".into(), EmploymentFilter::default(), None, 10)
        .await
        .unwrap();
    assert!(stored.is_empty());

    let application = ApplicationInput {
        application_id: "app".to_owned(),
        resume_id: "cv".to_owned(),
        posting_id: "job".to_owned(),
        fair_id: None,
        submit_at: None,
    };
    s.create_application("tx".into(), application, None, T0 + 1)
        .await
        .unwrap();
    assert_eq!(kinds(&env.events().await), ["ApplicationSubmitted"]);
    let skip = StatusChange {
        to: app_state::HIRED,
        at: None,
        reason: String::new(),
        hire: Some(HireDetails {
            start: (2024, 3, 1),
            district: None,
            industry: None,
        }),
    };
    let refused = s.update_application_status("tx".into(), "app".into(), skip, T0 + 2);
    assert!(matches!(
        refused.await,
        Err(StoreError::FailedPrecondition(_))
    ));
    let app = s
        .get_application("tx".into(), "app".into())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((app.state, app.employment_id), (app_state::SUBMITTED, None));
    env.no_events().await;

    // What a batch stores and the events it writes are one: every posting
    // created has its event, in item order.
    let results = s
        .upsert_postings(
            "tx".into(),
            (0..50)
                .map(|i| posting(&format!("p{i}"), "E1", &format!("Title {i}")))
                .collect(),
            T0 + 3,
        )
        .await
        .unwrap();
    assert_eq!(results.len(), 50);
    let events = env.events().await;
    let names: Vec<String> = events
        .iter()
        .map(|e| match e {
            ev::event::Payload::PostingPublished(p) => p.facts.as_ref().unwrap().posting.clone(),
            other => panic!("a PostingPublished: {other:?}"),
        })
        .collect();
    let expected: Vec<String> = (0..50)
        .map(|i| format!("platforms/tx/postings/p{i}"))
        .collect();
    assert_eq!(names, expected);
}
