// The node daemon's command helper (src/cluster/cmdrunner.ts): quoting, and `ip` runs through
// a helper shell giving the same results as direct runs. Needs iproute2, not root.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { CommandHelperPool, ShellCommandRunner, helperCommand } from '../../src/cluster/cmdrunner.js';

test('helperCommand passes argv and input through sh unchanged', () => {
  const input = 'a\\b %s %% \'q\' "d" $HOME `x` \\n\n\tline2\r\n\\0101 end';
  const cmd = helperCommand(['cat'], input);
  assert.equal(execFileSync('/bin/sh', ['-c', cmd], { encoding: 'utf8' }), input);
  const words = helperCommand(['printf', '%s|', "it's", '$(no)', 'a b'], '');
  assert.equal(execFileSync('/bin/sh', ['-c', words], { encoding: 'utf8' }), "it's|$(no)|a b|");
});

test('ip runs through the helper: output, status, stderr, several at once', async () => {
  const r = new ShellCommandRunner();
  try {
    assert.equal(r.runner(['nft', 'list', 'tables'], '', 1000), undefined, 'only ip is delegated');
    assert.equal(r.runner(['ip', '-batch', '-'], 'x'.repeat(20_000), 1000), undefined, 'large inputs are not');
    const [ok, bad, batch] = await Promise.all([
      r.runner(['ip', '-j', 'link', 'show', 'dev', 'lo'], '', 5000)!,
      r.runner(['ip', 'link', 'show', 'dev', 'pnc-no-such0'], '', 5000)!,
      r.runner(['ip', '-batch', '-'], 'link show dev lo\nlink show dev pnc-no-such1\n', 5000)!,
    ]);
    assert.equal(ok.code, 0);
    assert.equal((JSON.parse(ok.stdout) as { ifname: string }[])[0]!.ifname, 'lo');
    assert.equal(ok.stderr, '');
    assert.notEqual(bad.code, 0);
    assert.equal(bad.stdout, '');
    assert.match(bad.stderr, /pnc-no-such0/);
    assert.notEqual(batch.code, 0);
    assert.match(batch.stdout, /lo:/);
    assert.match(batch.stderr, /pnc-no-such1[\s\S]*Command failed -:2/);
    assert.equal(r.busy, 0);
  } finally {
    r.close();
  }
});

test('a pool spreads requests and closes its helpers', async () => {
  const pool = new CommandHelperPool(2);
  try {
    const all = await Promise.all(Array.from({ length: 6 }, () => pool.runner(['ip', '-V'], '', 5000)!));
    for (const res of all) assert.match(res.stdout, /iproute2/);
  } finally {
    pool.close();
  }
});
