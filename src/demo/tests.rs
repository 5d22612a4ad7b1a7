use super::*;

#[test]
fn same_seed_same_city() {
    let a = generate(0.002, 7);
    let b = generate(0.002, 7);
    assert_eq!(a.expected, b.expected);
    assert_eq!(a.resumes, b.resumes);
    assert_eq!(a.postings, b.postings);
    assert_eq!(a.hires, b.hires);
    assert_eq!(a.applications, b.applications);
    assert_eq!(a.roster, b.roster);
    let c = generate(0.002, 8);
    assert_ne!(a.resumes, c.resumes);
}

#[test]
fn codes_are_valid_and_keys_unique() {
    let city = generate(0.005, 1);
    for e in &city.employers {
        assert!(credit_code::credit_code(&e.item.credit_code).is_ok());
    }
    for r in &city.resumes {
        assert!(talent_codes::ResidentId::parse(&r.item.resident_id_number).is_ok());
    }
    for row in &city.roster {
        let Some(graduate_roster_row::Person::ResidentIdNumber(id)) = &row.person else {
            panic!("roster row without an ID number");
        };
        assert!(talent_codes::ResidentId::parse(id).is_ok());
        assert_eq!(row.university_code.len(), 10);
    }
    let keys: HashSet<_> = city
        .postings
        .iter()
        .map(|p| (&p.platform, &p.posting.external_id))
        .collect();
    assert_eq!(keys.len(), city.postings.len());
    let apps: HashSet<_> = city
        .applications
        .iter()
        .map(|a| &a.request.application_id)
        .collect();
    assert_eq!(apps.len(), city.applications.len());
}

#[test]
fn times_stay_in_the_period_and_pipelines_are_ordered() {
    let city = generate(0.005, 3);
    let lo = local_time(time::macros::date!(2020 - 01 - 01), 0).seconds;
    let hi = local_time(time::macros::date!(2020 - 07 - 01), 0).seconds;
    for p in &city.postings {
        let t = p.posting.publish_time.unwrap().seconds;
        assert!((lo..hi).contains(&t));
        assert!(p.posting.expire_time.unwrap().seconds > t);
        if let Some(c) = p.close_time {
            assert!(c.seconds >= t);
        }
    }
    for a in &city.applications {
        let mut last = a
            .request
            .application
            .as_ref()
            .unwrap()
            .submit_time
            .unwrap()
            .seconds;
        assert!((lo..hi).contains(&last));
        for m in &a.moves {
            let t = m.transition_time.unwrap().seconds;
            assert!(t > last);
            last = t;
        }
    }
    for f in &city.fairs {
        let fair = f.request.fair.as_ref().unwrap();
        assert!((lo..hi).contains(&fair.start_time.unwrap().seconds));
        assert!(!f.participants.is_empty());
    }
}

#[test]
fn small_scale_figures_are_plausible() {
    let city = generate(0.01, 2020);
    let x = &city.expected;
    assert_eq!(x.cohort_size, 1080);
    let retention = x.retained as f64 / x.cohort_size as f64;
    assert!((0.38..0.48).contains(&retention), "{retention}");
    let employment = x.employed as f64 / x.cohort_size as f64;
    assert!((0.82..0.92).contains(&employment), "{employment}");
    assert!(x.headcount_demanded >= 615);
    assert!(x.openings < x.postings);
    assert!(x.high_tier < x.talents_gathered / 10);
    assert!((800..1100).contains(&x.talents_gathered), "{x:?}");
}

/// Every reference a push makes resolves to something pushed earlier,
/// of the platform the contract requires, so the services accept it.
#[test]
fn references_resolve() {
    let city = generate(0.005, 11);
    let platforms: HashSet<_> = city
        .platforms
        .iter()
        .map(|p| p.platform_id.clone())
        .collect();
    let employers: HashSet<_> = city
        .employers
        .iter()
        .map(|e| e.item.credit_code.clone())
        .collect();
    for e in &city.employers {
        assert!(platforms.contains(&e.platform));
    }
    let mut participants = HashSet::new();
    for f in &city.fairs {
        for code in &f.participants {
            assert!(employers.contains(code));
            participants.insert((f.name(), code.clone()));
        }
        assert!(f.name().starts_with(&format!("platforms/{}/", f.platform)));
    }
    let postings: HashMap<_, _> = city.postings.iter().map(|p| (p.name(), p)).collect();
    for p in &city.postings {
        assert!(employers.contains(&p.posting.employer_credit_code));
        assert!(p.posting.headcount >= 1);
        if !p.posting.fair.is_empty() {
            assert!(participants.contains(&(
                p.posting.fair.clone(),
                p.posting.employer_credit_code.clone()
            )));
        }
    }
    let resumes: HashSet<_> = city
        .resumes
        .iter()
        .map(|r| format!("platforms/{}/resumes/{}", r.platform, r.item.external_id))
        .collect();
    for a in &city.applications {
        let app = a.request.application.as_ref().unwrap();
        assert!(resumes.contains(&app.resume));
        assert!(
            app.resume
                .starts_with(&format!("platforms/{}/", a.platform))
        );
        let posting = postings[&app.posting];
        assert_eq!(posting.platform, a.platform);
        let submit = app.submit_time.unwrap().seconds;
        assert!(submit > posting.posting.publish_time.unwrap().seconds);
        let end = posting
            .close_time
            .or(posting.posting.expire_time)
            .unwrap()
            .seconds;
        assert!(submit < end, "submitted after the posting ended");
        for m in &a.moves {
            assert_eq!(m.hire.is_some(), m.state == ApplicationState::Hired as i32);
        }
    }
    for h in &city.hires {
        assert!(employers.contains(&h.request.employer_credit_code));
        if let Some(record_hire_request::Person::Resume(r)) = &h.request.person {
            assert!(resumes.contains(r));
            assert!(r.starts_with(&format!("platforms/{}/", h.platform)));
        }
        if let Some(end) = h.end_date {
            let start = h.request.start_date.unwrap();
            assert!((end.year, end.month, end.day) > (start.year, start.month, start.day));
        }
    }
}

#[test]
fn bad_scales_do_not_panic() {
    for s in [f64::NAN, -1.0, 0.0, f64::INFINITY] {
        let city = generate(s, 1);
        assert!(!city.roster.is_empty());
    }
}
