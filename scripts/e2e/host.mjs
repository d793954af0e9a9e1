// A scripted MCP host that only speaks stdio, for scripts/e2e-browser: it
// starts the given command (mcp-oauth proxy URL) as its local server and
// talks newline-delimited JSON-RPC with it, as a desktop host would:
// initialize, notifications/initialized, tools/list, a tools/call whose
// server sends log and progress notifications before the result,
// notifications/roots/list_changed, a tools/call cancelled by
// notifications/cancelled, one more tools/call, then stdin closes and the
// proxy must exit.
//
// Usage: node host.mjs [--timeout SECONDS] -- COMMAND [ARGS...]
// Output: one line per check on stdout, "ok<TAB>name<TAB>detail" or
// "fail<TAB>name<TAB>detail"; the command's stderr passes through to ours.
// Exits 0 when every check passed.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';

const { values: opts, positionals: command } = parseArgs({
  options: { timeout: { type: 'string', default: '90' } },
  allowPositionals: true,
});
if (command.length === 0) {
  console.error('usage: host.mjs [--timeout SECONDS] -- COMMAND [ARGS...]');
  process.exit(2);
}
const started = Date.now();
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)}s`;

let failures = 0;
const report = (ok, name, detail = '') => {
  if (!ok) failures++;
  process.stdout.write(`${ok ? 'ok' : 'fail'}\t${name}\t${String(detail).replace(/\s+/g, ' ')}\n`);
};

const child = spawn(command[0], command.slice(1), { stdio: ['pipe', 'pipe', 'inherit'] });
let exited = null;
const exit = new Promise((resolve) =>
  child.on('exit', (code, signal) => resolve((exited = { code, signal, at: Date.now() }))),
);
child.on('error', (error) => {
  report(false, 'start', `${command[0]}: ${error.message}`);
  process.exit(1);
});
child.stdin.on('error', () => {}); // a proxy that died is reported by the checks

// Everything the proxy writes, in order; waiters look again on each message.
const received = [];
const waiters = new Set();
const notify = () => [...waiters].forEach((check) => check());
exit.then(notify);
createInterface({ input: child.stdout }).on('line', (line) => {
  if (!line.trim()) return;
  try {
    received.push(JSON.parse(line));
  } catch {
    received.push({ unparsable: line });
  }
  notify();
});

const send = (message) => child.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', ...message })}\n`);
function until(predicate, ms, what) {
  return new Promise((resolve, reject) => {
    const finish = (settle, value) => {
      clearTimeout(timer);
      waiters.delete(check);
      settle(value);
    };
    const timer = setTimeout(() => finish(reject, new Error(`no ${what} within ${ms / 1000}s`)), ms);
    const check = () => {
      const found = received.find(predicate);
      if (found) finish(resolve, found);
      else if (exited) finish(reject, new Error(`the proxy exited (${exited.code ?? exited.signal}) before ${what}`));
    };
    waiters.add(check);
    check();
  });
}
const response = (id, ms = 30_000) => until((m) => m.id === id && ('result' in m || 'error' in m), ms, `answer to request ${id}`);
const resultOf = async (id, ms) => {
  const answer = await response(id, ms);
  if (answer.error) throw new Error(`request ${id} failed: ${JSON.stringify(answer.error)}`);
  return answer.result;
};

// The whole conversation is bounded; the child is stopped by its PID.
const limit = Number(opts.timeout) * 1000;
const watchdog = setTimeout(() => {
  report(false, 'bounded', `the conversation took over ${limit / 1000}s`);
  child.kill('SIGTERM');
  setTimeout(() => child.kill('SIGKILL'), 3000).unref();
  setTimeout(() => process.exit(1), 4000).unref();
}, limit);

async function step(name, body) {
  try {
    report(true, name, await body());
  } catch (error) {
    report(false, name, error.message);
  }
}

await step('initialize', async () => {
  send({
    id: 1,
    method: 'initialize',
    params: {
      protocolVersion: '2025-06-18',
      capabilities: { roots: { listChanged: true } },
      clientInfo: { name: 'e2e-stdio-host', version: '1.0.0' },
    },
  });
  const result = await resultOf(1, 60_000);
  if (result.serverInfo?.name !== 'mcp-oauth-e2e') {
    throw new Error(`unexpected serverInfo ${JSON.stringify(result.serverInfo)}`);
  }
  send({ method: 'notifications/initialized' });
  return `${result.serverInfo.name} ${result.serverInfo.version}, protocol ${result.protocolVersion}`;
});

await step('tools-list', async () => {
  send({ id: 2, method: 'tools/list', params: {} });
  const names = (await resultOf(2)).tools.map((tool) => tool.name);
  for (const name of ['echo', 'add', 'countdown']) {
    if (!names.includes(name)) throw new Error(`no tool ${name} in ${names}`);
  }
  return names.join(' ');
});

await step('server-notifications-during-call', async () => {
  const token = 'e2e-progress-3';
  const from = received.length;
  send({
    id: 3,
    method: 'tools/call',
    params: { name: 'countdown', arguments: { steps: 3 }, _meta: { progressToken: token } },
  });
  const result = await resultOf(3);
  const text = result.content?.[0]?.text;
  if (text !== 'countdown finished after 3 steps') throw new Error(`unexpected result ${JSON.stringify(result)}`);
  // Everything that arrived before the answer, after the call went out.
  const before = received.slice(from, received.findIndex((m) => m.id === 3));
  const logs = before.filter((m) => m.method === 'notifications/message' && /countdown step/.test(m.params?.data));
  const progress = before.filter((m) => m.method === 'notifications/progress' && m.params?.progressToken === token);
  if (logs.length !== 3 || progress.length !== 3) {
    throw new Error(`before the result: ${logs.length} log and ${progress.length} progress notifications, want 3 and 3`);
  }
  return `${logs.length} notifications/message and ${progress.length} notifications/progress before the result`;
});

// Whether it arrived, the server's log tells.
send({ method: 'notifications/roots/list_changed' });

await step('cancelled-call', async () => {
  const token = 'e2e-progress-4';
  send({
    id: 4,
    method: 'tools/call',
    params: { name: 'countdown', arguments: { steps: 20 }, _meta: { progressToken: token } },
  });
  await until((m) => m.method === 'notifications/progress' && m.params?.progressToken === token, 30_000, 'progress of request 4');
  send({ method: 'notifications/cancelled', params: { requestId: 4, reason: 'e2e host cancelled it' } });
  // Another call goes through while the cancelled one is dropped.
  send({ id: 5, method: 'tools/call', params: { name: 'echo', arguments: { text: 'after the cancel' } } });
  const text = (await resultOf(5)).content?.[0]?.text;
  if (text !== 'after the cancel') throw new Error(`echo answered ${JSON.stringify(text)}`);
  return 'request 4 cancelled after its first progress; request 5 answered';
});

await step('exit-on-stdin-close', async () => {
  const closed = Date.now();
  child.stdin.end();
  const bound = 10_000;
  const timer = new Promise((_, reject) =>
    setTimeout(() => reject(new Error(`still running ${bound / 1000}s after stdin closed`)), bound).unref(),
  );
  const { code, signal, at } = await Promise.race([exit, timer]);
  if (code !== 0) throw new Error(`exit ${code ?? signal}`);
  return `exit 0, ${((at - closed) / 1000).toFixed(1)}s after stdin closed`;
});

const stray = received.filter((m) => m.unparsable !== undefined);
report(stray.length === 0, 'stdout-is-protocol', stray.length ? `not JSON: ${stray[0].unparsable.slice(0, 100)}` : `${received.length} messages, all JSON`);

clearTimeout(watchdog);
if (!exited) {
  child.kill('SIGTERM');
  await Promise.race([exit, new Promise((resolve) => setTimeout(resolve, 3000))]);
  if (!exited) child.kill('SIGKILL');
}
process.stderr.write(`host: done in ${elapsed()}\n`);
process.exit(failures === 0 ? 0 : 1);
