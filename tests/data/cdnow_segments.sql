-- cdnow_segments.sql - reference counts of the four segments of examples/cdnow/cdnow.crm over the
-- raw CDNOW master log, computed in SQL only (independent of the C++ importer), at
-- NOW = 1998-06-30 00:00:00 (the log's last date, at midnight).
--
-- Run from the directory holding cdnow_master.csv:
--   cd ../shared/data/cdnow && sqlite3 :memory: < .../cdnow_segments.sql
-- Prints `name|count` for frequent, new_customer, silent, spend_spike, in that order.
--
-- Mapping (same rules as the importer, written independently): one order per data row, $0 rows
-- included; user = customer_id as text; time = date at 00:00 UTC; amount = dollar_value in
-- integer cents parsed from the text; tie-break position = the row's place in the file.
-- Times are Unix seconds; 30 days = 2592000 s. The assumptions the arithmetic relies on are
-- checked first: a violation stops sqlite3 with "CHECK constraint failed" and a non-zero status.
.bail on
.mode list
.separator |
.import --csv cdnow_master.csv raw

CREATE TEMP TABLE assumption (name TEXT, ok INTEGER CHECK (ok));
INSERT INTO assumption SELECT 'all 69659 data rows were loaded', count(*) = 69659 FROM raw;
INSERT INTO assumption
SELECT 'date is YYYY-MM-DD', count(*) = 0 FROM raw
WHERE date NOT GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]' OR unixepoch(date) IS NULL;
INSERT INTO assumption SELECT 'NOW is the last date', max(date) = '1998-06-30' FROM raw;
INSERT INTO assumption
SELECT 'dollar_value has exactly two decimals', count(*) = 0 FROM raw
WHERE dollar_value NOT GLOB '[0-9]*.[0-9][0-9]' OR dollar_value GLOB '*[^0-9.]*' OR dollar_value GLOB '*.*.*';
INSERT INTO assumption
SELECT 'number_of_cds is an integer', count(*) = 0 FROM raw
WHERE CAST(CAST(number_of_cds AS INTEGER) AS TEXT) <> number_of_cds;

CREATE TEMP TABLE orders AS
SELECT rowid AS pos, customer_id AS user, unixepoch(date) AS t,
       CAST(replace(dollar_value, '.', '') AS INTEGER) AS amount
FROM raw;

INSERT INTO assumption
SELECT 'cents parse agrees with ROUND(dollar_value*100)', count(*) = 0 FROM orders JOIN raw ON raw.rowid = orders.pos
WHERE orders.amount <> CAST(ROUND(CAST(raw.dollar_value AS REAL) * 100) AS INTEGER);

CREATE TEMP TABLE params AS
SELECT unixepoch('1998-06-30 00:00:00') AS now, unixepoch('1998-06-30 00:00:00') - 30 * 86400 AS since;

CREATE TEMP TABLE ranked AS
SELECT o.*, row_number() OVER (PARTITION BY user ORDER BY t DESC, pos DESC) AS from_last
FROM orders o, params p WHERE o.t <= p.now;

CREATE TEMP TABLE per_user AS
SELECT r.user,
       count(*) AS n,
       min(r.t) AS first_t,
       max(r.t) AS last_t,
       sum(r.t > p.since) AS n_recent,
       sum(CASE WHEN r.from_last = 1 THEN r.amount END) AS latest_amount,
       sum(r.from_last > 1) AS n_prev,
       coalesce(sum(CASE WHEN r.from_last > 1 THEN r.amount END), 0) AS sum_prev
FROM ranked r, params p
GROUP BY r.user;

SELECT 'frequent', count(*) FROM per_user WHERE n_recent > 5;
SELECT 'new_customer', count(*) FROM per_user, params WHERE n > 0 AND first_t > since;
SELECT 'silent', count(*) FROM per_user, params WHERE n > 0 AND last_t <= since;
SELECT 'spend_spike', count(*) FROM per_user WHERE n_prev >= 3 AND 2 * latest_amount * n_prev > 3 * sum_prev;
