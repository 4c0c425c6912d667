// The web console in a real Chromium against a real cofferd (started by run-browser-tests.sh,
// which passes COFFER_ENDPOINT and COFFER_ADMIN_CREDENTIALS). One walk through the console as an
// operator would: every step waits for what the page shows (an element, a text, a response),
// never for time. Screenshots of each page go to docs/console/.
//
//   console/run-browser-tests.sh   (node --test --test-concurrency=1 tests/console.test.mjs, with
//   COFFER_ENDPOINT and COFFER_ADMIN_CREDENTIALS set)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { awsJson } from './sigv4.mjs';
import { createRequire } from 'node:module';

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const a11yProblems = [];

const here = dirname(fileURLToPath(import.meta.url));
const shots = process.env.SCREENSHOT_DIR ?? join(here, '../../docs/console');
const endpoint = process.env.COFFER_ENDPOINT;
const admin = JSON.parse(readFileSync(process.env.COFFER_ADMIN_CREDENTIALS, 'utf8'));
const consoleUrl = new URL('/console/', endpoint).toString();
const TIMEOUT = 15_000;

let browser;
let adminCtx;
let page; // the administrator's tab
let auditor; // a second principal: every kms action but kms:PutKeyPolicy
let keyId;
const cspViolations = [];

function watch(p) {
  p.on('console', (msg) => {
    if (/Content Security Policy|Refused to (execute|apply|load|connect)/i.test(msg.text())) cspViolations.push(msg.text());
  });
  p.on('pageerror', (err) => cspViolations.push(`page error: ${err.message}`));
}

async function newTab() {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 }, reducedMotion: 'reduce' });
  ctx.setDefaultTimeout(TIMEOUT);
  const p = await ctx.newPage();
  watch(p);
  return { ctx, p };
}

/** axe-core's WCAG 2.1 A/AA checks on the page as it stands (injected through the DevTools protocol, not a script tag: the CSP stays on). */
async function a11y(p, name) {
  if (!(await p.evaluate(() => 'axe' in window))) await p.evaluate(axeSource);
  const found = await p.evaluate(async () => {
    const r = await window.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } });
    return r.violations.map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}`);
  });
  for (const f of found) a11yProblems.push(`${name}: ${f}`);
}

async function shot(p, name, fullPage = true) {
  await a11y(p, name);
  await p.screenshot({ path: join(shots, `${name}.png`), fullPage, animations: 'disabled', caret: 'hide' });
}

async function signIn(p, cred, { keyboard = false } = {}) {
  await p.goto(consoleUrl);
  await p.getByRole('heading', { name: 'Sign in to coffer' }).waitFor();
  const answer = p.waitForResponse((r) => r.url().endsWith('/console/api/session') && r.request().method() === 'POST');
  if (keyboard) {
    // The way a keyboard user does it: the first field has focus, Tab moves on, Enter submits.
    await p.waitForFunction(() => document.activeElement?.getAttribute('name') === 'accessKeyId');
    await p.keyboard.type(cred.access_key_id);
    await p.keyboard.press('Tab');
    assert.equal(await p.evaluate(() => document.activeElement.getAttribute('name')), 'secretAccessKey');
    assert.notEqual(await p.evaluate(() => getComputedStyle(document.activeElement).outlineStyle), 'none', 'focus is visible');
    await p.keyboard.type(cred.secret_access_key);
    await p.keyboard.press('Enter');
  } else {
    await p.getByLabel('Access key id').fill(cred.access_key_id);
    await p.getByLabel('Secret access key').fill(cred.secret_access_key);
    await p.getByLabel('Region').fill(cred.region);
    await p.getByRole('button', { name: 'Sign in' }).click();
  }
  assert.equal((await answer).status(), 200, 'the sign-in is accepted');
  await p.getByRole('button', { name: 'Sign out' }).waitFor();
}

/** The alert (role=alert) in the section headed `section` that contains `text`. */
function alertIn(p, section, text) {
  return p.getByRole('region', { name: section }).getByRole('alert').filter({ hasText: text });
}

async function kmsAnswer(p, op, action) {
  const answer = p.waitForResponse((r) => r.url().endsWith('/console/api/kms') && r.request().headers()['x-amz-target'] === `TrentService.${op}`);
  await action();
  return answer;
}

before(async () => {
  mkdirSync(shots, { recursive: true });
  // The second principal, made with the bootstrap administrator: an identity policy allowing
  // kms:* but denying kms:PutKeyPolicy (the default key policy lets the account's identity
  // policies decide).
  const policy = JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      { Effect: 'Allow', Action: 'kms:*', Resource: '*' },
      { Effect: 'Deny', Action: 'kms:PutKeyPolicy', Resource: '*' },
    ],
  });
  const made = await awsJson(endpoint, admin, 'CofferAdmin.CreateCredential', {
    PrincipalArn: `arn:aws:iam::${admin.account_id}:user/console-auditor`,
    IdentityPolicies: [policy],
    Description: 'browser tests: everything but kms:PutKeyPolicy',
  });
  assert.equal(made.status, 200, JSON.stringify(made.body));
  auditor = {
    access_key_id: made.body.AccessKeyId,
    secret_access_key: made.body.SecretAccessKey,
    region: made.body.Region ?? admin.region,
  };
  // More keys than one page holds (50), so that paging is exercised.
  for (let i = 0; i < 52; i++) {
    const spec = ['SYMMETRIC_DEFAULT', 'HMAC_256', 'ECC_NIST_P256', 'ECC_NIST_EDWARDS25519'][i % 4];
    const usage = { SYMMETRIC_DEFAULT: 'ENCRYPT_DECRYPT', HMAC_256: 'GENERATE_VERIFY_MAC', ECC_NIST_P256: 'SIGN_VERIFY', ECC_NIST_EDWARDS25519: 'SIGN_VERIFY' }[spec];
    const k = await awsJson(endpoint, admin, 'TrentService.CreateKey', {
      KeySpec: spec,
      KeyUsage: usage,
      Description: `service ${String(i).padStart(2, '0')}`,
      Tags: [{ TagKey: 'env', TagValue: i % 2 ? 'prod' : 'staging' }],
    });
    assert.equal(k.status, 200, JSON.stringify(k.body));
  }
  // Throttled requests for the dashboard: UpdateKeyDescription allows one call (run-browser-tests.sh).
  const some = (await awsJson(endpoint, admin, 'TrentService.ListKeys', { Limit: 1 })).body.Keys[0].KeyId;
  const throttled = [];
  for (let i = 0; i < 6; i++) {
    throttled.push((await awsJson(endpoint, admin, 'TrentService.UpdateKeyDescription', { KeyId: some, Description: 'service 00' })).body.__type ?? 'ok');
  }
  assert.deepEqual(throttled, ['ok', ...Array(5).fill('ThrottlingException')]);
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  ({ ctx: adminCtx, p: page } = await newTab());
});

after(async () => {
  await browser?.close();
});

test('sign-in signs in the browser and keeps no secret', async () => {
  const served = await page.goto(consoleUrl);
  assert.match(served.headers()['content-security-policy'] ?? '', /script-src 'self'.*style-src 'self'/, 'the page is served under the CSP');
  await page.getByRole('heading', { name: 'Sign in to coffer' }).waitFor();
  assert.equal(await page.getByLabel('Region').inputValue(), admin.region, "the server's region, from GET session's 401");
  await page.getByLabel('Access key id').fill(admin.access_key_id);
  await shot(page, 'sign-in');
  // A wrong secret: refused by cofferd, said in words, and the field is emptied.
  await page.getByLabel('Secret access key').fill('not-the-secret-access-key-0000000000000000');
  await page.getByRole('button', { name: 'Sign in' }).click();
  const refused = page.getByRole('alert').filter({ hasText: 'Sign-in failed.' });
  await refused.waitFor();
  assert.match(await refused.innerText(), /secret access key does not match|InvalidSignature|SignatureDoesNotMatch/);
  assert.equal(await page.getByLabel('Secret access key').inputValue(), '');
  await signIn(page, admin);
  await page.getByRole('heading', { name: 'Keys', level: 1 }).waitFor();
  const kept = await page.evaluate(() => ({
    local: JSON.stringify({ ...localStorage }),
    session: JSON.stringify({ ...sessionStorage }),
    url: location.href,
    cookie: document.cookie,
    inputs: [...document.querySelectorAll('input')].map((i) => i.value).join('\n'),
  }));
  for (const [where, v] of Object.entries(kept)) {
    assert.ok(!v.includes(admin.secret_access_key), `the secret is not in ${where}`);
  }
  assert.equal(kept.cookie, '', 'the session cookie is HttpOnly');
  // A reload keeps the session (the cookie) and gets the CSRF token again.
  await page.reload();
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
  await page.getByRole('heading', { name: 'Keys', level: 1 }).waitFor();
});

test('create a key', async () => {
  await page.getByRole('link', { name: 'Create key' }).first().click();
  await page.getByRole('heading', { name: 'Create a key' }).waitFor();
  // Every spec offers only its allowed usages.
  await page.getByLabel('Key spec').selectOption('ECC_NIST_P256');
  assert.deepEqual(await page.getByLabel('Key usage').locator('option').evaluateAll((o) => o.map((x) => x.value)), ['SIGN_VERIFY', 'KEY_AGREEMENT']);
  await page.getByLabel('Key spec').selectOption('SYMMETRIC_DEFAULT');
  assert.deepEqual(await page.getByLabel('Key usage').locator('option').evaluateAll((o) => o.map((x) => x.value)), ['ENCRYPT_DECRYPT']);
  await page.getByLabel('Description (optional)').fill('orders database');
  await page.getByLabel('Tags (optional)').fill('team=payments\nenv=test');
  await shot(page, 'create-key');
  const answer = await kmsAnswer(page, 'CreateKey', () => page.getByRole('button', { name: 'Create key' }).click());
  assert.equal(answer.status(), 200);
  keyId = (await answer.json()).KeyMetadata.KeyId;
  await page.getByRole('heading', { name: `Key ${keyId}` }).waitFor();
  await page.getByRole('region', { name: 'Details' }).getByText('orders database').waitFor();
  // An alias, for the keys list.
  const aliases = page.getByRole('region', { name: 'Aliases' });
  await aliases.getByLabel('New alias').fill('alias/orders');
  await aliases.getByRole('button', { name: 'Create alias' }).click();
  await aliases.getByText('alias/orders', { exact: true }).waitFor();
});

test('the key policy: a malformed document is caught here, a lockout is refused and explained, a valid one is saved', async () => {
  const editor = page.getByLabel('Policy document (JSON)');
  await page.waitForFunction(() => document.querySelector('textarea[name=policy]')?.value.includes('Statement'));
  const original = JSON.parse(await editor.inputValue());

  // Not JSON: refused in the page, nothing sent.
  let sent = 0;
  const count = (r) => { if (r.headers()['x-amz-target'] === 'TrentService.PutKeyPolicy') sent += 1; };
  page.on('request', count);
  await editor.fill('{"Version": "2012-10-17", "Statement": [');
  await page.getByRole('button', { name: 'Save policy' }).click();
  await alertIn(page, 'Key policy', 'This is not valid JSON').waitFor();
  page.off('request', count);
  assert.equal(sent, 0, 'an invalid document is not sent');

  // A policy that takes kms:PutKeyPolicy away from the caller.
  const lockout = {
    Version: '2012-10-17',
    Statement: [{ Sid: 'EncryptOnly', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${admin.account_id}:root` }, Action: 'kms:Encrypt', Resource: '*' }],
  };
  await editor.fill(JSON.stringify(lockout, null, 2));
  const refused = await kmsAnswer(page, 'PutKeyPolicy', () => page.getByRole('button', { name: 'Save policy' }).click());
  assert.equal(refused.status(), 400);
  assert.equal((await refused.json()).__type, 'MalformedPolicyDocumentException');
  const box = alertIn(page, 'Key policy', 'this policy would lock you out of the key');
  await box.waitFor();
  const text = await box.innerText();
  assert.match(text, /would no longer be allowed kms:PutKeyPolicy/);
  assert.match(text, /will not allow you to update the key policy/, "the server's own message is shown");
  await a11y(page, 'policy-lockout');
  await page.getByRole('region', { name: 'Key policy' }).screenshot({ path: join(shots, 'policy-lockout.png'), animations: 'disabled', caret: 'hide' });

  // A valid policy: the original plus a statement for the second principal.
  original.Statement.push({
    Sid: 'AuditorDescribes',
    Effect: 'Allow',
    Principal: { AWS: `arn:aws:iam::${admin.account_id}:user/console-auditor` },
    Action: ['kms:DescribeKey', 'kms:GetKeyPolicy'],
    Resource: '*',
  });
  await editor.fill(JSON.stringify(original, null, 2));
  const saved = await kmsAnswer(page, 'PutKeyPolicy', () => page.getByRole('button', { name: 'Save policy' }).click());
  assert.equal(saved.status(), 200);
  await page.getByRole('region', { name: 'Key policy' }).getByText('Policy saved.').waitFor();
  assert.equal(await alertIn(page, 'Key policy', '').count(), 0, 'the lockout message is gone');
});

test('rotation: on demand, then automatic every 180 days', async () => {
  const rotation = page.getByRole('region', { name: 'Rotation' });
  await rotation.getByRole('button', { name: 'Rotate now' }).click();
  await rotation.getByRole('table', { name: 'Rotation history' }).getByRole('cell', { name: 'On demand' }).waitFor();
  await rotation.getByLabel('Rotate this key automatically').check();
  await rotation.getByLabel('Rotation period (days, 90–2560)').fill('180');
  const answer = await kmsAnswer(page, 'EnableKeyRotation', () => rotation.getByRole('button', { name: 'Save rotation settings' }).click());
  assert.equal(answer.status(), 200);
  assert.equal(JSON.parse(answer.request().postData()).RotationPeriodInDays, 180);
  await rotation.getByText('Next automatic rotation').waitFor();
  assert.equal(await rotation.getByLabel('Rotate this key automatically').isChecked(), true);
  assert.equal(await rotation.getByLabel('Rotation period (days, 90–2560)').inputValue(), '180');
  await shot(page, 'key');
  // Out of range: refused in the page.
  await rotation.getByLabel('Rotation period (days, 90–2560)').fill('30');
  await rotation.getByRole('button', { name: 'Save rotation settings' }).click();
  await alertIn(page, 'Rotation', 'from 90 to 2560').waitFor();
  await rotation.getByLabel('Rotation period (days, 90–2560)').fill('180');
});

test('aliases, tags and grants: add and remove', async () => {
  // Two grants, made with the API as an application would; the page lists them after a reload.
  for (const name of ['orders-app', 'orders-batch']) {
    const g = await awsJson(endpoint, admin, 'TrentService.CreateGrant', {
      KeyId: keyId,
      GranteePrincipal: `arn:aws:iam::${admin.account_id}:user/console-auditor`,
      Operations: ['Encrypt', 'Decrypt'],
      Name: name,
    });
    assert.equal(g.status, 200, JSON.stringify(g.body));
  }
  await page.reload();
  await page.locator('main[aria-busy="false"]').waitFor();
  const grants = page.getByRole('region', { name: 'Grants' });
  assert.equal(await grants.locator('tbody tr').count(), 2);
  await grants.getByRole('button', { name: 'Revoke grant orders-batch' }).click();
  await grants.getByRole('button', { name: 'Revoke grant orders-batch' }).waitFor({ state: 'detached' });
  assert.equal(await grants.locator('tbody tr').count(), 1);
  await grants.getByRole('rowheader', { name: /orders-app/ }).waitFor();

  const tags = page.getByRole('region', { name: 'Tags' });
  await tags.getByLabel('Tag key').fill('owner');
  await tags.getByLabel('Tag value').fill('alice');
  await tags.getByRole('button', { name: 'Add tag' }).click();
  await tags.getByRole('rowheader', { name: 'owner' }).waitFor();
  await tags.getByRole('button', { name: 'Remove tag env' }).click();
  await tags.getByRole('rowheader', { name: 'env' }).waitFor({ state: 'detached' });
  assert.deepEqual((await tags.getByRole('rowheader').allInnerTexts()).sort(), ['owner', 'team']);

  const aliases = page.getByRole('region', { name: 'Aliases' });
  await aliases.getByLabel('New alias').fill('alias/orders-old');
  await aliases.getByRole('button', { name: 'Create alias' }).click();
  await aliases.getByRole('button', { name: 'Delete alias alias/orders-old' }).click();
  await aliases.getByText('alias/orders-old', { exact: true }).waitFor({ state: 'detached' });
  await aliases.getByText('alias/orders', { exact: true }).waitFor();
});

test('a principal without kms:PutKeyPolicy cannot save a policy', async () => {
  const { ctx, p } = await newTab();
  try {
    await signIn(p, auditor, { keyboard: true });
    await p.goto(`${consoleUrl}#/keys/${keyId}`);
    await p.getByRole('heading', { name: `Key ${keyId}` }).waitFor();
    await p.waitForFunction(() => document.querySelector('textarea[name=policy]')?.value.includes('Statement'));
    const editor = p.getByLabel('Policy document (JSON)');
    await editor.fill((await editor.inputValue()).replace('AuditorDescribes', 'AuditorWantsMore'));
    const refused = await kmsAnswer(p, 'PutKeyPolicy', () => p.getByRole('button', { name: 'Save policy' }).click());
    assert.equal(refused.status(), 400);
    const box = alertIn(p, 'Key policy', 'You are not allowed to do this');
    await box.waitFor();
    assert.match(await box.innerText(), /AccessDeniedException/);
    // A session that is gone (here: its cookie dropped) brings the sign-in page back at the next call.
    await p.locator('main[aria-busy="false"]').waitFor();
    await ctx.clearCookies();
    await p.getByRole('link', { name: 'Dashboard' }).click();
    await p.getByRole('heading', { name: 'Sign in to coffer' }).waitFor();
  } finally {
    await ctx.close();
  }
});

test('disable the key, then schedule its deletion', async () => {
  const status = page.getByRole('region', { name: 'Status' });
  await status.getByRole('button', { name: 'Disable key' }).click();
  await status.getByRole('button', { name: 'Enable key' }).waitFor();
  assert.match(await page.getByRole('region', { name: 'Details' }).locator('.badge').innerText(), /Disabled/);
  await status.getByLabel('Waiting period (days, 7–30)').fill('7');
  await status.getByRole('button', { name: 'Schedule deletion' }).click();
  await alertIn(page, 'Status', 'Tick the box').waitFor();
  await status.getByLabel(/I understand/).check();
  const answer = await kmsAnswer(page, 'ScheduleKeyDeletion', () => status.getByRole('button', { name: 'Schedule deletion' }).click());
  assert.equal(answer.status(), 200);
  assert.equal(JSON.parse(answer.request().postData()).PendingWindowInDays, 7);
  await status.getByRole('button', { name: 'Cancel deletion' }).waitFor();
  await page.getByRole('region', { name: 'Details' }).getByText('Pending deletion').waitFor();
});

test('the keys list: 50 a page, the key with its alias, tags and state; filter and sort on the page', async () => {
  await page.getByRole('link', { name: 'Keys', exact: true }).click();
  await page.getByRole('heading', { name: 'Keys', level: 1 }).waitFor();
  await page.getByText(/^Page 1: /).waitFor();
  assert.equal(await page.locator('tbody tr[data-key-id]').count(), 50, 'one page is 50 keys');
  const row = page.locator(`tr[data-key-id="${keyId}"]`);
  // 53 keys: ours is on the first page or the second.
  if ((await row.count()) === 0) {
    await page.getByRole('button', { name: 'Next page' }).click();
    await page.getByText(/^Page 2: /).waitFor();
    assert.equal(await page.locator('tbody tr[data-key-id]').count(), 3);
  } else {
    await page.getByRole('button', { name: 'Next page' }).click();
    await page.getByText(/^Page 2: /).waitFor();
    assert.equal(await page.locator('tbody tr[data-key-id]').count(), 3);
    await page.getByRole('button', { name: 'Previous page' }).click();
    await page.getByText(/^Page 1: /).waitFor();
  }
  await row.getByText('Pending deletion').waitFor();
  await row.getByText('team=payments').waitFor();
  await row.getByText('owner=alice').waitFor();
  await row.getByRole('link', { name: 'alias/orders' }).waitFor();
  await page.locator('table.keys[aria-busy="false"]').waitFor();
  // Newest first by default: the key just made heads its page.
  assert.equal(await page.locator('tbody tr[data-key-id]').first().getAttribute('data-key-id'), keyId);
  await shot(page, 'keys', false);
  await page.getByLabel('Filter this page').fill('orders');
  assert.equal(await page.locator('tbody tr[data-key-id]').count(), 1);
  await page.getByLabel('Filter this page').fill('no such key anywhere');
  await page.getByText('No key on this page matches the filter.').waitFor();
  await page.getByLabel('Filter this page').fill('');
  await page.getByLabel('State').selectOption('PendingDeletion');
  assert.deepEqual(await page.locator('tbody tr[data-key-id]').evaluateAll((r) => r.map((x) => x.dataset.keyId)), [keyId]);
  await page.getByLabel('State').selectOption('');
  await page.getByRole('button', { name: /^Created/ }).click();
  await page.locator('th[aria-sort="ascending"]').waitFor();
  assert.notEqual(await page.locator('tbody tr[data-key-id]').first().getAttribute('data-key-id'), keyId, 'oldest first now');
});

test('the audit trail holds each action, with its verification status in words', async () => {
  await page.getByRole('link', { name: 'Audit trail' }).click();
  await page.getByRole('heading', { name: 'Audit trail' }).waitFor();
  await page.getByLabel('Key id or ARN').fill(keyId);
  await page.getByLabel('Events per page').selectOption('100');
  const answer = page.waitForResponse((r) => r.url().includes('/console/api/audit?') && r.url().includes(keyId));
  await page.getByRole('button', { name: 'Show events' }).click();
  assert.equal((await answer).status(), 200);
  const table = page.getByRole('table', { name: 'Audit events, newest first' });
  await table.locator('tr[data-operation="ScheduleKeyDeletion"]').first().waitFor();
  const rows = await table.locator('tbody tr[data-operation]').evaluateAll((trs) =>
    trs.map((tr) => ({ op: tr.dataset.operation, outcome: tr.dataset.outcome, text: tr.innerText })),
  );
  const has = (op, outcome) => rows.some((r) => r.op === op && (!outcome || r.outcome === outcome));
  for (const op of ['CreateKey', 'RotateKeyOnDemand', 'EnableKeyRotation', 'DisableKey', 'ScheduleKeyDeletion']) {
    assert.ok(has(op, 'allowed'), `${op} is in the audit trail as allowed`);
  }
  assert.ok(has('PutKeyPolicy', 'allowed'), 'the saved policy is in the audit trail');
  assert.ok(rows.some((r) => r.op === 'PutKeyPolicy' && r.outcome === 'error' && r.text.includes('MalformedPolicyDocumentException')), 'the refused lockout is in the audit trail');
  assert.ok(rows.some((r) => r.op === 'PutKeyPolicy' && r.outcome === 'denied' && r.text.includes('console-auditor')), "the second principal's refused save is in the audit trail");
  for (const r of rows) assert.match(r.text, /Verified|Pending|Failed/, 'each record says its verification status in words');
  assert.ok(!rows.some((r) => /Failed/.test(r.text)), 'no record fails verification');
  // The policy saves only, one record opened: the refused lockout.
  await page.getByLabel('Operation').fill('PutKeyPolicy');
  const again = page.waitForResponse((r) => r.url().includes('/console/api/audit?') && r.url().includes('operation=PutKeyPolicy'));
  await page.getByRole('button', { name: 'Show events' }).click();
  assert.equal((await again).status(), 200);
  await page.locator('#main').getByText(/^3 events shown/).waitFor();
  assert.deepEqual(await table.locator('tbody tr[data-operation]').evaluateAll((trs) => trs.map((tr) => tr.dataset.outcome)), ['denied', 'allowed', 'error']);
  const refusedRow = table.locator('tr[data-operation="PutKeyPolicy"][data-outcome="error"]');
  const toggle = refusedRow.getByRole('button', { name: /the record of PutKeyPolicy/ });
  await toggle.click();
  assert.equal(await toggle.getAttribute('aria-expanded'), 'true');
  const record = table.locator(`#${await toggle.getAttribute('aria-controls')} pre.record`);
  await record.waitFor();
  assert.match(await record.innerText(), /MalformedPolicyDocumentException/);
  await shot(page, 'audit');
});

test('the dashboard draws request, error and throttle rates', async () => {
  await page.getByRole('link', { name: 'Dashboard' }).click();
  await page.getByRole('heading', { name: 'Dashboard' }).waitFor();
  await page.getByRole('table', { name: /Requests per operation/ }).getByRole('rowheader', { name: 'CreateKey' }).waitFor();
  assert.equal(await page.locator('svg.chart[role=img]').count(), 3);
  const updates = page.getByRole('row', { name: /^UpdateKeyDescription/ });
  assert.deepEqual(await updates.getByRole('cell').allInnerTexts(), ['6', '5', '5'], 'requests, errors, throttled');
  for (const name of ['Requests per second', 'Errors per second', 'Throttled requests per second']) {
    await page.getByRole('img', { name: new RegExp(name) }).waitFor();
  }
  await page.getByLabel('Show').selectOption('300');
  await page.getByText(/samples shown/).waitFor();
  await shot(page, 'dashboard');
});

test('sign out: the session is over and the API refuses it', async () => {
  const [cookie] = await adminCtx.cookies(consoleUrl);
  assert.ok(cookie, 'a session cookie was set');
  assert.equal(cookie.httpOnly, true);
  assert.equal(cookie.secure, true);
  assert.equal(cookie.sameSite, 'Strict');
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('heading', { name: 'Sign in to coffer' }).waitFor();
  const status = await page.evaluate(async () => (await fetch('/console/api/session')).status);
  assert.equal(status, 401);
  // The old cookie, replayed by hand, no longer opens anything.
  const replay = await fetch(new URL('/console/api/session', endpoint), { headers: { cookie: `${cookie.name}=${cookie.value}` } });
  assert.equal(replay.status, 401);
  const call = await fetch(new URL('/console/api/kms', endpoint), {
    method: 'POST',
    headers: { cookie: `${cookie.name}=${cookie.value}`, 'x-amz-target': 'TrentService.ListKeys', 'content-type': 'application/x-amz-json-1.1' },
    body: '{}',
  });
  assert.equal(call.status, 401);
});

test('no Content-Security-Policy violation or script error on any page', () => {
  assert.deepEqual(cspViolations, []);
});

test('no WCAG 2.1 A/AA violation found by axe-core on any page', () => {
  assert.deepEqual(a11yProblems, []);
});
