// report_html.cc - a Report as one self-contained HTML page (`crm report --format html`): the
// report's JSON, the charting library (Apache ECharts, from the npm package pinned in
// report/html/package-lock.json, embedded into the binary at build time with its licence) and
// the page's script, all inline, so the file opens offline. A build without the package still
// builds; to_html() then fails with a message saying how to get it.
#include <crm/forecast.h>
#include <crm/report.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <string_view>

#include "support/civil_time.h"
#include "support/decimal.h"
#include "support/json_text.h"

#ifdef CRM_HAVE_ECHARTS
extern const char crm_echarts_js[];
extern const char crm_echarts_license[];
extern const char crm_echarts_notice[];
extern const char crm_echarts_zrender_license[];
#endif

namespace crm::report {
namespace {

#ifdef CRM_HAVE_ECHARTS  // used only to write the page, which needs the library
// JSON inside <script>: "<" occurs only in its strings, where "\u003c" means the same and
// cannot end the element.
std::string json_in_script(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == '<') out += "\\u003c";
    else out += c;
  }
  return out;
}
// Script text that would end the <script> element early (checked, not rewritten: in code, as
// opposed to strings, no escape would keep its meaning).
bool closes_script(std::string_view s) {
  for (size_t p = s.find('<'); p != std::string_view::npos; p = s.find('<', p + 1)) {
    std::string_view rest = s.substr(p, 8);
    if (rest.substr(0, 4) == "<!--") return true;
    if (rest.size() == 8 && rest[1] == '/' && (rest[2] | 0x20) == 's' && (rest[3] | 0x20) == 'c' &&
        (rest[4] | 0x20) == 'r' && (rest[5] | 0x20) == 'i' && (rest[6] | 0x20) == 'p' && (rest[7] | 0x20) == 't')
      return true;
  }
  return false;
}
std::string in_comment(std::string_view s) {
  std::string out(s);
  for (size_t p; (p = out.find("--")) != std::string::npos;) out.replace(p, 2, "- -");
  return out;
}
std::string html_text(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else if (c == '&') out += "&amp;";
    else out += c;
  }
  return out;
}
// The page's style (the report's and the forecast's pages).
constexpr const char* kStyle = R"(<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #222; max-width: 1200px; }
h1 { font-size: 20px; } h2 { font-size: 16px; margin: 28px 0 4px; }
.note { color: #666; margin: 0 0 6px; } .chart { width: 100%; height: 360px; }
table { border-collapse: collapse; } td, th { border-bottom: 1px solid #ddd; padding: 3px 10px; text-align: right; }
td:first-child, th:first-child { text-align: left; }
</style>
)";

// Apache ECharts, inline, with its licence and notice (and ZRender's) in a comment before it.
std::string library_scripts() {
  std::string out = "<!--\nApache ECharts " CRM_ECHARTS_VERSION " (https://echarts.apache.org), embedded below.\n\n";
  out += in_comment(crm_echarts_notice) + "\n" + in_comment(crm_echarts_license) +
         "\nECharts bundles ZRender (https://github.com/ecomfe/zrender):\n\n" + in_comment(crm_echarts_zrender_license) + "-->\n";
  out += "<script>\n";
  out += crm_echarts_js;
  out += "\n</script>\n";
  return out;
}
// The forecast's section: a heading, a table per strategy, the charts' place and the data.
std::string forecast_section(const Forecast& f) {
  std::string out = fmt::format(
      "<h1>crm forecast</h1>\n<p class=\"note\">{} events of the history replayed in memory, shifted by {} days ({} .. {}); "
      "no ledger was touched. Every number is defined in docs/indicators.md, \"Forecast\".</p>\n",
      f.events, double(f.shift_micros) / 86'400'000'000.0, html_text(f.events ? support::format_time(f.first_event) : "-"),
      html_text(f.events ? support::format_time(f.last_event) : "-"));
  out += "<table>\n<tr><th>strategy</th><th>zone of its days</th><th>replay</th><th>reached</th><th>grants</th><th>budget spent</th><th>budget</th>"
         "<th>deliveries</th><th>stock</th><th>budget runs out</th><th>stock runs out</th><th>refused by pacing</th></tr>\n";
  auto money = [](int64_t v) { return support::Decimal::from_units(v).to_string(); };
  auto row = [&](const ForecastStrategy& s, const char* replay, const ForecastRun& r) {
    out += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
                       "<td>{}</td><td>{}</td></tr>\n",
                       html_text(s.name), html_text(s.zone), replay, r.totals.reached, r.totals.grants, money(r.totals.budget_spent),
                       s.has_budget ? money(s.budget) + " " + html_text(s.budget_currency) : "-", r.totals.deliveries,
                       s.stock >= 0 ? std::to_string(s.stock) : "-", r.budget_runs_out.empty() ? "-" : r.budget_runs_out,
                       r.stock_runs_out.empty() ? "-" : r.stock_runs_out, r.totals.rejected_pacing);
  };
  for (const ForecastStrategy& s : f.strategies) {
    row(s, s.paced ? "paced" : "declared", s.run);
    if (s.paced && s.has_unpaced) row(s, "without pacing", s.unpaced);
  }
  for (const ForecastPool& p : f.pools) {  // a pool: its strategies' rows summed, its own limits
    ForecastStrategy as_row;
    as_row.name = "pool " + p.name + " (" + fmt::format("{}", fmt::join(p.strategies, ", ")) + ")";
    as_row.has_budget = p.has_budget;
    as_row.budget = p.budget;
    as_row.budget_currency = p.budget_currency;
    as_row.stock = p.stock;
    as_row.zone = p.zone;
    row(as_row, "declared", p.run);
  }
  out += "</table>\n";
  if (!f.notes.empty()) {
    out += "<ul class=\"note\">\n";
    for (const auto& n : f.notes) out += "<li>" + html_text(n) + "</li>\n";
    out += "</ul>\n";
  }
  out += "<div id=\"forecast\"></div>\n";
  out += "<script type=\"application/json\" id=\"crm-forecast\">" + json_in_script(to_json(f)) + "</script>\n";
  return out;
}
#endif

// The page's script: every chart reads the report's JSON (the same document as --format json).
// Each chart element says when ECharts finished drawing it (data-rendered), which the
// headless-browser check waits for.
constexpr const char* kPageScript = R"js(
(function () {
  const R = JSON.parse(document.getElementById('crm-report').textContent);
  const strategies = R.indicators.filter(i => i.channel === null && i.day === null).map(i => i.strategy);
  const daily = R.indicators.filter(i => i.day !== null);
  const days = [...new Set(daily.map(i => i.day))].sort();
  const byDay = (s, f) => days.map(d => { const r = daily.find(i => i.strategy === s && i.day === d); return r ? f(r) : 0; });
  const charts = [];
  function chart(name, title, option, note) {
    const box = document.createElement('section');
    box.innerHTML = '<h2></h2><p class="note"></p><div class="chart"></div>';
    box.querySelector('h2').textContent = title;
    box.querySelector('.note').textContent = note || '';
    const el = box.querySelector('.chart');
    el.dataset.chart = name;
    el.dataset.rendered = 'false';
    document.getElementById('charts').appendChild(box);
    const c = echarts.init(el, null, { renderer: 'canvas' });
    c.on('finished', () => { el.dataset.rendered = 'true'; });
    c.setOption(Object.assign({ animation: false, tooltip: { trigger: 'axis' }, legend: { top: 0 },
                                grid: { left: 70, right: 30, top: 40, bottom: 40 } }, option));
    charts.push(c);
  }
  function missing(title, why) {
    const box = document.createElement('section');
    box.innerHTML = '<h2></h2><p class="note"></p>';
    box.querySelector('h2').textContent = title;
    box.querySelector('.note').textContent = why;
    document.getElementById('charts').appendChild(box);
  }
  // 1. Budget burn: face value granted, cumulative per day, against the program's budget.
  if (days.length) {
    const series = strategies.map(s => {
      let sum = 0;
      const budget = (R.budgets || []).find(b => b.strategy === s);
      const line = { name: s, type: 'line', step: 'end', data: byDay(s, r => r.budget_spent).map(v => (sum += v)) };
      if (budget) line.markLine = { symbol: 'none', label: { formatter: s + ' budget {c}' },
                                    data: [{ yAxis: budget.budget, name: 'budget' }] };
      return line;
    });
    chart('budget', 'Budget burn over time against the plan', {
      xAxis: { type: 'category', data: days }, yAxis: { type: 'value', name: 'face value granted' }, series },
      (R.budgets || []).length ? 'Dashed lines: each strategy\u2019s budget in the program.'
                               : 'No program given (or no budget declared): no plan line.');
  } else missing('Budget burn over time against the plan', 'No deliveries in the ledger.');
  // 2. Deliveries and conversions per day.
  if (days.length) {
    const series = [];
    for (const s of strategies) {
      series.push({ name: s + ' deliveries', type: 'bar', stack: 'deliveries', data: byDay(s, r => r.deliveries) });
      series.push({ name: s + ' converted', type: 'line', data: byDay(s, r => r.converted) });
    }
    chart('daily', 'Deliveries and conversions per day', {
      xAxis: { type: 'category', data: days }, yAxis: { type: 'value', name: 'users / deliveries' }, series },
      'Days are local days of ' + (R.zone || 'UTC') + '. Converted: users with an order in the attribution window after that day\u2019s delivery.');
  }
  // 3. Uplift per arm, with its interval: per experiment the whole treatment, then each A/B/n
  // arm (arm_uplifts), each against the control group; the rates in one chart (percentage
  // points), the spend per user in another (currency units). Each chart lists its rows in
  // data-labels, which the headless-browser check reads.
  function intervals(name, title, list, scale, axis, note) {
    chart(name, title, {
      tooltip: { trigger: 'item', formatter: p => list[p.dataIndex] ? list[p.dataIndex].label + ': ' +
        (scale * list[p.dataIndex].u.absolute).toFixed(2) + ' [' + (scale * list[p.dataIndex].u.absolute_low).toFixed(2) +
        ', ' + (scale * list[p.dataIndex].u.absolute_high).toFixed(2) + ']' : '' },
      xAxis: { type: 'value', name: axis, nameLocation: 'middle', nameGap: 26 },
      yAxis: { type: 'category', data: list.map(x => x.label), inverse: true },
      grid: { left: 260, right: 30, top: 40, bottom: 50 },
      series: [
        { name: 'uplift', type: 'scatter', symbolSize: 12, data: list.map((x, i) => [scale * x.u.absolute, i]) },
        // Both ends on the x axis (encode), so the axis spans every interval, not only the points.
        { name: 'interval', type: 'custom', encode: { x: [0, 1], y: 2 }, itemStyle: { color: '#5470c6' },
          data: list.map((x, i) => [scale * x.u.absolute_low, scale * x.u.absolute_high, i]),
          renderItem: (params, api) => {
            const lo = api.coord([api.value(0), api.value(2)]), hi = api.coord([api.value(1), api.value(2)]);
            const h = api.size([0, 1])[1] * 0.3;
            const style = { stroke: '#5470c6', lineWidth: 2 };
            return { type: 'group', children: [
              { type: 'line', shape: { x1: lo[0], y1: lo[1], x2: hi[0], y2: hi[1] }, style },
              { type: 'line', shape: { x1: lo[0], y1: lo[1] - h, x2: lo[0], y2: lo[1] + h }, style },
              { type: 'line', shape: { x1: hi[0], y1: hi[1] - h, x2: hi[0], y2: hi[1] + h }, style }] };
          } },
        { name: 'no effect', type: 'line', data: [], markLine: { symbol: 'none', data: [{ xAxis: 0 }] } }] }, note);
    const el = document.querySelector('[data-chart="' + name + '"]');
    el.dataset.labels = JSON.stringify(list.map(x => x.label));
  }
  const ups = [], spendUps = [];
  const defined = u => u.absolute !== null && u.absolute_low !== null && u.absolute_high !== null;
  for (const e of R.experiments) {
    const rows = e.uplifts.map(u => ({ label: e.strategy + (e.arm_uplifts ? ' (all arms)' : '') + ' ' + u.metric, u }))
      .concat((e.arm_uplifts || []).map(u => ({ label: e.strategy + ' arm ' + u.arm + ' ' + u.metric, u })));
    for (const x of rows.filter(x => defined(x.u))) (x.u.metric === 'spend_per_user' ? spendUps : ups).push(x);
  }
  // Rates first by metric, then by strategy and arm, so each metric's arms stand together.
  const byMetric = (a, b) => a.u.metric.localeCompare(b.u.metric);
  ups.sort(byMetric);
  if (ups.length)
    intervals('uplift', 'Uplift per arm against its control, with its ' + Math.round(R.confidence * 100) + '% interval',
              ups, 100, 'absolute uplift (percentage points)',
              'Each A/B/n arm and the whole treatment against the control group; Newcombe/Wilson intervals of the ' +
              'difference of proportions (docs/indicators.md).');
  else missing('Uplift per arm', 'No strategy with a control group in the ledger.');
  if (spendUps.length)
    intervals('uplift_spend', 'Spend per user: uplift per arm, with its ' + Math.round(R.confidence * 100) + '% interval',
              spendUps, 1, 'absolute uplift (currency units per user)',
              'Welch\u2019s t interval of the difference of mean spend per user in the attribution window.');
  else missing('Spend per user: uplift per arm', 'No strategy with a control group in the ledger.');
  // 4. Funnel: reached -> visited -> converted, per strategy.
  const rows = R.indicators.filter(i => i.channel === null && i.day === null && i.reached > 0);
  if (rows.length) {
    const w = 100 / rows.length;
    chart('funnel', 'Funnel: reached \u2192 visited \u2192 converted', {
      tooltip: { trigger: 'item' }, legend: { show: false },
      series: rows.map((r, k) => ({ name: r.strategy, type: 'funnel', sort: 'none', left: (k * w + 2) + '%', width: (w - 4) + '%',
        top: 50, bottom: 20, minSize: '10%', max: r.reached, label: { position: 'inside', formatter: '{b}: {c}' },
        data: [{ name: 'reached', value: r.reached }, { name: 'visited', value: r.visited }, { name: 'converted', value: r.converted }] })),
      title: rows.map((r, k) => ({ text: r.strategy, left: (k * w + w / 2) + '%', top: 10, textAlign: 'center',
                                   textStyle: { fontSize: 13 } })) });
  } else missing('Funnel', 'No user was reached.');
  // 5. Rejection reasons.
  const rej = R.rejections || [];
  if (rej.length) {
    const reasons = [...new Set(rej.map(x => x.outcome + ': ' + x.reason))].sort();
    const names = [...new Set(rej.map(x => x.strategy))].sort();
    chart('rejections', 'Rejection reasons', {
      tooltip: { trigger: 'axis', axisPointer: { type: 'shadow' } },
      xAxis: { type: 'value', name: 'rows' }, yAxis: { type: 'category', data: reasons },
      grid: { left: 200, right: 30, top: 40, bottom: 40 },
      series: names.map(s => ({ name: s, type: 'bar', stack: 'r',
        data: reasons.map(k => rej.filter(x => x.strategy === s && x.outcome + ': ' + x.reason === k).reduce((a, x) => a + x.rows, 0)) })) });
  } else missing('Rejection reasons', 'No delivery was rejected or held.');
  window.addEventListener('resize', () => charts.forEach(c => c.resize()));
})();
)js";

// The forecast's section (`crm forecast --format html`): reads the forecast's JSON (the same
// document as --format json) and draws, per strategy, the cumulative budget and stock burn
// against the plan and the limit (and without pacing), and reach and grants per day.
constexpr const char* kForecastScript = R"js(
(function () {
  const F = JSON.parse(document.getElementById('crm-forecast').textContent);
  const S = F.strategies;
  // Budget pools burn like strategies (their strategies' rows summed); drawn with them.
  const B = S.concat((F.pools || []).map(p => Object.assign({}, p, { strategy: 'pool ' + p.pool, paced: false })));
  const days = S.length ? S[0].declared.days.map(d => d.day) : [];
  // Every series has the same dates, each the local date in its own zone.
  const zonesNote = B.map(s => s.strategy + ' ' + s.zone).join(', ');
  const charts = [];
  const host = document.getElementById('forecast');
  function chart(name, title, option, note) {
    const box = document.createElement('section');
    box.innerHTML = '<h2></h2><p class="note"></p><div class="chart"></div>';
    box.querySelector('h2').textContent = title;
    box.querySelector('.note').textContent = note || '';
    const el = box.querySelector('.chart');
    el.dataset.chart = name;
    el.dataset.rendered = 'false';
    host.appendChild(box);
    const c = echarts.init(el, null, { renderer: 'canvas' });
    c.on('finished', () => { el.dataset.rendered = 'true'; });
    c.setOption(Object.assign({ animation: false, tooltip: { trigger: 'axis' }, legend: { top: 0, type: 'scroll' },
                                grid: { left: 80, right: 30, top: 50, bottom: 40 } }, option));
    charts.push(c);
  }
  function missing(title, why) {
    const box = document.createElement('section');
    box.innerHTML = '<h2></h2><p class="note"></p>';
    box.querySelector('h2').textContent = title;
    box.querySelector('.note').textContent = why;
    host.appendChild(box);
  }
  const num = v => v === null ? null : Number(v);
  // Cumulative burn of one limit (budget or stock) per strategy: as declared, without pacing,
  // the even plan, and the limit itself.
  function burn(chartName, name, title, limitOf, spent, planned, unit) {
    const limited = B.filter(s => limitOf(s) !== null);
    if (!limited.length || !days.length) {
      missing(title, 'No strategy declares a ' + name + '.');
      return;
    }
    const series = [];
    for (const s of limited) {
      const line = { name: s.strategy + (s.paced ? ' (paced)' : ''), type: 'line', step: 'end',
                     data: s.declared.days.map(spent) };
      line.markLine = { symbol: 'none', label: { formatter: s.strategy + ' ' + name + ' {c}' },
                        data: [{ yAxis: num(limitOf(s)), name }] };
      series.push(line);
      if (s.without_pacing && s.paced)
        series.push({ name: s.strategy + ' without pacing', type: 'line', step: 'end', lineStyle: { type: 'dotted' },
                      data: s.without_pacing.days.map(spent) });
      if (s.declared.days.some(d => planned(d) !== null))
        series.push({ name: s.strategy + ' even plan', type: 'line', lineStyle: { type: 'dashed' }, symbol: 'none',
                      data: s.declared.days.map(planned) });
    }
    chart(chartName, title, { xAxis: { type: 'category', data: days }, yAxis: { type: 'value', name: unit }, series },
          'Cumulative to the end of each day (each strategy\u2019s local day: ' + zonesNote + '). Dashed: the even plan over the strategy\u2019s window; ' +
          'dotted: the same history replayed with pacing off; horizontal line: the declared ' + name + '.');
  }
  burn('forecast_budget', 'budget', 'Forecast: budget burn against the plan', s => s.budget, d => num(d.budget_spent_to_date),
       d => num(d.planned_budget_to_date), 'face value granted');
  burn('forecast_stock', 'stock', 'Forecast: stock burn against the plan', s => s.stock, d => d.deliveries_to_date,
       d => d.planned_stock_to_date, 'deliveries');
  // Reach and grants per day.
  const active = S.filter(s => s.declared.grants > 0 || s.declared.rejected > 0);
  if (active.length && days.length) {
    const series = [];
    for (const s of active) {
      series.push({ name: s.strategy + ' grants', type: 'bar', stack: 'grants', data: s.declared.days.map(d => d.grants) });
      series.push({ name: s.strategy + ' users reached', type: 'line', data: s.declared.days.map(d => d.reached) });
      if (s.declared.rejected > 0)
        series.push({ name: s.strategy + ' refused', type: 'bar', stack: 'refused',
                      data: s.declared.days.map(d => d.rejected) });
    }
    chart('forecast_daily', 'Forecast: reach and grants per day', {
      xAxis: { type: 'category', data: days }, yAxis: { type: 'value', name: 'rows / users' }, series },
      'Days are each strategy\u2019s local days (' + zonesNote + '). Grants: granted rows; users reached: distinct users granted that day; refused: rejected rows (budget, stock, pacing, caps).');
  } else missing('Forecast: reach and grants per day', 'No strategy granted anything in the replay.');
  window.addEventListener('resize', () => charts.forEach(c => c.resize()));
})();
)js";

}  // namespace

bool html_available() {
#ifdef CRM_HAVE_ECHARTS
  return true;
#else
  return false;
#endif
}

bool to_html(const Report& r, std::string& out, std::string& error) {
#ifndef CRM_HAVE_ECHARTS
  (void)r;
  (void)out;
  error = "this crm was built without the charting library (Apache ECharts) that an HTML report embeds: run "
          "scripts/install-deps.sh (npm ci in report/html), then configure and build again";
  return false;
#else
  error.clear();
  if (closes_script(crm_echarts_js)) {
    error = "the embedded ECharts contains `</script` or `<!--` and cannot be inlined";
    return false;
  }
  std::string rows;
  for (const Indicators& i : r.indicators) {
    if (!i.channel.empty() || !i.day.empty()) continue;
    auto pct = [](double v) { return v == v ? fmt::format("{:.2f}%", v * 100) : std::string("-"); };
    rows += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                        html_text(i.strategy), i.granted, i.reached, i.visited, i.converted, pct(i.reach_rate),
                        pct(i.order_conversion_rate));
  }
  // Per code of the actions (`code "W10"`): the same figures, and what the code cost and returned.
  std::string code_rows;
  for (const Indicators& i : r.codes) {
    auto pct = [](double v) { return v == v ? fmt::format("{:.2f}%", v * 100) : std::string("-"); };
    code_rows += fmt::format(
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
        html_text(i.strategy), html_text(i.code), i.granted, i.reached, i.visited, i.converted, pct(i.reach_rate),
        pct(i.order_conversion_rate), support::Decimal::from_units(i.cost).to_string(),
        i.roi == i.roi ? fmt::format("{:.3f}", i.roi) : std::string("-"));
  }
  std::string notes;
  for (const auto& n : r.notes) notes += "<li>" + html_text(n) + "</li>\n";
  out.clear();
  out += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  out += "<title>crm report: " + html_text(r.options.state) + "</title>\n";
  out += kStyle;
  out += "</head>\n<body>\n";
  out += fmt::format("<h1>crm report</h1>\n<p class=\"note\">Ledger <code>{}</code>: {} rows; {} events; attribution window "
                     "{} days. Every number is defined in docs/indicators.md.</p>\n",
                     html_text(r.options.state), r.ledger_rows, r.events, double(r.options.window_micros) / 86'400'000'000.0);
  out += "<table>\n<tr><th>strategy</th><th>granted</th><th>reached</th><th>visited</th><th>converted</th><th>reach "
         "rate</th><th>conversion</th></tr>\n" + rows + "</table>\n";
  if (!code_rows.empty())
    out += "<h2>Per code</h2>\n<table id=\"codes\">\n<tr><th>strategy</th><th>code</th><th>granted</th><th>reached</th>"
           "<th>visited</th><th>converted</th><th>reach rate</th><th>conversion</th><th>cost</th><th>roi</th></tr>\n" +
           code_rows + "</table>\n";
  if (!notes.empty()) out += "<ul class=\"note\">\n" + notes + "</ul>\n";
  out += "<div id=\"charts\"></div>\n";
  out += "<script type=\"application/json\" id=\"crm-report\">" + json_in_script(to_json(r)) + "</script>\n";
  out += library_scripts();
  out += "<script>\n";
  out += kPageScript;
  out += "</script>\n</body>\n</html>\n";
  return true;
#endif
}

bool to_html(const Forecast& f, std::string& out, std::string& error) {
#ifndef CRM_HAVE_ECHARTS
  (void)f;
  (void)out;
  error = "this crm was built without the charting library (Apache ECharts) that an HTML report embeds: run "
          "scripts/install-deps.sh (npm ci in report/html), then configure and build again";
  return false;
#else
  error.clear();
  if (closes_script(crm_echarts_js)) {
    error = "the embedded ECharts contains `</script` or `<!--` and cannot be inlined";
    return false;
  }
  out.clear();
  out += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>crm forecast</title>\n";
  out += kStyle;
  out += "</head>\n<body>\n";
  out += forecast_section(f);
  out += library_scripts();
  out += "<script>\n";
  out += kForecastScript;
  out += "</script>\n</body>\n</html>\n";
  return true;
#endif
}

}  // namespace crm::report
