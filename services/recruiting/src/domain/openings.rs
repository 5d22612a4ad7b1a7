//! Openings: copies of one job (same employer, normalised title and
//! workplace district, overlapping open periods) are one opening. The
//! overlap relation is made transitive, so an opening is a connected group
//! of copies; its id is derived from the copy with the smallest posting id
//! ([`id_order`]) alone. So the same set of postings gives
//! the same openings whatever order they arrived in, and a bridging copy
//! merges groups that a change breaking the bridge splits again.

use std::collections::{BTreeSet, HashMap};

use sha2::{Digest, Sha256};
use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfkc_quick};

/// What the match compares besides the period: (employer credit code,
/// normalised title, workplace district).
pub type MatchKey = (String, String, String);

/// A posting's identity: (platform, external id).
pub type PostingId = (String, String);

/// The title as the opening match compares it: NFKC, lower-cased (Unicode
/// case folding for every script the titles use), white space runs
/// collapsed to one space, trimmed.
pub fn normalised_title(title: &str) -> String {
    let folded = match is_nfkc_quick(title.chars()) {
        IsNormalized::Yes => title.to_lowercase(),
        _ => title.nfkc().collect::<String>().to_lowercase(),
    };
    folded.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// What the match reads of one posting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchRow {
    pub key: MatchKey,
    /// Start of the open period, unix microseconds.
    pub publish_at: i64,
    /// End (exclusive) of the open period: see [`super::postings::open_period_end`].
    pub end: i64,
}

impl MatchRow {
    /// Whether the two open periods share an instant (half-open periods;
    /// an empty period overlaps nothing).
    pub fn overlaps(&self, other: &MatchRow) -> bool {
        self.key == other.key && self.publish_at.max(other.publish_at) < self.end.min(other.end)
    }
}

/// The id of the opening whose copy first in [`id_order`] is `first`: a UUID (version 8) made of the SHA-256 of the posting's
/// identity, so every replica and every order derives the same one and two
/// groups never share one. The smallest id, not the earliest publish time:
/// platforms push their postings in the order of their own ids (live, and
/// when they load their history), so a group's id rarely changes as it
/// grows, and postings stored before seldom move.
pub fn opening_id(first: &PostingId) -> String {
    let digest = Sha256::new()
        .chain_update(b"talent opening\0")
        .chain_update(first.0.as_bytes())
        .chain_update(b"\0")
        .chain_update(first.1.as_bytes())
        .finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes)
        .into_uuid()
        .to_string()
}

/// The order of posting ids that names an opening: platform, then external
/// id, each shorter first and then byte by byte, so that ids made of
/// digits compare as the numbers they are ("9" before "10").
pub fn id_order(id: &PostingId) -> (usize, &str, usize, &str) {
    (id.0.len(), &id.0, id.1.len(), &id.1)
}

/// The connected groups of `rows` (any keys mixed): indexes into `rows`,
/// each group ordered by (publish time, posting id), groups in no
/// particular order.
pub fn groups(rows: &[(PostingId, MatchRow)]) -> Vec<Vec<usize>> {
    let mut by_key: HashMap<&MatchKey, Vec<usize>> = HashMap::new();
    for (i, (_, row)) in rows.iter().enumerate() {
        by_key.entry(&row.key).or_default().push(i);
    }
    let mut out = Vec::new();
    for mut members in by_key.into_values() {
        members.sort_by(|&a, &b| {
            (rows[a].1.publish_at, &rows[a].0).cmp(&(rows[b].1.publish_at, &rows[b].0))
        });
        // Sorted by start, a period joins the group before it exactly when
        // it starts before the latest end in that group: the period
        // reaching that end started no later, so the two overlap; and a
        // period starting later overlaps none of the group.
        let mut current: Vec<usize> = Vec::new();
        let mut reach = i64::MIN;
        for i in members {
            let row = &rows[i].1;
            if row.publish_at >= row.end {
                out.push(vec![i]);
                continue;
            }
            if current.is_empty() || row.publish_at < reach {
                reach = reach.max(row.end);
                current.push(i);
            } else {
                out.push(std::mem::take(&mut current));
                reach = row.end;
                current.push(i);
            }
        }
        if !current.is_empty() {
            out.push(current);
        }
    }
    out
}

/// The opening of every row, in the order of `rows`.
pub fn assign(rows: &[(PostingId, MatchRow)]) -> Vec<String> {
    let mut openings = vec![String::new(); rows.len()];
    for group in groups(rows) {
        let first = group
            .iter()
            .map(|&i| &rows[i].0)
            .min_by_key(|id| id_order(id));
        let id = first.map(opening_id).unwrap_or_default();
        for i in group {
            openings[i].clone_from(&id);
        }
    }
    openings
}

/// Postings as the store knows them in one transaction, with their
/// openings, grouped by key. The store adds every posting of a key
/// before asking to regroup it.
#[derive(Debug, Default)]
pub struct Openings {
    rows: HashMap<PostingId, (MatchRow, String)>,
    by_key: HashMap<MatchKey, BTreeSet<PostingId>>,
}

impl Openings {
    /// Adds or replaces a posting with the opening it holds.
    pub fn put(&mut self, id: PostingId, row: MatchRow, opening: String) {
        if let Some((old, _)) = self.rows.get(&id)
            && old.key != row.key
            && let Some(ids) = self.by_key.get_mut(&old.key)
        {
            ids.remove(&id);
        }
        self.by_key
            .entry(row.key.clone())
            .or_default()
            .insert(id.clone());
        self.rows.insert(id, (row, opening));
    }

    /// Whether the posting is known.
    pub fn contains(&self, id: &PostingId) -> bool {
        self.rows.contains_key(id)
    }

    /// The opening the posting holds now.
    pub fn opening(&self, id: &PostingId) -> Option<&str> {
        self.rows.get(id).map(|(_, o)| o.as_str())
    }

    /// Re-derives the openings of every posting with `key`; returns those
    /// whose opening changed, with the new one, in posting id order.
    pub fn regroup(&mut self, key: &MatchKey) -> Vec<(PostingId, String)> {
        let Some(ids) = self.by_key.get(key) else {
            return Vec::new();
        };
        let rows: Vec<(PostingId, MatchRow)> = ids
            .iter()
            .filter_map(|id| Some((id.clone(), self.rows.get(id)?.0.clone())))
            .collect();
        let mut changed = Vec::new();
        for ((id, _), opening) in rows.iter().zip(assign(&rows)) {
            if let Some((_, held)) = self.rows.get_mut(id)
                && *held != opening
            {
                held.clone_from(&opening);
                changed.push((id.clone(), opening));
            }
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;

    const DAY: i64 = 86_400_000_000;

    fn id(platform: &str, external: &str) -> PostingId {
        (platform.to_owned(), external.to_owned())
    }

    fn welder(publish_day: i64, days: i64) -> MatchRow {
        MatchRow {
            key: (
                "91370200MA3C0000X1".to_owned(),
                normalised_title("Welder"),
                "370212".to_owned(),
            ),
            publish_at: publish_day * DAY,
            end: (publish_day + days) * DAY,
        }
    }

    /// The example: A (day 0), B (day 19) and C (day 35), 30
    /// days each; B overlaps A and C, A and C do not overlap.
    fn abc() -> Vec<(PostingId, MatchRow)> {
        vec![
            (id("p", "A"), welder(0, 30)),
            (id("q", "B"), welder(19, 30)),
            (id("p", "C"), welder(35, 30)),
        ]
    }

    /// Pushes `messages` in turn into `openings` as the store does: put
    /// every posting of a message, then regroup every key it touched
    /// (the old key of a changed posting too).
    fn push(
        openings: &mut Openings,
        known: &mut HashMap<PostingId, MatchRow>,
        messages: &[Vec<(PostingId, MatchRow)>],
    ) {
        for message in messages {
            let mut keys = BTreeSet::new();
            for (id, row) in message {
                if let Some(old) = known.insert(id.clone(), row.clone()) {
                    keys.insert(old.key);
                }
                keys.insert(row.key.clone());
                let held = openings.opening(id).unwrap_or_default().to_owned();
                openings.put(id.clone(), row.clone(), held);
            }
            for key in &keys {
                openings.regroup(key);
            }
        }
    }

    #[test]
    fn titles_are_compared_in_one_normal_form() {
        assert_eq!(
            normalised_title(" Java 开发工程师"),
            normalised_title("ｊａｖａ  开发工程师 ")
        );
        assert_eq!(normalised_title("WELDER"), "welder");
    }

    #[test]
    fn a_bridging_posting_makes_one_opening_in_every_push_order() {
        let rows = abc();
        for order in [
            [0, 1, 2],
            [0, 2, 1],
            [1, 0, 2],
            [1, 2, 0],
            [2, 0, 1],
            [2, 1, 0],
        ] {
            let mut openings = Openings::default();
            let messages: Vec<_> = order.iter().map(|&i| vec![rows[i].clone()]).collect();
            push(&mut openings, &mut HashMap::new(), &messages);
            let expected = opening_id(&id("p", "A"));
            for (posting, _) in &rows {
                assert_eq!(
                    openings.opening(posting),
                    Some(expected.as_str()),
                    "{order:?}"
                );
            }
        }
    }

    #[test]
    fn breaking_the_bridge_splits_and_restoring_it_merges() {
        let mut openings = Openings::default();
        let mut known = HashMap::new();
        push(&mut openings, &mut known, &[abc()]);
        // B closes on day 25: it still overlaps A, no longer C.
        push(
            &mut openings,
            &mut known,
            &[vec![(id("q", "B"), welder(19, 6))]],
        );
        let a = opening_id(&id("p", "A"));
        let c = opening_id(&id("p", "C"));
        assert_eq!(openings.opening(&id("p", "A")), Some(a.as_str()));
        assert_eq!(openings.opening(&id("q", "B")), Some(a.as_str()));
        assert_eq!(openings.opening(&id("p", "C")), Some(c.as_str()));
        let changed = openings.regroup(&welder(0, 1).key);
        assert!(changed.is_empty(), "regrouping twice changes nothing");
        // A new posting of another title does not touch the group.
        let mut other = welder(20, 30);
        other.key.1 = normalised_title("Fitter");
        push(&mut openings, &mut known, &[vec![(id("p", "D"), other)]]);
        assert_eq!(openings.opening(&id("p", "C")), Some(c.as_str()));
        // B moves to another district: A, C alone; B alone.
        let mut moved = welder(19, 30);
        moved.key.2 = "370203".to_owned();
        push(&mut openings, &mut known, &[vec![(id("q", "B"), moved)]]);
        let b = opening_id(&id("q", "B"));
        assert_eq!(openings.opening(&id("p", "A")), Some(a.as_str()));
        assert_eq!(openings.opening(&id("q", "B")), Some(b.as_str()));
        assert_eq!(openings.opening(&id("p", "C")), Some(c.as_str()));
        // And back: one opening again.
        push(
            &mut openings,
            &mut known,
            &[vec![(id("q", "B"), welder(19, 30))]],
        );
        for posting in [id("p", "A"), id("q", "B"), id("p", "C")] {
            assert_eq!(openings.opening(&posting), Some(a.as_str()));
        }
    }

    #[test]
    fn periods_that_only_touch_or_are_empty_do_not_overlap() {
        let rows = vec![
            (id("p", "A"), welder(0, 10)),
            (id("p", "B"), welder(10, 10)),
            // Closed at its publish time, inside A's period.
            (id("p", "C"), welder(5, 0)),
        ];
        let openings = assign(&rows);
        assert_ne!(openings[0], openings[1]);
        assert_ne!(openings[0], openings[2]);
        assert_eq!(openings[2], opening_id(&id("p", "C")));
    }

    #[test]
    fn the_smallest_posting_id_names_the_opening_whatever_its_publish_time() {
        let rows = vec![
            (id("q", "A"), welder(0, 10)),
            (id("p", "Z"), welder(5, 10)),
            (id("p", "Y"), welder(9, 10)),
        ];
        let openings = assign(&rows);
        assert_eq!(openings[0], opening_id(&id("p", "Y")));
        assert!(openings.iter().all(|o| *o == openings[0]));
        // Digits compare as numbers: 9 before 10.
        let rows = vec![
            (id("p", "10"), welder(0, 10)),
            (id("p", "9"), welder(5, 10)),
        ];
        assert_eq!(assign(&rows)[0], opening_id(&id("p", "9")));
    }

    #[test]
    fn opening_ids_are_lower_case_uuids_of_the_posting_identity() {
        let a = opening_id(&id("p", "A"));
        assert_eq!(uuid::Uuid::parse_str(&a).unwrap().to_string(), a);
        assert_ne!(a, opening_id(&id("pA", "")));
        assert_ne!(a, opening_id(&id("p", "B")));
    }

    /// The groups by brute force: pairs that overlap, closed transitively.
    fn reference(rows: &[(PostingId, MatchRow)]) -> Vec<String> {
        let n = rows.len();
        let mut root: Vec<usize> = (0..n).collect();
        fn find(root: &mut [usize], i: usize) -> usize {
            if root[i] == i {
                i
            } else {
                let r = find(root, root[i]);
                root[i] = r;
                r
            }
        }
        for a in 0..n {
            for b in 0..n {
                if rows[a].1.overlaps(&rows[b].1) {
                    let (ra, rb) = (find(&mut root, a), find(&mut root, b));
                    root[ra] = rb;
                }
            }
        }
        (0..n)
            .map(|i| {
                let r = find(&mut root, i);
                let first = (0..n)
                    .filter(|&j| find(&mut root, j) == r)
                    .min_by_key(|&j| id_order(&rows[j].0))
                    .unwrap_or(i);
                opening_id(&rows[first].0)
            })
            .collect()
    }

    fn row() -> impl Strategy<Value = MatchRow> {
        (0..2u8, 0..2u8, 0..60i64, 0..25i64).prop_map(|(title, district, publish, days)| MatchRow {
            key: ("E".to_owned(), format!("t{title}"), format!("d{district}")),
            publish_at: publish * DAY,
            end: (publish + days) * DAY,
        })
    }

    type Rows = Vec<(PostingId, MatchRow)>;

    /// Final postings, an earlier version of some of them, an order and a
    /// split into messages.
    fn pushes() -> impl Strategy<Value = (Rows, Vec<Rows>)> {
        prop::collection::vec((row(), prop::option::of(row())), 1..14)
            .prop_flat_map(|postings| {
                let n = postings.len();
                let order: Vec<usize> = (0..2 * n).collect();
                (
                    Just(postings),
                    Just(order).prop_shuffle(),
                    prop::collection::vec(any::<bool>(), 2 * n),
                )
            })
            .prop_map(|(postings, order, cuts)| {
                let n = postings.len();
                let ids: Vec<PostingId> = (0..n)
                    .map(|i| id(if i % 3 == 0 { "q" } else { "p" }, &format!("x{i}")))
                    .collect();
                let finals: Vec<_> = ids
                    .iter()
                    .cloned()
                    .zip(postings.iter().map(|p| p.0.clone()))
                    .collect();
                // Slot i < n is posting i's final version, slot n + i its
                // earlier one; an earlier version goes before the final.
                let mut sequence = Vec::new();
                let mut done = vec![false; n];
                for slot in order {
                    let i = slot % n;
                    if done[i] {
                        continue;
                    }
                    if slot >= n {
                        if let Some(draft) = &postings[i].1 {
                            sequence.push((ids[i].clone(), draft.clone()));
                        }
                    } else {
                        sequence.push(finals[i].clone());
                        done[i] = true;
                    }
                }
                let mut messages = vec![Vec::new()];
                for (item, cut) in sequence.into_iter().zip(cuts) {
                    messages.last_mut().unwrap_or(&mut Vec::new()).push(item);
                    if cut {
                        messages.push(Vec::new());
                    }
                }
                (finals, messages)
            })
    }

    proptest! {
        #[test]
        fn groups_are_the_connected_components_of_the_overlap(rows in prop::collection::vec(row(), 0..16)) {
            let rows: Vec<_> = rows.into_iter().enumerate().map(|(i, r)| (id("p", &i.to_string()), r)).collect();
            prop_assert_eq!(assign(&rows), reference(&rows));
        }

        #[test]
        fn openings_do_not_depend_on_order_or_messages((finals, messages) in pushes()) {
            let mut openings = Openings::default();
            push(&mut openings, &mut HashMap::new(), &messages);
            let expected = assign(&finals);
            for ((posting, _), opening) in finals.iter().zip(&expected) {
                prop_assert_eq!(openings.opening(posting), Some(opening.as_str()));
            }
        }
    }
}
