// scopes_test.js - the TextMate grammar's tests, run by ctest (editor_textmate_scopes):
//  1. scope goldens: every example and standard-library .crm file and test/all_tokens.crm are
//     tokenized and compared with test/golden/*.scopes (CRM_UPDATE_GOLDEN=1 rewrites them);
//  2. every builtin of bytecode/builtins.def is highlighted as a builtin, and nothing else is;
//  3. every keyword of grammar/Crm.g4 appears in all_tokens.crm with a keyword-like scope, and
//     all_tokens.crm has every token kind the grammar names;
//  4. all_tokens.crm is a program `crm check` accepts (when CRM points at the crm binary).
'use strict';
const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');
const { loadGrammar, tokenize } = require('./grammar');

const root = path.resolve(__dirname, '..', '..', '..');
const goldenDir = path.join(__dirname, 'golden');
const allTokens = path.join(__dirname, 'all_tokens.crm');
const update = process.env.CRM_UPDATE_GOLDEN === '1';
let failures = 0;
function fail(msg) {
  failures++;
  console.error(`FAIL ${msg}`);
}

function crmFiles() {
  const out = [];
  const walk = (dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.crm')) out.push(p);
    }
  };
  walk(path.join(root, 'examples'));
  walk(path.join(root, 'stdlib'));
  out.sort();
  out.push(allTokens);
  return out;
}

// One line per source line (prefixed `>`), then one line per non-blank token: the token's text
// (padded) and its scopes, innermost last.
function render(lines) {
  let s = '';
  for (const l of lines) {
    s += `>${l.line}\n`;
    for (const t of l.tokens) {
      if (t.text.trim() === '') continue;
      s += ` ${JSON.stringify(t.text).padEnd(24)} ${t.scopes.join(' ')}\n`;
    }
  }
  return s;
}

function goldenName(file) {
  return path.relative(root, file).replace(/[\\/]/g, '__').replace(/\.crm$/, '.scopes');
}

function checkGoldens(g) {
  const expected = new Set();
  for (const f of crmFiles()) {
    const name = goldenName(f);
    expected.add(name);
    const actual = render(tokenize(g, fs.readFileSync(f, 'utf8')));
    const gp = path.join(goldenDir, name);
    if (update) {
      fs.mkdirSync(goldenDir, { recursive: true });
      if (!fs.existsSync(gp) || fs.readFileSync(gp, 'utf8') !== actual) {
        fs.writeFileSync(gp, actual);
        console.log(`updated ${path.relative(root, gp)}`);
      }
      continue;
    }
    if (!fs.existsSync(gp)) { fail(`${path.relative(root, f)}: no golden ${path.relative(root, gp)} (CRM_UPDATE_GOLDEN=1 writes it)`); continue; }
    const want = fs.readFileSync(gp, 'utf8');
    if (want !== actual) {
      const a = actual.split('\n'), w = want.split('\n');
      let i = 0;
      while (i < a.length && a[i] === w[i]) i++;
      fail(`${path.relative(root, f)}: scopes differ from ${path.relative(root, gp)} at line ${i + 1}:\n` +
           `  expected: ${w[i]}\n  actual:   ${a[i]}\n  (CRM_UPDATE_GOLDEN=1 rewrites the golden; review the diff)`);
    }
  }
  // A golden whose source is gone is stale.
  for (const name of fs.existsSync(goldenDir) ? fs.readdirSync(goldenDir) : []) {
    if (expected.has(name)) continue;
    if (update) { fs.unlinkSync(path.join(goldenDir, name)); console.log(`removed stale ${name}`); }
    else fail(`golden ${name} has no source file (CRM_UPDATE_GOLDEN=1 removes it)`);
  }
  return expected.size;
}

function scopesOf(g, text, word) {
  const out = [];
  for (const l of tokenize(g, text))
    for (const t of l.tokens) if (t.text === word) out.push(t.scopes);
  return out;
}

function checkBuiltins(g) {
  const def = fs.readFileSync(path.join(root, 'bytecode', 'builtins.def'), 'utf8');
  const names = [...def.matchAll(/^BUILTIN\(\s*\w+\s*,\s*"([a-z_0-9]+)"/gm)].map((m) => m[1]);
  if (names.length < 10) fail(`read only ${names.length} builtins from bytecode/builtins.def`);
  for (const n of names) {
    const s = scopesOf(g, `segment s = ${n}(x) > 0\n`, n);
    if (!s.length || !s[0].includes('support.function.builtin.crm'))
      fail(`builtin ${n} (bytecode/builtins.def) is not highlighted as support.function.builtin.crm: add it to the builtin-call rule of crm.tmLanguage.json`);
  }
  // ... and the grammar names no builtin that does not exist.
  const raw = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'crm.tmLanguage.json'), 'utf8'));
  const m = /\\b\(([a-z_|0-9]+)\)/.exec(raw.repository['builtin-call'].begin);
  const listed = m ? m[1].split('|') : [];
  for (const n of listed) if (!names.includes(n)) fail(`the grammar lists builtin ${n}, which bytecode/builtins.def does not define`);
  const user = scopesOf(g, 'segment s = my_function(x) > 0\n', 'my_function');
  if (!user.length || !user[0].includes('entity.name.function.crm')) fail('a user function call is not entity.name.function.crm');
  return names.length;
}

const keywordLike = /^(keyword\.|storage\.type\.|constant\.language\.|variable\.language\.|support\.function\.aggregate\.)/;

function checkKeywords(g, tokens) {
  const g4 = fs.readFileSync(path.join(root, 'grammar', 'Crm.g4'), 'utf8');
  const parserPart = g4.split('// ---- lexer')[0];
  const words = [...new Set([...parserPart.matchAll(/'([a-z]+)'/g)].map((m) => m[1]))].sort();
  for (const w of words) {
    let ok = false;
    for (const l of tokens) for (const t of l.tokens)
      if (t.text === w && t.scopes.some((s) => keywordLike.test(s))) ok = true;
    if (!ok) fail(`keyword '${w}' of grammar/Crm.g4 does not appear in all_tokens.crm with a keyword scope`);
  }
  const kinds = [
    'comment.line.double-slash.crm', 'comment.line.number-sign.crm', 'comment.block.crm',
    'keyword.other.clause.crm', 'keyword.control.trigger.crm', 'keyword.other.window.crm', 'keyword.other.action.crm',
    'keyword.other.limit.crm', 'keyword.other.split.crm', 'keyword.other.policy.crm', 'keyword.other.resource.crm',
    'keyword.other.aggregate.crm', 'keyword.control.conditional.crm', 'keyword.operator.logical.crm',
    'storage.type.strategy.crm', 'storage.type.segment.crm', 'storage.type.fn.crm', 'storage.type.resource.crm',
    'storage.type.policy.crm', 'storage.type.profile.crm', 'storage.type.event.crm', 'storage.type.enum.crm', 'storage.type.const.crm',
    'entity.name.function.strategy.crm', 'entity.name.function.segment.crm', 'entity.name.function.crm',
    'entity.name.type.event.crm', 'entity.name.type.resource.crm', 'entity.name.type.enum.crm', 'entity.name.namespace.crm',
    'constant.numeric.money.crm', 'keyword.other.unit.currency.crm', 'constant.numeric.duration.crm', 'keyword.other.unit.duration.crm',
    'constant.other.datetime.crm', 'constant.other.date.crm', 'constant.other.time.crm', 'constant.numeric.percentage.crm',
    'constant.numeric.integer.crm', 'constant.numeric.decimal.crm', 'constant.language.boolean.crm',
    'string.quoted.double.crm', 'variable.other.placeholder.crm', 'constant.character.escape.crm',
    'keyword.operator.comparison.crm', 'keyword.operator.arithmetic.crm', 'keyword.operator.coalesce.crm',
    'keyword.operator.assignment.crm', 'keyword.operator.optional.crm',
    'variable.other.enummember.crm', 'variable.other.constant.crm', 'support.function.builtin.crm', 'support.function.aggregate.crm',
    'support.type.primitive.crm', 'support.type.resource-kind.crm', 'variable.parameter.crm', 'variable.other.property.crm',
    'variable.language.crm',
  ];
  const seen = new Set();
  for (const l of tokens) for (const t of l.tokens) for (const s of t.scopes) seen.add(s);
  for (const k of kinds) if (!seen.has(k)) fail(`all_tokens.crm has no token scoped ${k}`);
  return words.length;
}

// Fields and resource properties after the first on one line (commas between them are
// optional, docs/language.md §2) are properties too, not types or plain names.
function checkOneLineFields(g) {
  const cases = [
    ['event PageView { page: String  channel: Channel  scene: Place = Front }\n', ['page', 'channel', 'scene']],
    ['event E {\n    a: Int  b: Int\n}\n', ['a', 'b']],
    ['resource coupon r { discount: 10% up to 20 CNY  threshold: 99 CNY  use: within 7 days after claim }\n',
     ['discount', 'threshold', 'use']],
  ];
  for (const [text, names] of cases) {
    for (const n of names) {
      const s = scopesOf(g, text, n);
      if (!s.length || !s[0].includes('variable.other.property.crm'))
        fail(`${JSON.stringify(text.trim())}: \`${n}\` is ${s.length ? s[0].slice(-1)[0] : 'missing'}, not variable.other.property.crm`);
    }
    const colons = [];
    for (const l of tokenize(g, text)) for (const t of l.tokens) if (t.text.trim() === ':') colons.push(t.scopes);
    if (colons.length !== names.length || !colons.every((c) => c.includes('punctuation.separator.key-value.crm')))
      fail(`${JSON.stringify(text.trim())}: not every \`:\` is punctuation.separator.key-value.crm`);
  }
}

// Tokens as the compiler's lexer (grammar/Crm.g4) sees them: a time with a fraction of a second
// is one DATETIME, and a `/*` never closed (E0113) comments out everything to the end of the
// file, whatever declaration, block or clause it starts in.
function checkLexerAgreement(g) {
  for (const lit of ['2026-01-01T00:00:30.5+08:00', '2026-01-01T00:00:30.123456Z', '2026-01-01T00:00:30.5']) {
    const s = scopesOf(g, `const t = ${lit}\nsegment s = now() > ${lit}\n`, lit);
    if (s.length !== 2 || !s.every((x) => x.includes('constant.other.datetime.crm')))
      fail(`\`${lit}\` is not one constant.other.datetime.crm token`);
  }
  const rest = 'segment b = tier == Gold\n"text" 3 days }\n';
  const cases = [
    'module m\n/* never closed\n',
    'module m\nsegment a = x > 1 /* never closed\n',
    'module m\nprofile {\n  a: Int /* never closed\n',
    'module m\nstrategy s for business "b" {\n    who: a > 1 /* never closed\n',
    'module m\nresource push p { title: "t" /* never closed\n',
    'module m\nconst xs = {1, /* never closed\n',
    'module m\nsegment a = count(Order where amount > 1 CNY /* never closed\n',
    'module m /* never closed\n',
    'module m\nimport std.rfm /* never closed\n',
    'module m\nenum Tier { Bronze, /* never closed\n',
    'module m\nevent Order { amount: Money(CNY) /* never closed\n',
    'module m\nfn f(x: Int /* never closed\n',
    'module m\nfn f(x: Int): Bool = x > 1 /* never closed\n',
    'module m\nstrategy s for business "b" {\n    when: on Order /* never closed\n',
    'module m\nstrategy s for business "b" {\n    what: send p via Push /* never closed\n',
    'module m\nstrategy s for business "b" {\n    how much: per user 1 per 7 days /* never closed\n',
    'module m\npolicy q {\n    quiet between 22:00 and 08:00 /* never closed\n',
    'module m\nresource coupon c { discount: 10% up to 20 CNY /* never closed\n',
    'module m\nzone "Asia/Shanghai" /* never closed\n',
  ];
  for (const head of cases) {
    const lines = tokenize(g, head + rest);
    const start = head.split('\n').length - 2;  // the line of the `/*`
    let inside = false;
    for (let i = start; i < lines.length; i++)
      for (const t of lines[i].tokens) {
        if (i === start && t.text.startsWith('/*')) inside = true;
        if (!inside || t.text.trim() === '') continue;
        if (!t.scopes.includes('comment.block.crm'))
          fail(`after an unclosed /* in ${JSON.stringify(head.split('\n')[start])}: ${JSON.stringify(t.text)} on line ${i + 1} is ${t.scopes.slice(-1)[0]}, not comment.block.crm`);
      }
    if (!inside) fail(`no /* token in ${JSON.stringify(head)}`);
  }
}

function checkProgram() {
  const crm = process.env.CRM;
  if (!crm) { console.log('note: CRM is not set, so all_tokens.crm was not run through `crm check`'); return; }
  try {
    execFileSync(path.resolve(crm), ['check', '-q', allTokens], { stdio: ['ignore', 'pipe', 'pipe'], cwd: root });
  } catch (e) {
    fail(`crm check test/all_tokens.crm failed: ${e.message}\n${e.stderr || ''}${e.stdout || ''}`);
  }
}

// Sublime Text reads TextMate grammars as property lists (.tmLanguage), not JSON: the README's
// conversion (python3 plistlib) must give a grammar that tokenizes exactly like the JSON one.
async function checkPlist(g) {
  const os = require('os');
  const vsctm = require('vscode-textmate');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'crm-plist-'));
  try {
    const plist = path.join(dir, 'crm.tmLanguage');
    execFileSync('python3', ['-c', 'import json, plistlib, sys; plistlib.dump(json.load(open(sys.argv[1])), open(sys.argv[2], "wb"))',
                             path.join(__dirname, '..', 'crm.tmLanguage.json'), plist]);
    const raw = vsctm.parseRawGrammar(fs.readFileSync(plist, 'utf8'), plist);
    const registry = new vsctm.Registry({ onigLib: g.onigLib, loadGrammar: async () => raw });
    const pg = { grammar: await registry.loadGrammar('source.crm'), INITIAL: g.INITIAL };
    const text = fs.readFileSync(allTokens, 'utf8');
    if (render(tokenize(pg, text)) !== render(tokenize(g, text))) fail('the plist (.tmLanguage) conversion tokenizes differently');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// The screenshot's renderer gives each kind of token a colour of its own.
async function checkRenderer() {
  const { render: renderHtml, theme } = require('./render_html');
  const r = await renderHtml(fs.readFileSync(allTokens, 'utf8'), 'all_tokens.crm');
  const base = theme.settings[0].settings.foreground;
  for (const word of ['//', 'strategy', 'who', 'grant', 'CNY', '30 ', 'now', 'sum', 'Gold', 'nickname', '"']) {
    const t = r.tokens.find((x) => x.text.startsWith(word));
    if (!t || t.color.toUpperCase() === base) fail(`the HTML renderer leaves ${JSON.stringify(word)} in the default colour`);
  }
}

(async () => {
  const g = await loadGrammar();
  await checkPlist(g);
  await checkRenderer();
  const files = checkGoldens(g);
  checkOneLineFields(g);
  checkLexerAgreement(g);
  const builtins = checkBuiltins(g);
  const words = checkKeywords(g, tokenize(g, fs.readFileSync(allTokens, 'utf8')));
  checkProgram();
  if (failures) {
    console.error(`${failures} failure(s)`);
    process.exit(1);
  }
  console.log(`ok: ${files} scope goldens${update ? ' (updated)' : ''}, ${builtins} builtins, ${words} keywords`);
})().catch((e) => {
  console.error(e.stack || String(e));
  process.exit(1);
});
