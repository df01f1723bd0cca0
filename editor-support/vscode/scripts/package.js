// package.js - builds the .vsix: copies the TextMate grammar into syntaxes/ (the one source is
// editor-support/textmate/crm.tmLanguage.json), runs @vscode/vsce, then checks that the archive
// holds what the manifest names. Usage: node scripts/package.js [OUT.vsix] (CI: ctest editor_vscode_vsix).
'use strict';
const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');

const ext = path.resolve(__dirname, '..');
const manifest = JSON.parse(fs.readFileSync(path.join(ext, 'package.json'), 'utf8'));
const out = path.resolve(process.argv[2] || path.join(ext, `${manifest.name}-${manifest.version}.vsix`));

const vsce = path.join(ext, 'node_modules', '@vscode', 'vsce', 'vsce');
if (!fs.existsSync(vsce)) {
  console.error(`package.js: ${path.relative(process.cwd(), vsce)} is missing: run \`npm ci\` in editor-support/vscode (scripts/install-deps.sh does)`);
  process.exit(1);
}

fs.mkdirSync(path.join(ext, 'syntaxes'), { recursive: true });
fs.copyFileSync(path.join(ext, '..', 'textmate', 'crm.tmLanguage.json'), path.join(ext, 'syntaxes', 'crm.tmLanguage.json'));
fs.mkdirSync(path.dirname(out), { recursive: true });
if (fs.existsSync(out)) fs.unlinkSync(out);

execFileSync(process.execPath, [vsce, 'package', '--out', out, '--skip-license', '--allow-missing-repository',
                                 '--no-rewrite-relative-links'],
             { cwd: ext, stdio: ['ignore', 'inherit', 'inherit'] });

// The archive must hold every file the manifest points at, and the client library.
const listing = execFileSync('python3', ['-m', 'zipfile', '-l', out], { encoding: 'utf8' });
const entries = new Set(listing.split('\n').slice(1).map((l) => l.trim().split(/\s+/)[0]).filter(Boolean));
const c = manifest.contributes;
const wanted = [
  manifest.main, ...c.languages.map((l) => l.configuration), ...c.grammars.map((g) => g.path),
  ...c.snippets.map((s) => s.path), './package.json', './node_modules/vscode-languageclient/node.js',
].map((p) => 'extension/' + path.posix.normalize(p));
const missing = wanted.filter((w) => !entries.has(w));
const unwanted = [...entries].filter((e) => /^extension\/(test|scripts)\/|node_modules\/@vscode\/vsce\//.test(e));
if (missing.length || unwanted.length) {
  console.error(`package.js: ${out}\n  missing: ${missing.join(', ') || '-'}\n  should not be packed: ${unwanted.slice(0, 5).join(', ') || '-'}`);
  process.exit(1);
}
console.log(`package.js: ${out} (${entries.size} entries, ${fs.statSync(out).size} bytes)`);
