//! The demo city's people: résumés and what follows them (applications,
//! hires and separations), the graduates of the roster and the other job
//! seekers.

use super::*;

impl Gen {
    /// A fresh resident ID number for someone born in `years`.
    pub(super) fn resident_id(&mut self, years: std::ops::Range<i32>) -> String {
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

    pub(super) fn full_name(&mut self) -> String {
        let mut name = (*pick_slice(&mut self.rng, vocab::SURNAMES)).to_string();
        for _ in 0..self.rng.random_range(1..3) {
            let given: &&str = pick_slice(&mut self.rng, vocab::GIVEN);
            name.push_str(given);
        }
        name
    }

    /// Pushes one or two résumés of person `p`; returns their platforms and
    /// external ids.
    pub(super) fn resumes(
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
    pub(super) fn failed_applications(
        &mut self,
        platform: &str,
        rid: &str,
        from: i64,
        count: usize,
    ) {
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
    pub(super) fn window(
        &mut self,
        platform: &str,
        from: i64,
        until: i64,
    ) -> Option<PostingWindow> {
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
    pub(super) fn application(
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
    pub(super) fn hire(
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
    pub(super) fn late_start(&mut self) -> i64 {
        let lo = self.days / 3;
        let a = self.rng.random_range(lo..self.days);
        let b = self.rng.random_range(lo..self.days);
        a.max(b)
    }

    pub(super) fn graduates(&mut self) {
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

    pub(super) fn job_seekers(&mut self) {
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
}
