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

    /// A fresh resident ID number for someone born in `years`.
    fn resident_id(&mut self, years: std::ops::Range<i32>) -> String {
        loop {
            let district = *pick(&mut self.rng, vocab::BIRTH_DISTRICTS);
            let year = self.rng.random_range(years.clone());
            let ordinal = self.rng.random_range(1..=365);
            let birth = Date::from_ordinal_date(year, ordinal).unwrap_or(self.start);
            let id = resident_id::make(district, birth, self.rng.random_range(0..1000));
            if self.ids.insert(id.clone()) {
                return id;
            }
        }
    }

    fn full_name(&mut self) -> String {
        let mut name = (*pick_slice(&mut self.rng, vocab::SURNAMES)).to_string();
        for _ in 0..self.rng.random_range(1..3) {
            let given: &&str = pick_slice(&mut self.rng, vocab::GIVEN);
            name.push_str(given);
        }
        name
    }

    /// Pushes one or two résumés of person `p`; returns their platforms and
    /// external ids.
    fn resumes(
        &mut self,
        p: usize,
        id: &str,
        education: &[EducationEntry],
        title: i32,
        skill: i32,
        received: i64,
    ) -> Vec<(String, String)> {
        let count = if self.rng.random_bool(SECOND_RESUME_SHARE) {
            2
        } else {
            1
        };
        let name = self.full_name();
        let mut out: Vec<(String, String)> = Vec::new();
        for i in 0..count {
            let platform = match out.first() {
                Some((first, _)) => self.other_platform(&first.clone()),
                None => self.platform(),
            };
            let consent = self.rng.random_bool(CONSENT_SHARE);
            if consent {
                let person = &mut self.persons[p];
                let best = education.iter().map(|e| e.degree_level).max().unwrap_or(0);
                person.consent_degree = person.consent_degree.max(best);
                person.title = person.title.max(title);
                person.skill = person.skill.max(skill);
            }
            let external_id = format!("r{:07}", self.next_resume);
            self.next_resume += 1;
            let day = (received + i * self.rng.random_range(0..20)).min(self.days - 1);
            let consent_time = self.instant(day);
            let phone = format!(
                "1{}{:09}",
                pick_slice(&mut self.rng, &["3", "5", "8"]),
                self.rng.random_range(0..1_000_000_000u32)
            );
            let resume = Resume {
                external_id: external_id.clone(),
                resident_id_number: id.to_string(),
                full_name: name.clone(),
                phone,
                email: if self.rng.random_bool(0.5) {
                    format!("{external_id}@example.com")
                } else {
                    String::new()
                },
                education: education.to_vec(),
                professional_title_level: title,
                vocational_skill_level: skill,
                desired_districts: vec![
                    (*pick(&mut self.rng, vocab::DISTRICT_WEIGHTS)).to_string(),
                ],
                desired_industries: Vec::new(),
                statistical_use_consent: consent,
                consent_time: Some(consent_time),
                // Received when the consent was given: in the half-year.
                receive_time: Some(consent_time),
                ..Default::default()
            };
            self.city.resumes.push(Pushed {
                platform: platform.clone(),
                item: resume,
            });
            out.push((platform, external_id));
        }
        out
    }

    /// Applications of résumé `(platform, rid)` to in-city postings of the
    /// platform that do not end in a hire, submitted from day `from`.
    fn failed_applications(&mut self, platform: &str, rid: &str, from: i64, count: usize) {
        for _ in 0..count {
            let Some(w) = self.window(platform, from, self.days) else {
                return;
            };
            // Submitted from the day after publication (same-day instants
            // could precede it) and before the posting ends.
            let lo = (w.publish + 1).max(from);
            let hi = w.end.min(self.days - 1);
            if lo >= hi {
                continue;
            }
            let submit = self.rng.random_range(lo..hi);
            let path = *pick(&mut self.rng, FAILED_PATHS);
            self.application(platform, rid, w, submit, path, None);
        }
    }

    /// An in-city posting window of `platform` open some day in
    /// `[from, until)`.
    fn window(&mut self, platform: &str, from: i64, until: i64) -> Option<PostingWindow> {
        let list = self.windows.get(platform)?;
        if list.is_empty() {
            return None;
        }
        for _ in 0..20 {
            let w = list[self.rng.random_range(0..list.len())];
            if w.end > from + 1 && w.publish < until {
                return Some(w);
            }
        }
        None
    }

    #[allow(clippy::too_many_arguments)]
    fn application(
        &mut self,
        platform: &str,
        rid: &str,
        w: PostingWindow,
        submit: i64,
        path: &[ApplicationState],
        hire: Option<(i64, Option<i64>)>,
    ) {
        let application_id = format!("a{:07}", self.next_app);
        self.next_app += 1;
        let name = format!("platforms/{platform}/applications/{application_id}");
        let posting = self.city.postings[w.index].name();
        let submit_time = self.instant(submit);
        let mut day = submit;
        let mut last = submit_time.seconds;
        let mut moves = Vec::with_capacity(path.len());
        for state in path {
            day = (day + self.rng.random_range(1..6)).min(self.days - 1);
            let mut t = self.instant(day);
            t.seconds = t.seconds.max(last + 60);
            last = t.seconds;
            let hire_details = (*state == ApplicationState::Hired).then(|| HireDetails {
                start_date: hire.map(|(s, _)| pb_date(self.day(s))),
                ..Default::default()
            });
            moves.push(UpdateApplicationStatusRequest {
                name: name.clone(),
                state: *state as i32,
                transition_time: Some(t),
                reason: String::new(),
                hire: hire_details,
            });
        }
        let request_id = self.uuid();
        let hire_end_date = hire.and_then(|(_, end)| end).map(|e| pb_date(self.day(e)));
        self.city.applications.push(DemoApplication {
            platform: platform.to_string(),
            request: CreateApplicationRequest {
                parent: format!("platforms/{platform}"),
                application: Some(Application {
                    resume: format!("platforms/{platform}/resumes/{rid}"),
                    posting,
                    submit_time: Some(submit_time),
                    ..Default::default()
                }),
                application_id,
                request_id,
            },
            moves,
            hire_end_date,
        });
    }

    /// Records an employment of person `p`, through an application on one of
    /// their résumés when possible (in-city only), else directly.
    #[allow(clippy::too_many_arguments)]
    fn hire(
        &mut self,
        p: usize,
        id: &str,
        resumes: &[(String, String)],
        in_city: bool,
        start: i64,
        end: Option<i64>,
        via_application: bool,
    ) {
        if in_city
            && via_application
            && let Some((platform, rid)) = resumes.first().cloned()
        {
            // The pipeline takes ~2-4 weeks; find a posting open before it.
            let submit_by = start - 25;
            if submit_by > 1
                && let Some(w) = self.window(&platform, 0, submit_by)
            {
                let (lo, hi) = (w.publish + 1, w.end.min(submit_by));
                if lo < hi {
                    let submit = self.rng.random_range(lo..hi);
                    let posting = &self.city.postings[w.index].posting;
                    let district = posting.workplace_district.clone();
                    self.application(
                        &platform,
                        &rid,
                        w,
                        submit,
                        &[
                            ApplicationState::Screening,
                            ApplicationState::Interview,
                            ApplicationState::Offered,
                            ApplicationState::Hired,
                        ],
                        Some((start, end)),
                    );
                    let emp = Emp {
                        start: self.day(start),
                        end: end.map(|e| self.day(e)),
                        in_city: talent_codes::in_city(&district, CITY_PREFIX),
                    };
                    self.persons[p].emps.push(emp);
                    return;
                }
            }
        }
        let e = if in_city {
            self.city_employer()
        } else {
            self.outside_employer()
        };
        let info = &self.employer_info[e];
        let district = info.district.to_string();
        let employer = info.code.clone();
        let (platform, person) = match resumes.first() {
            Some((platform, rid)) if self.rng.random_bool(0.7) => (
                platform.clone(),
                record_hire_request::Person::Resume(format!("platforms/{platform}/resumes/{rid}")),
            ),
            _ => (
                self.platform(),
                record_hire_request::Person::ResidentIdNumber(id.to_string()),
            ),
        };
        let request_id = self.uuid();
        let workplace_district = if self.rng.random_bool(0.5) {
            district.clone()
        } else {
            String::new()
        };
        let start_date = Some(pb_date(self.day(start)));
        let end_date = end.map(|e| pb_date(self.day(e)));
        self.city.hires.push(DemoHire {
            request: RecordHireRequest {
                parent: format!("platforms/{platform}"),
                person: Some(person),
                employer_credit_code: employer,
                workplace_district,
                industry: String::new(),
                start_date,
                posting: String::new(),
                request_id,
            },
            platform,
            end_date,
        });
        let emp = Emp {
            start: self.day(start),
            end: end.map(|e| self.day(e)),
            in_city: talent_codes::in_city(&district, CITY_PREFIX),
        };
        self.persons[p].emps.push(emp);
    }

    /// A hire start day, weighted toward the later months (graduates sign
    /// in spring and start in early summer).
    fn late_start(&mut self) -> i64 {
        let lo = self.days / 3;
        let a = self.rng.random_range(lo..self.days);
        let b = self.rng.random_range(lo..self.days);
        a.max(b)
    }

    fn graduates(&mut self) {
        let n = self.n(GRADUATES, 20);
        let universities: Vec<(usize, u32)> = [20, 15, 18, 14, 8, 25]
            .into_iter()
            .enumerate()
            .map(|(i, w)| (i, w as u32))
            .collect();
        for row in 0..n {
            let p = self.persons.len();
            self.persons.push(Person::default());
            let degree = *pick(
                &mut self.rng,
                &[
                    (DegreeLevel::JuniorCollege, 420),
                    (DegreeLevel::Bachelor, 510),
                    (DegreeLevel::Master, 63),
                    (DegreeLevel::Doctorate, 7),
                ],
            );
            let born = match degree {
                DegreeLevel::Doctorate => 1988..1993,
                DegreeLevel::Master => 1993..1997,
                _ => 1997..2000,
            };
            let id = self.resident_id(born);
            let university = CITY_UNIVERSITIES[*pick(&mut self.rng, &universities)];
            let discipline = *pick(
                &mut self.rng,
                &[
                    (Discipline::Engineering, 35),
                    (Discipline::Management, 15),
                    (Discipline::Science, 10),
                    (Discipline::Economics, 7),
                    (Discipline::Literature, 8),
                    (Discipline::Medicine, 6),
                    (Discipline::Art, 5),
                    (Discipline::Law, 4),
                    (Discipline::Education, 4),
                    (Discipline::Agriculture, 3),
                    (Discipline::Unspecified, 3),
                ],
            );
            let early = self.rng.random_range(0..15);
            let graduation = self.day(self.days - 1 - early);
            self.persons[p].roster_degree = degree as i32;
            self.city.roster.push(GraduateRosterRow {
                row_id: (row + 2).to_string(),
                person: Some(graduate_roster_row::Person::ResidentIdNumber(id.clone())),
                university_code: university.code.to_string(),
                university_name: university.zh.to_string(),
                degree_level: degree as i32,
                discipline: discipline as i32,
                graduation_date: Some(pb_date(graduation)),
            });
            let education = vec![EducationEntry {
                degree_level: degree as i32,
                university_code: university.code.to_string(),
                university_name: university.zh.to_string(),
                discipline: discipline as i32,
                major: vocab::major(discipline as i32).to_string(),
                graduation_date: Some(pb_date(graduation)),
            }];
            let resumes = if self.rng.random_bool(GRADUATE_RESUME_SHARE) {
                let received = self.rng.random_range(0..self.days - 30);
                let rs = self.resumes(p, &id, &education, 0, 0, received);
                let (platform, rid) = rs[0].clone();
                let count = self.rng.random_range(0..3);
                self.failed_applications(&platform, &rid, received, count);
                rs
            } else {
                Vec::new()
            };
            let r: f64 = self.rng.random();
            if r < RETAINED_SHARE {
                let start = self.late_start();
                if self.rng.random_bool(0.03) && start < self.days - 40 {
                    // A job change inside the city: still retained, gathered once.
                    let change = start + self.rng.random_range(20..40);
                    self.hire(p, &id, &resumes, true, start, Some(change), false);
                    self.hire(p, &id, &resumes, true, change, None, false);
                } else {
                    let via = self.rng.random_bool(0.35);
                    self.hire(p, &id, &resumes, true, start, None, via);
                }
            } else if r < EMPLOYED_SHARE {
                let start = self.late_start();
                self.hire(p, &id, &resumes, false, start, None, false);
            }
        }
    }

    fn job_seekers(&mut self) {
        let local = self.n(NON_GRAD_LOCAL_HIRES, 10);
        let outside = self.n(NON_GRAD_OUTSIDE_HIRES, 2);
        for k in 0.. {
            let remaining_resumes = (RESUMES * self.scale) as i64 - self.city.resumes.len() as i64;
            if k >= local + outside && remaining_resumes <= 0 {
                break;
            }
            let p = self.persons.len();
            self.persons.push(Person::default());
            let id = self.resident_id(1965..2000);
            let degree = *pick(
                &mut self.rng,
                &[
                    (DegreeLevel::BelowJuniorCollege, 100),
                    (DegreeLevel::JuniorCollege, 430),
                    (DegreeLevel::Bachelor, 440),
                    (DegreeLevel::Master, 9),
                    (DegreeLevel::Doctorate, 1),
                    (DegreeLevel::Unspecified, 20),
                ],
            );
            let title = *pick(
                &mut self.rng,
                &[
                    (ProfessionalTitleLevel::Unspecified as i32, 500),
                    (ProfessionalTitleLevel::None as i32, 250),
                    (ProfessionalTitleLevel::Junior as i32, 140),
                    (ProfessionalTitleLevel::Intermediate as i32, 100),
                    (ProfessionalTitleLevel::AssociateSenior as i32, 5),
                    (ProfessionalTitleLevel::Senior as i32, 1),
                ],
            );
            let skill = *pick(
                &mut self.rng,
                &[
                    (VocationalSkillLevel::Unspecified as i32, 700),
                    (VocationalSkillLevel::None as i32, 150),
                    (VocationalSkillLevel::JuniorWorker as i32, 80),
                    (VocationalSkillLevel::IntermediateWorker as i32, 60),
                    (VocationalSkillLevel::SeniorWorker as i32, 5),
                    (VocationalSkillLevel::Technician as i32, 1),
                ],
            );
            let education = if degree == DegreeLevel::Unspecified {
                Vec::new()
            } else {
                let year = self.rng.random_range(1990..self.start.year());
                vec![EducationEntry {
                    degree_level: degree as i32,
                    university_code: String::new(),
                    university_name: String::new(),
                    discipline: Discipline::Unspecified as i32,
                    major: String::new(),
                    graduation_date: Some(PbDate {
                        year,
                        month: 7,
                        day: 1,
                    }),
                }]
            };
            let received = self.rng.random_range(0..self.days - 20);
            let resumes = self.resumes(p, &id, &education, title, skill, received);
            let (platform, rid) = resumes[0].clone();
            if k < local {
                // Hired in the city this half year; some had worked in the
                // city before (job changers: not gathered again).
                let start = self
                    .rng
                    .random_range((received + 10).min(self.days - 1)..self.days);
                if self.rng.random_bool(0.08) {
                    let before = -self.rng.random_range(60..1000);
                    self.hire(p, &id, &resumes, true, before, Some(start), false);
                }
                let separates = self.rng.random_bool(0.06) && start < self.days - 20;
                let end = separates.then(|| start + self.rng.random_range(10..(self.days - start)));
                let via = self.rng.random_bool(0.3);
                self.hire(p, &id, &resumes, true, start, end, via);
                if let Some(end) = end
                    && self.rng.random_bool(0.5)
                    && end < self.days - 1
                {
                    self.hire(p, &id, &resumes, true, end, None, false);
                }
                let count = self.rng.random_range(0..2);
                self.failed_applications(&platform, &rid, received, count);
            } else if k < local + outside {
                let start = self
                    .rng
                    .random_range((received + 10).min(self.days - 1)..self.days);
                self.hire(p, &id, &resumes, false, start, None, false);
            } else {
                let count = self.rng.random_range(0..3);
                self.failed_applications(&platform, &rid, received, count);
            }
        }
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
