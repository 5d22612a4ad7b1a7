//! EmployerService: one shared record per credit code, last write wins per
//! field, visible to the platforms that upserted it.

use crate::support;

use support::{
    TestApp,
    recruiting::{ADMIN_KEY, authed, credit_code, employer, item_error, violated_fields},
};
use talent_proto::talent::{recruiting::v1 as pb, r#type::v1 as types};
use tonic::Code;

#[tokio::test]
async fn employers_are_created_updated_and_unchanged() {
    let app = TestApp::spawn().await;
    let a = app.create_platform("a").await;
    let b = app.create_platform("b").await;
    let code = credit_code("91370200MA3C00001");
    let lower = code.to_lowercase();

    let results = app
        .push_employers(
            &a,
            vec![pb::Employer {
                size: types::EmployerSize::Medium as i32,
                ..employer(&lower, " 青岛海尔 ", "370212", "c39")
            }],
        )
        .await;
    assert_eq!(results.len(), 1);
    assert_eq!(results[0].outcome(), pb::UpsertOutcome::Created);
    assert_eq!(results[0].credit_code, code);
    assert_eq!(results[0].name, format!("employers/{code}"));

    // Same data again: UNCHANGED. Empty fields keep the stored values.
    let again = app
        .push_employers(&a, vec![employer(&code, "", "", "")])
        .await;
    assert_eq!(again[0].outcome(), pb::UpsertOutcome::Unchanged);

    // Another platform overwrites one field; provenance follows.
    let b_result = app
        .push_employers(&b, vec![employer(&code, "", "370203", "")])
        .await;
    assert_eq!(b_result[0].outcome(), pb::UpsertOutcome::Updated);

    let mut client = app.recruiting().await.employers;
    let got = client
        .get_employer(authed(
            pb::GetEmployerRequest {
                name: format!("employers/{code}"),
            },
            &a.key,
        ))
        .await
        .unwrap()
        .into_inner()
        .employer
        .unwrap();
    assert_eq!(got.display_name, "青岛海尔");
    assert_eq!(got.district, "370203");
    assert_eq!(got.industry, "C39");
    assert_eq!(got.size(), types::EmployerSize::Medium);
    assert_eq!(got.field_sources["display_name"].platform_id, "a");
    assert!(got.field_sources["district"].other_platform);
    assert_eq!(got.field_sources["industry"].platform_id, "a");
    assert_eq!(got.field_sources["size"].platform_id, "a");
    app.stop().await;
}

/// What each key sees of who wrote an employer's fields, by field name.
fn sources(employer: &pb::Employer) -> Vec<(&str, &str, bool, bool)> {
    let mut sources: Vec<_> = employer
        .field_sources
        .iter()
        .map(|(field, s)| {
            (
                field.as_str(),
                s.platform_id.as_str(),
                s.write_time.is_some(),
                s.other_platform,
            )
        })
        .collect();
    sources.sort_unstable();
    sources
}

#[tokio::test]
async fn a_platform_sees_only_whether_a_field_is_its_own() {
    let app = TestApp::spawn().await;
    let a = app.create_platform("a").await;
    let b = app.create_platform("b").await;
    let code = credit_code("91370200MA3C00009");
    app.push_employers(&a, vec![employer(&code, "Alpha Co", "370212", "C39")])
        .await;
    app.push_employers(&b, vec![employer(&code, "", "370203", "")])
        .await;

    let mut client = app.recruiting().await.employers;
    let get = |key: &str| {
        authed(
            pb::GetEmployerRequest {
                name: format!("employers/{code}"),
            },
            key,
        )
    };
    let by_b = client
        .get_employer(get(&b.key))
        .await
        .unwrap()
        .into_inner()
        .employer
        .unwrap();
    // b's own write, with its time; a's values as "another platform",
    // with neither a's id nor the time of its write.
    assert_eq!(
        sources(&by_b),
        [
            ("display_name", "", false, true),
            ("district", "b", true, false),
            ("industry", "", false, true),
        ]
    );
    let listed = client
        .list_employers(authed(pb::ListEmployersRequest::default(), &b.key))
        .await
        .unwrap()
        .into_inner()
        .employers;
    assert_eq!(listed, [by_b]);
    let by_a = client
        .get_employer(get(&a.key))
        .await
        .unwrap()
        .into_inner()
        .employer
        .unwrap();
    assert_eq!(
        sources(&by_a),
        [
            ("display_name", "a", true, false),
            ("district", "", false, true),
            ("industry", "a", true, false),
        ]
    );

    // The admin key sees every employer and who wrote what, and when.
    let by_admin = client
        .get_employer(get(ADMIN_KEY))
        .await
        .unwrap()
        .into_inner()
        .employer
        .unwrap();
    assert_eq!(
        sources(&by_admin),
        [
            ("display_name", "a", true, false),
            ("district", "b", true, false),
            ("industry", "a", true, false),
        ]
    );
    let written = |field: &str| {
        let t = by_admin.field_sources[field].write_time.unwrap();
        (t.seconds, t.nanos)
    };
    assert!(written("district") > written("display_name"));
    let all = client
        .list_employers(authed(pb::ListEmployersRequest::default(), ADMIN_KEY))
        .await
        .unwrap()
        .into_inner()
        .employers;
    assert_eq!(all, [by_admin]);
    app.stop().await;
}

#[tokio::test]
async fn one_bad_employer_does_not_fail_the_others() {
    let app = TestApp::spawn().await;
    let a = app.create_platform("a").await;
    let good = credit_code("91370200MA3C00002");
    let mut bad_check = credit_code("91370200MA3C00003");
    // Corrupt the check character.
    let last = bad_check.pop().unwrap();
    bad_check.push(if last == '0' { '1' } else { '0' });

    let results = app
        .push_employers(
            &a,
            vec![
                employer(&bad_check, "x", "370212", "C"),
                employer(&good, "Good", "370212", "C"),
                employer(&credit_code("91370200MA3C00004"), "", "37021", "A39"),
                pb::Employer {
                    size: 99,
                    ..employer(&credit_code("91370200MA3C00005"), "n", "370212", "C")
                },
                employer(&credit_code("91370200MA3C00006"), "", "", ""),
            ],
        )
        .await;
    let summary: Vec<_> = results.iter().map(|r| (r.index, r.outcome())).collect();
    assert_eq!(
        summary,
        [
            (0, pb::UpsertOutcome::Rejected),
            (1, pb::UpsertOutcome::Created),
            (2, pb::UpsertOutcome::Rejected),
            (3, pb::UpsertOutcome::Rejected),
            (4, pb::UpsertOutcome::Rejected),
        ]
    );
    assert_eq!(
        item_error!(results[0]),
        (
            Code::InvalidArgument,
            vec!["employers[0].credit_code".to_owned()]
        )
    );
    assert_eq!(
        item_error!(results[2]).1,
        ["employers[2].district", "employers[2].industry"]
    );
    assert_eq!(item_error!(results[3]).1, ["employers[3].size"]);
    // A new employer needs its name, district and industry.
    assert_eq!(
        item_error!(results[4]).1,
        [
            "employers[4].display_name",
            "employers[4].district",
            "employers[4].industry"
        ]
    );
    assert!(results[0].name.is_empty());

    let mut client = app.recruiting().await.employers;
    let empty = client
        .batch_upsert_employers(authed(
            pb::BatchUpsertEmployersRequest { employers: vec![] },
            &a.key,
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&empty), ["employers"]);
    let too_many = client
        .batch_upsert_employers(authed(
            pb::BatchUpsertEmployersRequest {
                employers: vec![employer(&good, "Good", "370212", "C"); 1001],
            },
            &a.key,
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&too_many), ["employers"]);
    app.stop().await;
}

#[tokio::test]
async fn a_platform_sees_only_employers_it_upserted() {
    let app = TestApp::spawn().await;
    let a = app.create_platform("a").await;
    let b = app.create_platform("b").await;
    let codes: Vec<String> = (1..=5)
        .map(|i| credit_code(&format!("91370200MA3C1000{i}")))
        .collect();
    let districts = ["370212", "370203", "370212", "310101", "370211"];
    let industries = ["C39", "C", "I", "C39", "I64"];
    let employers = codes
        .iter()
        .zip(districts)
        .zip(industries)
        .map(|((c, d), i)| employer(c, "E", d, i))
        .collect();
    app.push_employers(&a, employers).await;
    app.push_employers(&b, vec![employer(&codes[0], "", "", "")])
        .await;

    let mut client = app.recruiting().await.employers;
    let hidden = client
        .get_employer(authed(
            pb::GetEmployerRequest {
                name: format!("employers/{}", codes[1]),
            },
            &b.key,
        ))
        .await
        .unwrap_err();
    assert_eq!(hidden.code(), Code::NotFound);
    let bad_name = client
        .get_employer(authed(
            pb::GetEmployerRequest {
                name: "employers/123".into(),
            },
            &b.key,
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&bad_name), ["name"]);

    let list = |district: &str, industry: &str, page_size: i32, page_token: String| {
        pb::ListEmployersRequest {
            page_size,
            page_token,
            district: district.to_owned(),
            industry: industry.to_owned(),
        }
    };
    let of_b: Vec<String> = client
        .list_employers(authed(list("", "", 0, String::new()), &b.key))
        .await
        .unwrap()
        .into_inner()
        .employers
        .into_iter()
        .map(|e| e.credit_code)
        .collect();
    assert_eq!(of_b, [codes[0].clone()]);

    let mut sorted = codes.clone();
    sorted.sort();
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = client
            .list_employers(authed(list("", "", 2, token), &a.key))
            .await
            .unwrap()
            .into_inner();
        seen.extend(page.employers.into_iter().map(|e| e.credit_code));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(seen, sorted);

    let in_qingdao_it: Vec<String> = client
        .list_employers(authed(list("3702", "I", 0, String::new()), &a.key))
        .await
        .unwrap()
        .into_inner()
        .employers
        .into_iter()
        .map(|e| e.credit_code)
        .collect();
    let mut expected = vec![codes[2].clone(), codes[4].clone()];
    expected.sort();
    assert_eq!(in_qingdao_it, expected);

    let first = client
        .list_employers(authed(list("3702", "", 1, String::new()), &a.key))
        .await
        .unwrap()
        .into_inner();
    let changed = client
        .list_employers(authed(list("37", "", 1, first.next_page_token), &a.key))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&changed), ["page_token"]);
    let bad = client
        .list_employers(authed(list("37x", "Z", -1, String::new()), &a.key))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&bad), ["page_size", "district", "industry"]);
    app.stop().await;
}
