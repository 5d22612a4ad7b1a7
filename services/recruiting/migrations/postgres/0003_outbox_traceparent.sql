-- The W3C trace context (`traceparent`) of the transaction that wrote each
-- outbox row, when traces were exported then; the relay hands it to
-- metrics with the event, so one hire can be followed to the figures it
-- moved. NULL: no trace.
ALTER TABLE outbox ADD COLUMN traceparent TEXT;
