#!/usr/bin/env python3
"""Lists the longest Rust functions under the given folders (lines from `fn` to its closing brace).

Used for the before/after figures of restructurings: `python3 scripts/fn_lengths.py crates/server/src`.
Strings, chars and comments are skipped when matching braces; test modules count like any code.
"""
import re, sys, pathlib

FN = re.compile(r'^\s*(pub(\([^)]*\))?\s+)?(const\s+)?(async\s+)?(unsafe\s+)?(extern\s+"[^"]*"\s+)?fn\s+([A-Za-z0-9_]+)')

def strip(src):
    out, i, n = [], 0, len(src)
    while i < n:
        c = src[i]
        if src.startswith('//', i):
            j = src.find('\n', i); j = n if j < 0 else j
            out.append(' ' * (j - i)); i = j
        elif src.startswith('/*', i):
            j = src.find('*/', i + 2); j = n if j < 0 else j + 2
            out.append(re.sub(r'[^\n]', ' ', src[i:j])); i = j
        elif c == 'r' and re.match(r'r#*"', src[i:i+10]) and (i == 0 or not (src[i-1].isalnum() or src[i-1] == '_')):
            m = re.match(r'r(#*)"', src[i:]); hashes = m.group(1)
            end = src.find('"' + hashes, i + len(m.group(0)))
            end = n if end < 0 else end + 1 + len(hashes)
            out.append(re.sub(r'[^\n]', ' ', src[i:end])); i = end
        elif c == '"':
            j = i + 1
            while j < n and src[j] != '"':
                j += 2 if src[j] == '\\' else 1
            out.append(re.sub(r'[^\n]', ' ', src[i:j+1])); i = j + 1
        elif c == "'" and re.match(r"'(\\.|[^\\'])'", src[i:i+4]) or (c == "'" and src.startswith("'\\", i)):
            m = re.match(r"'(\\u\{[0-9a-fA-F]+\}|\\.|[^\\'])'", src[i:])
            if m:
                out.append(' ' * len(m.group(0))); i += len(m.group(0))
            else:
                out.append(c); i += 1
        else:
            out.append(c); i += 1
    return ''.join(out)

def functions(path):
    text = strip(path.read_text())
    lines = text.split('\n')
    for idx, line in enumerate(lines):
        m = FN.match(line)
        if not m:
            continue
        depth, started = 0, False
        for j in range(idx, len(lines)):
            for ch in lines[j]:
                if ch == ';' and not started and depth == 0:
                    break
                if ch == '{':
                    depth += 1; started = True
                elif ch == '}':
                    depth -= 1
            else:
                if started and depth == 0:
                    yield (j - idx + 1, f'{path}:{idx+1}', m.group(7)); break
                continue
            break

def main():
    roots = sys.argv[1:] or ['crates']
    found = []
    for root in roots:
        for p in sorted(pathlib.Path(root).rglob('*.rs')):
            found.extend(functions(p))
    found.sort(reverse=True)
    for n, where, name in found[:10]:
        print(f'{n:5} {name} {where}')

if __name__ == '__main__':
    main()
