// grammar.js - loads crm.tmLanguage.json into vscode-textmate with the oniguruma WebAssembly
// regex engine, the same pair VS Code uses, and tokenizes text into (text, scopes) tokens.
'use strict';
const fs = require('fs');
const path = require('path');

const grammarPath = path.join(__dirname, '..', 'crm.tmLanguage.json');

function requireDependency(name) {
  try {
    return require(name);
  } catch (e) {
    throw new Error(`${name} is not installed: run \`npm ci\` in editor-support/textmate ` +
                    `(scripts/install-deps.sh does) (${e.message})`);
  }
}

async function loadGrammar() {
  const vsctm = requireDependency('vscode-textmate');
  const oniguruma = requireDependency('vscode-oniguruma');
  const wasm = fs.readFileSync(require.resolve('vscode-oniguruma/release/onig.wasm'));
  await oniguruma.loadWASM(wasm.buffer.slice(wasm.byteOffset, wasm.byteOffset + wasm.byteLength));
  const onigLib = Promise.resolve({
    createOnigScanner: (patterns) => new oniguruma.OnigScanner(patterns),
    createOnigString: (s) => new oniguruma.OnigString(s),
  });
  const registry = new vsctm.Registry({
    onigLib,
    loadGrammar: async (scopeName) => {
      if (scopeName !== 'source.crm') return null;
      return vsctm.parseRawGrammar(fs.readFileSync(grammarPath, 'utf8'), grammarPath);
    },
  });
  const grammar = await registry.loadGrammar('source.crm');
  if (!grammar) throw new Error(`cannot load ${grammarPath}`);
  return { grammar, registry, onigLib, INITIAL: vsctm.INITIAL };
}

// [{line, tokens: [{text, scopes}]}] for a whole text; scopes without the root `source.crm`.
function tokenize(g, text) {
  let state = g.INITIAL;
  const lines = text.split(/\r?\n/);
  if (lines.length && lines[lines.length - 1] === '') lines.pop();
  return lines.map((line) => {
    const r = g.grammar.tokenizeLine(line, state);
    state = r.ruleStack;
    return {
      line,
      tokens: r.tokens.map((t) => ({
        text: line.substring(t.startIndex, t.endIndex),
        scopes: t.scopes.filter((s) => s !== 'source.crm'),
      })),
    };
  });
}

module.exports = { loadGrammar, tokenize, grammarPath };
