-- Disclosure control by the cell key method (services/metrics/src/disclosure.rs).

-- READ keys get a protection: EXACT (the bureau's own: true figures) or
-- PERTURBED (counts of persons perturbed). READ keys issued before, with a
-- suppression threshold, become PERTURBED: their holders were promised
-- protection, and perturbation is what protects now. OPERATOR keys see
-- exact figures as before; INGEST keys read no figures ('').
ALTER TABLE api_keys ADD COLUMN protection TEXT NOT NULL DEFAULT ''
    CHECK (protection IN ('', 'EXACT', 'PERTURBED'));
UPDATE api_keys SET protection = CASE kind WHEN 'READ' THEN 'PERTURBED'
                                           WHEN 'OPERATOR' THEN 'EXACT'
                                           ELSE '' END;

-- Every aggregate cell and every log row keeps, beside its count, the sum
-- of the record keys of the units it counts, modulo 2^32 (0 <= key_sum <
-- 2^32), updated by the same differences as the count. Cells of notices
-- (postings, openings, employers, fairs, participations) keep 0.
ALTER TABLE agg_gathered_log ADD COLUMN key_sum BIGINT NOT NULL DEFAULT 0;
ALTER TABLE agg_gathered_now ADD COLUMN key_sum BIGINT NOT NULL DEFAULT 0;
ALTER TABLE agg_gathered_roll ADD COLUMN key_sum BIGINT NOT NULL DEFAULT 0;
ALTER TABLE agg_outcome_log ADD COLUMN key_sum BIGINT NOT NULL DEFAULT 0;
ALTER TABLE agg_outcome_now ADD COLUMN key_sum BIGINT NOT NULL DEFAULT 0;
ALTER TABLE agg_outcome_roll ADD COLUMN key_sum BIGINT NOT NULL DEFAULT 0;
ALTER TABLE agg_activity_log ADD COLUMN key_sum BIGINT NOT NULL DEFAULT 0;
ALTER TABLE agg_activity_now ADD COLUMN key_sum BIGINT NOT NULL DEFAULT 0;
ALTER TABLE agg_distinct_log ADD COLUMN key_sum BIGINT NOT NULL DEFAULT 0;
ALTER TABLE agg_distinct_now ADD COLUMN key_sum BIGINT NOT NULL DEFAULT 0;

-- Record keys need the service's secret, so the keys of what a database
-- already counts are added by the service at its next start (the persons
-- in entity_state, and the applications with keyed = 0); applications
-- counted from now on are written with keyed = 1.
ALTER TABLE applications ADD COLUMN keyed BIGINT NOT NULL DEFAULT 0;

-- complete_at: the instant from which every log's key sums are complete
-- (NULL until the start that adds the keys has finished; 0 when the
-- database counted nothing before). Perturbed answers as known at an
-- earlier instant cannot be given.
CREATE TABLE record_keys (
    id          BIGINT PRIMARY KEY CHECK (id = 1),
    complete_at BIGINT
);
INSERT INTO record_keys (id, complete_at)
SELECT 1, CASE WHEN EXISTS (SELECT 1 FROM entity_state WHERE kind = 'person')
                 OR EXISTS (SELECT 1 FROM applications)
               THEN NULL ELSE 0 END;
