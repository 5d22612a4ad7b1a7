-- Match keys whose openings are derived again at the next start
-- (`PostingStore::regroup_legacy_openings`), each removed once done: every
-- key of a database written before an opening's id came from its posting
-- with the smallest id.
CREATE TABLE openings_to_regroup (
    employer_code TEXT NOT NULL,
    title_key TEXT NOT NULL,
    district TEXT NOT NULL,
    PRIMARY KEY (employer_code, title_key, district)
);
INSERT INTO openings_to_regroup (employer_code, title_key, district)
SELECT DISTINCT employer_code, title_key, district FROM postings;
