/**
 * Durability: a real child process commits from 32 concurrent writers and is SIGKILLed; every
 * commit it acknowledged must be there, unchanged, when the store is reopened.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot, runningFromDist } from '../helpers/paths.js';
import { tempDir } from '../helpers/tmp.js';
import { openJournalStore } from '../../control/store/journal-store.js';
import { expectedValue } from '../fixtures/store-crash-writer.js';

function writerCommand(dataDir: string): { command: string; args: string[] } {
  const script = runningFromDist
    ? join(repoRoot, 'dist', 'test', 'fixtures', 'store-crash-writer.js')
    : join(repoRoot, 'test', 'fixtures', 'store-crash-writer.ts');
  const pre = runningFromDist ? [] : ['--import', 'tsx'];
  return { command: process.execPath, args: [...pre, script, dataDir, '150'] };
}

/** Runs the writer until it has acknowledged `minAcks` commits, then SIGKILLs it. */
async function runAndKill(dataDir: string, minAcks: number): Promise<string[]> {
  const { command, args } = writerCommand(dataDir);
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const acked: string[] = [];
  let partial = '';
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      const lines = (partial + d.toString()).split('\n');
      partial = lines.pop() ?? '';
      for (const l of lines) if (l.startsWith('ack ')) acked.push(l.slice(4));
      if (acked.length >= minAcks) {
        child.kill('SIGKILL');
        resolve();
      }
    });
    child.once('exit', (code, signal) => {
      if (signal !== 'SIGKILL') reject(new Error(`writer exited early (${code}): ${stderr}`));
    });
  });
  await new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r(null) : child.once('exit', r)));
  return acked;
}

test('SIGKILL during 32 concurrent writers: every acknowledged commit survives, unchanged', async () => {
  await using dir = await tempDir('fetchml-crash-');
  const seen = new Set<string>();
  // Two crash rounds: the second starts from the recovered state of the first.
  for (const round of [1, 2]) {
    const acked = await runAndKill(dir.path, 600 * round);
    for (const id of acked) seen.add(id);
    const store = await openJournalStore({ dataDir: dir.path });
    try {
      for (const id of seen) assert.deepEqual(store.get('meta', id), expectedValue(id), `round ${round}: ${id}`);
      assert.ok(store.count('meta') >= seen.size);
      const audit = await store.verifyAudit();
      assert.equal(audit.valid, true, audit.reason);
      assert.ok(audit.total_events >= store.count('meta'), 'every stored record has its audit event');
      const resources = new Set(store.auditEvents({ limit: 1e9, offset: 0 }).events.map((e) => e.resource));
      for (const id of seen) assert.ok(resources.has(id), `audit event for ${id}`);
    } finally {
      await store.close();
    }
  }
});
