import { createHash, createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { amzDate, sign } from '../src/sigv4';
import { checkPolicy, isLockout } from '../src/policy';
import { rates } from '../src/chart';
import { KEY_SPECS } from '../src/specs';

describe('sigv4', () => {
  it('formats the date as SigV4 wants', () => {
    expect(amzDate(new Date(Date.UTC(2026, 11, 3, 9, 5, 7, 123)))).toEqual({ stamp: '20261203T090507Z', day: '20261203' });
  });

  it('signs exactly as an independent implementation (node:crypto) does', async () => {
    const now = new Date(Date.UTC(2015, 7, 30, 12, 36, 0));
    const secret = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY';
    const got = await sign(
      { method: 'POST', host: '127.0.0.1:4000', path: '/console/api/session', headers: { 'Content-Type': 'application/json' }, body: '{}', region: 'eu-west-1', service: 'kms', accessKeyId: 'AKIDEXAMPLE', now },
      secret,
    );
    const sha = (s: string) => createHash('sha256').update(s).digest('hex');
    const payload = sha('{}');
    const canonical = [
      'POST',
      '/console/api/session',
      '',
      `content-type:application/json\nhost:127.0.0.1:4000\nx-amz-content-sha256:${payload}\nx-amz-date:20150830T123600Z\n`,
      'content-type;host;x-amz-content-sha256;x-amz-date',
      payload,
    ].join('\n');
    const scope = '20150830/eu-west-1/kms/aws4_request';
    let k: Buffer = createHmac('sha256', 'AWS4' + secret).update('20150830').digest();
    for (const p of ['eu-west-1', 'kms', 'aws4_request']) k = createHmac('sha256', k).update(p).digest();
    const signature = createHmac('sha256', k).update(['AWS4-HMAC-SHA256', '20150830T123600Z', scope, sha(canonical)].join('\n')).digest('hex');
    expect(got).toEqual({
      'X-Amz-Date': '20150830T123600Z',
      'X-Amz-Content-Sha256': payload,
      Authorization: `AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/${scope}, SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date, Signature=${signature}`,
    });
    expect(JSON.stringify(got)).not.toContain(secret);
  });
});

describe('the policy check', () => {
  const good = JSON.stringify({
    Version: '2012-10-17',
    Statement: [{ Sid: 'Root', Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::111122223333:root' }, Action: 'kms:*', Resource: '*' }],
  });

  it('accepts a key policy', () => {
    expect(checkPolicy(good)).toEqual([]);
  });

  it('points at a JSON mistake, by line and column', () => {
    expect(checkPolicy('{\n  "Version": "2012-10-17",\n  "Statement": [,]\n}')).toEqual([
      'This is not valid JSON: expected a value (a string in double quotes, a number, true, false, null, an object or an array) at line 3, column 17.',
    ]);
    expect(checkPolicy('{"Version": "2012-10-17", "Statement": [')).toEqual([
      'This is not valid JSON: expected more text (the document ends too early) at line 1, column 41.',
    ]);
    expect(checkPolicy('{"a": 1,}')).toEqual(['This is not valid JSON: expected another member after the comma (a trailing comma is not allowed) at line 1, column 9.']);
    expect(checkPolicy("{'a': 1}")).toEqual(['This is not valid JSON: expected a member name in double quotes at line 1, column 2.']);
    expect(checkPolicy('{"a": 1} x')).toEqual(['This is not valid JSON: expected the end of the document at line 1, column 10.']);
  });

  it('names what a statement lacks', () => {
    expect(checkPolicy('{"Statement":[{"Effect":"Permit","Action":"kms:*"}]}')).toEqual([
      'Statement 1: "Effect" must be "Allow" or "Deny".',
      'Statement 1: a key policy statement needs a "Principal".',
      'Statement 1: it needs a "Resource" (in a key policy, "*" is this key).',
    ]);
    expect(checkPolicy('[]')).toEqual(['A policy is a JSON object: { "Version": …, "Statement": [ … ] }.']);
    expect(checkPolicy('{"Version":"2012-10-17"}')).toEqual(['The policy has no "Statement".']);
  });

  it("recognises cofferd's lockout refusal and nothing else", () => {
    expect(isLockout('MalformedPolicyDocumentException', 'The new key policy will not allow you to update the key policy in the future.')).toBe(true);
    expect(isLockout('MalformedPolicyDocumentException', 'Policy has invalid resource.')).toBe(false);
    expect(isLockout('AccessDeniedException', 'The new key policy will not allow you to update the key policy in the future.')).toBe(false);
  });
});

describe('the dashboard', () => {
  it('turns each 10-second count into a rate per second', () => {
    const h = [
      { t: 100, requests: 20, errors: 1, throttles: 0 },
      { t: 110, requests: 5, errors: 0, throttles: 3 },
    ];
    expect(rates(h, (x) => x.requests)).toEqual([
      { t: 100, v: 2 },
      { t: 110, v: 0.5 },
    ]);
    expect(rates(h, (x) => x.throttles).map((p) => p.v)).toEqual([0, 0.3]);
  });
});

describe('key specs', () => {
  it('offers each spec with the usages coffer allows (crates/keys/src/spec.rs), SM2 left out', () => {
    const table = Object.fromEntries(KEY_SPECS.map((s) => [s.spec, s.usages]));
    expect(Object.keys(table)).toHaveLength(19);
    expect(table.SM2).toBeUndefined();
    expect(table.RSA_2048).toEqual(['ENCRYPT_DECRYPT', 'SIGN_VERIFY']);
    expect(table.ECC_NIST_P384).toEqual(['SIGN_VERIFY', 'KEY_AGREEMENT']);
    expect(table.ECC_SECG_P256K1).toEqual(['SIGN_VERIFY']);
    expect(table.HMAC_512).toEqual(['GENERATE_VERIFY_MAC']);
    expect(table.ML_KEM_768).toEqual(['ENCAPSULATE_DECAPSULATE']);
  });
});
