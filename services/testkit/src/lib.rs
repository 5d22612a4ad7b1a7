//! Requests for every RPC of both services, as an attacker or a careless
//! client would send them: structured messages built from the descriptor
//! set (so a new RPC or field is covered the day it is declared) with
//! boundary and hostile values, mutations of their encodings, and
//! arbitrary bytes. The property tests (`cargo test`) and the cargo-fuzz
//! targets (`fuzz/`) draw from these same generators.

use std::sync::OnceLock;

use proptest::test_runner::{Config, RngSeed};
use prost_reflect::{DescriptorPool, MessageDescriptor, MethodDescriptor};

mod bytes;
mod messages;
mod paths;
mod typed;
mod values;

pub use bytes::{Mutation, mutate, mutation, request_bytes};
pub use messages::message;
pub use paths::names_a_field;
pub use typed::{TYPED, round_trip};

/// The package of the recruiting service's public services.
pub const RECRUITING: &str = "talent.recruiting.v1";
/// The package of the metrics service's public services.
pub const METRICS: &str = "talent.metrics.v1";

/// The seed of every property unless `PROPTEST_RNG_SEED` names another, so
/// a run is repeatable.
pub const SEED: u64 = 0x7a1e_47f0_2025_0025;

/// The contracts of both services, as compiled into `talent-proto`.
pub fn pool() -> &'static DescriptorPool {
    static POOL: OnceLock<DescriptorPool> = OnceLock::new();
    POOL.get_or_init(|| {
        DescriptorPool::decode(talent_proto::FILE_DESCRIPTOR_SET)
            .expect("talent-proto's descriptor set decodes")
    })
}

/// Every method of every service declared in `package`.
pub fn methods(package: &str) -> Vec<MethodDescriptor> {
    pool()
        .services()
        .filter(|s| s.package_name() == package)
        .flat_map(|s| s.methods().collect::<Vec<_>>())
        .collect()
}

/// The gRPC path of `method`: `/package.Service/Method`.
pub fn path(method: &MethodDescriptor) -> String {
    format!("/{}/{}", method.parent_service().full_name(), method.name())
}

/// The descriptor of the message `full_name`.
pub fn descriptor(full_name: &str) -> MessageDescriptor {
    pool()
        .get_message_by_name(full_name)
        .unwrap_or_else(|| panic!("{full_name} is declared"))
}

/// The configuration of a fuzz property: `cases` cases and a fixed seed,
/// unless `PROPTEST_CASES` or `PROPTEST_RNG_SEED` say otherwise. A failing
/// case is persisted under `proptest-regressions/` beside the test.
pub fn config(cases: u32) -> Config {
    let mut config = Config::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = cases;
    }
    if std::env::var_os("PROPTEST_RNG_SEED").is_none() {
        config.rng_seed = RngSeed::Fixed(SEED);
    }
    config
}

/// What a service's pure entry point made of a message's bytes: `None`
/// when they do not decode, else the input it became (its `Debug` form)
/// or the paths of its field violations.
pub type EntryPoint = fn(&[u8]) -> Option<Result<String, Vec<String>>>;

/// The fuzz property of a service's pure entry points (each behind the
/// full name of the message it checks), over `cases` structured messages
/// and mutated encodings drawn for all of them: checking never panics,
/// violations name real fields, and what passes passes again, alike, once
/// re-encoded ([`check_entry_point`]). Panics with the smallest failing
/// case.
pub fn check_entry_points(entry_points: &[(&'static str, EntryPoint)], cases: u32) {
    use proptest::strategy::{Just, Strategy as _};
    for (name, _) in entry_points {
        descriptor(name);
    }
    let strategy = (0..entry_points.len()).prop_flat_map(|i| {
        let (name, _) = entry_points[i];
        (Just(i), request_bytes(descriptor(name)))
    });
    let mut runner = proptest::test_runner::TestRunner::new(config(cases));
    if let Err(failure) = runner.run(&strategy, |(i, bytes)| {
        let (name, check) = entry_points[i];
        check_entry_point(name, &bytes, check)
    }) {
        panic!("{failure}");
    }
}

/// Checks what a service's pure entry point made of `bytes`, a message
/// `name` (`Ok` with the input it became, or `Err` with the paths of its
/// field violations, none when refused whole): the check did not panic;
/// every path names a field of `name`; and a message that passed passes
/// again, alike, once decoded and encoded again.
pub fn check_entry_point(
    name: &str,
    bytes: &[u8],
    check: impl Fn(&[u8]) -> Option<Result<String, Vec<String>>>,
) -> Result<(), proptest::test_runner::TestCaseError> {
    use prost::Message as _;
    let descriptor = descriptor(name);
    let Some(first) = check(bytes) else {
        return Ok(());
    };
    match &first {
        Err(paths) => {
            for path in paths {
                proptest::prop_assert!(
                    names_a_field(&descriptor, path),
                    "{path:?} names no field of {name}"
                );
            }
        }
        Ok(_) => {
            if let Ok(message) = prost_reflect::DynamicMessage::decode(descriptor, bytes) {
                let again = check(&message.encode_to_vec());
                proptest::prop_assert_eq!(Some(first), again, "once re-encoded");
            }
        }
    }
    Ok(())
}
