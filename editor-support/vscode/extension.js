// extension.js - the crm extension's client: starts `crm lsp` (setting crm.server.path) over
// stdio with vscode-languageclient and hands it every .crm document. Highlighting, snippets and
// the language configuration are declarative (package.json); everything that needs the checker
// (diagnostics, hover, completion, formatting, ...) comes from the server.
'use strict';
const vscode = require('vscode');
const { LanguageClient, TransportKind } = require('vscode-languageclient/node');

let client;

// The server command from the settings; a relative path is taken from the first workspace folder.
function serverOptions() {
  const config = vscode.workspace.getConfiguration('crm');
  let command = config.get('server.path') || 'crm';
  const folders = vscode.workspace.workspaceFolders;
  if (command.includes('/') && !command.startsWith('/') && folders && folders.length)
    command = vscode.Uri.joinPath(folders[0].uri, command).fsPath;
  const args = ['lsp', ...(config.get('server.args') || [])];
  return { command, args, transport: TransportKind.stdio };
}

async function start(context) {
  client = new LanguageClient('crm', 'crm language server', serverOptions(), {
    documentSelector: [{ language: 'crm' }],
    synchronize: { fileEvents: vscode.workspace.createFileSystemWatcher('**/*.crm') },
  });
  try {
    await client.start();
  } catch (e) {
    vscode.window.showErrorMessage(
      `crm: could not start \`${serverOptions().command} lsp\` (${e.message || e}). ` +
      'Set "crm.server.path" to the crm executable.');
  }
}

async function stop() {
  if (!client) return;
  const c = client;
  client = undefined;
  if (c.isRunning()) await c.stop();
}

function activate(context) {
  context.subscriptions.push(
    vscode.commands.registerCommand('crm.restartServer', async () => {
      await stop();
      await start(context);
    }),
    vscode.workspace.onDidChangeConfiguration(async (e) => {
      if (e.affectsConfiguration('crm.server')) {
        await stop();
        await start(context);
      }
    }));
  return start(context);
}

function deactivate() {
  return stop();
}

module.exports = { activate, deactivate, serverOptions };
