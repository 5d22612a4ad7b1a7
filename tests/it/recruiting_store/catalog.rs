//! Cases of platforms, keys, employers, postings, openings and fairs.

use talent_proto::talent::events::v1 as ev;
use talent_recruiting::store::{
    ApiKeyRecord, CloseReason, EmployerFilter, EmployerInput, EmployerRecord, FairInput,
    FairRecord, FieldSources, ItemError, ItemResult, KeyOwner, NewApiKey, Outcome, PlatformRecord,
    PostingFields, PostingFilter, PostingInput, PostingPatch, PostingRecord, PostingState,
    PostingSummary, RecruitingStore, StoreError,
};
use talent_recruiting::validate::timestamp;

use super::{DAY, Env, T0, invalid_fields, kinds, platform, request};

/// An employer with every field given.
pub fn employer(code: &str, name: &str, district: &str, industry: &str) -> EmployerInput {
    EmployerInput {
        credit_code: code.to_owned(),
        display_name: Some(name.to_owned()),
        district: Some(district.to_owned()),
        industry: Some(industry.to_owned()),
        size: Some(50),
    }
}

/// An employer input that gives only `field`s, for last-write checks.
fn only(code: &str, display_name: Option<&str>, district: Option<&str>) -> EmployerInput {
    EmployerInput {
        credit_code: code.to_owned(),
        display_name: display_name.map(str::to_owned),
        district: district.map(str::to_owned),
        industry: None,
        size: None,
    }
}

/// A posting published at `T0`, with the documented defaults elsewhere.
pub fn posting(id: &str, employer: &str, title: &str) -> PostingInput {
    PostingInput {
        external_id: id.to_owned(),
        title: title.to_owned(),
        description: "Builds things.".to_owned(),
        employer_code: employer.to_owned(),
        district: None,
        industry: None,
        occupation: "2-02-10".to_owned(),
        min_degree: 4,
        experience_years: 2,
        salary: Some((8_000, 12_000)),
        headcount: 1,
        employment_type: 1,
        publish_at: Some(T0),
        expire_at: None,
        fair_id: None,
        tags: vec!["remote".to_owned()],
    }
}

/// The employer every posting case uses: E1 in district 370202, I64.
pub async fn employer_e1<S: RecruitingStore>(env: &Env<S>, platform: &str) {
    let results = env
        .store
        .upsert_employers(
            platform.to_owned(),
            vec![employer("E1", "Acme", "370202", "I64")],
            T0,
        )
        .await
        .unwrap();
    assert!(results[0].is_ok());
}

/// Upserts one posting and returns its result.
pub async fn push<S: RecruitingStore>(
    env: &Env<S>,
    platform: &str,
    item: PostingInput,
    now: i64,
) -> ItemResult<PostingSummary> {
    let mut results = env
        .store
        .upsert_postings(platform.to_owned(), vec![item], now)
        .await
        .unwrap();
    assert_eq!(results.len(), 1);
    results.remove(0)
}

/// The opening a new posting got.
pub async fn created<S: RecruitingStore>(
    env: &Env<S>,
    platform: &str,
    item: PostingInput,
    now: i64,
) -> String {
    let summary = push(env, platform, item, now).await.unwrap();
    assert_eq!(summary.outcome, Outcome::Created);
    assert!(!summary.opening_id.is_empty());
    summary.opening_id
}

async fn get<S: RecruitingStore>(env: &Env<S>, platform: &str, id: &str) -> PostingRecord {
    env.store
        .get_posting(platform.to_owned(), id.to_owned())
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("posting {id} is stored"))
}

fn item_fields(result: ItemResult<PostingSummary>) -> Vec<String> {
    match result {
        Err(ItemError::Invalid(problems)) => problems.into_iter().map(|(f, _)| f).collect(),
        other => panic!("expected field violations, got {other:?}"),
    }
}

fn facts(event: &ev::event::Payload) -> &ev::PostingFacts {
    match event {
        ev::event::Payload::PostingPublished(e) => e.facts.as_ref().unwrap(),
        ev::event::Payload::PostingUpdated(e) => e.facts.as_ref().unwrap(),
        other => panic!("not a posting's facts: {other:?}"),
    }
}

pub async fn platforms_and_keys<S: RecruitingStore>(env: &Env<S>) {
    let s = &env.store;
    let created = s.create_platform(platform("alpha"), None).await.unwrap();
    assert_eq!(created, platform("alpha"));
    assert!(matches!(
        s.create_platform(platform("alpha"), None).await,
        Err(StoreError::AlreadyExists(_))
    ));

    // A request id answers a replay with what the first call created.
    let first = s
        .create_platform(platform("beta"), Some(request("r1", b"one")))
        .await
        .unwrap();
    let renamed = PlatformRecord {
        display_name: "Renamed".to_owned(),
        ..platform("beta")
    };
    let replay = s.create_platform(renamed, Some(request("r1", b"one")));
    assert_eq!(replay.await.unwrap(), first);
    assert!(matches!(
        s.create_platform(platform("gamma"), Some(request("r1", b"two")))
            .await,
        Err(StoreError::RequestIdReused)
    ));

    let ids = |platforms: Vec<PlatformRecord>| -> Vec<String> {
        platforms.into_iter().map(|p| p.id).collect()
    };
    assert_eq!(
        ids(s.list_platforms(None, 10, false).await.unwrap()),
        ["alpha", "beta"]
    );
    assert_eq!(
        ids(s
            .list_platforms(Some("alpha".into()), 10, false)
            .await
            .unwrap()),
        ["beta"]
    );
    assert_eq!(
        ids(s.list_platforms(None, 1, false).await.unwrap()),
        ["alpha"]
    );

    // At most five active keys without rotation.
    let key = |n: u8| NewApiKey {
        id: format!("key-{n}"),
        platform_id: "alpha".to_owned(),
        key_hash: vec![n; 32],
        secret_prefix: format!("prefix{n}"),
        expire_at: None,
    };
    let (issued, expiring) = s.issue_api_key(key(1), T0, None).await.unwrap();
    assert_eq!(
        issued,
        ApiKeyRecord {
            id: "key-1".to_owned(),
            platform_id: "alpha".to_owned(),
            secret_prefix: "prefix1".to_owned(),
            created_at: T0,
            expire_at: None,
        }
    );
    assert!(expiring.is_empty());
    let active = |expire_at| KeyOwner::Active {
        platform: "alpha".to_owned(),
        key: "key-1".to_owned(),
        expire_at,
    };
    assert_eq!(s.authenticate(vec![1; 32], T0).await.unwrap(), active(None));
    assert_eq!(
        s.authenticate(vec![9; 32], T0).await.unwrap(),
        KeyOwner::Unknown
    );
    for n in 2..=5 {
        s.issue_api_key(key(n), T0 + i64::from(n), None)
            .await
            .unwrap();
    }
    assert!(matches!(
        s.issue_api_key(key(6), T0 + 6, None).await,
        Err(StoreError::FailedPrecondition(_))
    ));

    // Rotation: every other active key expires at the given instant, or
    // keeps an earlier expiry of its own.
    let expiries = |keys: Vec<ApiKeyRecord>| -> Vec<(String, Option<i64>)> {
        keys.into_iter().map(|k| (k.id, k.expire_at)).collect()
    };
    let (_, expiring) = s
        .issue_api_key(key(6), T0 + 6, Some(T0 + DAY))
        .await
        .unwrap();
    let first_five: Vec<_> = (1..=5)
        .map(|n| (format!("key-{n}"), Some(T0 + DAY)))
        .collect();
    assert_eq!(expiries(expiring), first_five);
    let (_, expiring) = s
        .issue_api_key(key(7), T0 + 7, Some(T0 + 2 * DAY))
        .await
        .unwrap();
    let mut expected = first_five.clone();
    expected.push(("key-6".to_owned(), Some(T0 + 2 * DAY)));
    assert_eq!(expiries(expiring), expected);
    assert_eq!(
        s.authenticate(vec![1; 32], T0 + DAY - 1).await.unwrap(),
        active(Some(T0 + DAY))
    );
    assert_eq!(
        s.authenticate(vec![1; 32], T0 + DAY).await.unwrap(),
        KeyOwner::Unknown
    );

    // Disabling happens once; the keys then name a disabled platform.
    let disabled = s.disable_platform("alpha".into(), T0 + 100).await.unwrap();
    assert_eq!(disabled.disabled_at, Some(T0 + 100));
    let again = s.disable_platform("alpha".into(), T0 + 200).await.unwrap();
    assert_eq!(again.disabled_at, Some(T0 + 100));
    assert_eq!(
        s.authenticate(vec![7; 32], T0 + 300).await.unwrap(),
        KeyOwner::Disabled("alpha".to_owned())
    );
    assert_eq!(
        ids(s.list_platforms(None, 10, false).await.unwrap()),
        ["beta"]
    );
    assert_eq!(
        ids(s.list_platforms(None, 10, true).await.unwrap()),
        ["alpha", "beta"]
    );
    assert!(matches!(
        s.issue_api_key(key(8), T0 + 300, None).await,
        Err(StoreError::FailedPrecondition(_))
    ));
    assert!(matches!(
        s.disable_platform("nobody".into(), T0).await,
        Err(StoreError::NotFound(_))
    ));
    let stranger = NewApiKey {
        platform_id: "nobody".to_owned(),
        ..key(9)
    };
    assert!(matches!(
        s.issue_api_key(stranger, T0, None).await,
        Err(StoreError::NotFound(_))
    ));
    env.no_events().await;
}

pub async fn employers_keep_the_last_write_of_each_field<S: RecruitingStore>(env: &Env<S>) {
    env.platform("north").await;
    env.platform("south").await;
    let s = &env.store;
    let upsert = async |platform: &str, items: Vec<EmployerInput>, now: i64| {
        s.upsert_employers(platform.to_owned(), items, now)
            .await
            .unwrap()
    };
    let get = async |platform: &str, code: &str| {
        s.get_employer(Some(platform.to_owned()), code.to_owned())
            .await
            .unwrap()
    };

    let partial = upsert("north", vec![only("E1", None, Some("370202"))], T0).await;
    match &partial[..] {
        [Err(ItemError::Invalid(problems))] => {
            let fields: Vec<&str> = problems.iter().map(|(f, _)| f.as_str()).collect();
            assert_eq!(fields, ["display_name", "industry"]);
        }
        other => panic!("a new employer needs every field: {other:?}"),
    }

    let results = upsert("north", vec![employer("E1", "Acme", "370202", "I64")], T0).await;
    assert_eq!(results, [Ok(Outcome::Created)]);
    let sources = |entries: &[(&str, &str, i64)]| -> FieldSources {
        entries
            .iter()
            .map(|(field, platform, at)| ((*field).to_owned(), ((*platform).to_owned(), *at)))
            .collect()
    };
    let mut expected = EmployerRecord {
        credit_code: "E1".to_owned(),
        display_name: "Acme".to_owned(),
        district: "370202".to_owned(),
        industry: "I64".to_owned(),
        size: 50,
        field_sources: sources(&[
            ("display_name", "north", T0),
            ("district", "north", T0),
            ("industry", "north", T0),
            ("size", "north", T0),
        ]),
        created_at: T0,
        updated_at: T0,
    };
    assert_eq!(get("north", "E1").await, Some(expected.clone()));
    // A platform sees an employer once it upserted it itself.
    assert_eq!(get("south", "E1").await, None);

    // Another platform changes one field; the others keep their writer.
    let results = upsert("south", vec![only("E1", None, Some("370203"))], T0 + 1).await;
    assert_eq!(results, [Ok(Outcome::Updated)]);
    expected.district = "370203".to_owned();
    expected
        .field_sources
        .insert("district".to_owned(), ("south".to_owned(), T0 + 1));
    expected.updated_at = T0 + 1;
    assert_eq!(get("south", "E1").await, Some(expected.clone()));

    // The stored value again changes nothing, not even who wrote it.
    let results = upsert("north", vec![only("E1", Some("Acme"), None)], T0 + 2).await;
    assert_eq!(results, [Ok(Outcome::Unchanged)]);
    assert_eq!(get("north", "E1").await, Some(expected.clone()));

    // The last write of each field wins; an unchanged value keeps its
    // writer even when given again.
    let results = upsert(
        "north",
        vec![EmployerInput {
            industry: Some("I64".to_owned()),
            ..only("E1", Some("Acme Ltd"), Some("370202"))
        }],
        T0 + 3,
    )
    .await;
    assert_eq!(results, [Ok(Outcome::Updated)]);
    expected.display_name = "Acme Ltd".to_owned();
    expected.district = "370202".to_owned();
    expected.field_sources.extend(sources(&[
        ("display_name", "north", T0 + 3),
        ("district", "north", T0 + 3),
    ]));
    expected.updated_at = T0 + 3;
    assert_eq!(get("south", "E1").await, Some(expected));

    // An item sees what an earlier item of its batch stored.
    let results = upsert(
        "north",
        vec![
            employer("E2", "Beta", "110101", "C13"),
            only("E2", Some("Beta Co"), None),
        ],
        T0 + 4,
    )
    .await;
    assert_eq!(results, [Ok(Outcome::Created), Ok(Outcome::Updated)]);
    assert_eq!(get("north", "E2").await.unwrap().display_name, "Beta Co");

    let list = async |platform: &str, filter: EmployerFilter, after: Option<&str>, limit| {
        s.list_employers(
            Some(platform.to_owned()),
            filter,
            after.map(str::to_owned),
            limit,
        )
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.credit_code)
        .collect::<Vec<_>>()
    };
    let all = EmployerFilter::default;
    assert_eq!(list("north", all(), None, 10).await, ["E1", "E2"]);
    assert_eq!(list("south", all(), None, 10).await, ["E1"]);
    assert_eq!(list("north", all(), Some("E1"), 10).await, ["E2"]);
    assert_eq!(list("north", all(), None, 1).await, ["E1"]);
    let in_district = EmployerFilter {
        district_prefix: Some("3702".to_owned()),
        ..all()
    };
    assert_eq!(list("north", in_district, None, 10).await, ["E1"]);
    let in_industry = EmployerFilter {
        industry_prefix: Some("C".to_owned()),
        ..all()
    };
    assert_eq!(list("north", in_industry, None, 10).await, ["E2"]);
    env.no_events().await;
}

pub async fn postings_are_created_updated_or_unchanged<S: RecruitingStore>(env: &Env<S>) {
    env.platform("jobs").await;
    employer_e1(env, "jobs").await;
    let s = &env.store;
    let p1 = posting("p1", "E1", "Senior  Engineer");
    let opening = created(env, "jobs", p1.clone(), T0).await;
    let stored = get(env, "jobs", "p1").await;
    let mut fields = PostingFields {
        title: "Senior  Engineer".to_owned(),
        title_key: "senior engineer".to_owned(),
        description: "Builds things.".to_owned(),
        employer_code: "E1".to_owned(),
        district: "370202".to_owned(),
        industry: "I64".to_owned(),
        occupation: "2-02-10".to_owned(),
        min_degree: 4,
        experience_years: 2,
        salary: Some((8_000, 12_000)),
        headcount: 1,
        employment_type: 1,
        publish_at: T0,
        expire_at: T0 + 30 * DAY,
        fair_id: None,
        tags: vec!["remote".to_owned()],
    };
    assert_eq!(stored.fields, fields);
    assert_eq!(
        (
            stored.close_reason,
            stored.revision,
            stored.created_at,
            stored.updated_at
        ),
        (CloseReason::Open, 1, T0, T0)
    );
    assert_eq!(stored.opening_id, opening);
    let events = env.events().await;
    assert_eq!(kinds(&events), ["PostingPublished"]);
    assert_eq!(
        facts(&events[0]),
        &ev::PostingFacts {
            posting: "platforms/jobs/postings/p1".to_owned(),
            revision: 1,
            opening_id: opening.clone(),
            employer_credit_code: "E1".to_owned(),
            workplace_district: "370202".to_owned(),
            industry: "I64".to_owned(),
            headcount: 1,
            publish_time: Some(timestamp(T0)),
            expire_time: Some(timestamp(T0 + 30 * DAY)),
            fair: String::new(),
        }
    );

    // The same posting again, or without its publish time: unchanged.
    let unchanged = push(env, "jobs", p1.clone(), T0 + 1).await.unwrap();
    assert_eq!(unchanged.outcome, Outcome::Unchanged);
    let without_publish = PostingInput {
        publish_at: None,
        ..p1.clone()
    };
    let unchanged = push(env, "jobs", without_publish, T0 + 1).await.unwrap();
    assert_eq!(unchanged.outcome, Outcome::Unchanged);
    assert_eq!(get(env, "jobs", "p1").await.updated_at, T0);
    env.no_events().await;

    // A changed fact: a new revision and its event.
    let more = PostingInput {
        headcount: 3,
        ..p1.clone()
    };
    let updated = push(env, "jobs", more.clone(), T0 + 2).await.unwrap();
    assert_eq!(
        (updated.outcome, updated.opening_id),
        (Outcome::Updated, opening.clone())
    );
    let stored = get(env, "jobs", "p1").await;
    assert_eq!((stored.revision, stored.updated_at), (2, T0 + 2));
    let events = env.events().await;
    assert_eq!(kinds(&events), ["PostingUpdated"]);
    assert_eq!(
        (facts(&events[0]).revision, facts(&events[0]).headcount),
        (2, 3)
    );

    // A change that is no fact of the statistics: updated, same revision,
    // no event.
    let reworded = PostingInput {
        description: "Builds better things.".to_owned(),
        ..more.clone()
    };
    let updated = push(env, "jobs", reworded, T0 + 3).await.unwrap();
    assert_eq!(updated.outcome, Outcome::Updated);
    let stored = get(env, "jobs", "p1").await;
    assert_eq!((stored.revision, stored.updated_at), (2, T0 + 3));
    fields.description = "Builds better things.".to_owned();
    fields.headcount = 3;
    assert_eq!(stored.fields, fields);
    env.no_events().await;

    // What only the store can check, item by item.
    let moved = PostingInput {
        publish_at: Some(T0 + 5),
        ..more.clone()
    };
    assert_eq!(
        item_fields(push(env, "jobs", moved, T0 + 4).await),
        ["publish_time"]
    );
    let at_once = PostingInput {
        expire_at: Some(T0),
        ..more.clone()
    };
    assert_eq!(
        item_fields(push(env, "jobs", at_once, T0 + 4).await),
        ["expire_time"]
    );
    let too_long = PostingInput {
        expire_at: Some(T0 + 367 * DAY),
        ..more.clone()
    };
    assert_eq!(
        item_fields(push(env, "jobs", too_long, T0 + 4).await),
        ["expire_time"]
    );
    let no_fair = PostingInput {
        fair_id: Some("nofair".to_owned()),
        ..posting("p2", "E1", "Cook")
    };
    assert_eq!(
        item_fields(push(env, "jobs", no_fair, T0 + 4).await),
        ["fair"]
    );
    // An item's problem leaves the others of its batch to be stored.
    let results = s
        .upsert_postings(
            "jobs".into(),
            vec![posting("p9", "E9", "Cook"), posting("p3", "E1", "Analyst")],
            T0 + 4,
        )
        .await
        .unwrap();
    assert_eq!(item_fields(results[0].clone()), ["employer_credit_code"]);
    let analyst = results[1].clone().unwrap();
    assert_eq!(analyst.outcome, Outcome::Created);
    assert_ne!(analyst.opening_id, opening);
    assert_eq!(kinds(&env.events().await), ["PostingPublished"]);
    assert!(
        s.get_posting("jobs".into(), "p9".into())
            .await
            .unwrap()
            .is_none()
    );

    // A field-mask update: the masked fields change, the opening stays
    // (nobody else holds it) and the district, a fact, makes a revision.
    let patch = PostingPatch {
        headcount: Some(2),
        district: Some(Some("370203".to_owned())),
        ..PostingPatch::default()
    };
    let patched = s
        .update_posting("jobs".into(), "p3".into(), patch, T0 + 5)
        .await
        .unwrap();
    assert_eq!(
        (
            patched.fields.headcount,
            patched.fields.district.as_str(),
            patched.revision
        ),
        (2, "370203", 2)
    );
    assert_eq!(patched.opening_id, analyst.opening_id);
    assert_eq!(get(env, "jobs", "p3").await, patched);
    assert_eq!(kinds(&env.events().await), ["PostingUpdated"]);
    let nothing = s.update_posting("jobs".into(), "nope".into(), PostingPatch::default(), T0);
    assert!(matches!(nothing.await, Err(StoreError::NotFound(_))));

    let list = async |filter: PostingFilter, after: Option<(i64, &str)>, limit| {
        s.list_postings(
            "jobs".into(),
            filter,
            after.map(|(at, id)| (at, id.to_owned())),
            limit,
            T0 + 6,
        )
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.external_id)
        .collect::<Vec<_>>()
    };
    let all = PostingFilter::default;
    assert_eq!(list(all(), None, 10).await, ["p1", "p3"]);
    assert_eq!(list(all(), None, 1).await, ["p1"]);
    assert_eq!(list(all(), Some((T0 + 3, "p1")), 10).await, ["p3"]);
    let in_district = PostingFilter {
        district_prefix: Some("370203".to_owned()),
        ..all()
    };
    assert_eq!(list(in_district, None, 10).await, ["p3"]);
    let recent = PostingFilter {
        updated_since: Some(T0 + 4),
        ..all()
    };
    assert_eq!(list(recent, None, 10).await, ["p3"]);
    let open = PostingFilter {
        state: Some(PostingState::Open),
        employer_code: Some("E1".to_owned()),
        ..all()
    };
    assert_eq!(list(open, None, 10).await, ["p1", "p3"]);
}

pub async fn openings_match_across_platforms<S: RecruitingStore>(env: &Env<S>) {
    env.platform("a").await;
    env.platform("b").await;
    employer_e1(env, "a").await;
    let at = |id: &str, title: &str, publish_at: i64| PostingInput {
        publish_at: Some(publish_at),
        ..posting(id, "E1", title)
    };
    // Each copy is open for 30 days from its publication.
    let x = created(env, "a", at("x1", "Engineer", T0), T0).await;
    // Another platform's copy of the same job (same employer, title as
    // normalised, district) open at the same time: the same opening.
    let copy = created(env, "b", at("y1", "  ENGINEER ", T0 + DAY), T0 + DAY).await;
    assert_eq!(copy, x);
    // Published after both closed: a new opening.
    let later = created(env, "b", at("y2", "Engineer", T0 + 40 * DAY), T0 + DAY).await;
    assert_ne!(later, x);
    // Open alongside x1 (opening x) and y2 (opening `later`): it joins
    // them into one connected group, whose copy with the smallest id (a/x1)
    // gives the opening, and y2 moves to it (one more event).
    let between = created(env, "a", at("x4", "Engineer", T0 + 20 * DAY), T0 + DAY).await;
    assert_eq!(between, x);
    assert_eq!(get(env, "b", "y2").await.opening_id, x);
    // Another district or title: another job.
    let elsewhere = PostingInput {
        district: Some("370203".to_owned()),
        ..at("x2", "Engineer", T0)
    };
    let elsewhere = created(env, "a", elsewhere, T0 + DAY).await;
    let designer = created(env, "a", at("x3", "Designer", T0), T0 + DAY).await;
    assert_eq!(
        [&elsewhere, &designer]
            .iter()
            .filter(|o| [&x, &later].contains(o))
            .count(),
        0
    );
    assert_ne!(elsewhere, designer);

    // Copies in one batch meet each other.
    let results = env
        .store
        .upsert_postings(
            "b".into(),
            vec![at("z1", "Driver", T0), at("z2", "driver", T0 + DAY)],
            T0 + DAY,
        )
        .await
        .unwrap();
    let drivers: Vec<String> = results.into_iter().map(|r| r.unwrap().opening_id).collect();
    assert_eq!(drivers[0], drivers[1]);

    // A copy that stops matching leaves its shared opening for a new one;
    // the copy that stays keeps it.
    let manager = push(env, "b", at("y1", "Manager", T0 + DAY), T0 + 2 * DAY)
        .await
        .unwrap();
    assert_eq!(manager.outcome, Outcome::Updated);
    assert!(![&x, &later, &elsewhere, &designer, &drivers[0]].contains(&&manager.opening_id));
    assert_eq!(get(env, "a", "x1").await.opening_id, x);
    let events = env.events().await;
    assert_eq!(events.len(), 10);
    let last = facts(&events[9]);
    assert_eq!(
        (last.posting.as_str(), last.revision, &last.opening_id),
        ("platforms/b/postings/y1", 2, &manager.opening_id)
    );
}

/// A database written under an earlier rule of opening ids: the migration
/// queued every match key, and the start derives their openings again,
/// once.
pub async fn openings_of_an_earlier_rule_are_derived_again_once<S: RecruitingStore>(env: &Env<S>) {
    env.platform("a").await;
    employer_e1(env, "a").await;
    let at = |id: &str, publish_at: i64| PostingInput {
        publish_at: Some(publish_at),
        ..posting(id, "E1", "Engineer")
    };
    // x2 is pushed and published first; x1, the smaller id, names the
    // opening once it comes.
    let first = created(env, "a", at("x2", T0), T0).await;
    let x = created(env, "a", at("x1", T0 + DAY), T0 + DAY).await;
    assert_ne!(first, x);
    assert_eq!(get(env, "a", "x2").await.opening_id, x);
    env.events().await;
    assert_eq!(
        env.store.regroup_legacy_openings(T0 + DAY).await.unwrap(),
        0
    );

    env.execute("UPDATE postings SET opening_id = 'earlier-rule-' || external_id")
        .await;
    env.execute(
        "INSERT INTO openings_to_regroup (employer_code, title_key, district) \
         SELECT DISTINCT employer_code, title_key, district FROM postings",
    )
    .await;
    let moved = env
        .store
        .regroup_legacy_openings(T0 + 2 * DAY)
        .await
        .unwrap();
    assert_eq!(moved, 2);
    let events = env.events().await;
    assert_eq!(kinds(&events), ["PostingUpdated", "PostingUpdated"]);
    for event in &events {
        assert_eq!(facts(event).opening_id, x);
    }
    for id in ["x1", "x2"] {
        let stored = get(env, "a", id).await;
        assert_eq!(
            (stored.opening_id.as_str(), stored.updated_at),
            (x.as_str(), T0 + 2 * DAY)
        );
    }
    assert_eq!(
        env.store
            .regroup_legacy_openings(T0 + 3 * DAY)
            .await
            .unwrap(),
        0
    );
    env.no_events().await;
}

pub async fn postings_close_and_expire<S: RecruitingStore>(env: &Env<S>) {
    env.platform("c").await;
    employer_e1(env, "c").await;
    let s = &env.store;
    let expiring = |id: &str, days: i64| PostingInput {
        expire_at: Some(T0 + days * DAY),
        ..posting(id, "E1", id)
    };
    created(env, "c", expiring("soon", 10), T0).await;
    created(env, "c", expiring("later", 20), T0).await;
    let shut = posting("shut", "E1", "shut");
    created(env, "c", shut.clone(), T0).await;
    env.events().await;

    let closed = s
        .close_posting("c".into(), "shut".into(), None, T0 + DAY)
        .await
        .unwrap();
    assert_eq!(
        (closed.close_reason, closed.closed_at, closed.revision),
        (CloseReason::Closed, Some(T0 + DAY), 2)
    );
    assert_eq!(closed.state(T0 + DAY), PostingState::Closed);
    match &env.events().await[..] {
        [ev::event::Payload::PostingClosed(e)] => assert_eq!(
            (e.posting.as_str(), e.revision, e.close_time, e.reason),
            (
                "platforms/c/postings/shut",
                2,
                Some(timestamp(T0 + DAY)),
                ev::posting_closed::Reason::Closed as i32
            )
        ),
        other => panic!("one PostingClosed: {other:?}"),
    }
    // Closing again answers the posting as it is.
    let again = s
        .close_posting("c".into(), "shut".into(), Some(T0 + 2 * DAY), T0 + 2 * DAY)
        .await
        .unwrap();
    assert_eq!(again, closed);
    // A closed posting does not change (the stored fields again are no
    // change at all).
    let changed = PostingInput {
        headcount: 5,
        ..shut.clone()
    };
    assert!(matches!(
        push(env, "c", changed, T0 + 2 * DAY).await,
        Err(ItemError::FailedPrecondition(_))
    ));
    let same = push(env, "c", shut, T0 + 2 * DAY).await.unwrap();
    assert_eq!(same.outcome, Outcome::Unchanged);
    let patch = PostingPatch {
        headcount: Some(5),
        ..PostingPatch::default()
    };
    assert!(matches!(
        s.update_posting("c".into(), "shut".into(), patch, T0 + 2 * DAY)
            .await,
        Err(StoreError::FailedPrecondition(_))
    ));
    let early = s.close_posting("c".into(), "soon".into(), Some(T0 - 1), T0 + DAY);
    assert_eq!(invalid_fields(early.await), ["close_time"]);
    let nothing = s.close_posting("c".into(), "nope".into(), None, T0);
    assert!(matches!(nothing.await, Err(StoreError::NotFound(_))));
    env.no_events().await;

    // The sweep records each expiry once, at the expiry time.
    assert_eq!(s.expire_postings(T0 + 10 * DAY).await.unwrap(), 1);
    let soon = get(env, "c", "soon").await;
    assert_eq!(
        (soon.close_reason, soon.closed_at, soon.revision),
        (CloseReason::Expired, Some(T0 + 10 * DAY), 2)
    );
    match &env.events().await[..] {
        [ev::event::Payload::PostingClosed(e)] => assert_eq!(
            (e.posting.as_str(), e.close_time, e.reason),
            (
                "platforms/c/postings/soon",
                Some(timestamp(T0 + 10 * DAY)),
                ev::posting_closed::Reason::Expired as i32
            )
        ),
        other => panic!("one PostingClosed: {other:?}"),
    }
    assert_eq!(s.expire_postings(T0 + 10 * DAY).await.unwrap(), 0);
    env.no_events().await;
    // Past its expiry a posting is EXPIRED before the sweep records it.
    let later = get(env, "c", "later").await;
    assert_eq!(later.close_reason, CloseReason::Open);
    assert_eq!(later.state(T0 + 20 * DAY), PostingState::Expired);
    assert_eq!(later.close_time(T0 + 20 * DAY), Some(T0 + 20 * DAY));

    // An expired posting given a later expiry is open again.
    let reopened = push(env, "c", expiring("soon", 60), T0 + 11 * DAY)
        .await
        .unwrap();
    assert_eq!(reopened.outcome, Outcome::Updated);
    let soon = get(env, "c", "soon").await;
    assert_eq!(
        (soon.close_reason, soon.closed_at, soon.revision),
        (CloseReason::Open, None, 3)
    );
    assert_eq!(kinds(&env.events().await), ["PostingUpdated"]);

    let in_state = async |state| {
        let filter = PostingFilter {
            state: Some(state),
            ..PostingFilter::default()
        };
        s.list_postings("c".into(), filter, None, 10, T0 + 25 * DAY)
            .await
            .unwrap()
            .into_iter()
            .map(|p| p.external_id)
            .collect::<Vec<_>>()
    };
    assert_eq!(in_state(PostingState::Open).await, ["soon"]);
    assert_eq!(in_state(PostingState::Closed).await, ["shut"]);
    assert_eq!(in_state(PostingState::Expired).await, ["later"]);
}

pub async fn fairs_and_participations<S: RecruitingStore>(env: &Env<S>) {
    env.platform("f").await;
    employer_e1(env, "f").await;
    let s = &env.store;
    let results = s
        .upsert_employers(
            "f".into(),
            vec![employer("E2", "Beta", "370211", "C13")],
            T0,
        )
        .await
        .unwrap();
    assert_eq!(results, [Ok(Outcome::Created)]);
    let fair = |id: &str, start: i64| FairInput {
        fair_id: id.to_owned(),
        display_name: format!("The {id} fair"),
        format: 1,
        start_at: start,
        end_at: start + DAY,
        district: "370202".to_owned(),
    };
    let spring = s
        .create_fair("f".into(), fair("spring", T0 + DAY), None, T0)
        .await
        .unwrap();
    assert_eq!(
        spring,
        FairRecord {
            platform_id: "f".to_owned(),
            fair_id: "spring".to_owned(),
            display_name: "The spring fair".to_owned(),
            format: 1,
            start_at: T0 + DAY,
            end_at: T0 + 2 * DAY,
            district: "370202".to_owned(),
            created_at: T0,
            participation_count: 0,
        }
    );
    assert_eq!(
        env.events().await,
        [ev::event::Payload::FairHeld(ev::FairHeld {
            fair: "platforms/f/fairs/spring".to_owned(),
            organiser_platform_id: "f".to_owned(),
            format: 1,
            start_time: Some(timestamp(T0 + DAY)),
            end_time: Some(timestamp(T0 + 2 * DAY)),
        })]
    );
    assert!(matches!(
        s.create_fair("f".into(), fair("spring", T0), None, T0)
            .await,
        Err(StoreError::AlreadyExists(_))
    ));
    env.no_events().await;

    // An employer registers once; the first registration is the event.
    let register = async |fair: &str, code: &str, now| {
        s.register_participation("f".into(), fair.to_owned(), code.to_owned(), now)
            .await
    };
    assert_eq!(
        register("spring", "E1", T0 + 1).await.unwrap(),
        (T0 + 1, true)
    );
    assert_eq!(
        env.events().await,
        [ev::event::Payload::FairParticipation(
            ev::FairParticipation {
                fair: "platforms/f/fairs/spring".to_owned(),
                employer_credit_code: "E1".to_owned(),
                employer_district: "370202".to_owned(),
                employer_industry: "I64".to_owned(),
                fair_start_time: Some(timestamp(T0 + DAY)),
                register_time: Some(timestamp(T0 + 1)),
            }
        )]
    );
    assert_eq!(
        register("spring", "E1", T0 + 2).await.unwrap(),
        (T0 + 1, false)
    );
    env.no_events().await;
    assert!(matches!(
        register("winter", "E1", T0).await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(
        invalid_fields(register("spring", "E9", T0).await),
        ["participation.employer_credit_code"]
    );
    let count = async |id: &str| {
        s.get_fair("f".into(), id.to_owned())
            .await
            .unwrap()
            .map(|f| f.participation_count)
    };
    assert_eq!(count("spring").await, Some(1));
    assert_eq!(count("nope").await, None);

    // Postings of a fair register their employer, once.
    s.create_fair("f".into(), fair("autumn", T0 + 100 * DAY), None, T0)
        .await
        .unwrap();
    let at_fair = |id: &str| PostingInput {
        fair_id: Some("autumn".to_owned()),
        ..posting(id, "E2", id)
    };
    let results = s
        .upsert_postings("f".into(), vec![at_fair("cook"), at_fair("waiter")], T0 + 3)
        .await
        .unwrap();
    assert!(
        results
            .iter()
            .all(|r| r.as_ref().unwrap().outcome == Outcome::Created)
    );
    // The participation is written as the first posting meets the fair;
    // a batch writes its postings' events once, at its end.
    assert_eq!(
        kinds(&env.events().await),
        [
            "FairHeld",
            "FairParticipation",
            "PostingPublished",
            "PostingPublished"
        ]
    );
    assert_eq!(count("autumn").await, Some(1));

    let list = async |from, before, after: Option<(i64, &str)>, limit| {
        s.list_fairs(
            "f".into(),
            from,
            before,
            after.map(|(at, id)| (at, id.to_owned())),
            limit,
        )
        .await
        .unwrap()
        .into_iter()
        .map(|f| f.fair_id)
        .collect::<Vec<_>>()
    };
    assert_eq!(list(None, None, None, 10).await, ["spring", "autumn"]);
    assert_eq!(list(Some(T0 + 50 * DAY), None, None, 10).await, ["autumn"]);
    assert_eq!(list(None, Some(T0 + 50 * DAY), None, 10).await, ["spring"]);
    assert_eq!(
        list(None, None, Some((T0 + DAY, "spring")), 10).await,
        ["autumn"]
    );
    assert_eq!(list(None, None, None, 1).await, ["spring"]);
}
