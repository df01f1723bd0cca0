-- online_retail_recall.sql - reference grant count of examples/online-retail/recall.crm over the
-- raw UCI Online Retail log, in SQL only. Run after online_retail_orders.sql (see there).
--
-- The strategy: on each order between 2011-09-01 and 2011-12-31 (UTC), a customer who has ordered
-- before, but not in the 30 days before this order, gets RECALL5; at most 1 per user per UTC day
-- and 2 per user in the campaign; stock 5000. Orders are taken in stream order: time, then first
-- appearance in the file.
-- Prints `qualifying|N` (orders that met the conditions) and `granted|N`.

CREATE TEMP TABLE seq AS
SELECT user, t, first_pos, row_number() OVER (PARTITION BY user ORDER BY t, first_pos) AS n FROM orders;

CREATE TEMP TABLE qualifying AS
SELECT s.* FROM seq s
WHERE s.t >= unixepoch('2011-09-01 00:00:00') AND s.t < unixepoch('2011-12-31 00:00:00')
  AND s.n >= 2
  AND NOT EXISTS (SELECT 1 FROM seq p WHERE p.user = s.user AND p.n < s.n AND p.t > s.t - 2592000);

-- Greedy in stream order, one user at a time: a qualifying order is granted when the user has
-- no grant that UTC day and fewer than 2 grants so far. That is the first qualifying order of
-- each of the user's first two qualifying days. Stock is consumed one per grant.
SELECT 'qualifying', count(*) FROM qualifying;
SELECT 'granted', min(5000, sum(min(2, days))) FROM
  (SELECT user, count(DISTINCT t / 86400) AS days FROM qualifying GROUP BY user);

-- Each grant is valid 14 days after the claim; the runtime records its expiry when the stream
-- passes that instant (no Redeem events here, so none is redeemed). Prints `expired|N`.
CREATE TEMP TABLE grants AS
SELECT user, t FROM (
  SELECT user, t, row_number() OVER (PARTITION BY user ORDER BY t) AS k
  FROM (SELECT user, min(t) AS t FROM qualifying GROUP BY user, t / 86400))
WHERE k <= 2;
SELECT 'expired', count(*) FROM grants WHERE t + 14 * 86400 <= (SELECT max(t) FROM orders);
