/** The compact per-visitor structures of issue 15 (TabList, VisitorIndex, Tab, VisitorState) behave like the Maps and literals they replace. */
import t from 'tap';
import { Tab } from '../../../../relay/sessions/tab.ts';
import { TabList } from '../../../../relay/sessions/tabList.ts';
import type { TabData, Visitor } from '../../../../relay/sessions/types.ts';
import { VisitorIndex } from '../../../../relay/sessions/visitorIndex.ts';
import { NEVER_TOUCHED, touchSeconds, VisitorState } from '../../../../relay/sessions/visitor.ts';
import { addTo } from '../../../../relay/sessions/emptySet.ts';
import type { AccountRecord } from '../../../../relay/store/types.ts';

const account = (id: string) => ({ id }) as AccountRecord;
const tab = (tabId: string) => new Tab('10.0.0.1', account('acc'), 'vis', tabId) as unknown as TabData;

t.test('TabList: one tab held directly, a Map from the second, back to one field at one', async (t) => {
  const list = new TabList();
  t.equal(list.size, 0);
  t.same([...list.values()], []);
  const a = tab('a'), b = tab('b'), c = tab('c'), a2 = tab('a');
  list.set(a);
  t.equal(list.size, 1);
  t.equal(list.get('a'), a);
  t.notOk(list.has('b'));
  list.set(a2);
  t.equal(list.get('a'), a2, 'the same id replaces');
  t.equal(list.size, 1);
  list.set(b);
  list.set(c);
  t.equal(list.size, 3);
  t.same([...list.values()].map((x) => x.tabId), ['a', 'b', 'c'], 'in the order they came');
  t.notOk(list.delete('x'), 'deleting an unknown id changes nothing');
  t.ok(list.delete('a'));
  t.ok(list.delete('c'));
  t.equal(list.size, 1);
  t.equal(list.get('b'), b);
  t.same([...list.values()], [b]);
  t.ok(list.delete('b'));
  t.notOk(list.delete('b'));
  t.equal(list.size, 0);
  t.equal(list.get('b'), undefined);
});

t.test('VisitorIndex: by account and id, never across accounts', async (t) => {
  const idx = new VisitorIndex();
  const v1 = { account: account('acc1'), visitorId: 'vis' } as Visitor;
  const v2 = { account: account('acc2'), visitorId: 'vis' } as Visitor;
  idx.set(v1);
  idx.set(v2);
  idx.set(v1);
  t.equal(idx.size, 2, 'setting the same visitor again counts once');
  t.equal(idx.get('acc1', 'vis'), v1);
  t.equal(idx.get('acc2', 'vis'), v2, 'the same id in another account is another visitor');
  t.equal(idx.get('acc3', 'vis'), undefined);
  t.same([...idx.values()], [v1, v2]);
  t.ok(idx.delete('acc1', 'vis'));
  t.notOk(idx.delete('acc1', 'vis'));
  t.equal(idx.size, 1);
  t.equal(idx.get('acc1', 'vis'), undefined);
  t.same([...idx.values()], [v2]);
});

t.test('Tab: topic built on first use, from the ids', async (t) => {
  const x = new Tab('10.0.0.1', account('acc'), 'vis', 'tab1');
  t.equal(x.topic, 'tab/acc/vis/tab1');
  t.equal(x.topic, x.topic);
  t.equal(x.kind, 'visitor');
  t.equal(x.agents.size, 0);
});

t.test('Tab: watch state made on first use; account and visitor id read from its visitor', async (t) => {
  const x = new Tab('10.0.0.1', account('acc'), 'vis', 'tab1');
  t.equal(x.watch, undefined, 'an unwatched tab has none');
  t.equal(x.agents.size, 0);
  t.equal(x.watch, undefined, 'reading its agents makes none');
  const w = x.watched();
  t.equal(x.watched(), w, 'made once');
  t.equal(w.topic, 'tab/acc/vis/tab1');
  w.agents.add({} as never);
  t.equal(x.agents.size, 1);
  t.equal(x.visitorId, 'vis');
  t.equal(x.account.id, 'acc');
  const v = new VisitorState(account('acc'), 'vis');
  x.visitor = v;
  t.equal(x.visitorId, 'vis');
  t.equal(x.account, v.account, 'once open, the visitor\'s record');
});

t.test('VisitorState: its own tab list; agent-side sets shared and empty until written, then its own', async (t) => {
  const v = new VisitorState(account('acc'), 'vis');
  const w = new VisitorState(account('acc'), 'other');
  t.equal(v.tabs, v, 'the tab list is the visitor itself');
  v.tabs.set(tab('a'));
  t.equal(v.tabs.size, 1);
  t.equal(w.tabs.size, 0);
  t.equal(v.consented, w.consented, 'both read the shared empty set');
  t.throws(() => v.consented.add('x'), 'which cannot be written directly');
  t.notOk(v.followers.delete({} as never), 'deleting from it is a no-op');
  addTo(v.consented, 'alice', (s) => (v.consented = s));
  addTo(v.pending, {} as never, (s) => (v.pending = s));
  t.ok(v.consented.has('alice'));
  t.equal(v.pending.size, 1);
  t.equal(w.consented.size, 0, 'another visitor is untouched');
  t.equal(w.pending.size, 0);
  t.equal(v.control.size, 0, 'the sets not written stay empty');
  t.ok(touchSeconds() - NEVER_TOUCHED > 60, 'a new visitor was never touched');
  t.equal(v.touchedAt, NEVER_TOUCHED);
  t.equal(touchSeconds(61_999.9), 61, 'whole seconds');
});
