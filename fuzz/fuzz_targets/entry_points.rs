//! The pure entry points of both services (what a handler makes of a
//! message before any store call), fed `talent-testkit`'s messages with
//! libFuzzer's input as their randomness: no panic, violations name real
//! fields, and what passes passes again once re-encoded.

#![no_main]

use libfuzzer_sys::fuzz_target;
use proptest::strategy::{BoxedStrategy, Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use talent_testkit as testkit;

type EntryPoint = fn(&[u8]) -> Option<Result<String, Vec<String>>>;

thread_local! {
    static ENTRY_POINTS: Vec<(&'static str, EntryPoint, BoxedStrategy<Vec<u8>>)> =
        talent_recruiting::entry_points::ENTRY_POINTS
            .iter()
            .chain(talent_metrics::entry_points::ENTRY_POINTS)
            .map(|&(name, check)| {
                (name, check, testkit::request_bytes(testkit::descriptor(name)))
            })
            .collect();
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, randomness)) = data.split_first() else {
        return;
    };
    let rng = TestRng::from_seed(RngAlgorithm::PassThrough, randomness);
    let mut runner = TestRunner::new_with_rng(Config::default(), rng);
    ENTRY_POINTS.with(|entry_points| {
        let (name, check, strategy) = &entry_points[usize::from(which) % entry_points.len()];
        let Ok(tree) = strategy.new_tree(&mut runner) else {
            return;
        };
        if let Err(failure) = testkit::check_entry_point(name, &tree.current(), check) {
            panic!("{name}: {failure}");
        }
    });
});
