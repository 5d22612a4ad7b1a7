//! A deterministic demo city: half a year of what platforms push into the
//! recruiting service, plus the local universities' graduate roster, as
//! ready-made contract messages.
//!
//! `talent demo` pushes this through the public gRPC APIs exactly as a
//! platform would; tests use [`DemoCity::expected`] (computed here by a small
//! model independent of the services) to check the figures the services
//! compute.
//!
//! # The city at scale 1.0 (Qingdao, first half of 2020)
//!
//! The probabilities below are chosen so that, at scale 1, the figures land
//! where the seed report's do (`../shared/CONTEXT.md`):
//!
//! | figure | intended | seed 2020 | how |
//! | --- | --- | --- | --- |
//! | graduate cohort 2020 | ≈ 108,000 | 108,000 | `GRADUATES` roster rows, one per person |
//! | employed on 2020-06-30 | ≈ 93,900 (86.9 %) | 93,992 | `EMPLOYED_SHARE` of graduates get a hire starting Mar–Jun |
//! | retained (retention rate) | ≈ 46,760 (43.3 %) | 46,827 (43.4 %) | `RETAINED_SHARE` of graduates work in the city |
//! | talents gathered | ≈ 92,500 | 92,515 | retained graduates + résumé holders hired in the city whose tier is known (consent) |
//! | of which HIGH | ≈ 4,200 | 4,264 | 7 % of graduates are master's/doctors; ~2 % of other hires are HIGH |
//! | headcount demanded | ≈ 61,500 | 61,500 | openings of mean headcount ≈ 3.95 until the target is reached |
//! | openings / postings | | 15,561 / 20,344 | 25 % of openings pushed by 2–3 platforms |
//! | fairs held | 200+ | 212 | |
//! | employer participations | 4,000+ | 4,139 | 8–31 distinct employers per fair |
//! | résumés received | 260,000+ | 262,000 | 20 % of job seekers on two platforms |
//! | distinct job seekers | | 218,255 | |
//! | applications | | 215,328 | 0–3 per résumé holder, plus one per hire through the pipeline |
//!
//! At scale 1 the city is ~600,000 messages. Some hires and employers are
//! outside the city (Jinan, Beijing, Shanghai, Shenzhen, ...); 8 % of the
//! people hired in the city had worked there before 2020 (job changers, not
//! gathered again); 6 % separate within the half year and half of those are
//! hired again in the city.
//!
//! [`ExpectedFigures`] gives the exact values for any scale and seed.
//!
//! Every time lies in the half year starting at [`DemoConfig::start`]
//! (default 2020-01-01), in the city's time zone (UTC+8): a deployment that
//! counts résumés by the time it *received* them can shift the demo to the
//! last complete half year instead.

mod people;
mod vocab;

use std::collections::{HashMap, HashSet};

use prost_types::Timestamp;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use talent_proto::google::r#type::Date as PbDate;
use talent_proto::talent::metrics::v1::{GraduateRosterRow, graduate_roster_row};
use talent_proto::talent::recruiting::v1::{
    Application, ApplicationState, CreateApplicationRequest, CreateFairRequest,
    CreatePlatformRequest, EducationEntry, Employer, Fair, HireDetails, MonthlySalaryRange,
    Participation, Platform, Posting, RecordHireRequest, RegisterParticipationRequest, Resume,
    UpdateApplicationStatusRequest, record_hire_request,
};
use talent_proto::talent::r#type::v1::{
    DegreeLevel, Discipline, EmployerSize, EmploymentType, FairFormat, ProfessionalTitleLevel,
    VocationalSkillLevel,
};
use time::{Date, Duration, Month};

use talent_codes::{credit_code, resident_id};

use crate::codes::{self, CITY_PREFIX, CITY_UNIVERSITIES, OUTSIDE_DISTRICTS};

// Sizes at scale 1 (see the module table).
const GRADUATES: f64 = 108_000.0;
const EMPLOYED_SHARE: f64 = 0.8694;
const RETAINED_SHARE: f64 = 0.433;
const NON_GRAD_LOCAL_HIRES: f64 = 57_600.0;
const NON_GRAD_OUTSIDE_HIRES: f64 = 3_000.0;
const RESUMES: f64 = 262_000.0;
const EMPLOYERS: f64 = 8_000.0;
const FAIRS: f64 = 212.0;
const HEADCOUNT: f64 = 61_500.0;
/// Share of employers registered outside the city.
const OUTSIDE_EMPLOYER_SHARE: f64 = 0.08;
/// Share of résumés given with consent to statistical use.
const CONSENT_SHARE: f64 = 0.92;
/// Share of job seekers who put a résumé on a second platform.
const SECOND_RESUME_SHARE: f64 = 0.2;
/// Share of graduates with a résumé on some platform.
const GRADUATE_RESUME_SHARE: f64 = 0.75;

/// How applications that end without a hire go (moves after SUBMITTED),
/// with relative weights.
const FAILED_PATHS: &[(&[ApplicationState], u32)] = &[
    (&[], 30),
    (
        &[ApplicationState::Screening, ApplicationState::Rejected],
        30,
    ),
    (
        &[
            ApplicationState::Screening,
            ApplicationState::Interview,
            ApplicationState::Rejected,
        ],
        20,
    ),
    (&[ApplicationState::Withdrawn], 10),
    (
        &[
            ApplicationState::Screening,
            ApplicationState::Interview,
            ApplicationState::Offered,
            ApplicationState::Withdrawn,
        ],
        5,
    ),
    (&[ApplicationState::Screening], 5),
];

/// What to generate.
#[derive(Clone, Debug)]
pub struct DemoConfig {
    /// Size relative to the seed report's city: 1.0 is the full city
    /// (~600,000 messages), the default 0.01 pushes in seconds. Clamped to
    /// 0.0001..=10; not finite means the default.
    pub scale: f64,
    /// Same seed, same city, same figures.
    pub seed: u64,
    /// First day of the half year; the period is six calendar months from it.
    pub start: Date,
}

impl Default for DemoConfig {
    fn default() -> Self {
        Self {
            scale: 0.01,
            seed: 2020,
            start: time::macros::date!(2020 - 01 - 01),
        }
    }
}

/// One item and the platform (id) whose key pushes it.
#[derive(Clone, Debug, PartialEq)]
pub struct Pushed<T> {
    /// The platform id (`qd-estation`, ...).
    pub platform: String,
    /// The message.
    pub item: T,
}

/// A fair and the employers registering for it.
#[derive(Clone, Debug, PartialEq)]
pub struct DemoFair {
    /// The organising platform.
    pub platform: String,
    /// `FairService.CreateFair`, with `fair_id` and `request_id` set.
    pub request: CreateFairRequest,
    /// Credit codes to register with `FairService.RegisterParticipation`.
    pub participants: Vec<String>,
}

impl DemoFair {
    /// `platforms/{p}/fairs/{id}`.
    pub fn name(&self) -> String {
        format!("platforms/{}/fairs/{}", self.platform, self.request.fair_id)
    }

    /// The `RegisterParticipation` calls, in order.
    pub fn participation_requests(&self) -> Vec<RegisterParticipationRequest> {
        self.participants
            .iter()
            .map(|code| RegisterParticipationRequest {
                parent: self.name(),
                participation: Some(Participation {
                    employer_credit_code: code.clone(),
                    ..Default::default()
                }),
            })
            .collect()
    }
}

/// A posting, and when the platform closes it (if it does).
#[derive(Clone, Debug, PartialEq)]
pub struct DemoPosting {
    /// The pushing platform.
    pub platform: String,
    /// The posting (input fields only).
    pub posting: Posting,
    /// `PostingService.ClosePosting` time, after all pushes; `None`: it
    /// expires by itself.
    pub close_time: Option<Timestamp>,
}

impl DemoPosting {
    /// `platforms/{p}/postings/{external_id}`.
    pub fn name(&self) -> String {
        format!(
            "platforms/{}/postings/{}",
            self.platform, self.posting.external_id
        )
    }
}

/// An application and the status moves that follow its creation.
#[derive(Clone, Debug, PartialEq)]
pub struct DemoApplication {
    /// The platform of the résumé and the posting.
    pub platform: String,
    /// `ApplicationService.CreateApplication` with `application_id` set.
    pub request: CreateApplicationRequest,
    /// `UpdateApplicationStatus` calls in order; a HIRED move carries its
    /// `HireDetails`.
    pub moves: Vec<UpdateApplicationStatusRequest>,
    /// When the hire that ends the pipeline ends (`RecordSeparation` on the
    /// application's `employment`), if it does.
    pub hire_end_date: Option<PbDate>,
}

/// A hire reported directly (`EmploymentService.RecordHire`).
#[derive(Clone, Debug, PartialEq)]
pub struct DemoHire {
    /// The reporting platform (attribution).
    pub platform: String,
    /// The call, with `request_id` set.
    pub request: RecordHireRequest,
    /// `RecordSeparation` end date for the employment the call returns.
    pub end_date: Option<PbDate>,
}

/// The figures the services should compute for the demo (exact, as an EXACT
/// or OPERATOR key sees them), by the definitions in `docs`/the protos, for the
/// period and the cohort as of the period's last day.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExpectedFigures {
    /// Talents gathered in the period.
    pub talents_gathered: u64,
    /// Of which HIGH.
    pub high_tier: u64,
    /// Of which GENERAL.
    pub general_tier: u64,
    /// Cohort size (distinct roster persons of the cohort year).
    pub cohort_size: u64,
    /// Cohort members employed on `as_of`.
    pub employed: u64,
    /// Cohort members employed in the city on `as_of`.
    pub retained: u64,
    /// Posting copies published in the period.
    pub postings: u64,
    /// Openings (copies merged) counting in the period.
    pub openings: u64,
    /// Sum of the openings' headcounts.
    pub headcount_demanded: u64,
    /// Distinct employers with a posting published.
    pub employers_posting: u64,
    /// Fairs starting in the period.
    pub fairs_held: u64,
    /// Distinct (employer, fair) pairs for those fairs.
    pub employer_participations: u64,
    /// Résumés pushed.
    pub resumes_received: u64,
    /// Distinct persons among them.
    pub distinct_job_seekers: u64,
    /// Applications submitted.
    pub applications: u64,
}

/// Everything `talent demo` pushes, in push order by kind: platforms,
/// the roster, employers, fairs (then participations), postings, résumés,
/// applications (then their moves), hires (then separations), posting
/// closes.
#[derive(Clone, Debug, Default)]
pub struct DemoCity {
    /// The configuration it was generated from.
    pub scale: f64,
    /// The seed.
    pub seed: u64,
    /// First day of the period (inclusive).
    pub period_start: PbDate,
    /// Day after the period (exclusive).
    pub period_end: PbDate,
    /// The cohort year (the year of the period's start).
    pub cohort_year: i32,
    /// The day employment is looked at: the period's last day.
    pub as_of: PbDate,
    /// `AdminService.CreatePlatform` calls.
    pub platforms: Vec<CreatePlatformRequest>,
    /// Employers; a few are pushed by two platforms (same credit code).
    pub employers: Vec<Pushed<Employer>>,
    /// Fairs with their participants.
    pub fairs: Vec<DemoFair>,
    /// Postings, in publish order.
    pub postings: Vec<DemoPosting>,
    /// Résumés.
    pub resumes: Vec<Pushed<Resume>>,
    /// Applications, with their moves.
    pub applications: Vec<DemoApplication>,
    /// Directly reported hires.
    pub hires: Vec<DemoHire>,
    /// Graduate roster rows (`IngestService.ImportGraduateRoster`).
    pub roster: Vec<GraduateRosterRow>,
    /// What the services should compute from all of it.
    pub expected: ExpectedFigures,
}

/// Generates the demo city at `scale` (1.0: the seed report's city) from
/// `seed`, for the first half of 2020.
pub fn generate(scale: f64, seed: u64) -> DemoCity {
    generate_with(&DemoConfig {
        scale,
        seed,
        ..DemoConfig::default()
    })
}

/// Generates the demo city for any configuration.
pub fn generate_with(config: &DemoConfig) -> DemoCity {
    Gen::new(config).run()
}

/// Converts a date to the contract's `google.type.Date`.
pub fn pb_date(d: Date) -> PbDate {
    PbDate {
        year: d.year(),
        month: i32::from(u8::from(d.month())),
        day: i32::from(d.day()),
    }
}

/// The instant `seconds` after midnight of `d` in the city.
pub fn local_time(d: Date, seconds: i64) -> Timestamp {
    let month = u32::from(u8::from(d.month()));
    let day = talent_codes::day_of_date(d.year(), month, u32::from(d.day())).unwrap_or(0);
    talent_codes::timestamp_of_micros(talent_codes::day::day_start(day) + seconds * 1_000_000)
}

/// `d` plus `months` calendar months (day kept, clamped to 28).
pub fn add_months(d: Date, months: u32) -> Date {
    let total = i64::from(u8::from(d.month())) - 1 + i64::from(months);
    let year = d.year() + (total / 12) as i32;
    let month = Month::try_from((total % 12 + 1) as u8).unwrap_or(Month::January);
    Date::from_calendar_date(year, month, d.day().min(28)).unwrap_or(d)
}

// ---------------------------------------------------------------------------

#[derive(Clone, Copy)]
struct Emp {
    start: Date,
    end: Option<Date>,
    in_city: bool,
}

#[derive(Default)]
struct Person {
    roster_degree: i32,
    consent_degree: i32,
    title: i32,
    skill: i32,
    emps: Vec<Emp>,
}

impl Person {
    /// 3 HIGH, 2 GENERAL, 1 NONE (the TalentTier numbers).
    fn tier(&self) -> i32 {
        let degree = self.roster_degree.max(self.consent_degree);
        if degree >= 4 || self.title >= 4 || self.skill >= 4 {
            3
        } else if (2..=3).contains(&degree)
            || (2..=3).contains(&self.title)
            || (2..=3).contains(&self.skill)
        {
            2
        } else {
            1
        }
    }
}

struct EmployerInfo {
    code: String,
    district: &'static str,
    section: &'static str,
    industry: String,
}

#[derive(Clone, Copy)]
struct PostingWindow {
    index: usize,
    publish: i64,
    end: i64,
}

struct Gen {
    rng: ChaCha8Rng,
    scale: f64,
    seed: u64,
    start: Date,
    days: i64,
    city: DemoCity,
    persons: Vec<Person>,
    ids: HashSet<String>,
    employer_info: Vec<EmployerInfo>,
    city_employers: Vec<usize>,
    city_cumulative: Vec<u64>,
    outside_employers: Vec<usize>,
    /// In-city posting windows by platform, for applications.
    windows: HashMap<String, Vec<PostingWindow>>,
    opening_headcount: Vec<(i64, i64)>,
    next_resume: u64,
    next_app: u64,
}

fn pick<'a, T>(rng: &mut impl Rng, items: &'a [(T, u32)]) -> &'a T {
    let total: u32 = items.iter().map(|(_, w)| w).sum();
    let mut r = rng.random_range(0..total.max(1));
    for (item, w) in items {
        if r < *w {
            return item;
        }
        r -= w;
    }
    &items[items.len() - 1].0
}

fn pick_slice<'a, T>(rng: &mut impl Rng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

impl Gen {
    fn new(config: &DemoConfig) -> Self {
        let scale = if config.scale.is_finite() {
            config.scale.clamp(0.0001, 10.0)
        } else {
            DemoConfig::default().scale
        };
        let end = add_months(config.start, 6);
        let city = DemoCity {
            scale,
            seed: config.seed,
            period_start: pb_date(config.start),
            period_end: pb_date(end),
            cohort_year: config.start.year(),
            as_of: pb_date(end - Duration::days(1)),
            ..DemoCity::default()
        };
        Self {
            rng: ChaCha8Rng::seed_from_u64(config.seed),
            scale,
            seed: config.seed,
            start: config.start,
            days: (end - config.start).whole_days(),
            city,
            persons: Vec::new(),
            ids: HashSet::new(),
            employer_info: Vec::new(),
            city_employers: Vec::new(),
            city_cumulative: Vec::new(),
            outside_employers: Vec::new(),
            windows: HashMap::new(),
            opening_headcount: Vec::new(),
            next_resume: 0,
            next_app: 0,
        }
    }

    /// `base` at scale 1 scaled, at least `min`.
    fn n(&self, base: f64, min: usize) -> usize {
        ((base * self.scale).round() as usize).max(min)
    }

    fn day(&self, offset: i64) -> Date {
        self.start + Duration::days(offset)
    }

    /// A working-hours instant on day `offset` of the period.
    fn instant(&mut self, offset: i64) -> Timestamp {
        let secs = self.rng.random_range(9 * 3600..18 * 3600);
        local_time(self.day(offset), secs)
    }

    fn uuid(&mut self) -> String {
        uuid::Builder::from_random_bytes(self.rng.random())
            .into_uuid()
            .to_string()
    }

    fn run(mut self) -> DemoCity {
        self.platforms();
        self.employers();
        self.fairs_and_postings();
        self.graduates();
        self.job_seekers();
        self.expect();
        self.city.postings.sort_by_key(|p| {
            p.posting
                .publish_time
                .as_ref()
                .map(|t| t.seconds)
                .unwrap_or_default()
        });
        self.city
    }

    fn platforms(&mut self) {
        for (id, name, _) in vocab::PLATFORMS {
            self.city.platforms.push(CreatePlatformRequest {
                platform_id: (*id).to_string(),
                platform: Some(Platform {
                    display_name: (*name).to_string(),
                    ..Default::default()
                }),
                request_id: String::new(),
            });
        }
    }

    fn platform(&mut self) -> String {
        let weighted: Vec<(&str, u32)> =
            vocab::PLATFORMS.iter().map(|(p, _, w)| (*p, *w)).collect();
        (*pick(&mut self.rng, &weighted)).to_string()
    }

    fn other_platform(&mut self, not: &str) -> String {
        loop {
            let p = self.platform();
            if p != not {
                return p;
            }
        }
    }

    fn employers(&mut self) {
        let n = self.n(EMPLOYERS, 30);
        let mut seen = HashSet::new();
        let sections: Vec<(usize, u32)> = vocab::INDUSTRY_WEIGHTS
            .iter()
            .enumerate()
            .map(|(i, (_, w, _))| (i, *w))
            .collect();
        while self.employer_info.len() < n {
            let outside = self.rng.random_bool(OUTSIDE_EMPLOYER_SHARE);
            let district = if outside {
                pick_slice(&mut self.rng, OUTSIDE_DISTRICTS).code
            } else {
                *pick(&mut self.rng, vocab::DISTRICT_WEIGHTS)
            };
            let digits = std::array::from_fn(|_| {
                let digit: u32 = self.rng.random_range(0..10);
                digit as u8
            });
            let Some(code) = credit_code::enterprise(district, digits) else {
                continue;
            };
            if !seen.insert(code.clone()) {
                continue;
            }
            let (section, _, divisions) = vocab::INDUSTRY_WEIGHTS[*pick(&mut self.rng, &sections)];
            let industry = if self.rng.random_bool(0.4) {
                format!("{section}{}", pick_slice(&mut self.rng, divisions))
            } else {
                section.to_string()
            };
            let (size, weight) = *pick(
                &mut self.rng,
                &[
                    ((EmployerSize::Micro, 1u32), 30),
                    ((EmployerSize::Small, 2), 40),
                    ((EmployerSize::Medium, 4), 18),
                    ((EmployerSize::Large, 8), 6),
                    ((EmployerSize::NotApplicable, 3), 6),
                ],
            );
            let place = codes::district(district)
                .map(|d| d.zh.trim_end_matches(['区', '市']).to_string())
                .unwrap_or_default();
            let index = self.employer_info.len();
            let display_name = format!(
                "青岛{}{}{}有限公司{}",
                place,
                pick_slice(&mut self.rng, vocab::TRADE_NAMES),
                vocab::trade(section),
                index
            );
            let employer = Employer {
                credit_code: code.clone(),
                display_name,
                district: district.to_string(),
                industry: industry.clone(),
                size: size as i32,
                ..Default::default()
            };
            let platform = self.platform();
            if self.rng.random_bool(0.15) {
                // A second platform knows the same company, with less detail:
                // exercises the per-field last-write-wins merge.
                let other = self.other_platform(&platform);
                self.city.employers.push(Pushed {
                    platform: other,
                    item: Employer {
                        size: EmployerSize::Unspecified as i32,
                        ..employer.clone()
                    },
                });
            }
            self.city.employers.push(Pushed {
                platform,
                item: employer,
            });
            if outside {
                self.outside_employers.push(index);
            } else {
                self.city_employers.push(index);
                let last = self.city_cumulative.last().copied().unwrap_or(0);
                self.city_cumulative.push(last + u64::from(weight));
            }
            self.employer_info.push(EmployerInfo {
                code,
                district,
                section,
                industry,
            });
        }
    }

    /// An in-city employer, bigger ones more often.
    fn city_employer(&mut self) -> usize {
        let total = self.city_cumulative.last().copied().unwrap_or(1);
        let r = self.rng.random_range(0..total);
        let i = self.city_cumulative.partition_point(|c| *c <= r);
        self.city_employers[i.min(self.city_employers.len() - 1)]
    }

    fn outside_employer(&mut self) -> usize {
        if self.outside_employers.is_empty() {
            return self.city_employer();
        }
        let i = self.rng.random_range(0..self.outside_employers.len());
        self.outside_employers[i]
    }

    fn fairs_and_postings(&mut self) {
        let n_fairs = self.n(FAIRS, 2);
        let mut used_titles: HashSet<(usize, String)> = HashSet::new();
        for f in 0..n_fairs {
            let platform = if self.rng.random_bool(0.7) {
                vocab::PLATFORMS[0].0.to_string()
            } else {
                self.platform()
            };
            let start = self.rng.random_range(2..self.days - 20);
            let length = self.rng.random_range(1..15);
            let fair_id = format!("f{f:04}");
            let start_time = local_time(self.day(start), 9 * 3600);
            let end_time = local_time(self.day(start + length), 17 * 3600);
            let format = *pick(
                &mut self.rng,
                &[
                    (FairFormat::Online, 80),
                    (FairFormat::Hybrid, 12),
                    (FairFormat::Onsite, 8),
                ],
            );
            let district = if format == FairFormat::Online {
                String::new()
            } else {
                (*pick(&mut self.rng, vocab::DISTRICT_WEIGHTS)).to_string()
            };
            let theme = pick_slice(
                &mut self.rng,
                &[
                    "高校毕业生专场",
                    "智能制造专场",
                    "数字经济专场",
                    "春风行动",
                    "百日千万网络招聘",
                    "海洋产业专场",
                ],
            );
            let request_id = self.uuid();
            let want = self.rng.random_range(8..32).min(self.city_employers.len());
            let mut participants = Vec::with_capacity(want);
            let mut chosen = HashSet::new();
            let mut tries = 0;
            while participants.len() < want && tries < want * 20 {
                tries += 1;
                let e = self.city_employer();
                if chosen.insert(e) {
                    participants.push(e);
                }
            }
            let fair = DemoFair {
                platform: platform.clone(),
                request: CreateFairRequest {
                    parent: format!("platforms/{platform}"),
                    fair: Some(Fair {
                        display_name: format!(
                            "{}年{}月云招聘·{}",
                            self.day(start).year(),
                            u8::from(self.day(start).month()),
                            theme
                        ),
                        format: format as i32,
                        start_time: Some(start_time),
                        end_time: Some(end_time),
                        district,
                        ..Default::default()
                    }),
                    fair_id,
                    request_id,
                },
                participants: participants
                    .iter()
                    .map(|e| self.employer_info[*e].code.clone())
                    .collect(),
            };
            let fair_name = fair.name();
            self.city.fairs.push(fair);
            // Most participants publish one of their openings in the fair.
            for e in participants {
                if self.rng.random_bool(0.6) {
                    let publish = start + self.rng.random_range(0..length);
                    self.opening(e, publish, Some((&platform, &fair_name)), &mut used_titles);
                }
            }
        }
        let target = (HEADCOUNT * self.scale).round() as i64;
        while self.opening_headcount.iter().map(|(_, h)| h).sum::<i64>() < target.max(10) {
            let e = if self.outside_employers.is_empty() || self.rng.random_bool(0.97) {
                self.city_employer()
            } else {
                self.outside_employer()
            };
            let publish = self.rng.random_range(1..self.days - 10);
            self.opening(e, publish, None, &mut used_titles);
        }
    }

    /// One opening of employer `e`, first published on day `publish`,
    /// pushed by one to three platforms.
    fn opening(
        &mut self,
        e: usize,
        publish: i64,
        fair: Option<(&str, &str)>,
        used: &mut HashSet<(usize, String)>,
    ) {
        let section = self.employer_info[e].section;
        let base = *pick_slice(&mut self.rng, vocab::titles(section));
        let mut title = base.to_string();
        let mut k = 2;
        // Distinct titles per employer keep openings apart under the
        // service's matching rule (same employer, title, district,
        // overlapping open periods).
        while !used.insert((e, title.clone())) {
            title = format!("{base}（{k}）");
            k += 1;
        }
        let headcount = *pick(
            &mut self.rng,
            &[
                (1, 40),
                (2, 20),
                (3, 15),
                (5, 12),
                (10, 8),
                (20, 4),
                (50, 1),
            ],
        );
        let employer_district = self.employer_info[e].district;
        let workplace = if talent_codes::in_city(employer_district, CITY_PREFIX)
            && self.rng.random_bool(0.15)
        {
            (*pick(&mut self.rng, vocab::DISTRICT_WEIGHTS)).to_string()
        } else {
            employer_district.to_string()
        };
        let copies = *pick(&mut self.rng, &[(1usize, 75), (2, 18), (3, 7)]);
        let first_platform = match fair {
            Some((p, _)) => p.to_string(),
            None => self.platform(),
        };
        let minimum_degree = *pick(
            &mut self.rng,
            &[
                (DegreeLevel::Unspecified, 20),
                (DegreeLevel::BelowJuniorCollege, 10),
                (DegreeLevel::JuniorCollege, 30),
                (DegreeLevel::Bachelor, 35),
                (DegreeLevel::Master, 5),
            ],
        );
        let salary_min = self.rng.random_range(3..15) * 1000;
        let salary = self.rng.random_bool(0.85).then(|| MonthlySalaryRange {
            min_cny: salary_min,
            max_cny: salary_min + self.rng.random_range(1..8) * 1000,
        });
        let duration = *pick(&mut self.rng, &[(30, 50), (45, 20), (60, 20), (90, 10)]);
        let mut platforms = vec![first_platform];
        for _ in 1..copies {
            let p = self.other_platform(&platforms[0]);
            if !platforms.contains(&p) {
                platforms.push(p);
            }
        }
        let closes = platforms.len() == 1 && fair.is_none() && self.rng.random_bool(0.2);
        for (i, platform) in platforms.iter().enumerate() {
            let copy_publish = if i == 0 {
                publish
            } else {
                (publish + self.rng.random_range(0..6)).min(self.days - 2)
            };
            let copy_headcount = if i == 0 {
                headcount
            } else {
                self.rng.random_range(1..=headcount)
            };
            let publish_time = self.instant(copy_publish);
            let expire_time = local_time(self.day(copy_publish + duration), 18 * 3600);
            let close_day = closes
                .then(|| (copy_publish + self.rng.random_range(7..duration)).min(self.days - 1));
            let close_time = close_day.map(|d| self.instant(d));
            let external_id = format!("p{:07}", self.city.postings.len());
            let posting = Posting {
                external_id,
                title: title.clone(),
                description: format!("岗位职责：{title}相关工作。任职要求：详见面试沟通。"),
                employer_credit_code: self.employer_info[e].code.clone(),
                workplace_district: workplace.clone(),
                industry: self.employer_info[e].industry.clone(),
                minimum_degree_level: minimum_degree as i32,
                experience_years: *pick(&mut self.rng, &[(0, 50), (1, 20), (3, 20), (5, 10)]),
                salary,
                headcount: copy_headcount,
                employment_type: *pick(
                    &mut self.rng,
                    &[
                        (EmploymentType::FullTime as i32, 88),
                        (EmploymentType::Internship as i32, 7),
                        (EmploymentType::PartTime as i32, 5),
                    ],
                ),
                publish_time: Some(publish_time),
                expire_time: Some(expire_time),
                fair: match (i, fair) {
                    (0, Some((_, name))) => name.to_string(),
                    _ => String::new(),
                },
                tags: vec![
                    codes::industry(section)
                        .map(|c| c.zh)
                        .unwrap_or("其他")
                        .to_string(),
                ],
                ..Default::default()
            };
            if talent_codes::in_city(&workplace, CITY_PREFIX) {
                let end = close_day.unwrap_or(copy_publish + duration);
                self.windows
                    .entry(platform.clone())
                    .or_default()
                    .push(PostingWindow {
                        index: self.city.postings.len(),
                        publish: copy_publish,
                        end,
                    });
            }
            self.city.postings.push(DemoPosting {
                platform: platform.clone(),
                posting,
                close_time,
            });
        }
        self.opening_headcount.push((publish, i64::from(headcount)));
    }

    /// The independent model of the statistical definitions.
    fn expect(&mut self) {
        let start = self.start;
        let end = self.day(self.days);
        let as_of = end - Duration::days(1);
        let in_period = |d: Date| d >= start && d < end;
        let active = |e: &Emp| e.start <= as_of && e.end.is_none_or(|x| x > as_of);
        let x = &mut self.city.expected;
        for p in &self.persons {
            let first_in_city = p.emps.iter().filter(|e| e.in_city).map(|e| e.start).min();
            let tier = p.tier();
            if tier >= 2 && first_in_city.is_some_and(in_period) {
                x.talents_gathered += 1;
                if tier == 3 {
                    x.high_tier += 1;
                } else {
                    x.general_tier += 1;
                }
            }
            if p.roster_degree > 0 {
                x.cohort_size += 1;
                if p.emps.iter().any(active) {
                    x.employed += 1;
                }
                if p.emps.iter().any(|e| e.in_city && active(e)) {
                    x.retained += 1;
                }
            }
        }
        x.postings = self.city.postings.len() as u64;
        x.openings = self.opening_headcount.len() as u64;
        x.headcount_demanded = self.opening_headcount.iter().map(|(_, h)| *h as u64).sum();
        x.employers_posting = self
            .city
            .postings
            .iter()
            .map(|p| p.posting.employer_credit_code.as_str())
            .collect::<HashSet<_>>()
            .len() as u64;
        x.fairs_held = self.city.fairs.len() as u64;
        x.employer_participations = self
            .city
            .fairs
            .iter()
            .map(|f| f.participants.iter().collect::<HashSet<_>>().len() as u64)
            .sum();
        x.resumes_received = self.city.resumes.len() as u64;
        x.distinct_job_seekers = self
            .city
            .resumes
            .iter()
            .map(|r| r.item.resident_id_number.as_str())
            .collect::<HashSet<_>>()
            .len() as u64;
        x.applications = self.city.applications.len() as u64;
        let _ = self.seed;
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod calibration;
