// SigV4 for the test's own calls to cofferd (CofferAdmin.CreateCredential), with node:crypto.
import { createHash, createHmac } from 'node:crypto';

const sha = (s) => createHash('sha256').update(s).digest('hex');
const mac = (k, s) => createHmac('sha256', k).update(s).digest();

/** POSTs a JSON 1.1 request `target` to `endpoint`, signed with `cred`; returns {status, body}. */
export async function awsJson(endpoint, cred, target, request) {
  const url = new URL('/', endpoint);
  const body = JSON.stringify(request);
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
  const day = stamp.slice(0, 8);
  const headers = {
    'content-type': 'application/x-amz-json-1.1',
    host: url.host,
    'x-amz-date': stamp,
    'x-amz-target': target,
  };
  const names = Object.keys(headers).sort();
  const canonical = ['POST', '/', '', names.map((n) => `${n}:${headers[n]}\n`).join(''), names.join(';'), sha(body)].join('\n');
  const scope = `${day}/${cred.region}/kms/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', stamp, scope, sha(canonical)].join('\n');
  let k = mac('AWS4' + cred.secret_access_key, day);
  for (const part of [cred.region, 'kms', 'aws4_request']) k = mac(k, part);
  const signature = createHmac('sha256', k).update(toSign).digest('hex');
  const res = await fetch(url, {
    method: 'POST',
    headers: {
      ...headers,
      authorization: `AWS4-HMAC-SHA256 Credential=${cred.access_key_id}/${scope}, SignedHeaders=${names.join(';')}, Signature=${signature}`,
    },
    body,
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : {} };
}
