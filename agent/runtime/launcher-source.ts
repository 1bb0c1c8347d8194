/**
 * Source of the Node flavour of the resident launcher (plain CommonJS, run by `node` from the
 * agent's data dir), used where no python3 ≥ 3.8 runs launcher.py, the cheaper flavour: one
 * long-lived process per data dir that starts tasks directly (no `/bin/sh` per task), each in its own
 * session, and writes each task's exit status to its exit file when it reaps it, also while the
 * agent is down. It exits once no agent is connected and none of its tasks runs.
 * Protocol: newline-delimited JSON over a unix socket. Request {id, file, args, cwd, env, log, exit};
 * replies {id, pid, proc_start} or {id, error, code}; to every connection: {pid, exit: true, signal}.
 * Prints "ready" once it listens.
 */
export const LAUNCHER_SOURCE = `'use strict';
const { createServer } = require('node:net');
const { spawn } = require('node:child_process');
const { openSync, closeSync, writeFileSync, unlinkSync, readFileSync } = require('node:fs');
const { constants } = require('node:os');
const [sock, pidFile] = process.argv.slice(2);
const conns = new Set();
let running = 0;
const startTime = (pid) => {
  try { const raw = readFileSync('/proc/' + pid + '/stat', 'utf8'); return raw.slice(raw.lastIndexOf(')') + 2).split(' ')[19]; } catch { return undefined; }
};
const idle = () => { if (conns.size === 0 && running === 0) { try { unlinkSync(pidFile); } catch {} process.exit(0); } };
function launch(conn, m) {
  const reply = (r) => { if (!conn.destroyed) conn.write(JSON.stringify(Object.assign({ id: m.id }, r)) + '\\n'); };
  let fd;
  try {
    fd = openSync(m.log, 'a');
    const c = spawn(m.file, m.args, { cwd: m.cwd, env: m.env, detached: true, stdio: ['ignore', fd, fd] });
    c.once('error', (e) => { if (c.pid === undefined) reply({ error: e.message, code: e.code }); });
    if (c.pid === undefined) return;
    running++;
    reply({ pid: c.pid, proc_start: startTime(c.pid) });
    c.once('exit', (code, signal) => {
      const status = code !== null ? code : 128 + (constants.signals[signal] || 0);
      try { writeFileSync(m.exit, status + '\\n'); } catch {}
      running--;
      const line = JSON.stringify({ pid: c.pid, exit: true, signal }) + '\\n';
      for (const k of conns) if (!k.destroyed) k.write(line);
      idle();
    });
  } catch (e) {
    reply({ error: String(e && e.message), code: e && e.code });
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
const server = createServer((conn) => {
  conns.add(conn);
  conn.on('error', () => {});
  conn.on('close', () => { conns.delete(conn); idle(); });
  conn.setEncoding('utf8');
  let buf = '';
  conn.on('data', (d) => {
    buf += d;
    if (buf.length > 64 * 1024 * 1024) return conn.destroy();
    let nl;
    while ((nl = buf.indexOf('\\n')) >= 0) {
      const text = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      let m;
      try { m = JSON.parse(text); } catch { continue; }
      if (m && typeof m.file === 'string' && Array.isArray(m.args) && typeof m.log === 'string' && typeof m.exit === 'string') launch(conn, m);
    }
  });
});
server.on('error', () => process.exit(1));
try { unlinkSync(sock); } catch {}
setTimeout(idle, 10000);
process.stdout.on('error', () => {});
server.listen(sock, () => { writeFileSync(pidFile, process.pid + '\\n'); process.stdout.write('ready\\n'); });
`;
