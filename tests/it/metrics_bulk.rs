//! Metrics applies a whole request message at once (bulk loads, in-memory
//! application, bulk writes). Whatever a message holds — several events of
//! one person, one employment or one posting, in either order, a copy of an
//! event, rejected events — the acks and the figures must be those of the
//! same events sent one per message. Each case runs on two services side by
//! side and compares them, and checks a few figures worked out by hand.

use crate::support;

use support::{
    TestApp,
    metrics::{
        Metrics, date, employer, event, hired, opening, period, person, posting, resume,
        roster_row, separated, value,
    },
};
use talent_proto::talent::events::v1 as ev;
use talent_proto::talent::metrics::v1::{self as pb, Dimension};

const BACHELOR: i32 = 3;
const MASTER: i32 = 4;

/// Two services: `bulk` gets the message whole, `single` one event per
/// message. Both get the same `setup` first, one event per message.
struct Pair {
    bulk: (TestApp, Metrics),
    single: (TestApp, Metrics),
}

impl Pair {
    async fn spawn() -> Self {
        let a = TestApp::spawn().await;
        let ma = Metrics::connect(&a).await;
        let b = TestApp::spawn().await;
        let mb = Metrics::connect(&b).await;
        let roster = vec![
            roster_row(&person(1), "4137010001", BACHELOR, 8, date(2024, 6, 30)),
            roster_row(&person(2), "4137010001", MASTER, 8, date(2024, 6, 30)),
            roster_row(&person(3), "4137010002", BACHELOR, 3, date(2024, 6, 30)),
        ];
        ma.import_roster(roster.clone()).await;
        mb.import_roster(roster).await;
        Self {
            bulk: (a, ma),
            single: (b, mb),
        }
    }

    /// Sends `setup` one per message to both, then `message` whole to one
    /// and one per message to the other; returns the acks of `message`
    /// (equal on both, or the test fails).
    async fn run(&self, setup: Vec<ev::Event>, message: Vec<ev::Event>) -> Vec<pb::EventAck> {
        for m in [&self.bulk.1, &self.single.1] {
            let batches = setup.iter().map(|e| vec![e.clone()]).collect();
            m.publish_batches_with(&m.relay_key, batches)
                .await
                .expect("setup published");
        }
        let whole = self
            .bulk
            .1
            .publish_batches_with(&self.bulk.1.relay_key, vec![message.clone()])
            .await
            .expect("message published")
            .remove(0);
        let single: Vec<pb::EventAck> = self
            .single
            .1
            .publish_batches_with(
                &self.single.1.relay_key,
                message.iter().map(|e| vec![e.clone()]).collect(),
            )
            .await
            .expect("events published")
            .into_iter()
            .flatten()
            .collect();
        assert_eq!(whole, single, "acks of one message vs one per event");
        assert_eq!(
            figures(&self.bulk.1).await,
            figures(&self.single.1).await,
            "figures of one message vs one per event"
        );
        whole
    }

    async fn stop(self) {
        self.bulk.0.stop().await;
        self.single.0.stop().await;
    }
}

/// Every figure the cases can move, broken down as finely as the queries
/// allow (the bureau's EXACT key), as comparable text.
async fn figures(m: &Metrics) -> Vec<String> {
    let mut out = Vec::new();
    let years = period(date(2023, 1, 1), date(2026, 1, 1));
    for group in [
        [Dimension::Month, Dimension::Tier],
        [Dimension::District, Dimension::Platform],
    ] {
        let g = m
            .gathered(pb::GetTalentGatheredRequest {
                period: years,
                group_by: group.iter().map(|d| *d as i32).collect(),
                ..Default::default()
            })
            .await;
        out.push(format!("gathered {group:?}: {:?} {:?}", g.total, g.rows));
    }
    for as_of in [date(2024, 8, 1), date(2025, 3, 1), date(2025, 12, 1)] {
        let o = m
            .outcomes(pb::GetGraduateOutcomesRequest {
                cohort_year: 2024,
                as_of: Some(as_of),
                group_by: vec![Dimension::University as i32, Dimension::District as i32],
                ..Default::default()
            })
            .await;
        out.push(format!("outcomes {as_of:?}: {:?} {:?}", o.total, o.rows));
    }
    for group in [
        [Dimension::Month, Dimension::Platform],
        [Dimension::District, Dimension::Tier],
    ] {
        let a = m
            .activity(pb::GetRecruitmentActivityRequest {
                period: years,
                group_by: group.iter().map(|d| *d as i32).collect(),
                filter: None,
                as_known_at: None,
            })
            .await;
        out.push(format!("activity {group:?}: {:?} {:?}", a.total, a.rows));
    }
    out
}

async fn gathered_total(m: &Metrics) -> i64 {
    let g = m
        .gathered(pb::GetTalentGatheredRequest {
            period: period(date(2023, 1, 1), date(2026, 1, 1)),
            ..Default::default()
        })
        .await;
    value(&g.total.unwrap().talents_gathered)
}

/// (employed in the city, employed) of cohort 2024 as of `as_of`.
async fn employed(m: &Metrics, as_of: talent_proto::google::r#type::Date) -> (i64, i64) {
    let o = m
        .outcomes(pb::GetGraduateOutcomesRequest {
            cohort_year: 2024,
            as_of: Some(as_of),
            ..Default::default()
        })
        .await;
    let t = o.total.unwrap();
    (value(&t.retained), value(&t.employed))
}

fn outcomes(acks: &[pb::EventAck]) -> Vec<pb::EventOutcome> {
    acks.iter().map(pb::EventAck::outcome).collect()
}

#[tokio::test]
async fn two_events_of_one_person_in_one_message_in_either_order() {
    let pair = Pair::spawn().await;
    // Person 1: a bachelor (general tier) with two jobs; the résumé that
    // makes them high tier comes in the same message, before or after.
    let jobs = vec![
        hired("a1", &person(1), "370212", "I", date(2024, 9, 1), "pa"),
        hired("a2", &person(1), "370203", "J", date(2024, 7, 15), "pa"),
    ];
    let cv = resume("cv1", &person(1), MASTER, date(2024, 5, 1), "pa", 1);
    let mut message = jobs.clone();
    message.push(cv.clone());
    pair.run(vec![], message).await;
    let mut message = vec![cv];
    message.extend(jobs.into_iter().rev());
    // The same events again, in the other order: all duplicates.
    let acks = pair.run(vec![], message).await;
    assert!(
        outcomes(&acks)
            .iter()
            .all(|o| *o == pb::EventOutcome::Duplicate)
    );
    // Person 2: separation of a job in the same message as its hire, the
    // separation first.
    let message = vec![
        separated("b1", &person(2), date(2025, 2, 1), "pa", 1),
        hired("b1", &person(2), "370212", "I", date(2024, 8, 1), "pa"),
        hired("b2", &person(2), "110101", "I", date(2024, 10, 1), "pa"),
    ];
    pair.run(vec![], message).await;
    for m in [&pair.bulk.1, &pair.single.1] {
        // Persons 1 and 2 are gathered (their tiers are above none), once
        // each.
        assert_eq!(gathered_total(m).await, 2);
        // Cohort 2024: 1 and 2 in the city in autumn 2024; in March 2025
        // person 2 works only outside the city.
        assert_eq!(employed(m, date(2024, 11, 1)).await, (2, 2));
        assert_eq!(employed(m, date(2025, 3, 1)).await, (1, 2));
    }
    pair.stop().await;
}

#[tokio::test]
async fn two_events_of_one_employment_in_one_message_in_either_order() {
    let pair = Pair::spawn().await;
    // Two hires of one employment: the one recorded last counts, whichever
    // comes first in the message (the second built is recorded later).
    let early = hired("e1", &person(3), "370212", "I", date(2024, 9, 1), "pa");
    let late = hired("e1", &person(3), "370203", "I", date(2024, 10, 1), "pa");
    pair.run(vec![], vec![late, early]).await;
    let early = hired("e2", &person(2), "370212", "I", date(2024, 9, 1), "pa");
    let late = hired("e2", &person(2), "370203", "I", date(2024, 10, 1), "pa");
    pair.run(vec![], vec![early, late]).await;
    // Separation revisions: the higher counts in either order.
    let message = vec![
        separated("e1", &person(3), date(2025, 1, 1), "pa", 2),
        separated("e1", &person(3), date(2024, 12, 1), "pa", 1),
        separated("e2", &person(2), date(2024, 12, 1), "pa", 1),
        separated("e2", &person(2), date(2025, 1, 1), "pa", 2),
    ];
    pair.run(vec![], message).await;
    for m in [&pair.bulk.1, &pair.single.1] {
        // Both employments start in October (the later hire counts).
        assert_eq!(employed(m, date(2024, 9, 15)).await, (0, 0));
        assert_eq!(employed(m, date(2024, 10, 15)).await, (2, 2));
        // Both end on 2025-01-01 (revision 2), not on 2024-12-01.
        assert_eq!(employed(m, date(2024, 12, 15)).await, (2, 2));
        assert_eq!(employed(m, date(2025, 1, 15)).await, (0, 0));
    }
    pair.stop().await;
}

#[tokio::test]
async fn an_employment_or_resume_changing_owner_moves_the_person_counted() {
    let pair = Pair::spawn().await;
    // Set up before the message: job j1 and résumé r1 of person 1.
    let setup = vec![
        hired("j1", &person(1), "370212", "I", date(2024, 9, 1), "pa"),
        resume("r1", &person(1), MASTER, date(2024, 5, 1), "pa", 1),
    ];
    // The message reassigns both to person 3 (a later hire, a newer résumé
    // revision), which touches person 1 though no event names them.
    let message = vec![
        hired("j1", &person(3), "370212", "I", date(2024, 9, 1), "pa"),
        resume("r1", &person(3), MASTER, date(2024, 5, 1), "pa", 2),
    ];
    pair.run(setup, message).await;
    for m in [&pair.bulk.1, &pair.single.1] {
        assert_eq!(gathered_total(m).await, 1);
        assert_eq!(employed(m, date(2024, 10, 1)).await, (1, 1));
    }
    pair.stop().await;
}

#[tokio::test]
async fn two_revisions_of_one_posting_in_one_message_in_either_order() {
    let pair = Pair::spawn().await;
    let t = |m, d| support::metrics::at(date(2024, m, d));
    let (e1, e2) = (employer(1), employer(2));
    let (o1, o2) = (opening(1), opening(2));
    // p1: revision 2 moves it to another opening and employer; p2: two
    // revisions of one opening; both in either order.
    let message = vec![
        posting("pa", "p1", 2, &o2, &e2, "370203", 4, t(3, 2)),
        posting("pa", "p1", 1, &o1, &e1, "370212", 2, t(3, 1)),
        posting("pa", "p2", 1, &o1, &e1, "370212", 3, t(3, 5)),
        posting("pb", "p2", 2, &o1, &e1, "370212", 6, t(3, 5)),
    ];
    pair.run(vec![], message).await;
    // p3 on o1 set up before, then moved to o2 in a message with another
    // copy of o2.
    let setup = vec![posting("pa", "p3", 1, &o1, &e1, "370212", 9, t(2, 1))];
    let message = vec![
        posting("pa", "p3", 2, &o2, &e2, "370203", 1, t(2, 1)),
        posting("pb", "p4", 1, &o2, &e2, "370203", 2, t(4, 1)),
    ];
    pair.run(setup, message).await;
    pair.stop().await;
}

#[tokio::test]
async fn a_message_mixing_applied_duplicate_and_rejected_events() {
    let pair = Pair::spawn().await;
    let h1 = hired("m1", &person(1), "370212", "I", date(2024, 9, 1), "pa");
    let h2 = hired("m2", &person(2), "370212", "I", date(2024, 9, 1), "pa");
    let bad_district = hired("m3", &person(3), "37021", "I", date(2024, 9, 1), "pa");
    let bad_key = hired("m4", "not-a-key", "370212", "I", date(2024, 9, 1), "pa");
    let mut no_id = hired("m5", &person(3), "370212", "I", date(2024, 9, 1), "pa");
    no_id.event_id = String::new();
    let cv = resume("cv", &person(1), MASTER, date(2024, 5, 1), "pa", 1);
    // Sent before: h1.
    let setup = vec![h1.clone()];
    let message = vec![
        h1.clone(),           // recorded before: duplicate
        h2.clone(),           // applied
        bad_district.clone(), // rejected
        h2.clone(),           // a copy in the same message: duplicate
        bad_key,              // rejected
        bad_district,         // a copy of a rejected event: duplicate
        no_id,                // rejected, and never remembered
        cv,                   // applied
        event(
            "pa",
            ev::event::Payload::PersonErased(ev::PersonErased {
                person_key: person(2),
                erase_time: Some(support::metrics::at(date(2025, 1, 1))),
            }),
        ),
    ];
    let acks = pair.run(setup, message).await;
    use pb::EventOutcome::{Applied, Duplicate, Rejected};
    assert_eq!(
        outcomes(&acks),
        vec![
            Duplicate, Applied, Rejected, Duplicate, Rejected, Duplicate, Rejected, Applied,
            Applied
        ]
    );
    assert!(acks[2].error.is_some() && acks[4].error.is_some() && acks[6].error.is_some());
    for m in [&pair.bulk.1, &pair.single.1] {
        // Persons 1 (master's résumé) and 2 (master's in the roster); the
        // erasure leaves the figures as they were.
        assert_eq!(gathered_total(m).await, 2);
        assert_eq!(employed(m, date(2024, 10, 1)).await, (2, 2));
    }
    pair.stop().await;
}
