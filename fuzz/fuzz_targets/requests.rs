//! Requests of every RPC drawn from `talent-testkit`'s generators, with
//! libFuzzer's input as their randomness (so coverage guides the
//! structure): structured, mutated and random encodings decoded as the
//! server decodes them.

#![no_main]

use libfuzzer_sys::fuzz_target;
use proptest::strategy::{BoxedStrategy, Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use talent_testkit as testkit;

thread_local! {
    static REQUESTS: Vec<(String, BoxedStrategy<Vec<u8>>)> = [testkit::RECRUITING, testkit::METRICS]
        .into_iter()
        .flat_map(testkit::methods)
        .map(|m| (m.input().full_name().to_owned(), testkit::request_bytes(m.input())))
        .collect();
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, randomness)) = data.split_first() else {
        return;
    };
    let rng = TestRng::from_seed(RngAlgorithm::PassThrough, randomness);
    let mut runner = TestRunner::new_with_rng(Config::default(), rng);
    REQUESTS.with(|requests| {
        let (name, strategy) = &requests[usize::from(which) % requests.len()];
        let Ok(tree) = strategy.new_tree(&mut runner) else {
            return;
        };
        let bytes = tree.current();
        if let Some(Ok(encoded)) = testkit::round_trip(name, &bytes) {
            let again = testkit::round_trip(name, &encoded).expect("a request type");
            assert_eq!(again.map(|b| b.len()).ok(), Some(encoded.len()), "{name}");
        }
    });
});
