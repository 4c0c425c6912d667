// A key policy checked in the browser before it is sent: valid JSON, and the shape of a policy
// (Statement, Effect, Principal, Action). cofferd checks the grammar fully; this catches typing
// mistakes with a message that points at them.

export function checkPolicy(text: string): string[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return [`This is not valid JSON: ${jsonMistake(text)}`];
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

/** Where a text stops being JSON, said for a person: what was expected, at which line and column. */
export function jsonMistake(text: string): string {
  let i = 0;
  const fail = (what: string): never => {
    throw new Error(what);
  };
  const ws = (): void => {
    while (i < text.length && ' \t\n\r'.includes(text[i])) i++;
  };
  const str = (): void => {
    i++; // the opening quote
    while (i < text.length && text[i] !== '"') {
      if (text[i] === '\\') {
        i++;
        if (!'"\\/bfnrtu'.includes(text[i] ?? '')) fail('a valid escape after \\');
      } else if (text.charCodeAt(i) < 0x20) fail('the closing " of the string (a line break is not allowed inside one)');
      i++;
    }
    if (i >= text.length) fail('the closing " of the string');
    i++;
  };
  const value = (): void => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      ws();
      if (text[i] === '}') return void i++;
      for (;;) {
        ws();
        if (text[i] !== '"') fail(text[i] === '}' ? 'another member after the comma (a trailing comma is not allowed)' : 'a member name in double quotes');
        str();
        ws();
        if (text[i] !== ':') fail('a colon after the member name');
        i++;
        value();
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === '}') return void i++;
        else fail('a comma or a closing }');
      }
    } else if (c === '[') {
      i++;
      ws();
      if (text[i] === ']') return void i++;
      for (;;) {
        if (text.slice(i).trimStart().startsWith(']')) fail('another value after the comma (a trailing comma is not allowed)');
        value();
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === ']') return void i++;
        else fail('a comma or a closing ]');
      }
    } else if (c === '"') str();
    else {
      const m = /^(-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?|true|false|null)/.exec(text.slice(i));
      if (!m) fail(c === undefined ? 'more text (the document ends too early)' : 'a value (a string in double quotes, a number, true, false, null, an object or an array)');
      i += m![0].length;
    }
  };
  try {
    value();
    ws();
    if (i < text.length) fail('the end of the document');
    return 'it could not be read.';
  } catch (e) {
    const before = text.slice(0, i);
    const line = before.split('\n').length;
    const col = i - before.lastIndexOf('\n');
    return `expected ${(e as Error).message} at line ${line}, column ${col}.`;
  }
}

/** PutKeyPolicy's refusal of a policy that would take kms:PutKeyPolicy away from the caller. */
export function isLockout(type: string, message: string): boolean {
  return type === 'MalformedPolicyDocumentException' && /will not allow you to update the key policy|lock/i.test(message);
}
