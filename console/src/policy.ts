// A key policy checked in the browser before it is sent: valid JSON, and the shape of a policy
// (Statement, Effect, Principal, Action). cofferd checks the grammar fully; this catches typing
// mistakes with a message that points at them.

export function checkPolicy(text: string): string[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    return [`This is not valid JSON: ${(e as Error).message}${position(text, e as Error)}`];
  }
  const problems: string[] = [];
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) return ['A policy is a JSON object: { "Version": …, "Statement": [ … ] }.'];
  const p = doc as Record<string, unknown>;
  if (p.Version !== undefined && p.Version !== '2012-10-17' && p.Version !== '2008-10-17') {
    problems.push('"Version" must be "2012-10-17".');
  }
  const st = p.Statement;
  if (st === undefined) return [...problems, 'The policy has no "Statement".'];
  const list = Array.isArray(st) ? st : [st];
  if (!list.length) problems.push('"Statement" is empty: the policy would allow nothing.');
  list.forEach((s, i) => {
    const n = `Statement ${i + 1}`;
    if (!s || typeof s !== 'object' || Array.isArray(s)) {
      problems.push(`${n} is not an object.`);
      return;
    }
    const r = s as Record<string, unknown>;
    if (r.Effect !== 'Allow' && r.Effect !== 'Deny') problems.push(`${n}: "Effect" must be "Allow" or "Deny".`);
    if (r.Principal === undefined && r.NotPrincipal === undefined) problems.push(`${n}: a key policy statement needs a "Principal".`);
    if (r.Action === undefined && r.NotAction === undefined) problems.push(`${n}: it needs an "Action" (for example "kms:*").`);
    if (r.Resource === undefined && r.NotResource === undefined) problems.push(`${n}: it needs a "Resource" (in a key policy, "*" is this key).`);
  });
  return problems;
}

function position(text: string, e: Error): string {
  const m = /position (\d+)/.exec(e.message);
  if (!m || /line \d+/.test(e.message)) return '';
  const before = text.slice(0, Number(m[1]));
  const line = before.split('\n').length;
  const col = before.length - before.lastIndexOf('\n');
  return ` (line ${line}, column ${col})`;
}

/** PutKeyPolicy's refusal of a policy that would take kms:PutKeyPolicy away from the caller. */
export function isLockout(type: string, message: string): boolean {
  return type === 'MalformedPolicyDocumentException' && /will not allow you to update the key policy|lock/i.test(message);
}
