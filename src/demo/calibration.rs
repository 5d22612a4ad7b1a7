/// `cargo test -p talent --lib calibration -- --ignored --nocapture`
/// prints the figures at scale 1 (slow in a debug build).
#[test]
#[ignore]
fn scale_one_figures() {
    let t = std::time::Instant::now();
    let city = super::generate(1.0, 2020);
    println!("{:#?}\nin {:?}", city.expected, t.elapsed());
    println!(
        "messages: employers {} fairs {} postings {} resumes {} applications {} hires {} roster {}",
        city.employers.len(),
        city.fairs.len(),
        city.postings.len(),
        city.resumes.len(),
        city.applications.len(),
        city.hires.len(),
        city.roster.len()
    );
}
