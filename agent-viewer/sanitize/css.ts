/**
 * CSS from the visitor's page (style sheets, `style` attributes, rules, declarations, SVG
 * presentation attributes) made unable to fetch anything but allowed URLs.
 *
 * It works on the token stream of a spec-compliant CSS tokenizer (@csstools/css-tokenizer), so
 * escapes, comments and case are decoded exactly as the browser decodes them: `\75 rl(`,
 * `u\72 l(`, `\000075rl(` and `URL(` are all a url token or a `url(` function here too.
 * Every URL-bearing construct is checked and re-serialised canonically, or replaced by `none`
 * (an invalid value that the browser drops with its declaration):
 * - url tokens, `url("…")` and `src("…")`: one string, allowed URL, else `none`;
 * - strings inside image functions (`image-set`, `-webkit-image-set`, `image`, `cross-fade`, any
 *   vendor prefix) are URLs; anything there we cannot classify (var(), attr(), unknown functions)
 *   makes the whole image function `none`;
 * - `@import`: its string or url must be an allowed page origin (never data:);
 * - `attr()` with more than an attribute name (typed attr() could produce a URL), `expression()`,
 *   bad-url and bad-string tokens are dropped.
 * Everything else is emitted byte for byte as it came, so ordinary CSS is unchanged.
 */
import { tokenize, type CSSToken } from '@csstools/css-tokenizer';
import { urlAllowed, type UrlPolicy, type UrlUse } from './urlPolicy.ts';

/** Functions whose string arguments are image URLs. Compared after stripping a vendor prefix. */
const IMAGE_FUNCTIONS = new Set(['image-set', 'image', 'cross-fade']);
/** What may appear inside an image function besides strings, urls and numbers. */
const SAFE_IN_IMAGE = new Set([
  'linear-gradient', 'radial-gradient', 'conic-gradient', 'repeating-linear-gradient', 'repeating-radial-gradient', 'repeating-conic-gradient',
  'gradient', 'type', 'calc', 'min', 'max', 'clamp', 'rgb', 'rgba', 'hsl', 'hsla', 'hwb', 'lab', 'lch', 'oklab', 'oklch', 'color', 'color-mix',
  'image-set', 'image', 'cross-fade',
]);
const DROPPED = 'none';

const unprefixed = (name: string) => name.toLowerCase().replace(/^-[a-z0-9]+-/, '');

/** A CSS string literal for `s`, with everything but printable ASCII escaped. */
export function cssString(s: string): string {
  return `"${s.replace(/[\\"]|[^\u0020-\u007e]/g, (c) => (c === '\\' || c === '"' ? `\\${c}` : `\\${c.codePointAt(0)!.toString(16)} `))}"`;
}

const type = (t: CSSToken) => t[0] as string;
const value = (t: CSSToken) => (t[4] as { value?: unknown } | null)?.value;
const isSpace = (t: CSSToken) => type(t) === 'whitespace-token' || type(t) === 'comment';

interface Frame {
  /** Token type that closes this block. */
  close: string;
  /** out.length when the block opened, to replace it if it turns out unsafe. */
  at: number;
  /** Strings directly in this block are image URLs. */
  image: boolean;
  /** An image function: what gets replaced when something inside it cannot be classified. */
  imageFn: boolean;
  unsafe: boolean;
}

export function sanitizeCss(css: string, policy: UrlPolicy): string {
  if (typeof css !== 'string') return '';
  // No '(' means no url or function token; no '@' means no @import: nothing can fetch.
  if (!css.includes('(') && !css.includes('@')) return css;
  let tokens: CSSToken[];
  try {
    tokens = tokenize({ css });
  } catch {
    return '';
  }
  const out: string[] = [];
  const stack: Frame[] = [];
  /** Inside an @import prelude (until `;` or `{` at the same depth): URLs are style sheets. */
  let importDepth = -1;
  const inImage = () => stack.length > 0 && stack[stack.length - 1].image;
  const use = (): UrlUse => (importDepth === stack.length ? 'stylesheet' : 'css');
  const taint = () => {
    for (let k = stack.length - 1; k >= 0; k--) if (stack[k].imageFn) return void (stack[k].unsafe = true);
  };
  const url = (raw: string, u: UrlUse) => (urlAllowed(raw, policy, u) ? `url(${cssString(raw.trim())})` : DROPPED);
  const closeFrame = () => {
    const f = stack.pop()!;
    if (f.unsafe) {
      out.length = f.at;
      out.push(DROPPED);
    }
  };

  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    const ty = type(t);
    switch (ty) {
      case 'EOF-token':
        continue;
      case 'url-token':
        out.push(url(String(value(t) ?? ''), use()));
        continue;
      case 'bad-url-token':
        out.push(DROPPED);
        continue;
      case 'bad-string-token':
        out.push('""');
        continue;
      case 'string-token':
        if (inImage() || importDepth === stack.length) out.push(urlAllowed(String(value(t) ?? ''), policy, use()) ? cssString(String(value(t))) : DROPPED);
        else out.push(t[1]);
        continue;
      case 'at-keyword-token':
        if (String(value(t)).toLowerCase() === 'import') importDepth = stack.length;
        out.push(t[1]);
        continue;
      case 'semicolon-token':
        if (importDepth === stack.length) importDepth = -1;
        out.push(t[1]);
        continue;
      case 'function-token': {
        const name = unprefixed(String(value(t) ?? ''));
        if (name === 'url' || name === 'src') {
          // url("…") / src("…"): exactly one string, else dropped. Consume to the matching ')'.
          let depth = 0;
          const inner: CSSToken[] = [];
          let j = i + 1;
          for (; j < tokens.length; j++) {
            const k = type(tokens[j]);
            if (k === 'EOF-token') break;
            if (k === 'function-token' || k === '(-token') depth++;
            if (k === ')-token' && depth-- === 0) break;
            inner.push(tokens[j]);
          }
          i = j;
          const args = inner.filter((x) => !isSpace(x));
          out.push(args.length === 1 && type(args[0]) === 'string-token' ? url(String(value(args[0])), use()) : DROPPED);
          continue;
        }
        const image = IMAGE_FUNCTIONS.has(name);
        if (inImage() && !SAFE_IN_IMAGE.has(name)) taint(); // var(), attr(), env(), paint(), … inside an image
        // type("image/png") inside image-set() holds a MIME type, not a URL.
        const frame: Frame = { close: ')-token', at: out.length, image: (image || inImage()) && name !== 'type', imageFn: image, unsafe: false };
        if (name === 'expression') frame.unsafe = true;
        if (name === 'attr') {
          // attr(name) is a string; typed forms (attr(x url), attr(x type(<url>))) are not allowed.
          let j = i + 1;
          const args: CSSToken[] = [];
          for (; j < tokens.length && type(tokens[j]) !== ')-token' && type(tokens[j]) !== 'EOF-token'; j++) if (!isSpace(tokens[j])) args.push(tokens[j]);
          if (!(args.length === 1 && type(args[0]) === 'ident-token')) frame.unsafe = true;
        }
        stack.push(frame);
        out.push(t[1]);
        continue;
      }
      case '(-token':
      case '[-token':
      case '{-token': {
        if (ty === '{-token' && importDepth === stack.length) importDepth = -1;
        const close = ty === '(-token' ? ')-token' : ty === '[-token' ? ']-token' : '}-token';
        stack.push({ close, at: out.length, image: inImage(), imageFn: false, unsafe: false });
        out.push(t[1]);
        continue;
      }
      case ')-token':
      case ']-token':
      case '}-token':
        if (stack.length && stack[stack.length - 1].close === ty) {
          out.push(t[1]);
          closeFrame();
          if (importDepth > stack.length) importDepth = -1;
        } else {
          out.push(t[1]); // a stray closer: the browser ignores it the same way
        }
        continue;
      default:
        out.push(t[1]);
    }
  }
  while (stack.length) closeFrame(); // unclosed blocks at the end: the browser closes them
  return out.join('');
}
