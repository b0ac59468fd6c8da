// Test page: a Vue 3 app rendering a contest through useEventStream.
import { createApp, defineComponent, h } from 'vue';
import { useEventStream } from '../../dist/vue.js';

const p = new URLSearchParams(location.search);

const App = defineComponent({
  setup() {
    const s = useEventStream(p.get('alias'), { url: p.get('url'), token: p.get('token'), username: p.get('user') });
    return () =>
      h('main', [
        h('p', { id: 'status' }, s.status.value),
        h(
          'table',
          { id: 'scoreboard' },
          ((s.scoreboard.value && s.scoreboard.value.ranking) || []).map((r) =>
            h('tr', { class: 'row' }, [h('td', r.username), h('td', String(r.total))]),
          ),
        ),
        h(
          'ul',
          { id: 'runs' },
          Object.values(s.runs.value).map((r) => h('li', { 'data-guid': r.guid }, `${r.guid}:${r.verdict}`)),
        ),
      ]);
  },
});

createApp(App).mount('#app');
