// Test page: a Vue 3 app showing a contest's live keyed board through
// useEventStream (boards=patch by default). Each row is a component that
// counts its renders, so a test can tell that only changed rows re-render.
// Every call of fetchScoreboard and of window.fetch is counted.
import { createApp, defineComponent, h, toRaw } from 'vue';
import { useEventStream } from '../../dist/vue.js';

const p = new URLSearchParams(location.search);
const counts = { fetchScoreboard: 0, fetch: 0, rowRenders: 0, firstVersion: null, initialRows: 0 };
const realFetch = window.fetch;
window.fetch = (...args) => {
  counts.fetch++;
  return realFetch(...args);
};

const Row = defineComponent({
  props: { row: Object, rowKey: String },
  setup(props) {
    return () => {
      counts.rowRenders++;
      return h('tr', { 'data-key': props.row[props.rowKey] }, [h('td', String(props.row.solved)), h('td', String(props.row.penalty))]);
    };
  },
});

let state;
const App = defineComponent({
  setup() {
    state = useEventStream(p.get('alias'), {
      url: p.get('url'),
      token: p.get('token'),
      fetchScoreboard: async () => {
        counts.fetchScoreboard++;
        return null;
      },
    });
    return () => {
      const sb = state.scoreboard.value;
      const info = state.board.value;
      if (info && counts.firstVersion === null) {
        counts.firstVersion = info.version;
        counts.initialRows = sb.rows.length;
      }
      return h('main', [
        h('p', { id: 'status' }, state.status.value),
        h('p', { id: 'version' }, info ? info.version : ''),
        h('table', { id: 'board' }, sb && info ? sb.rows.map((r) => h(Row, { key: r[info.rowKey], row: r, rowKey: info.rowKey })) : []),
      ]);
    };
  },
});

createApp(App).mount('#app');

window.boardPage = {
  counts,
  /** The board as plain JSON, rows in order, and its version. */
  snapshot() {
    const sb = state.scoreboard.value;
    const info = state.board.value;
    if (!sb || !info) return null;
    const raw = { ...toRaw(sb), rows: toRaw(sb.rows).map((r) => toRaw(r)) };
    return { version: info.version, view: info.view, board: JSON.parse(JSON.stringify(raw)) };
  },
  version: () => state.board.value?.version ?? null,
};
