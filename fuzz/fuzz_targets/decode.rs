//! Arbitrary bytes decoded as the request message of any RPC, as a
//! server's codec decodes them: no panic, and what decodes encodes to a
//! form that decodes again to the same length.

#![no_main]

use libfuzzer_sys::fuzz_target;
use talent_testkit::TYPED;

fuzz_target!(|data: &[u8]| {
    let Some((&which, bytes)) = data.split_first() else {
        return;
    };
    let (name, round_trip) = TYPED[usize::from(which) % TYPED.len()];
    if let Ok(encoded) = round_trip(bytes) {
        let again = round_trip(&encoded).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(again.len(), encoded.len(), "{name}");
    }
});
