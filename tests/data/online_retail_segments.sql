-- online_retail_segments.sql - reference counts of the four segments of
-- examples/online-retail/retail.crm over the raw UCI Online Retail log, computed in SQL only
-- (independent of the C++ importer), at NOW = the latest InvoiceDate in the raw file.
--
-- Run after online_retail_orders.sql, from the directory holding online_retail.csv.gz:
--   cd ../shared/data/uci-online-retail && cat .../online_retail_orders.sql .../online_retail_segments.sql | sqlite3 :memory:
-- Prints `name|count` for frequent, new_customer, silent, spend_spike, in that order.
--
-- (Cleaning and the table `orders`: see online_retail_orders.sql.)

-- Evaluation time and window.
CREATE TEMP TABLE params AS
SELECT unixepoch('2011-12-09 12:50:00') AS now, unixepoch('2011-12-09 12:50:00') - 30 * 86400 AS since;

CREATE TEMP TABLE ranked AS
SELECT o.*, row_number() OVER (PARTITION BY user ORDER BY t DESC, first_pos DESC) AS from_last
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
