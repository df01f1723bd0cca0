-- online_retail_recall_report.sql - reference indicators of `crm report` for
-- examples/online-retail/recall.crm over the raw UCI log, in SQL only. Run after
-- online_retail_orders.sql and online_retail_recall.sql (which builds `grants`: user, t).
-- Definitions as docs/indicators.md: attribution window (t, t + 14 days] after a grant;
-- silent = the latest order before the user's first grant is more than 30 days before it.
-- Prints `name|value` lines; money in thousandths of GBP.
CREATE TEMP TABLE first_grant AS SELECT user, min(t) AS t FROM grants GROUP BY user;
CREATE TEMP TABLE after AS
SELECT DISTINCT o.invoice, o.user, o.amount FROM orders o JOIN grants g ON g.user = o.user
WHERE o.t > g.t AND o.t <= g.t + 14 * 86400;
CREATE TEMP TABLE history AS
SELECT f.user, f.t AS first, (SELECT max(o.t) FROM orders o WHERE o.user = f.user AND o.t < f.t) AS last_before
FROM first_grant f;
SELECT 'reached', count(*) FROM first_grant;
SELECT 'converted', count(DISTINCT user) FROM after;
SELECT 'orders_after', count(*) FROM after;
SELECT 'sales_after_milli', sum(amount) FROM after;
SELECT 'new_customers', count(*) FROM history WHERE last_before IS NULL;
SELECT 'silent', count(*) FROM history WHERE last_before < first - 30 * 86400;
SELECT 'recalled', count(*) FROM history h WHERE last_before < first - 30 * 86400
  AND EXISTS (SELECT 1 FROM after a WHERE a.user = h.user);
