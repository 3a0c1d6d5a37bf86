/**
 * The consent memory (client/consentMemory.ts) with an in-memory store and an injected clock: what
 * it remembers, when an agreement lapses, and what it writes to the store.
 */
import t from 'tap';
import { CONSENT_MEMORY_MS, ConsentMemory, type ConsentStore } from '../../../client/consentMemory.ts';

/** A store in memory, as sessionStorage would hold it (a string or nothing). */
function memoryStore(initial: string | null = null): ConsentStore & { value: string | null; saves: number } {
  return {
    value: initial,
    saves: 0,
    load() {
      return this.value;
    },
    save(v: string) {
      this.value = v;
      this.saves++;
    },
  };
}

function setup(initial: string | null = null) {
  const store = memoryStore(initial);
  const watching = new Set<string>();
  const clock = { now: 1_000_000 };
  const memory = new ConsentMemory(store, (id) => watching.has(id), () => clock.now);
  return { store, watching, clock, memory };
}

t.test('nothing remembered: no agent is allowed', async (t) => {
  const { memory, store } = setup();
  t.notOk(memory.allows('a1'));
  t.equal(store.saves, 0, 'reading writes nothing');
});

t.test('an agreement lasts CONSENT_MEMORY_MS after it was remembered, then lapses', async (t) => {
  const { memory, clock, store } = setup();
  memory.remember('a1');
  t.same(JSON.parse(store.value!), { a1: clock.now + CONSENT_MEMORY_MS }, 'stored with its lapse time');
  clock.now += CONSENT_MEMORY_MS - 1;
  t.ok(memory.allows('a1'), 'just before the lapse');
  clock.now += 1;
  t.notOk(memory.allows('a1'), 'at the lapse time');
});

t.test('a lapsed agreement still holds while the agent watches', async (t) => {
  const { memory, clock, watching } = setup();
  memory.remember('a1');
  watching.add('a1');
  clock.now += CONSENT_MEMORY_MS * 3;
  t.ok(memory.allows('a1'), 'watching: still agreed');
  watching.delete('a1');
  t.notOk(memory.allows('a1'), 'stopped watching: lapsed');
});

t.test('refresh restarts the clock only for an agent that had agreed', async (t) => {
  const { memory, clock, store } = setup();
  memory.remember('a1');
  clock.now += CONSENT_MEMORY_MS - 10;
  memory.refresh('a1');
  memory.refresh('stranger');
  clock.now += CONSENT_MEMORY_MS - 10;
  t.ok(memory.allows('a1'), 'the clock restarted at the refresh');
  t.notOk(memory.allows('stranger'), 'refresh grants nothing to an agent that never agreed');
  t.same(Object.keys(JSON.parse(store.value!)), ['a1'], 'the stranger was never stored');
});

t.test('forget drops one agent, clear drops all, both are written through', async (t) => {
  const { memory, store } = setup();
  memory.remember('a1');
  memory.remember('a2');
  memory.forget('a1');
  t.notOk(memory.allows('a1'));
  t.ok(memory.allows('a2'));
  t.same(Object.keys(JSON.parse(store.value!)), ['a2']);
  memory.clear();
  t.notOk(memory.allows('a2'));
  t.equal(store.value, '{}', 'the store holds nothing after clear');
});

t.test('lapsed agreements of agents not watching are pruned when the memory is written', async (t) => {
  const { memory, clock, watching, store } = setup();
  memory.remember('gone');
  memory.remember('watching');
  watching.add('watching');
  clock.now += CONSENT_MEMORY_MS + 1;
  memory.remember('fresh');
  t.same(Object.keys(JSON.parse(store.value!)).sort(), ['fresh', 'watching'], 'the lapsed, unwatched agent was pruned');
});

t.test('a new memory reads what an earlier page load stored', async (t) => {
  const first = setup();
  first.memory.remember('a1');
  const reloaded = new ConsentMemory(memoryStore(first.store.value), () => false, () => first.clock.now + 1000);
  t.ok(reloaded.allows('a1'), 'the agreement survived the reload');
  t.notOk(reloaded.allows('a2'));
});

t.test('an unreadable or malformed store means asking again, never a throw', async (t) => {
  for (const bad of ['not json', 'null', '[1,2]', '{"a1":"soon","a2":null}', '42']) {
    const memory = new ConsentMemory(memoryStore(bad), () => true, () => 0);
    t.notOk(memory.allows('a1'), `store ${JSON.stringify(bad)}: a1 not allowed`);
    t.notOk(memory.allows('a2'), `store ${JSON.stringify(bad)}: a2 not allowed`);
  }
});

t.test('an agreement covers one viewer key: another key is not allowed, and it survives a reload', async (t) => {
  const { memory, store, clock, watching } = setup();
  memory.remember('a1', 'KEY_A');
  t.ok(memory.allows('a1', 'KEY_A'), 'the key agreed to');
  t.notOk(memory.allows('a1', 'KEY_M'), 'another key for the same agent');
  t.notOk(memory.allows('a1'), 'no key for an agent agreed to with one');
  t.equal(memory.keyFor('a1'), 'KEY_A');
  memory.refresh('a1');
  t.equal(memory.keyFor('a1'), 'KEY_A', 'refresh keeps the key');
  const again = new ConsentMemory(store, (id) => watching.has(id), () => clock.now);
  t.ok(again.allows('a1', 'KEY_A') && !again.allows('a1', 'KEY_M'), 'read back from the store with its key');
  memory.remember('a1', 'KEY_B');
  t.notOk(memory.allows('a1', 'KEY_A'), 'one key per agent: a new agreement replaces the old key');
  clock.now += CONSENT_MEMORY_MS;
  t.equal(memory.keyFor('a1'), undefined, 'lapsed: no key');
});
