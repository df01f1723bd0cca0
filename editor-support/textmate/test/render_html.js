// render_html.js - renders a .crm file as highlighted HTML the way VS Code does: vscode-textmate
// tokenizes it with crm.tmLanguage.json and resolves each token's colour and style against a
// theme (a subset of VS Code's Dark+ rules, below). The HTML is what
// editor-support/screenshot.sh captures with `chromium --headless --screenshot`.
// Usage: node test/render_html.js FILE.crm OUT.html
'use strict';
const fs = require('fs');
const path = require('path');
const { loadGrammar } = require('./grammar');

// Dark+ colours for the scopes the crm grammar uses (VS Code: theme-defaults/themes/dark_plus.json
// and dark_vs.json).
const theme = {
  name: 'Dark+ (subset)',
  settings: [
    { settings: { foreground: '#D4D4D4', background: '#1E1E1E' } },
    { scope: 'comment', settings: { foreground: '#6A9955' } },
    { scope: 'string', settings: { foreground: '#CE9178' } },
    { scope: ['constant.character.escape', 'meta.interpolation punctuation.definition.template-expression'], settings: { foreground: '#D7BA7D' } },
    { scope: 'variable.other.placeholder', settings: { foreground: '#9CDCFE' } },
    { scope: ['constant.numeric', 'constant.other.date', 'constant.other.datetime', 'constant.other.time'], settings: { foreground: '#B5CEA8' } },
    { scope: 'keyword.other.unit', settings: { foreground: '#B5CEA8', fontStyle: 'italic' } },
    { scope: ['constant.language', 'variable.language'], settings: { foreground: '#569CD6' } },
    { scope: ['storage.type', 'keyword.other.module', 'keyword.other.zone'], settings: { foreground: '#569CD6' } },
    { scope: ['keyword.control', 'keyword.other'], settings: { foreground: '#C586C0' } },
    { scope: 'keyword.other.clause', settings: { foreground: '#C586C0', fontStyle: 'bold' } },
    { scope: 'keyword.operator', settings: { foreground: '#D4D4D4' } },
    { scope: 'keyword.operator.logical', settings: { foreground: '#569CD6' } },
    { scope: ['entity.name.function', 'support.function'], settings: { foreground: '#DCDCAA' } },
    { scope: ['entity.name.type', 'support.type', 'entity.name.namespace'], settings: { foreground: '#4EC9B0' } },
    { scope: ['variable', 'variable.parameter', 'variable.other.property'], settings: { foreground: '#9CDCFE' } },
    { scope: ['variable.other.constant', 'variable.other.enummember'], settings: { foreground: '#4FC1FF' } },
  ],
};

const escape = (s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

// {html, colours}: the page, and for each token the colour it got (for tests).
async function render(text, title) {
  const g = await loadGrammar();
  g.registry.setTheme(theme);
  const colors = g.registry.getColorMap();
  let state = g.INITIAL;
  let body = '';
  const tokens = [];
  const lines = text.split(/\r?\n/);
  if (lines[lines.length - 1] === '') lines.pop();
  for (const line of lines) {
    const r = g.grammar.tokenizeLine2(line, state);
    state = r.ruleStack;
    const t = r.tokens;  // pairs: start offset, metadata
    for (let i = 0; i < t.length; i += 2) {
      const start = t[i], end = i + 2 < t.length ? t[i + 2] : line.length;
      const meta = t[i + 1];
      const fg = colors[(meta >>> 15) & 0x1ff];  // vscode-textmate EncodedTokenAttributes
      const style = (meta >>> 11) & 0xf;
      let css = `color:${fg}`;
      if (style & 1) css += ';font-style:italic';
      if (style & 2) css += ';font-weight:bold';
      const s = line.substring(start, end);
      tokens.push({ text: s, color: fg });
      body += `<span style="${css}">${escape(s)}</span>`;
    }
    body += '\n';
  }
  const html = `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>${escape(title)}</title>
<style>
body { margin: 0; background: #1E1E1E; }
pre { margin: 0; padding: 16px 20px; font: 14px/1.45 "DejaVu Sans Mono", "Liberation Mono", monospace; color: #D4D4D4; }
</style></head>
<body><pre>${body}</pre></body></html>
`;
  return { html, tokens, lines: lines.length };
}

module.exports = { render, theme };

if (require.main === module) {
  const [file, out] = process.argv.slice(2);
  if (!file || !out) {
    console.error('usage: node test/render_html.js FILE.crm OUT.html');
    process.exit(2);
  }
  render(fs.readFileSync(file, 'utf8'), path.basename(file)).then((r) => {
    fs.writeFileSync(out, r.html);
    console.log(`${out}: ${r.lines} lines`);
  }).catch((e) => { console.error(e.stack || String(e)); process.exit(1); });
}
