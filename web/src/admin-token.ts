import { h } from './dom';

/** The admin token lives in sessionStorage only: gone when the tab closes, never written to disk by the page. */
export const ADMIN_TOKEN_KEY = 'devicehub.admin';

/** The form the pages that need the admin token (rejects, connectors) show until they have one; `problem` says why it asks again. */
export function adminTokenForm(problem: string | undefined, submit: (token: string) => void): HTMLFormElement {
  const input = h('input', {
    name: 'admin-token',
    type: 'password',
    required: '',
    autocomplete: 'off',
    'data-testid': 'admin-token-input',
    'aria-label': 'Admin token',
  });
  const form = h(
    'form',
    { class: 'admin-token-form', 'data-testid': 'admin-token-form' },
    h(
      'p',
      null,
      'This page needs the admin token (ADMIN_TOKEN, or the one printed at start-up). It is kept for this tab only (sessionStorage) and sent only to ',
      h('code', null, '/admin'),
      '.',
    ),
    problem ? h('p', { class: 'error', 'data-testid': 'admin-token-error', role: 'alert' }, problem) : null,
    input,
    h('button', { type: 'submit', 'data-testid': 'admin-token-submit' }, 'Open'),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    submit(input.value.trim());
  });
  queueMicrotask(() => input.focus());
  return form;
}
