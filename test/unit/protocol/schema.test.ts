/** Control-message schemas: every type accepted when valid, and every kind of bad input refused. */
import t from 'tap';
import {
  FrameKind,
  encodeFrame,
  isFullSnapshotKind,
  isKnownFrameKind,
  parseAgentMessage,
  parseVisitorMessage,
  type ParseResult,
} from '../../../protocol/index.ts';
import { validate, type Schema } from '../../../protocol/schema.ts';

type Parser = (text: string) => ParseResult<unknown>;
/** The part of a tap test these helpers use. */
interface Asserts {
  ok(v: unknown, msg: string): boolean;
  notOk(v: unknown, msg: string): boolean;
  same(a: unknown, b: unknown, msg: string): boolean;
  match(a: unknown, p: RegExp, msg: string): boolean;
  comment(...args: unknown[]): void;
}

function accepts(t: Asserts, parse: Parser, msg: unknown, what?: string): void {
  const text = JSON.stringify(msg);
  const r = parse(text);
  t.ok(r.ok, what ?? `accepts ${text.slice(0, 80)}`);
  if (r.ok) t.same(r.msg, msg, 'returns the message as sent');
  else t.comment(`rejected with: ${r.message}`);
}

function rejects(t: Asserts, parse: Parser, input: unknown, pattern: RegExp, what?: string): void {
  const text = typeof input === 'string' ? input : JSON.stringify(input);
  const r = parse(text);
  t.notOk(r.ok, what ?? `rejects ${text.slice(0, 80)}`);
  if (!r.ok) t.match(r.message, pattern, `reason: ${r.message.slice(0, 80)}`);
}

const VISITOR_VALID = [
  { t: 'page', url: 'https://shop.example.com/cart?x=1', title: 'Cart' },
  { t: 'page', url: '', title: '' },
  { t: 'consent', agentId: 'alice', allow: true },
  { t: 'consent', agentId: 'a-b_C9', allow: false },
  { t: 'control', agentId: 'alice', allow: true },
  { t: 'control', agentId: 'alice', allow: false },
  { t: 'end' },
  { t: 'end', agentId: 'alice' },
  { t: 'tab-active' },
];

const AGENT_VALID = [
  { t: 'join', visitorId: 'v_123-ABC' },
  { t: 'join', visitorId: 'v1', tabId: 'tab1' },
  { t: 'leave' },
  { t: 'resync' },
  { t: 'pointer', x: 10.5, y: -3 },
  { t: 'highlight', x: 0, y: 0, w: 100, h: 20 },
  { t: 'scroll', x: 0, y: 12_345 },
  { t: 'click', x: 1, y: 2 },
  { t: 'input', nodeId: 42, value: 'hello' },
  { t: 'input', nodeId: 0, value: '' },
  { t: 'control-request' },
];

t.test('every visitor message type is accepted in a valid form', async (t) => {
  const types = new Set<string>();
  for (const m of VISITOR_VALID) {
    accepts(t, parseVisitorMessage, m);
    types.add(m.t);
  }
  t.same([...types].sort(), ['consent', 'control', 'end', 'page', 'tab-active'], 'all five visitor types covered');
});

t.test('every agent message type is accepted in a valid form', async (t) => {
  const types = new Set<string>();
  for (const m of AGENT_VALID) {
    accepts(t, parseAgentMessage, m);
    types.add(m.t);
  }
  t.equal(types.size, 9, 'all nine agent types covered');
});

t.test('directions are separate: a message of one side is unknown to the other', async (t) => {
  rejects(t, parseVisitorMessage, { t: 'join', visitorId: 'v1' }, /unknown message type/);
  rejects(t, parseVisitorMessage, { t: 'pointer', x: 1, y: 1 }, /unknown message type/);
  rejects(t, parseAgentMessage, { t: 'tab-active' }, /unknown message type/);
  rejects(t, parseVisitorMessage, { t: 'tab-active', tabId: 'other' }, /tabId/);
  rejects(t, parseAgentMessage, { t: 'consent', agentId: 'a', allow: true }, /unknown message type/);
  rejects(t, parseAgentMessage, { t: 'page', url: 'u', title: 't' }, /unknown message type/);
  // Relay -> client types are never accepted from a client.
  rejects(t, parseAgentMessage, { t: 'ready', agentId: 'a', accountId: 'b' }, /unknown message type/);
  rejects(t, parseVisitorMessage, { t: 'welcome', visitorId: 'v', visitorToken: 'x', tabId: 't' }, /unknown message type/);
});

t.test('malformed JSON and non-objects are refused', async (t) => {
  for (const parse of [parseVisitorMessage, parseAgentMessage] as Parser[]) {
    for (const text of ['', '{', '{"t":"leave"', "{'t':'leave'}", '{"t":"leave",}', 'undefined', 'NaN']) {
      rejects(t, parse, text, /malformed JSON/, `malformed JSON ${JSON.stringify(text)}`);
    }
    for (const text of ['null', '42', '"leave"', 'true', '[]', '[{"t":"leave"}]']) {
      rejects(t, parse, text, /must be a JSON object/, `non-object ${text}`);
    }
  }
});

t.test('unknown or missing type is refused, including prototype names', async (t) => {
  for (const parse of [parseVisitorMessage, parseAgentMessage] as Parser[]) {
    rejects(t, parse, {}, /unknown message type/, 'no t at all');
    rejects(t, parse, { t: 'nope' }, /unknown message type "nope"/);
    rejects(t, parse, { t: 42 }, /unknown message type/, 't is a number');
    rejects(t, parse, { t: null }, /unknown message type/, 't is null');
    rejects(t, parse, { t: ['leave'] }, /unknown message type/, 't is an array');
    for (const proto of ['toString', 'constructor', '__proto__', 'hasOwnProperty']) {
      rejects(t, parse, `{"t":"${proto}"}`, /unknown message type/, `t=${proto} (on Object.prototype) is unknown`);
    }
  }
  const r = parseAgentMessage(JSON.stringify({ t: 'x'.repeat(10_000) }));
  t.notOk(r.ok);
  if (!r.ok) t.ok(r.message.length < 80, 'the echoed type in the error is truncated');
});

t.test('missing required fields are refused; optional ones may be absent', async (t) => {
  rejects(t, parseVisitorMessage, { t: 'page', url: 'u' }, /missing field title/);
  rejects(t, parseVisitorMessage, { t: 'page', title: 't' }, /missing field url/);
  rejects(t, parseVisitorMessage, { t: 'consent', agentId: 'a' }, /missing field allow/);
  rejects(t, parseVisitorMessage, { t: 'consent', allow: true }, /missing field agentId/);
  rejects(t, parseVisitorMessage, { t: 'control', agentId: 'a' }, /missing field allow/);
  rejects(t, parseAgentMessage, { t: 'join' }, /missing field visitorId/);
  rejects(t, parseAgentMessage, { t: 'pointer', x: 1 }, /missing field y/);
  rejects(t, parseAgentMessage, { t: 'highlight', x: 1, y: 1, w: 1 }, /missing field h/);
  rejects(t, parseAgentMessage, { t: 'scroll', y: 1 }, /missing field x/);
  rejects(t, parseAgentMessage, { t: 'click', x: 1 }, /missing field y/);
  rejects(t, parseAgentMessage, { t: 'input', nodeId: 1 }, /missing field value/);
  rejects(t, parseAgentMessage, { t: 'input', value: 'v' }, /missing field nodeId/);
  // null is not "absent".
  rejects(t, parseVisitorMessage, { t: 'end', agentId: null }, /agentId must be a string/);
  rejects(t, parseAgentMessage, { t: 'join', visitorId: 'v', tabId: null }, /tabId must be a string/);
});

t.test('extra fields are refused', async (t) => {
  rejects(t, parseVisitorMessage, { t: 'page', url: 'u', title: 't', html: '<p>' }, /unknown field html/);
  rejects(t, parseVisitorMessage, { t: 'end', why: 'x' }, /unknown field why/);
  rejects(t, parseVisitorMessage, { t: 'end', reason: 'x' }, /reason/); // the one known reason is ui_hidden
  rejects(t, parseVisitorMessage, { t: 'control-refused', agentId: 'a', action: 'click', reason: 'because' }, /reason/);
  rejects(t, parseAgentMessage, { t: 'leave', visitorId: 'v' }, /unknown field visitorId/);
  rejects(t, parseAgentMessage, { t: 'resync', force: true }, /unknown field force/);
  rejects(t, parseAgentMessage, { t: 'control-request', allow: true }, /unknown field allow/);
  // An agent must not be able to forge the agentId the relay attaches when forwarding.
  rejects(t, parseAgentMessage, { t: 'pointer', x: 1, y: 2, agentId: 'someone-else' }, /unknown field agentId/);
  rejects(t, parseAgentMessage, { t: 'click', x: 1, y: 2, t2: 1 }, /unknown field t2/);
});

t.test('field names inherited from Object.prototype are refused like any other extra field', async (t) => {
  // The relay forwards agent tool messages to the visitor as `{...msg, agentId}`, so an extra
  // field that slips through here reaches the visitor's page.
  for (const key of ['constructor', 'toString', '__proto__', 'hasOwnProperty', 'valueOf']) {
    const text = `{"t":"pointer","x":1,"y":2,"${key}":{"payload":"x"}}`;
    const r = parseAgentMessage(text);
    t.notOk(r.ok, `rejects an extra "${key}" field`);
    const v = validate(JSON.parse(`{"a":"x","${key}":1}`), { a: { type: 'string', max: 5 } });
    t.notOk(v.ok, `validate() rejects an extra "${key}" field`);
  }
});

t.test('wrong types are refused', async (t) => {
  rejects(t, parseVisitorMessage, { t: 'page', url: 42, title: 't' }, /url must be a string/);
  rejects(t, parseVisitorMessage, { t: 'page', url: 'u', title: { x: 1 } }, /title must be a string/);
  rejects(t, parseVisitorMessage, { t: 'consent', agentId: 'a', allow: 'true' }, /allow must be a boolean/);
  rejects(t, parseVisitorMessage, { t: 'consent', agentId: 'a', allow: 1 }, /allow must be a boolean/);
  rejects(t, parseVisitorMessage, { t: 'control', agentId: 7, allow: true }, /agentId must be a string/);
  rejects(t, parseAgentMessage, { t: 'join', visitorId: ['v'] }, /visitorId must be a string/);
  rejects(t, parseAgentMessage, { t: 'pointer', x: '1', y: 2 }, /x must be a finite number/);
  rejects(t, parseAgentMessage, { t: 'pointer', x: null, y: 2 }, /x must be a finite number/);
  rejects(t, parseAgentMessage, { t: 'pointer', x: true, y: 2 }, /x must be a finite number/);
  rejects(t, parseAgentMessage, { t: 'input', nodeId: '1', value: 'v' }, /nodeId must be a finite number/);
  rejects(t, parseAgentMessage, { t: 'input', nodeId: 1, value: 5 }, /value must be a string/);
});

t.test('over-long strings are refused at exactly max + 1', async (t) => {
  accepts(t, parseVisitorMessage, { t: 'page', url: 'u'.repeat(2048), title: 't' }, 'url of 2048 accepted');
  rejects(t, parseVisitorMessage, { t: 'page', url: 'u'.repeat(2049), title: 't' }, /url is longer than 2048/);
  accepts(t, parseVisitorMessage, { t: 'page', url: 'u', title: 't'.repeat(512) }, 'title of 512 accepted');
  rejects(t, parseVisitorMessage, { t: 'page', url: 'u', title: 't'.repeat(513) }, /title is longer than 512/);
  accepts(t, parseAgentMessage, { t: 'input', nodeId: 1, value: 'v'.repeat(4096) }, 'input value of 4096 accepted');
  rejects(t, parseAgentMessage, { t: 'input', nodeId: 1, value: 'v'.repeat(4097) }, /value is longer than 4096/);
  accepts(t, parseAgentMessage, { t: 'join', visitorId: 'a'.repeat(64) }, 'id of 64 accepted');
  rejects(t, parseAgentMessage, { t: 'join', visitorId: 'a'.repeat(65) }, /visitorId is longer than 64/);
  rejects(t, parseVisitorMessage, { t: 'consent', agentId: 'a'.repeat(65), allow: true }, /agentId is longer than 64/);
});

t.test('numbers: out of range, non-finite and non-integer are refused', async (t) => {
  accepts(t, parseAgentMessage, { t: 'pointer', x: -1e6, y: 1e7 }, 'coordinate bounds are inclusive');
  rejects(t, parseAgentMessage, { t: 'pointer', x: -1e6 - 1, y: 0 }, /x is out of range/);
  rejects(t, parseAgentMessage, { t: 'pointer', x: 0, y: 1e7 + 1 }, /y is out of range/);
  rejects(t, parseAgentMessage, { t: 'highlight', x: 0, y: 0, w: 1e300, h: 1 }, /w is out of range/);
  // JSON cannot carry NaN/Infinity, but 1e400 parses to Infinity.
  rejects(t, parseAgentMessage, '{"t":"scroll","x":1e400,"y":0}', /x must be a finite number/, 'Infinity (1e400) refused');
  rejects(t, parseAgentMessage, '{"t":"scroll","x":-1e400,"y":0}', /x must be a finite number/, '-Infinity refused');
  rejects(t, parseAgentMessage, '{"t":"click","x":NaN,"y":0}', /malformed JSON/, 'NaN literal is not JSON');
  accepts(t, parseAgentMessage, { t: 'input', nodeId: 2 ** 31, value: '' }, 'nodeId upper bound inclusive');
  rejects(t, parseAgentMessage, { t: 'input', nodeId: 2 ** 31 + 1, value: '' }, /nodeId is out of range/);
  rejects(t, parseAgentMessage, { t: 'input', nodeId: -1, value: '' }, /nodeId is out of range/);
  rejects(t, parseAgentMessage, { t: 'input', nodeId: 1.5, value: '' }, /nodeId must be an integer/);
  rejects(t, parseAgentMessage, '{"t":"input","nodeId":1e400,"value":""}', /nodeId must be a finite number/);
});

t.test('ids must match the id pattern', async (t) => {
  for (const bad of ['', 'a b', 'a/b', 'a.b', 'a:b', '../x', 'é', 'a\u0000', '$where', 'a\nb']) {
    rejects(t, parseAgentMessage, { t: 'join', visitorId: bad }, /visitorId has an invalid format/, `visitorId ${JSON.stringify(bad)}`);
  }
  rejects(t, parseAgentMessage, { t: 'join', visitorId: 'v', tabId: 'tab 1' }, /tabId has an invalid format/);
  rejects(t, parseVisitorMessage, { t: 'consent', agentId: 'a@b', allow: true }, /agentId has an invalid format/);
  rejects(t, parseVisitorMessage, { t: 'control', agentId: '', allow: true }, /agentId has an invalid format/);
  rejects(t, parseVisitorMessage, { t: 'end', agentId: 'x y' }, /agentId has an invalid format/);
});

t.test('validate() on its own', async (t) => {
  const schema: Schema = {
    name: { type: 'string', min: 2, max: 5 },
    n: { type: 'int', min: 0, max: 10, optional: true },
    inner: { type: 'object', fields: { ok: { type: 'boolean' } }, optional: true },
  };
  t.same(validate({ name: 'ab' }, schema), { ok: true });
  t.same(validate({ name: 'abcde', n: 10, inner: { ok: false } }, schema), { ok: true });
  for (const v of [null, 5, 'x', [], [{ name: 'ab' }]]) {
    const r = validate(v, schema);
    t.notOk(r.ok, `non-object ${JSON.stringify(v)} refused`);
    if (!r.ok) t.equal(r.message, 'message must be an object');
  }
  const short = validate({ name: 'a' }, schema);
  t.notOk(short.ok);
  if (!short.ok) t.equal(short.message, 'name is shorter than 2');
  const nested = validate({ name: 'ab', inner: { ok: 'yes' } }, schema);
  t.notOk(nested.ok);
  if (!nested.ok) t.equal(nested.message, 'inner.ok must be a boolean', 'nested paths are dotted');
  const nestedExtra = validate({ name: 'ab', inner: { ok: true, more: 1 } }, schema);
  t.notOk(nestedExtra.ok);
  if (!nestedExtra.ok) t.equal(nestedExtra.message, 'unknown field inner.more');
  const nestedNotObj = validate({ name: 'ab', inner: [] }, schema);
  t.notOk(nestedNotObj.ok);
  if (!nestedNotObj.ok) t.equal(nestedNotObj.message, 'inner. must be an object');
  t.notOk(validate({ name: 'ab', n: 3.5 }, schema).ok, 'int refuses a fraction');
  t.notOk(validate({ name: 'ab', n: 11 }, schema).ok, 'int refuses above max');
});

t.test('frame kinds', async (t) => {
  for (const k of [1, 2, 3, 4, 5]) t.ok(isKnownFrameKind(k), `kind ${k} is known`);
  t.same(Object.values(FrameKind).sort(), [1, 2, 3, 4, 5], 'exactly five kinds (5: asset)');
  for (const k of [0, 6, 127, 255, 256, -1, 1.5, NaN, Infinity]) t.notOk(isKnownFrameKind(k), `kind ${k} is unknown`);
  t.ok(isFullSnapshotKind(FrameKind.FullSnapshot));
  t.ok(isFullSnapshotKind(FrameKind.FullSnapshotDeflate));
  t.notOk(isFullSnapshotKind(FrameKind.Incremental));
  t.notOk(isFullSnapshotKind(FrameKind.IncrementalDeflate));
  const f = encodeFrame(FrameKind.IncrementalDeflate, new Uint8Array([9, 8, 7]));
  t.same([...f], [4, 9, 8, 7], 'encodeFrame puts the kind byte first');
});
