use std::io::Cursor;

use super::*;

fn parse<T>(text: &str, format: FileFormat, convert: Convert<T>) -> Parsed<T> {
    parse_all(Cursor::new(text.as_bytes()), format, convert).unwrap()
}

#[test]
fn formats_from_extensions() {
    assert_eq!(
        FileFormat::from_path(Path::new("a/b.JSONL")),
        Some(FileFormat::JsonLines)
    );
    assert_eq!(
        FileFormat::from_path(Path::new("b.csv")),
        Some(FileFormat::Csv)
    );
    assert_eq!(FileFormat::from_path(Path::new("b.xlsx")), None);
    assert_eq!(FileFormat::from_path(Path::new("b")), None);
    assert_eq!(
        rejects_path(Path::new("/tmp/postings.csv")),
        PathBuf::from("/tmp/postings.csv.rejects.jsonl")
    );
}

const POSTINGS_JSONL: &str = r#"{"external_id":"p1","title":"Java开发工程师","employer_credit_code":"91370200163562681G","workplace_district":"370212","industry":"I65","minimum_degree_level":"bachelor","salary":{"min_cny":8000,"max_cny":15000},"headcount":3,"employment_type":"FULL_TIME","publish_time":"2020-03-01T09:00:00+08:00","tags":["remote","java"]}

{"external_id":"p2","title":"焊工","employer_credit_code":"91370200163562681X","headcount":"two","salary":{"min_cny":1,"maximum":2},"minimum_degree_level":"PHD","publish_time":"yesterday"}
not json
[1,2]
{"external_id":"p3","title":"x","employer_credit_code":"91350100m000100y43","headcount":"1","employment_type":"EMPLOYMENT_TYPE_INTERNSHIP","colour":"red"}
"#;

#[test]
fn postings_from_json_lines() {
    let parsed = parse(POSTINGS_JSONL, FileFormat::JsonLines, posting);
    assert_eq!(parsed.items.len(), 1);
    let (line, p) = &parsed.items[0];
    assert_eq!(*line, 1);
    assert_eq!(p.minimum_degree_level, DegreeLevel::Bachelor as i32);
    assert_eq!(
        p.salary,
        Some(MonthlySalaryRange {
            min_cny: 8000,
            max_cny: 15000
        })
    );
    assert_eq!(p.publish_time.unwrap().seconds, 1_583_024_400);
    assert_eq!(p.tags, vec!["remote", "java"]);

    let lines: Vec<usize> = parsed.rejects.iter().map(|r| r.line).collect();
    assert_eq!(lines, vec![3, 4, 5, 6]);
    let fields: Vec<&str> = parsed.rejects[0]
        .violations
        .iter()
        .map(|v| v.field.as_str())
        .collect();
    for f in [
        "employer_credit_code",
        "headcount",
        "salary.maximum",
        "minimum_degree_level",
        "publish_time",
    ] {
        assert!(fields.contains(&f), "{f} in {fields:?}");
    }
    assert_eq!(parsed.rejects[1].violations[0].field, "");
    // Line 6 is fine but for the unknown field; the lower-case credit code is
    // accepted upper-cased.
    assert_eq!(
        parsed.rejects[3].violations,
        vec![Violation::new("colour", "unknown field")]
    );
}

#[test]
fn postings_from_csv_with_bom_quotes_and_multiline() {
    let csv = "\u{feff}external_id,title,description,employer_credit_code,headcount,salary_min_cny,salary_max_cny,tags\r\n\
p1,\"Java, 开发\",\"line one\nline \"\"two\"\"\",91370200163562681G,2,5000,9000,a;b\r\n\
\r\n\
p2,焊工,,91370200163562681G,1,,,\r\n\
p3,only three,fields\r\n";
    let parsed = parse(csv, FileFormat::Csv, posting);
    assert_eq!(parsed.items.len(), 2, "{:?}", parsed.rejects);
    let (line, p) = &parsed.items[0];
    assert_eq!(*line, 2);
    assert_eq!(p.title, "Java, 开发");
    assert_eq!(p.description, "line one\nline \"two\"");
    assert_eq!(
        p.salary,
        Some(MonthlySalaryRange {
            min_cny: 5000,
            max_cny: 9000
        })
    );
    assert_eq!(p.tags, vec!["a", "b"]);
    let (line, p) = &parsed.items[1];
    assert_eq!(*line, 5);
    assert_eq!(p.salary, None);
    assert_eq!(parsed.rejects.len(), 1);
    assert_eq!(parsed.rejects[0].line, 6);
}

#[test]
fn employers_and_resumes() {
    let parsed = parse(
        "credit_code,display_name,district,industry,size\n91370200163562681G,海尔,370212,C38,large\n91370200163562681G,x,370212,C,HUGE\n",
        FileFormat::Csv,
        employer,
    );
    assert_eq!(parsed.items[0].1.size, EmployerSize::Large as i32);
    assert_eq!(parsed.rejects[0].violations[0].field, "size");

    let jsonl = r#"{"external_id":"r1","resident_id_number":"11010519491231002x","full_name":"王伟","education":[{"degree_level":"MASTER","university_code":"4137011065","discipline":"engineering","graduation_date":"2020-06-30"}],"professional_title_level":"associate_senior","statistical_use_consent":true,"desired_districts":["370212"]}
{"external_id":"r2","resident_id_number":"110105194912310021","education":[{"degree_level":"MASTER","graduation_date":"2020-02-30"},3],"statistical_use_consent":"maybe"}
"#;
    let parsed = parse(jsonl, FileFormat::JsonLines, resume);
    assert_eq!(parsed.items.len(), 1);
    let r = &parsed.items[0].1;
    assert_eq!(r.resident_id_number, "11010519491231002X");
    assert_eq!(r.education[0].degree_level, DegreeLevel::Master as i32);
    assert_eq!(r.education[0].discipline, Discipline::Engineering as i32);
    assert_eq!(
        r.education[0].graduation_date,
        Some(PbDate {
            year: 2020,
            month: 6,
            day: 30
        })
    );
    assert_eq!(
        r.professional_title_level,
        ProfessionalTitleLevel::AssociateSenior as i32
    );
    assert!(r.statistical_use_consent);
    let fields: Vec<&str> = parsed.rejects[0]
        .violations
        .iter()
        .map(|v| v.field.as_str())
        .collect();
    assert_eq!(
        fields,
        vec![
            "education[0].graduation_date",
            "education[1]",
            "resident_id_number",
            "statistical_use_consent"
        ]
    );

    let csv = "external_id,resident_id_number,full_name,education_degree_level,education_university_code,education_graduation_date,statistical_use_consent\nr1,440524188001010014,李娜,BACHELOR,4137010423,2020-06-30,yes\n";
    let parsed = parse(csv, FileFormat::Csv, resume);
    assert_eq!(parsed.items.len(), 1, "{:?}", parsed.rejects);
    assert_eq!(parsed.items[0].1.education[0].university_code, "4137010423");
}

#[test]
fn roster_rows_and_rejects_file() {
    let csv = "resident_id_number,university_code,university_name,degree_level,discipline,graduation_date\n\
11010519491231002X,4137011065,青岛大学,BACHELOR,ENGINEERING,2020-06-30\n\
110105194912310021,4137011065,青岛大学,BACHELOR,,2020-06-30\n\
,4137011065,青岛大学,DOCTOR,,2020-06-31\n";
    let parsed = parse_roster(Cursor::new(csv.as_bytes()), FileFormat::Csv).unwrap();
    assert_eq!(parsed.items.len(), 1);
    assert_eq!(parsed.items[0].1.row_id, "2");
    assert!(matches!(
        parsed.items[0].1.person,
        Some(graduate_roster_row::Person::ResidentIdNumber(_))
    ));
    assert_eq!(parsed.rejects.len(), 2);
    assert_eq!(parsed.rejects[1].line, 4);
    assert_eq!(parsed.rejects[1].violations.len(), 3);

    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("roster.csv");
    let path = write_rejects(&input, &parsed.rejects).unwrap().unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let first: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(first["line"], 3);
    assert_eq!(first["violations"][0]["field"], "resident_id_number");
    assert!(first["violations"][0]["description"].is_string());
    // No rejects: the stale file goes away.
    assert_eq!(write_rejects(&input, &[]).unwrap(), None);
    assert!(!path.exists());
}

#[test]
fn service_paths_map_to_item_fields() {
    assert_eq!(item_field("postings[3].salary.max_cny"), "salary.max_cny");
    assert_eq!(
        item_field("resumes[0].education[1].degree_level"),
        "education[1].degree_level"
    );
    assert_eq!(item_field("postings[3]"), "");
    assert_eq!(item_field("graduation_date"), "graduation_date");
}

#[test]
fn csv_splitting() {
    assert_eq!(
        reader::split_csv("a,,\"b,c\""),
        Ok(vec!["a".into(), "".into(), "b,c".into()])
    );
    assert!(reader::split_csv("a\"b").is_err());
    assert!(reader::split_csv("\"a\"b").is_err());
    assert!(reader::split_csv("\"a").is_err());
}

/// The demo city, written in the file schema and read back, is unchanged:
/// the writer and the parsers agree on every field the demo uses.
#[test]
fn demo_city_round_trips_through_files() {
    let city = crate::demo::generate(0.002, 5);
    let mut buf = Vec::new();
    write::write_jsonl(
        &mut buf,
        city.postings
            .iter()
            .map(|p| write::posting_record(&p.posting)),
    )
    .unwrap();
    let parsed = parse_all(Cursor::new(&buf), FileFormat::JsonLines, posting).unwrap();
    assert!(parsed.rejects.is_empty(), "{:?}", parsed.rejects.first());
    let back: Vec<_> = parsed.items.into_iter().map(|(_, p)| p).collect();
    let sent: Vec<_> = city.postings.iter().map(|p| p.posting.clone()).collect();
    assert_eq!(back, sent);

    let mut buf = Vec::new();
    write::write_jsonl(
        &mut buf,
        city.resumes.iter().map(|r| write::resume_record(&r.item)),
    )
    .unwrap();
    let parsed = parse_all(Cursor::new(&buf), FileFormat::JsonLines, resume).unwrap();
    assert!(parsed.rejects.is_empty(), "{:?}", parsed.rejects.first());
    let back: Vec<_> = parsed.items.into_iter().map(|(_, r)| r).collect();
    let sent: Vec<_> = city.resumes.iter().map(|r| r.item.clone()).collect();
    assert_eq!(back, sent);

    let mut buf = Vec::new();
    write::write_jsonl(
        &mut buf,
        city.employers
            .iter()
            .map(|e| write::employer_record(&e.item)),
    )
    .unwrap();
    let parsed = parse_all(Cursor::new(&buf), FileFormat::JsonLines, employer).unwrap();
    let back: Vec<_> = parsed.items.into_iter().map(|(_, e)| e).collect();
    let sent: Vec<_> = city.employers.iter().map(|e| e.item.clone()).collect();
    assert_eq!(back, sent);

    let mut csv = String::from(write::ROSTER_CSV_HEADER);
    for row in &city.roster {
        csv.push('\n');
        csv.push_str(&write::roster_csv_line(row));
    }
    let parsed = parse_roster(Cursor::new(csv.as_bytes()), FileFormat::Csv).unwrap();
    assert!(parsed.rejects.is_empty(), "{:?}", parsed.rejects.first());
    for ((line, back), sent) in parsed.items.iter().zip(&city.roster) {
        assert_eq!(back.row_id, line.to_string());
        assert_eq!(
            GraduateRosterRow {
                row_id: String::new(),
                ..back.clone()
            },
            GraduateRosterRow {
                row_id: String::new(),
                ..sent.clone()
            }
        );
    }
}

#[test]
fn gb18030_files_read_as_their_utf8_twins() {
    let text = "credit_code,display_name,district,industry,size\n91370200163562681G,青岛海尔股份有限公司,370212,C38,large\n";
    let (gb, _, unmappable) = encoding_rs::GB18030.encode(text);
    assert!(!unmappable);
    assert!(
        std::str::from_utf8(&gb).is_err(),
        "the test needs non-UTF-8 bytes"
    );
    let from_gb = parse_all(Cursor::new(gb.into_owned()), FileFormat::Csv, employer).unwrap();
    let from_utf8 = parse(text, FileFormat::Csv, employer);
    assert_eq!(from_gb.items.len(), 1, "{:?}", from_gb.rejects);
    assert_eq!(from_gb.items[0].1, from_utf8.items[0].1);
    assert_eq!(from_gb.items[0].1.display_name, "青岛海尔股份有限公司");
}

#[test]
fn a_line_in_another_encoding_is_refused_with_its_number() {
    // UTF-8 first, then a GB18030 line: the file is neither.
    let mut bytes = "credit_code,display_name,district,industry,size\n91370200163562681G,海尔,370212,C38,large\n"
        .as_bytes()
        .to_vec();
    let (gb, _, _) = encoding_rs::GB18030.encode("91370200163562681G,海信,370212,C38,large\n");
    bytes.extend_from_slice(&gb);
    let err = parse_all(Cursor::new(bytes), FileFormat::Csv, employer).unwrap_err();
    let message = err.to_string();
    assert!(message.contains("line 3"), "{message}");
    assert!(message.contains("save the file as UTF-8"), "{message}");
}
