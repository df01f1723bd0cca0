// snippets_test.js - every snippet of snippets/crm.json, expanded with its defaults (first choice
// of a choice, mirrors filled in), is a program `crm check` accepts: alone, or after the snippets
// it needs (a strategy needs the schema and a coupon). Also checks the language configuration and
// that the client starts `<crm.server.path> lsp` (the extension loaded against a stub of the
// vscode module). Usage: CRM=path/to/crm node test/snippets_test.js (ctest editor_vscode_snippets).
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const Module = require('module');
const { execFileSync } = require('child_process');

const ext = path.resolve(__dirname, '..');
let failures = 0;
const fail = (m) => { failures++; console.error(`FAIL ${m}`); };

// Expands a snippet body in the TextMate/VS Code snippet syntax: $N, ${N}, ${N:default} (nested),
// ${N|a,b|}, escapes. A placeholder's value is its default; `$N` elsewhere mirrors it.
function expand(body) {
  const values = {};
  let i = 0;
  function parse(stopAtBrace) {
    let out = '';
    while (i < body.length) {
      const c = body[i];
      if (c === '\\' && i + 1 < body.length) { out += body[i + 1]; i += 2; continue; }
      if (stopAtBrace && c === '}') return out;
      if (c === '$') {
        let m = /^\$(\d+)/.exec(body.slice(i)) || /^\$\{(\d+)\}/.exec(body.slice(i));
        if (m) { i += m[0].length; out += `\u0000${m[1]}\u0000`; continue; }
        m = /^\$\{(\d+)\|([^|]*)\|\}/.exec(body.slice(i));
        if (m) { i += m[0].length; values[m[1]] = m[2].split(',')[0]; out += values[m[1]]; continue; }
        m = /^\$\{(\d+):/.exec(body.slice(i));
        if (m) {
          i += m[0].length;
          const v = parse(true);
          i++;  // the closing brace
          values[m[1]] = v;
          out += v;
          continue;
        }
        throw new Error(`unsupported snippet syntax at ${body.slice(i, i + 12)}`);
      }
      out += c;
      i++;
    }
    return out;
  }
  const text = parse(false);
  return text.replace(/\u0000(\d+)\u0000/g, (_, n) => values[n] !== undefined ? values[n].replace(/\u0000(\d+)\u0000/g, (__, k) => values[k] || '') : '');
}

const needs = {
  segment: ['schema'], fn: ['schema'], strategy: ['schema', 'resource coupon'],
};

function checkSnippets(crm) {
  const snippets = JSON.parse(fs.readFileSync(path.join(ext, 'snippets', 'crm.json'), 'utf8'));
  const kinds = ['schema', 'segment', 'resource coupon', 'strategy', 'policy'];
  for (const k of kinds) if (!snippets[k]) fail(`snippets/crm.json has no ${k} snippet`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'crm-snippets-'));
  let n = 0;
  try {
    for (const [name, s] of Object.entries(snippets)) {
      const text = [...(needs[name] || []), name]
        .map((k) => expand(snippets[k].body.join('\n')).replace(/\t/g, '    ')).join('\n');
      const file = path.join(dir, `${name.replace(/\W/g, '_')}.crm`);
      fs.writeFileSync(file, text);
      n++;
      if (!crm) continue;
      try {
        execFileSync(crm, ['check', '-q', file], { stdio: ['ignore', 'pipe', 'pipe'] });
      } catch (e) {
        fail(`snippet "${name}" expands to a program crm check rejects:\n${text}\n${e.stderr || e.message}`);
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return n;
}

function checkLanguageConfiguration() {
  const c = JSON.parse(fs.readFileSync(path.join(ext, 'language-configuration.json'), 'utf8'));
  if (c.comments.lineComment !== '//' || c.comments.blockComment.join(' ') !== '/* */') fail('comment tokens');
  const word = new RegExp(c.wordPattern, 'g');
  const words = 'grant welcome_10 if amount >= 50 2026-01-01T00:00+08:00 10%'.match(word);
  const want = ['grant', 'welcome_10', 'if', 'amount', '50', '2026-01-01T00:00+08:00', '10%'];
  if (JSON.stringify(words) !== JSON.stringify(want)) fail(`wordPattern splits into ${JSON.stringify(words)}`);
  const inc = new RegExp(c.indentationRules.increaseIndentPattern), dec = new RegExp(c.indentationRules.decreaseIndentPattern);
  if (!inc.test('strategy s {') || inc.test('enum E { A, B }') || !dec.test('    }')) fail('indentation rules');
}

// Loads extension.js with a stub `vscode` module and checks the server command it builds.
function checkClient() {
  const settings = { 'server.path': '/opt/crm/bin/crm', 'server.args': ['--log', 'x'] };
  const stub = {
    workspace: {
      getConfiguration: () => ({ get: (k) => settings[k] }),
      workspaceFolders: [{ uri: { fsPath: '/ws' } }],
    },
    Uri: { joinPath: (u, p) => ({ fsPath: path.posix.join(u.fsPath, p) }) },
  };
  const load = Module._load;
  // The client library needs the real editor; only its TransportKind is used here.
  const client = { LanguageClient: class {}, TransportKind: { stdio: 0 } };
  Module._load = function (request, ...rest) {
    if (request === 'vscode') return stub;
    if (request === 'vscode-languageclient/node') return client;
    return load.call(this, request, ...rest);
  };
  try {
    const { serverOptions } = require(path.join(ext, 'extension.js'));
    let o = serverOptions();
    if (o.command !== '/opt/crm/bin/crm' || o.args.join(' ') !== 'lsp --log x') fail(`server command ${o.command} ${o.args}`);
    settings['server.path'] = 'build/crm';
    settings['server.args'] = [];
    o = serverOptions();
    if (o.command !== '/ws/build/crm' || o.args.join(' ') !== 'lsp') fail(`relative server path gives ${o.command} ${o.args}`);
    settings['server.path'] = '';
    if (serverOptions().command !== 'crm') fail('empty crm.server.path does not fall back to `crm`');
  } catch (e) {
    fail(`extension.js: ${e.message}`);
  } finally {
    Module._load = load;
  }
  const pkg = JSON.parse(fs.readFileSync(path.join(ext, 'package.json'), 'utf8'));
  if (!pkg.contributes.configuration.properties['crm.server.path']) fail('package.json has no crm.server.path setting');
}

const crm = process.env.CRM ? path.resolve(process.env.CRM) : '';
if (!crm) console.log('note: CRM is not set, so the snippets were expanded but not checked');
const n = checkSnippets(crm);
checkLanguageConfiguration();
checkClient();
if (failures) { console.error(`${failures} failure(s)`); process.exit(1); }
console.log(`ok: ${n} snippets expand to programs crm check accepts; language configuration; client command`);
