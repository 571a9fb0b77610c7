import './style.css';
import { Api, ApiError } from './api';
import type { RecentReadings } from './sparklines';
import { DeviceTable } from './device-table';
import { DeviceView } from './device-view';
import { h } from './dom';
import { EventLog } from './event-log';
import { FleetOverview } from './overview';
import { RejectsPage } from './rejects-page';
import { ConnectorsPage } from './connectors-page';
import { DeviceStore, deviceKey } from './store';
import type { StreamState } from './stream';
import { LiveStream } from './stream';
import type { DeviceView as DeviceViewDto } from './types';

const TOKEN_KEY = 'devicehub.token';
/** The service's own SSE stream for every device type (bridge.md, "Web delivery"). */
const STREAM_PATH = '/iot/stream/_all/';
const DEVICES_PATH = '/api/devices?limit=10000';

/**
 * The dashboard: opened as `/?token=…` (the URL the service prints at
 * start-up) or asks for a token; then a live device table, a per-device view
 * and the event log, all fed by one EventSource.
 */
async function main(root: HTMLElement): Promise<void> {
  const params = new URLSearchParams(location.search);
  const given = params.get('token');
  if (given !== null) {
    localStorage.setItem(TOKEN_KEY, given);
    // Keep the token out of the address bar and the history once it is stored.
    history.replaceState(null, '', location.pathname + location.hash);
  }
  const token = given ?? localStorage.getItem(TOKEN_KEY) ?? undefined;
  await dashboard(root, new Api(token || undefined));
}

async function dashboard(root: HTMLElement, api: Api): Promise<void> {
  const store = new DeviceStore();
  const log = new EventLog();
  let view: DeviceView | undefined;
  const side = h('div', { class: 'side' });
  const banner = h('div', { class: 'banner', 'data-testid': 'reconnect-banner', role: 'status', hidden: '' });
  const pill = h('span', { class: 'pill', 'data-testid': 'stream-state' }, 'connecting');

  const open = (key: string | undefined): void => {
    // Closing a device's view shows every device's events again.
    if (view !== undefined && key === undefined) log.filterDevice('');
    view?.destroy();
    view = undefined;
    side.replaceChildren();
    root.classList.toggle('with-device', key !== undefined);
    if (key === undefined) return;
    const slash = key.indexOf('/');
    const type = key.slice(0, slash);
    const id = key.slice(slash + 1);
    view = new DeviceView(api, store, key, type, id, () => (location.hash = ''));
    side.append(view.element);
    log.filterDevice(key);
  };
  let overview: FleetOverview | undefined = undefined;
  const table = new DeviceTable(
    store,
    (key) => {
      const slash = key.indexOf('/');
      location.hash = `#/device/${encodeURIComponent(key.slice(0, slash))}/${encodeURIComponent(key.slice(slash + 1))}`;
    },
    (status) => overview?.setActive(status),
    (devices, limit) =>
      api.get<RecentReadings>(
        `/api/readings/recent?${new URLSearchParams({ devices: devices.join(' '), limit: String(limit) }).toString()}`,
      ),
  );
  overview = new FleetOverview(
    api,
    (status) => table.filterStatus(status),
    (stats) => table.setHeartbeats(stats.heartbeat.intervals, stats.heartbeat.default_interval),
  );
  const fleet = h('main', { 'data-page': 'fleet' }, overview.element, table.element, side, log.element);
  const rejects = h('main', { 'data-page': 'rejects', hidden: '' });
  const connectors = h('main', { 'data-page': 'connectors', hidden: '' });
  let connectorsPage: ConnectorsPage | undefined;
  const navLink = (href: string, page: string, label: string, needsAdmin = false): HTMLElement =>
    h(
      'a',
      {
        href,
        'data-nav': page,
        'data-needs-admin': needsAdmin ? 'true' : undefined,
        title: needsAdmin ? 'Needs the admin token' : undefined,
      },
      label,
      needsAdmin ? h('span', { class: 'needs-admin' }, 'admin') : null,
    );
  const nav = h(
    'nav',
    { class: 'pages', 'data-testid': 'pages' },
    navLink('#/', 'fleet', 'Fleet'),
    navLink('#/rejects', 'rejects', 'Rejects', true),
    navLink('#/connectors', 'connectors', 'Connectors', true),
  );
  const route = (): void => {
    const onRejects = location.hash === '#/rejects';
    const onConnectors = location.hash === '#/connectors';
    fleet.hidden = onRejects || onConnectors;
    rejects.hidden = !onRejects;
    connectors.hidden = !onConnectors;
    const current = onRejects ? 'rejects' : onConnectors ? 'connectors' : 'fleet';
    for (const a of nav.querySelectorAll<HTMLElement>('a[data-nav]')) {
      if (a.dataset.nav === current) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
    connectorsPage?.destroy();
    connectorsPage = undefined;
    if (onConnectors) {
      connectorsPage = new ConnectorsPage();
      connectors.replaceChildren(connectorsPage.element);
      open(undefined);
      return;
    }
    if (onRejects) {
      // Read afresh each time the page is opened: rejects are what just went wrong.
      rejects.replaceChildren(new RejectsPage().element);
      open(undefined);
      return;
    }
    const match = /^#\/device\/([^/]+)\/([^/]+)$/.exec(location.hash);
    open(match ? deviceKey(decodeURIComponent(match[1]), decodeURIComponent(match[2])) : undefined);
  };

  const changeToken = h('button', { type: 'button', class: 'secondary' }, 'Change token');
  changeToken.addEventListener('click', () => {
    stream.close();
    overview?.destroy();
    root.replaceChildren(tokenForm());
  });
  root.replaceChildren(
    h(
      'header',
      { class: 'top' },
      h('h1', null, 'DeviceHub Bridge'),
      pill,
      nav,
      h(
        'nav',
        null,
        h('a', { href: '/docs', target: '_blank' }, 'API docs'),
        h('a', { href: '/metrics', target: '_blank' }, 'Metrics'),
        h('a', { href: '/health', target: '_blank' }, 'Health'),
        changeToken,
      ),
    ),
    banner,
    fleet,
    rejects,
    connectors,
  );
  overview.start();

  const stream = new LiveStream(STREAM_PATH, api.token, {
    event: (e) => {
      table.addEvent(e);
      store.apply(e);
      log.add(e);
      view?.onEvent(e);
    },
    state: (state: StreamState) => {
      pill.textContent = state;
      pill.dataset.state = state;
      const text = bannerText(state, stream.position);
      banner.hidden = text === undefined;
      banner.textContent = text ?? '';
    },
    reset: () => {
      log.notice('Some events were older than the event log keeps and could not be replayed; the table was reloaded.');
      void api.get<{ devices: DeviceViewDto[] }>(DEVICES_PATH).then((a) => store.load(a.devices));
    },
    // EventSource does not say why it gave up; the REST API does (a 401 means the token, not the network).
    refused: () => {
      void api.get(DEVICES_PATH).catch((err: unknown) => {
        if (!(err instanceof ApiError && err.status === 401)) return;
        stream.close();
        overview?.destroy();
        root.replaceChildren(tokenForm(`That token was refused: ${err.message}`));
      });
    },
  });
  // The stream opens before the snapshot is asked for, and its events wait
  // for the snapshot (DeviceStore), so no event falls between the two.
  stream.open();
  try {
    const snapshot = (await api.get<{ devices: DeviceViewDto[] }>(DEVICES_PATH)).devices;
    table.expectHistory(snapshot.map((d) => deviceKey(d.device_type, d.device_id)));
    store.load(snapshot);
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      stream.close();
      overview?.destroy();
      root.replaceChildren(tokenForm(api.token ? `That token was refused: ${err.message}` : undefined));
      return;
    }
    store.load([]);
    log.notice(
      `The device registry could not be read (${err instanceof Error ? err.message : String(err)}); showing live events only.`,
    );
  }
  window.addEventListener('hashchange', route);
  route();
}

function bannerText(state: StreamState, position: string | undefined): string | undefined {
  switch (state) {
    case 'live':
      return undefined;
    case 'connecting':
      return 'Connecting to the live stream…';
    case 'reconnecting':
      return `Connection lost: reconnecting${position === undefined ? '' : `, will resume after event ${position}`}…`;
    case 'expired':
      return 'The token has expired: reload the page with a new one.';
  }
}

function tokenForm(problem?: string): HTMLElement {
  const input = h('input', {
    name: 'token',
    type: 'password',
    required: '',
    autocomplete: 'off',
    placeholder: 'eyJhbGciOi…',
    'data-testid': 'token-input',
  });
  const form = h(
    'form',
    { class: 'panel token-form', 'data-testid': 'token-form' },
    h('h1', null, 'DeviceHub Bridge'),
    h(
      'p',
      null,
      'Paste a client token: the one printed at start-up, or one from ',
      h('code', null, 'POST /v1/tokens'),
      '.',
    ),
    problem ? h('p', { class: 'error', 'data-testid': 'token-error' }, problem) : null,
    input,
    h('button', { type: 'submit' }, 'Open the dashboard'),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    localStorage.setItem(TOKEN_KEY, input.value.trim());
    location.reload();
  });
  return form;
}

const root = document.getElementById('app') as HTMLElement;
main(root).catch((err: unknown) => {
  root.replaceChildren(
    h(
      'p',
      { class: 'panel error' },
      `The dashboard could not start: ${err instanceof Error ? err.message : String(err)}`,
    ),
  );
});
