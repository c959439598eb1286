/**
 * JSON as Python's `json` module reads and writes it: the non-standard tokens `NaN`, `Infinity` and
 * `-Infinity` (diffusers saves `lambda_min_clipped: -Infinity`) are accepted and produced.
 */

const SENTINEL = '\u0000tessera-number:';

/** Parses JSON that may contain Python's `NaN`, `Infinity`, `-Infinity` tokens outside strings. */
export function parsePythonJson(text: string): unknown {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j + 1;
      continue;
    }
    const token = ['-Infinity', 'Infinity', 'NaN'].find((t) => text.startsWith(t, i));
    if (token) {
      out += JSON.stringify(SENTINEL + token);
      i += token.length;
      continue;
    }
    out += c;
    i++;
  }
  return JSON.parse(out, (_k, v) =>
    typeof v === 'string' && v.startsWith(SENTINEL) ? Number(v.slice(SENTINEL.length)) : v,
  );
}

function numberToPython(x: number): string {
  if (Number.isNaN(x)) return 'NaN';
  if (x === Infinity) return 'Infinity';
  if (x === -Infinity) return '-Infinity';
  if (Number.isInteger(x) || x === 0) return String(x);
  // Python's float repr: shortest round-trip digits, exponent form below 1e-4 or from 1e16.
  const abs = Math.abs(x);
  if (abs < 1e-4 || abs >= 1e16) {
    const [m, e] = x.toExponential().split('e') as [string, string];
    const exp = Number(e);
    return `${m}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  }
  return String(x);
}

/** `json.dumps(value, indent=2, sort_keys=True)` of Python, for JSON-like values. */
export function stringifyPythonJson(value: unknown, indent = ''): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'number') return numberToPython(value);
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'string')
    return JSON.stringify(value).replace(
      /[\u007f-\uffff]/g,
      (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`,
    );
  const inner = `${indent}  `;
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    return `[\n${value.map((v) => inner + stringifyPythonJson(v, inner)).join(',\n')}\n${indent}]`;
  }
  const keys = Object.keys(value as object).sort();
  if (keys.length === 0) return '{}';
  const obj = value as Record<string, unknown>;
  return `{\n${keys.map((k) => `${inner}${JSON.stringify(k)}: ${stringifyPythonJson(obj[k], inner)}`).join(',\n')}\n${indent}}`;
}
