// AWS Signature Version 4 in the browser, with WebCrypto only. Used once, to open a console
// session: the secret access key is turned into a signing key here and never leaves this module.

const enc = new TextEncoder();

function hex(buf: ArrayBuffer): string {
  return Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, '0')).join('');
}

async function sha256Hex(data: string): Promise<string> {
  return hex(await crypto.subtle.digest('SHA-256', enc.encode(data)));
}

async function hmac(key: BufferSource, data: string): Promise<ArrayBuffer> {
  const k = await crypto.subtle.importKey('raw', key, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  return crypto.subtle.sign('HMAC', k, enc.encode(data));
}

/** `20261203T101500Z` and `20261203` for a time. */
export function amzDate(now: Date): { stamp: string; day: string } {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
  return { stamp, day: stamp.slice(0, 8) };
}

export interface SignInput {
  method: string;
  host: string;
  path: string;
  headers: Record<string, string>;
  body: string;
  region: string;
  service: string;
  accessKeyId: string;
  now: Date;
}

/** The headers to add to the request: `X-Amz-Date`, `X-Amz-Content-Sha256` and `Authorization`. */
export async function sign(input: SignInput, secretAccessKey: string): Promise<Record<string, string>> {
  const { stamp, day } = amzDate(input.now);
  const payloadHash = await sha256Hex(input.body);
  const all: Record<string, string> = {};
  for (const [k, v] of Object.entries(input.headers)) all[k.toLowerCase()] = v.trim();
  all['host'] = input.host;
  all['x-amz-date'] = stamp;
  all['x-amz-content-sha256'] = payloadHash;
  const names = Object.keys(all).sort();
  const canonicalHeaders = names.map((n) => `${n}:${all[n]}\n`).join('');
  const signedHeaders = names.join(';');
  const canonicalRequest = [
    input.method,
    input.path.split('/').map((s) => encodeURIComponent(decodeURIComponent(s))).join('/'),
    '',
    canonicalHeaders,
    signedHeaders,
    payloadHash,
  ].join('\n');
  const scope = `${day}/${input.region}/${input.service}/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', stamp, scope, await sha256Hex(canonicalRequest)].join('\n');
  let key = await hmac(enc.encode('AWS4' + secretAccessKey), day);
  key = await hmac(key, input.region);
  key = await hmac(key, input.service);
  key = await hmac(key, 'aws4_request');
  const signature = hex(await hmac(key, toSign));
  return {
    'X-Amz-Date': stamp,
    'X-Amz-Content-Sha256': payloadHash,
    Authorization: `AWS4-HMAC-SHA256 Credential=${input.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`,
  };
}
