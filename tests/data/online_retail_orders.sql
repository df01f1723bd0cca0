-- online_retail_orders.sql - the shared first half of the UCI Online Retail reference queries:
-- loads the raw CSV and builds the table `orders` (one row per invoice) with the cleaning rules
-- written independently of the C++ importer. Concatenated in front of
-- online_retail_segments.sql or online_retail_recall.sql by the test scripts.
--
-- Cleaning (same rules as the importer, written independently): one order per InvoiceNo from its
-- kept rows; a row is dropped if InvoiceNo starts with `C`, CustomerID is empty, Quantity <= 0
-- or UnitPrice <= 0; order time = earliest kept row; amount = sum(Quantity * UnitPrice), exact,
-- in integer thousandths parsed from the text; an invoice's tie-break position = its first row
-- in the file (any row). Times are Unix seconds (InvoiceDate read as UTC); 30 days = 2592000 s.
-- Any assumption the arithmetic relies on is checked first: a violation stops sqlite3 with
-- "CHECK constraint failed" and a non-zero exit status.
.bail on
.mode list
.separator |
.import --csv '|zcat online_retail.csv.gz' raw

CREATE TEMP TABLE assumption (name TEXT, ok INTEGER CHECK (ok));
INSERT INTO assumption
SELECT 'all 541909 data rows were loaded', count(*) = 541909 FROM raw;
INSERT INTO assumption
SELECT 'InvoiceDate is YYYY-MM-DD HH:MM:SS', count(*) = 0 FROM raw
WHERE InvoiceDate NOT GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9] [0-2][0-9]:[0-5][0-9]:[0-5][0-9]'
   OR unixepoch(InvoiceDate) IS NULL;
INSERT INTO assumption
SELECT 'NOW is the latest InvoiceDate', max(InvoiceDate) = '2011-12-09 12:50:00' FROM raw;
INSERT INTO assumption
SELECT 'Quantity is an integer', count(*) = 0 FROM raw
WHERE Quantity NOT GLOB '[0-9]*' AND Quantity NOT GLOB '-[0-9]*'
   OR CAST(CAST(Quantity AS INTEGER) AS TEXT) <> Quantity;
INSERT INTO assumption
SELECT 'UnitPrice is [-]digits[.1-3 digits]', count(*) = 0 FROM raw
WHERE ltrim(UnitPrice, '-') NOT GLOB '[0-9]*'
   OR ltrim(UnitPrice, '-') GLOB '*[^0-9.]*'
   OR ltrim(UnitPrice, '-') GLOB '*.*.*'
   OR ltrim(UnitPrice, '-') GLOB '*.????*';
INSERT INTO assumption
SELECT 'CustomerID is empty or digits followed by .0', count(*) = 0 FROM raw
WHERE CustomerID <> '' AND (CustomerID NOT GLOB '[0-9]*.0' OR substr(CustomerID, 1, length(CustomerID) - 2) GLOB '*[^0-9]*');

-- Rows with exact integer values: price in thousandths, from the text.
CREATE TEMP TABLE line AS
SELECT rowid AS pos,
       InvoiceNo AS invoice,
       CASE WHEN CustomerID = '' THEN NULL ELSE substr(CustomerID, 1, length(CustomerID) - 2) END AS user,
       CAST(Quantity AS INTEGER) AS qty,
       (CASE WHEN substr(UnitPrice, 1, 1) = '-' THEN -1 ELSE 1 END) *
       (CAST(CASE WHEN instr(ltrim(UnitPrice, '-'), '.') > 0
                  THEN substr(ltrim(UnitPrice, '-'), 1, instr(ltrim(UnitPrice, '-'), '.') - 1)
                  ELSE ltrim(UnitPrice, '-') END AS INTEGER) * 1000
        + CAST(substr(CASE WHEN instr(UnitPrice, '.') > 0 THEN substr(UnitPrice, instr(UnitPrice, '.') + 1)
                           ELSE '' END || '000', 1, 3) AS INTEGER)) AS price_milli,
       unixepoch(InvoiceDate) AS t
FROM raw;

-- Cross-check of the text parser against SQLite's own numeric conversion (which is exact enough
-- here: every price has at most 3 decimals and is far below 2^53 thousandths).
INSERT INTO assumption
SELECT 'price parse agrees with ROUND(UnitPrice*1000)', count(*) = 0 FROM line JOIN raw ON raw.rowid = line.pos
WHERE line.price_milli <> CAST(ROUND(CAST(raw.UnitPrice AS REAL) * 1000) AS INTEGER);

CREATE TEMP TABLE first_seen AS
SELECT invoice, min(pos) AS first_pos FROM line GROUP BY invoice;

CREATE TEMP TABLE kept AS
SELECT * FROM line
WHERE substr(invoice, 1, 1) <> 'C' AND user IS NOT NULL AND qty > 0 AND price_milli > 0;

INSERT INTO assumption
SELECT 'no invoice has kept rows of two customers', count(*) = 0 FROM
  (SELECT invoice FROM kept GROUP BY invoice HAVING count(DISTINCT user) > 1);

CREATE TEMP TABLE orders AS
SELECT k.invoice, min(k.user) AS user, min(k.t) AS t, sum(k.qty * k.price_milli) AS amount, f.first_pos
FROM kept k JOIN first_seen f ON f.invoice = k.invoice
GROUP BY k.invoice;
