// lookalike serve — browser front end.
// Plain ES2020, no build step, no libraries. The server sends a strict CSP: no inline code or
// styles, no external URLs. Data (paths!) only ever reaches the DOM through textContent or
// attributes, never through innerHTML.
'use strict';

// ===================================================================================
// Utilities
// ===================================================================================

const TIERS = ['exact', 'same-shot', 'near-exact', 'copy', 'similar-shot'];
const PROPS = new Set(['checked', 'disabled', 'hidden', 'value', 'selected', 'htmlFor']);

/** Creates an element: el('a', {class: 'x', href: u}, 'text', child, [more]). */
function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') e.className = v;
    else if (PROPS.has(k)) e[k] = v;
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat(Infinity)) if (c !== null && c !== undefined && c !== false) e.append(c);
  return e;
}

function on(target, type, fn, opts) {
  target.addEventListener(type, fn, opts);
  return () => target.removeEventListener(type, fn, opts);
}

/** fetch + JSON. Throws Error(message) with the server's {"error"} text on failure. */
async function api(method, url, body) {
  const init = { method, headers: {}, credentials: 'same-origin' };
  if (method !== 'GET') init.headers['X-Lookalike'] = '1';
  if (body instanceof Blob) init.body = body;
  else if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(url, init);
  } catch (_) {
    throw new Error('Cannot reach the lookalike server. Is it still running?');
  }
  let data = null;
  try { data = await res.json(); } catch (_) { /* not JSON */ }
  if (!res.ok) throw new Error((data && data.error) || `${res.status} ${res.statusText}`);
  return data;
}

const fmt = {
  sim: (x) => (typeof x === 'number' ? x.toFixed(3) : '–'),
  count: (n) => Number(n || 0).toLocaleString(),
  dims: (w, h) => (w && h ? `${w}×${h}` : ''),
  bytes(n) {
    if (typeof n !== 'number' || !isFinite(n)) return '–';
    const units = ['bytes', 'KB', 'MB', 'GB', 'TB'];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return i === 0 ? `${n} bytes` : `${n.toFixed(n < 10 ? 1 : 0)} ${units[i]}`;
  },
  date(s) {
    if (!s) return '';
    const d = new Date(s);
    return isNaN(d) ? String(s) : d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
  },
  plural: (n, one, many = one + 's') => `${fmt.count(n)} ${n === 1 ? one : many}`,
};

const enc = encodeURIComponent;
const thumbUrl = (path, size = 256) => `/api/thumb?path=${enc(path)}&size=${size}`;
const fileUrl = (path) => `/api/file?path=${enc(path)}`;
const baseName = (p) => String(p).split(/[\\/]/).filter(Boolean).pop() || String(p);
const dirName = (p) => String(p).replace(/[\\/][^\\/]*$/, '') || '/';

// Neutral grey picture shown when a thumbnail cannot be loaded (data: URLs are allowed by CSP).
const PLACEHOLDER = 'data:image/svg+xml,' + enc(
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><rect width="64" height="64" fill="#8a8f98" opacity=".25"/>' +
  '<path d="M14 46l12-14 9 10 6-6 9 10z" fill="#8a8f98" opacity=".7"/><circle cx="42" cy="22" r="5" fill="#8a8f98" opacity=".7"/></svg>');

function thumbImg(path, size = 256, alt = '') {
  const img = el('img', { src: thumbUrl(path, size), alt, loading: 'lazy', decoding: 'async' });
  img.addEventListener('error', () => { img.src = PLACEHOLDER; img.classList.add('broken'); }, { once: true });
  return img;
}

/** A tier as people read it: the API writes near_exact, the filters say near-exact. */
function tierName(tier) {
  return String(tier).replace('_', '-');
}

/** A tier's count in the API's `counts` (keyed near_exact, as the JSON writes tiers). */
function tierCount(counts, tier) {
  return counts[tier] ?? counts[tier.replace('-', '_')];
}

function badge(text, cls) {
  return el('span', { class: `badge ${cls || ''}` }, text);
}

/** True while the user is typing in a field (keyboard shortcuts stay quiet then). */
function isTyping() {
  const a = document.activeElement;
  if (!a) return false;
  if (a.isContentEditable || a.tagName === 'TEXTAREA' || a.tagName === 'SELECT') return true;
  return a.tagName === 'INPUT' && !['checkbox', 'radio', 'button', 'submit', 'file'].includes(a.type);
}

async function copyText(text, fallbackNode) {
  try {
    await navigator.clipboard.writeText(text);
    showMessage('Path copied to the clipboard.', 'info');
  } catch (_) {
    // No clipboard access (e.g. not a secure context): select the text so Ctrl+C works.
    const range = document.createRange();
    range.selectNodeContents(fallbackNode);
    const sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
    showMessage('Press Ctrl+C (⌘C) to copy the selected path.', 'info');
  }
}

// ===================================================================================
// Shell: message area, status line, router
// ===================================================================================

let messageTimer = 0;

function showMessage(text, kind = 'error') {
  const box = document.getElementById('message');
  document.getElementById('message-text').textContent = text;
  box.className = `message ${kind}`;
  box.hidden = false;
  clearTimeout(messageTimer);
  if (kind === 'info') messageTimer = setTimeout(clearMessage, 5000);
}

function clearMessage() {
  clearTimeout(messageTimer);
  document.getElementById('message').hidden = true;
}

const app = { status: null, statusReady: Promise.resolve(null), page: null };

async function refreshStatus() {
  try {
    app.status = await api('GET', '/api/status');
  } catch (_) {
    document.getElementById('status-line').textContent = 'server unreachable';
    return null;
  }
  const s = app.status;
  const parts = [fmt.plural(s.index?.files || 0, 'file')];
  if (s.reindex?.running) parts.push('re-indexing…');
  if (s.watch) parts.push('watching');
  document.getElementById('status-line').textContent = parts.join(' · ');
  return s;
}

const PAGES = {
  search: { title: 'Search', mount: searchPage },
  duplicates: { title: 'Duplicates', mount: duplicatesPage },
  index: { title: 'Index', mount: indexPage },
};

function route() {
  const name = (location.hash.match(/^#\/([\w-]+)/) || [])[1];
  const key = PAGES[name] ? name : 'search';
  if (app.page && app.page.unmount) app.page.unmount();
  clearMessage();
  const main = document.getElementById('main');
  main.replaceChildren();
  main.scrollTop = 0;
  main.className = `page-${key}`;
  document.title = `${PAGES[key].title} — lookalike`;
  for (const k of Object.keys(PAGES)) {
    const a = document.getElementById(`nav-${k}`);
    if (k === key) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  app.statusReady = refreshStatus();   // pages may wait on this instead of asking again
  app.page = PAGES[key].mount(main) || {};
}

function start() {
  document.getElementById('message-close').addEventListener('click', clearMessage);
  window.addEventListener('hashchange', route);
  document.addEventListener('keydown', (e) => { if (app.page && app.page.onKey) app.page.onKey(e); });
  route();
}

// ===================================================================================
// Search page
// ===================================================================================

const K = 60;
// Survives leaving and re-entering the page. source: {kind:'upload', blob, url, label} | {kind:'path', path}
const searchMemory = { source: null, mode: 'similar' };

function searchPage(root) {
  let seq = 0;        // bumps on every new query; late answers of older ones are dropped
  let offset = 0;
  let more = false;
  let loading = false;
  const cleanups = [];

  const fileInput = el('input', { type: 'file', accept: 'image/*', id: 'file-input', class: 'visually-hidden' });
  const drop = el('div', { id: 'drop-zone', class: 'drop-zone' },
    el('p', { class: 'drop-title' }, 'Drop a photo here, paste one, or ',
      el('label', { htmlFor: 'file-input', class: 'link' }, 'choose a file')),
    el('p', { class: 'drop-hint' }, 'Find similar photos and copies of it in the index.'),
    fileInput);
  const previewImg = el('img', { id: 'preview-img', alt: 'Query photo' });
  previewImg.addEventListener('error', () => { if (previewImg.src !== PLACEHOLDER) previewImg.src = PLACEHOLDER; });
  const previewCaption = el('figcaption', { id: 'preview-caption' });
  const preview = el('figure', { id: 'preview', class: 'preview', hidden: true }, previewImg, previewCaption);
  const modeSimilar = el('button', { type: 'button', id: 'mode-similar' }, 'Similar photos');
  const modeCopies = el('button', { type: 'button', id: 'mode-copies' }, 'Copies of this photo');
  const searching = el('span', { id: 'searching', class: 'searching', hidden: true }, el('span', { class: 'spinner' }), 'Searching…');
  const summary = el('span', { id: 'result-count', class: 'muted' });
  const grid = el('div', { id: 'results', class: 'results' });
  const empty = el('p', { id: 'empty', class: 'empty', hidden: true });
  const sentinel = el('div', { id: 'sentinel', class: 'sentinel', 'aria-hidden': 'true' });

  root.append(
    el('div', { class: 'search-top' }, drop, preview),
    el('div', { class: 'toolbar' },
      el('div', { class: 'segmented', role: 'group', 'aria-label': 'What to look for' }, modeSimilar, modeCopies),
      summary, searching),
    grid, empty, sentinel);

  function setMode(mode) {
    searchMemory.mode = mode;
    modeSimilar.setAttribute('aria-pressed', String(mode === 'similar'));
    modeCopies.setAttribute('aria-pressed', String(mode === 'copies'));
  }

  function showPreview() {
    const src = searchMemory.source;
    if (!src) return;
    preview.hidden = false;
    if (src.kind === 'upload') {
      previewImg.src = src.url;
      previewCaption.replaceChildren(el('strong', {}, src.label));
    } else {
      previewImg.src = thumbUrl(src.path, 512);
      previewCaption.replaceChildren(el('strong', {}, baseName(src.path)), el('code', { class: 'folder' }, dirName(src.path)));
    }
  }

  function setSource(src) {
    const old = searchMemory.source;
    if (old && old.kind === 'upload') URL.revokeObjectURL(old.url);
    searchMemory.source = src;
    showPreview();
    root.scrollTop = 0;
    runQuery(true);
  }

  function useFile(file, label) {
    if (!file) return;
    setSource({ kind: 'upload', blob: file, url: URL.createObjectURL(file), label: label || file.name || 'Image' });
  }

  function emptyText() {
    if (app.status && app.status.index && app.status.index.files === 0) return 'The index is empty';
    return searchMemory.mode === 'copies' ? 'No copies found' : 'No similar photos found';
  }

  async function runQuery(reset) {
    const src = searchMemory.source;
    if (!src) return;
    if (reset) {
      seq++;
      offset = 0;
      more = false;
      grid.replaceChildren();
      empty.hidden = true;
      summary.textContent = '';
      clearMessage();
    } else if (loading || !more) {
      return;
    }
    const mine = seq;
    loading = true;
    searching.hidden = false;
    const qs = `k=${K}&offset=${offset}&mode=${searchMemory.mode}`;
    try {
      const data = src.kind === 'upload'
        ? await api('POST', `/api/query?${qs}`, src.blob)
        : await api('GET', `/api/query?path=${enc(src.path)}&${qs}`);
      if (mine !== seq) return;
      grid.append(...data.neighbors.map(resultCard));
      offset += K;
      more = Boolean(data.more) && data.neighbors.length > 0;
      const n = grid.childElementCount;
      summary.textContent = n ? `${fmt.plural(n, 'photo')}${more ? '+' : ''}` : '';
      empty.textContent = emptyText();
      empty.hidden = n > 0;
    } catch (err) {
      if (mine === seq) { more = false; showMessage(err.message); }
    } finally {
      if (mine === seq) {
        loading = false;
        searching.hidden = true;
        // The observer only fires on changes: if the sentinel is still in view, keep going.
        if (more) requestAnimationFrame(() => { if (sentinelNear()) runQuery(false); });
      }
    }
  }

  function sentinelNear() {
    return sentinel.getBoundingClientRect().top < root.getBoundingClientRect().bottom + 600;
  }

  function resultCard(n) {
    const thumb = el('button', { type: 'button', class: 'thumb', title: 'Search with this photo', 'aria-label': `Search with ${n.name}` },
      thumbImg(n.path, 256, n.name));
    thumb.addEventListener('click', () => setSource({ kind: 'path', path: n.path }));
    const folder = el('code', { class: 'folder', title: n.folder }, n.folder);
    const copy = el('button', { type: 'button', class: 'small copy-path', 'aria-label': `Copy path of ${n.name}` }, 'Copy path');
    copy.addEventListener('click', () => copyText(n.path, folder));
    const flags = [];
    if (n.exact) flags.push(badge('exact copy', 'tier-exact'));
    else if (n.copy) flags.push(badge('copy', 'tier-near-exact'));
    return el('article', { class: 'result', 'data-path': n.path },
      thumb,
      el('div', { class: 'result-info' },
        el('div', { class: 'result-top' }, el('span', { class: 'sim', title: 'Similarity' }, fmt.sim(n.similarity)), flags),
        el('div', { class: 'name', title: n.name }, n.name),
        el('div', { class: 'meta' }, [fmt.dims(n.width, n.height), fmt.bytes(n.size)].filter(Boolean).join(' · ')),
        el('div', { class: 'meta' }, fmt.date(n.modified)),
        folder,
        el('div', { class: 'result-actions' }, copy,
          el('a', { class: 'small button open', href: fileUrl(n.path), target: '_blank', rel: 'noopener', 'aria-label': `Open ${n.name}` }, 'Open'))));
  }

  // --- events ---------------------------------------------------------------------
  fileInput.addEventListener('change', () => { useFile(fileInput.files[0]); fileInput.value = ''; });
  modeSimilar.addEventListener('click', () => { if (searchMemory.mode !== 'similar') { setMode('similar'); runQuery(true); } });
  modeCopies.addEventListener('click', () => { if (searchMemory.mode !== 'copies') { setMode('copies'); runQuery(true); } });

  // Drops anywhere on the page count (and never make the browser navigate to the file).
  cleanups.push(
    on(document, 'dragover', (e) => { e.preventDefault(); drop.classList.add('dragging'); }),
    on(document, 'dragleave', (e) => { if (!e.relatedTarget) drop.classList.remove('dragging'); }),
    on(document, 'drop', (e) => {
      e.preventDefault();
      drop.classList.remove('dragging');
      const files = [...(e.dataTransfer ? e.dataTransfer.files : [])];
      const file = files.find((f) => f.type.startsWith('image/')) || files[0];
      if (file) useFile(file); else showMessage('Drop an image file.');
    }),
    on(document, 'paste', (e) => {
      const files = [...(e.clipboardData ? e.clipboardData.files : [])];
      const file = files.find((f) => f.type.startsWith('image/'));
      if (file) { e.preventDefault(); useFile(file, 'Pasted image'); }
      else if (!isTyping()) showMessage('The clipboard holds no image.');
    }));

  const observer = new IntersectionObserver((entries) => {
    if (entries.some((x) => x.isIntersecting)) runQuery(false);
  }, { root, rootMargin: '0px 0px 600px 0px' });
  observer.observe(sentinel);

  setMode(searchMemory.mode);
  if (searchMemory.source) { showPreview(); runQuery(true); }
  else {
    app.statusReady.then((s) => {
      if (s && s.index && s.index.files === 0 && !searchMemory.source) {
        empty.textContent = 'The index is empty';
        empty.hidden = false;
      }
    });
  }

  return {
    unmount() {
      seq++;
      observer.disconnect();
      cleanups.forEach((f) => f());
    },
  };
}

// ===================================================================================
// Duplicates page: a virtualised list of groups, fetched 100 at a time
// ===================================================================================

const ROW_H = 256;      // fixed row height (px): keep in sync with .group in app.css
const PAGE_SIZE = 100;
const BUFFER = 3;       // rows rendered above and below the visible ones
const dupMemory = { tiers: new Set(TIERS), showHidden: false, acceptedOnly: false };

function duplicatesPage(root) {
  let gen = 0;                // bumps when the list is reset: answers for older lists are dropped
  let pages = new Map();      // page number -> groups
  let stale = new Map();      // pages of the list before a soft reload, shown until replaced
  let inflight = new Set();   // page numbers being fetched
  let total = -1;             // groups matching the filter (-1: not known yet)
  let selected = -1;          // list index of the selected group
  let marked = false;         // performance mark done for this visit
  let pollTimer = 0;
  let rafPending = false;
  let bulkTier = null;        // the bulk bar's tier <select> (set by bulkBar)
  let loadJournals = () => {}; // set by journalPanel
  const rows = new Map();     // list index -> {el, group}

  // --- layout ----------------------------------------------------------------------
  const tierBoxes = TIERS.map((t) => el('input', { type: 'checkbox', id: `tier-${t}`, class: 'tier-filter', 'data-tier': t, checked: dupMemory.tiers.has(t) }));
  const tierCounts = TIERS.map(() => el('span', { class: 'count' }));
  const showHidden = el('input', { type: 'checkbox', id: 'show-hidden', checked: dupMemory.showHidden });
  const hiddenCount = el('span', { class: 'count' });
  const acceptedOnly = el('input', { type: 'checkbox', id: 'accepted-only', checked: dupMemory.acceptedOnly });
  const acceptedCount = el('span', { class: 'count' });
  const summary = el('span', { id: 'dup-summary', class: 'muted' });
  const helpButton = el('button', { type: 'button', id: 'help-button', class: 'icon-button', 'aria-label': 'Keyboard shortcuts', 'aria-expanded': 'false', title: 'Keyboard shortcuts (?)' }, '?');
  const progressBar = el('progress', { max: 1, value: 0 });
  const progressText = el('span');
  const progress = el('div', { id: 'groups-progress', class: 'progress-box', hidden: true }, progressText, progressBar);
  const help = helpPanel();
  const spacer = el('div', { class: 'spacer' });
  const emptyBox = el('p', { id: 'dup-empty', class: 'empty', hidden: true });
  const list = el('div', { id: 'groups', class: 'group-list', tabindex: '0', 'aria-label': 'Groups of duplicates' }, spacer);
  const side = el('aside', { class: 'dup-side' }, bulkBar(), actionPanel(), journalPanel());

  root.append(
    el('div', { class: 'toolbar dup-toolbar' },
      el('fieldset', { class: 'filters' }, el('legend', { class: 'visually-hidden' }, 'Filters'),
        TIERS.map((t, i) => el('label', { class: `check tier-${t}` }, tierBoxes[i], ` ${t} `, tierCounts[i])),
        el('label', { class: 'check' }, showHidden, ' show hidden (not duplicates) ', hiddenCount),
        el('label', { class: 'check' }, acceptedOnly, ' accepted only ', acceptedCount)),
      helpButton),
    el('p', { class: 'dup-summary-line' }, summary),
    progress, help,
    el('div', { class: 'dup-layout' }, el('div', { class: 'list-wrap' }, list, emptyBox), side));

  // --- fetching ----------------------------------------------------------------------
  function query(offset, limit) {
    const tiers = TIERS.filter((t) => dupMemory.tiers.has(t)).join(',');
    return `/api/groups?offset=${offset}&limit=${limit}&tier=${tiers}` +
      `&decided=${dupMemory.showHidden ? 'show' : 'hide'}&accepted=${dupMemory.acceptedOnly ? 'yes' : 'any'}`;
  }

  async function fetchPage(p) {
    if (pages.has(p) || inflight.has(p) || dupMemory.tiers.size === 0) return;
    const mine = gen;
    const set = inflight;
    set.add(p);
    try {
      const data = await api('GET', query(p * PAGE_SIZE, PAGE_SIZE));
      if (mine !== gen) return;
      if (data.state === 'failed') return showFailed();
      if (data.state !== 'ready') return showRunning(data);  // running (or stale: computing soon)
      progress.hidden = true;
      pages.set(p, data.groups);
      applyTotals(data);
      render();
      if (!marked) { marked = true; performance.mark('lookalike:groups-first-page'); }
    } catch (err) {
      if (mine === gen) showMessage(err.message);
    } finally {
      set.delete(p);
    }
  }

  function showRunning(data) {
    progress.hidden = false;
    // The server may not say how far it is: then the bar is indeterminate, with no count.
    const known = data.total_work > 0;
    progressText.textContent = known
      ? `Finding duplicates… ${fmt.count(data.done)}/${fmt.count(data.total_work)}`
      : 'Finding duplicates…';
    if (known) {
      progressBar.max = data.total_work;
      progressBar.value = data.done || 0;
    } else {
      progressBar.removeAttribute('value');
    }
    clearTimeout(pollTimer);
    pollTimer = setTimeout(() => fetchPage(0), 500);
  }

  async function showFailed() {
    progress.hidden = true;
    const s = await refreshStatus();
    showMessage(`Finding duplicates failed${s && s.groups && s.groups.error ? ': ' + s.groups.error : '.'}`);
  }

  function applyTotals(data) {
    const c = data.counts || {};
    TIERS.forEach((t, i) => { tierCounts[i].textContent = fmt.count(tierCount(c, t)); });
    hiddenCount.textContent = fmt.count(c.hidden);
    acceptedCount.textContent = fmt.count(c.accepted);
    bulkTier.querySelectorAll('option').forEach((o) => { o.textContent = `${o.value} (${fmt.count(tierCount(c, o.value))})`; });
    summary.textContent = `${fmt.plural(data.total, 'group')} · ${fmt.plural(data.duplicates, 'duplicate')} · ${fmt.bytes(data.duplicate_bytes)} to free`;
    if (data.total !== total) {
      total = data.total;
      spacer.style.height = `${total * ROW_H}px`;
      if (selected >= total) selected = total - 1;
    }
    emptyBox.hidden = total > 0;
    emptyBox.textContent = dupMemory.showHidden || dupMemory.acceptedOnly || dupMemory.tiers.size < TIERS.length
      ? 'No groups match these filters' : 'No duplicates found';
  }

  /** Starts the list over. soft: keep the scroll position and show the old rows until the new ones arrive. */
  function reset(soft) {
    gen++;
    clearTimeout(pollTimer);
    stale = soft ? new Map([...stale, ...pages]) : new Map();
    pages = new Map();
    inflight = new Set();
    if (!soft) {
      total = -1;
      selected = -1;
      list.scrollTop = 0;
      spacer.style.height = '0px';
      rows.forEach((r) => r.el.remove());
      rows.clear();
      if (dupMemory.tiers.size === 0) {
        summary.textContent = '';
        emptyBox.textContent = 'Choose at least one tier';
        emptyBox.hidden = false;
        return;
      }
    }
    render();
  }

  const groupAt = (i) => {
    const p = Math.floor(i / PAGE_SIZE);
    const page = pages.get(p) || stale.get(p);
    return page ? page[i % PAGE_SIZE] : undefined;
  };

  // --- rendering -------------------------------------------------------------------------
  function render() {
    const top = list.scrollTop;
    const height = list.clientHeight || 600;
    const first = Math.max(0, Math.floor(top / ROW_H) - BUFFER);
    if (total < 0) { fetchPage(Math.floor(first / PAGE_SIZE)); return; }
    const last = Math.min(total - 1, Math.ceil((top + height) / ROW_H) + BUFFER);
    for (let p = Math.floor(first / PAGE_SIZE); p <= Math.floor(last / PAGE_SIZE); p++) fetchPage(p);
    for (const [i, r] of rows) {
      if (i < first || i > last) { r.el.remove(); rows.delete(i); }
    }
    for (let i = first; i <= last; i++) {
      const g = groupAt(i);
      const old = rows.get(i);
      if (old && old.group === g) continue;
      const row = g ? groupRow(g, i) : el('div', { class: 'group-placeholder' }, 'Loading…');
      row.style.top = `${i * ROW_H}px`;
      if (old) {
        // Keep the strip's horizontal scroll when a row is redrawn in place.
        const a = old.el.querySelector('.strip');
        old.el.replaceWith(row);
        const b = row.querySelector('.strip');
        if (a && b) b.scrollLeft = a.scrollLeft;
      } else {
        list.append(row);
      }
      rows.set(i, { el: row, group: g });
    }
    rows.forEach((r, i) => r.el.classList.toggle('selected', i === selected));
  }

  function scheduleRender() {
    if (rafPending) return;
    rafPending = true;
    requestAnimationFrame(() => { rafPending = false; render(); });
  }

  function groupRow(g, i) {
    // What acting on the group frees: its duplicates (not the other files of the keeper's
    // shot, nor other shots of the scene), as the summary counts them.
    const freed = g.members
      .filter((m) => !m.keeper && !m.reference && m.tier !== 'same_shot' && m.tier !== 'similar_shot')
      .reduce((s, m) => s + (m.size || 0), 0);
    const verdict = g.decision && g.decision.verdict;
    const button = (cls, text, verdictName, label) => {
      const b = el('button', { type: 'button', class: `small ${cls}`, 'aria-label': label, disabled: cls === 'clear' && !verdict }, text);
      b.addEventListener('click', (e) => { e.stopPropagation(); select(i); decide(i, g, verdictName); });
      return b;
    };
    const row = el('article', { class: `group${verdict ? ' decided-' + verdict : ''}`, 'data-id': g.id, 'data-position': g.position, 'data-index': i, 'aria-label': `Group ${g.position + 1}` },
      el('div', { class: 'group-head' },
        el('span', { class: 'pos' }, `#${g.position + 1}`),
        badge(tierName(g.tier), `tier-${tierName(g.tier)}`),
        decisionBadge(g.decision),
        el('span', { class: 'muted' }, fmt.plural(g.members.length, 'photo')),
        el('span', { class: 'muted' }, `frees ${fmt.bytes(freed)}`),
        el('span', { class: 'grow' }),
        button('accept', 'Accept', 'accepted', 'Accept this group (a)'),
        button('not-duplicates', 'Not duplicates', 'not-duplicates', 'Mark as not duplicates (n)'),
        button('clear', 'Clear', 'clear', 'Clear the decision (u)')),
      el('div', { class: 'strip' }, g.members.map((m, k) => memberCard(g, m, k, i))));
    row.addEventListener('click', () => select(i));
    return row;
  }

  function decisionBadge(d) {
    if (!d) return badge('undecided', 'decision-none');
    const text = { accepted: 'accepted', keeper: 'keeper chosen', 'not-duplicates': 'not duplicates' }[d.verdict] || d.verdict;
    return el('span', { class: `badge decision-${d.verdict}`, title: `Decided ${fmt.date(d.decided_at)}` }, text);
  }

  function memberCard(g, m, k, i) {
    const keep = el('button', { type: 'button', class: 'small keep', disabled: m.keeper, 'aria-label': `Keep ${m.name}${k < 9 ? ` (${k + 1})` : ''}` }, m.keeper ? 'Kept' : 'Keep');
    keep.addEventListener('click', (e) => { e.stopPropagation(); select(i); decide(i, g, 'keeper', m.path); });
    return el('div', { class: `member${m.keeper ? ' is-keeper' : ''}`, 'data-path': m.path, title: m.path },
      el('a', { class: 'member-thumb', href: fileUrl(m.path), target: '_blank', rel: 'noopener', 'aria-label': `Open ${m.name}` },
        thumbImg(m.path, 256, m.name),
        m.keeper && el('span', { class: 'marker keeper-marker' }, 'keeper'),
        m.reference && el('span', { class: 'marker ref-marker', title: 'In a reference folder: never touched' }, 'ref'),
        k < 9 && el('kbd', { class: 'member-key' }, String(k + 1))),
      el('div', { class: 'name', title: m.name }, m.name),
      el('div', { class: 'meta' }, [fmt.dims(m.width, m.height), fmt.bytes(m.size)].filter(Boolean).join(' · ')),
      el('div', { class: 'meta member-foot' },
        el('span', { title: 'Similarity to the keeper' }, fmt.sim(m.similarity)),
        el('span', { class: `tier-text tier-${tierName(m.tier)}`, title: whyText(m) }, tierName(m.tier)), keep));
  }

  /** Why a member is in its tier: the pair verifier's probability and main reasons. */
  function whyText(m) {
    if (!m.verifier) return m.keeper ? 'The keeper' : `Tier ${tierName(m.tier)}`;
    const reasons = m.verifier.reasons
      .map((r) => `${r.feature.replace(/_/g, ' ')} ${r.effect >= 0 ? '+' : ''}${r.effect.toFixed(1)}`)
      .join(', ');
    return `One picture with the keeper: ${Math.round(100 * m.verifier.probability)} % (${reasons})`;
  }

  // --- decisions and keyboard review ----------------------------------------------------
  async function decide(i, g, verdict, keeper) {
    const body = { group: g.id, verdict };
    if (keeper) body.keeper = keeper;
    // Accepting keeps a keeper chosen earlier (members[0] is the keeper).
    else if (verdict === 'accepted' && g.decision && g.decision.keeper) body.keeper = g.members[0].path;
    try {
      const res = await api('POST', '/api/decisions', body);
      const page = pages.get(Math.floor(i / PAGE_SIZE));
      if (res.group && !dupMemory.acceptedOnly && page && page[i % PAGE_SIZE] && page[i % PAGE_SIZE].id === g.id) {
        page[i % PAGE_SIZE] = { ...res.group, position: g.position };  // the list's numbering
        render();
        refreshCounts();
      } else {
        reset(true);  // the group left the list (hidden, or no longer matches the filter)
      }
    } catch (err) {
      showMessage(err.message);
    }
  }

  async function refreshCounts() {
    const mine = gen;
    try {
      const data = await api('GET', query(0, 1));
      if (mine !== gen || data.state !== 'ready') return;
      const before = total;
      applyTotals(data);
      if (data.total !== before) reset(true);
    } catch (_) { /* counts stay as they were */ }
  }

  function select(i, scroll = false) {
    if (total <= 0) return;
    selected = Math.max(0, Math.min(total - 1, i));
    if (scroll) {
      const top = selected * ROW_H;
      if (top < list.scrollTop) list.scrollTop = top;
      else if (top + ROW_H > list.scrollTop + list.clientHeight) list.scrollTop = top + ROW_H - list.clientHeight;
    }
    render();
  }

  function move(d) {
    if (selected < 0) select(Math.ceil(list.scrollTop / ROW_H), true);
    else select(selected + d, true);
  }

  function onKey(e) {
    if (e.ctrlKey || e.metaKey || e.altKey || isTyping()) return;
    const g = selected >= 0 ? groupAt(selected) : undefined;
    const k = e.key;
    if (k === 'j' || k === 'ArrowDown') move(1);
    else if (k === 'k' || k === 'ArrowUp') move(-1);
    else if (k === '?') toggleHelp();
    else if (k === 'Escape') toggleHelp(false);
    else if (k === 'a' || k === 'n' || k === 'u') {
      if (g) decide(selected, g, { a: 'accepted', n: 'not-duplicates', u: 'clear' }[k]);
    } else if (/^[1-9]$/.test(k)) {
      const m = g && g.members[Number(k) - 1];
      if (m) decide(selected, g, 'keeper', m.path);
    } else return;
    e.preventDefault();
  }

  function toggleHelp(show = help.hidden) {
    help.hidden = !show;
    helpButton.setAttribute('aria-expanded', String(show));
  }

  function helpPanel() {
    const keys = [['j / ↓', 'next group'], ['k / ↑', 'previous group'], ['1 … 9', 'make member N the keeper'],
      ['a', 'accept the group (keep the keeper, act on the others)'], ['n', 'not duplicates (hide the group)'],
      ['u', 'clear the decision'], ['?', 'show or hide this help']];
    return el('div', { id: 'help', class: 'help', hidden: true },
      el('h2', {}, 'Keyboard review'),
      el('dl', {}, keys.map(([key, what]) => [el('dt', {}, el('kbd', {}, key)), el('dd', {}, what)])));
  }

  // --- bulk accept ----------------------------------------------------------------------
  function bulkBar() {
    bulkTier = el('select', { id: 'bulk-tier', 'aria-label': 'Tier' }, TIERS.map((t) => el('option', { value: t }, t)));
    const go = el('button', { type: 'button', id: 'bulk-accept' }, 'Accept keep-best');
    go.addEventListener('click', async () => {
      go.disabled = true;
      clearMessage();
      try {
        const res = await api('POST', '/api/decisions/bulk', { verdict: 'accepted', tier: [bulkTier.value], undecided_only: true });
        showMessage(`Accepted ${fmt.plural(res.decided, 'group')} (${bulkTier.value}).`, 'info');
        reset(true);
      } catch (err) {
        showMessage(err.message);
      } finally {
        go.disabled = false;
      }
    });
    return el('section', { id: 'bulk', class: 'panel' },
      el('h2', {}, 'Bulk review'),
      el('p', { class: 'bulk-line' }, go, ' for every ', bulkTier, ' group'),
      el('p', { class: 'muted small-text' }, 'Undecided groups only; the best photo of each group is kept.'));
  }

  // --- actions: plan, run, journals, undo -------------------------------------------------
  function actionPanel() {
    const action = el('select', { id: 'action' },
      el('option', { value: 'move' }, 'Move copies to a folder'),
      el('option', { value: 'trash' }, 'Move copies to the trash'),
      el('option', { value: 'hardlink' }, 'Replace exact copies by hard links'));
    const moveTo = el('input', { type: 'text', id: 'move-to', placeholder: '/path/to/folder', spellcheck: 'false', autocomplete: 'off' });
    const moveRow = el('label', { class: 'field' }, 'Target folder', moveTo);
    const sameShot = el('input', { type: 'checkbox', id: 'same-shot' });
    const planButton = el('button', { type: 'button', id: 'plan', class: 'primary' }, 'Preview');
    const runButton = el('button', { type: 'button', id: 'run', class: 'danger', disabled: true }, 'Carry out');
    const out = el('div', { id: 'plan-result', class: 'plan-result' });
    let planned = null;   // the body of the last previewed plan

    const body = () => {
      const b = { action: action.value, same_shot: sameShot.checked };
      if (action.value === 'move') b.to = moveTo.value.trim();
      return b;
    };
    const invalidate = () => { planned = null; runButton.disabled = true; };
    action.addEventListener('change', () => { moveRow.hidden = action.value !== 'move'; invalidate(); });
    moveTo.addEventListener('input', invalidate);
    sameShot.addEventListener('change', invalidate);

    planButton.addEventListener('click', async () => {
      const b = body();
      clearMessage();
      if (b.action === 'move' && !b.to) { showMessage('Choose a target folder to move the copies to.'); moveTo.focus(); return; }
      invalidate();
      try {
        const plan = await api('POST', '/api/actions/plan', b);
        out.replaceChildren(...planView(plan));
        planned = plan.steps.length ? b : null;
        runButton.disabled = !planned;
      } catch (err) {
        showMessage(err.message);
      }
    });

    runButton.addEventListener('click', async () => {
      if (!planned) return;
      const what = { move: 'move', trash: 'move to the trash', hardlink: 'replace by hard links' }[planned.action];
      if (!window.confirm(`Really ${what} the copies listed in the preview? A journal is written so this can be undone.`)) return;
      runButton.disabled = true;
      clearMessage();
      try {
        const res = await api('POST', '/api/actions/run', { ...planned, confirm: true });
        out.replaceChildren(...runView(res));
        planned = null;
        reset(true);
        loadJournals();
        refreshStatus();
      } catch (err) {
        showMessage(err.message);
        runButton.disabled = false;
      }
    });

    return el('section', { id: 'actions', class: 'panel' },
      el('h2', {}, 'Act on accepted groups'),
      el('label', { class: 'field' }, 'Action', action),
      moveRow,
      el('label', { class: 'check' }, sameShot, ' also split RAW+JPEG shots (same-shot files)'),
      el('div', { class: 'buttons' }, planButton, runButton),
      out);
  }

  function planView(plan) {
    const notes = [];
    if (plan.not_exact) notes.push(el('li', {}, `${fmt.plural(plan.not_exact, 'near-duplicate')} left alone (hard links replace exact copies only)`));
    if (plan.kept_with_shot) notes.push(el('li', {}, `${fmt.plural(plan.kept_with_shot, 'file')} left with their shot (a RAW and its JPEG stay together)`));
    const shown = plan.steps.slice(0, 200);
    return [
      el('p', { class: 'totals' }, `${fmt.plural(plan.steps.length, 'file')} · ${fmt.bytes(plan.bytes)} · from ${fmt.plural(plan.groups, 'group')}`),
      notes.length ? el('ul', { class: 'notes' }, notes) : null,
      plan.steps.length ? el('ol', { class: 'steps' }, shown.map((s) => el('li', {},
        el('code', { title: s.path }, s.path),
        s.target ? el('code', { class: 'target', title: s.target }, `→ ${s.target}`) : null))) : el('p', { class: 'muted' }, 'Nothing to do: accept some groups first.'),
      plan.steps.length > shown.length ? el('p', { class: 'muted' }, `…and ${fmt.count(plan.steps.length - shown.length)} more`) : null,
    ].filter(Boolean);
  }

  function runView(res) {
    const problems = (res.entries || []).filter((e) => e.status !== 'done').slice(0, 100);
    return [
      el('p', { class: 'totals' }, `Done ${fmt.count(res.done)} · skipped ${fmt.count(res.skipped)} · failed ${fmt.count(res.failed)} · ${fmt.bytes(res.bytes)}`),
      el('p', { class: 'muted' }, 'Journal: ', el('code', {}, res.journal || '–')),
      problems.length ? el('ul', { class: 'steps' }, problems.map((e) => el('li', { class: e.status },
        el('code', { title: e.path }, e.path), el('span', { class: 'muted' }, `${e.status}${e.detail ? ': ' + e.detail : ''}`)))) : null,
    ].filter(Boolean);
  }

  function journalPanel() {
    const ul = el('ul', { class: 'journals' });
    const report = el('div', { id: 'undo-result' });
    loadJournals = async () => {
      try {
        const { journals } = await api('GET', '/api/journals');
        ul.replaceChildren(...(journals.length ? journals.map(journalItem) : [el('li', { class: 'muted' }, 'No actions carried out yet.')]));
      } catch (err) {
        showMessage(err.message);
      }
    };
    const journalItem = (j) => {
      const undo = el('button', { type: 'button', class: 'small undo', 'data-journal': j.name, 'aria-label': `Undo ${j.name}` }, j.undone ? 'Undone' : 'Undo');
      undo.disabled = Boolean(j.undone);
      undo.addEventListener('click', async () => {
        undo.disabled = true;
        clearMessage();
        try {
          const r = await api('POST', '/api/undo', { journal: j.name });
          report.replaceChildren(
            el('p', { class: 'totals' }, `Restored ${fmt.count(r.restored)} · irreversible ${fmt.count(r.irreversible)}`),
            (r.problems || []).length ? el('ul', { class: 'notes' }, r.problems.map((p) => el('li', {}, p))) : null);
          reset(true);
          loadJournals();
          refreshStatus();
        } catch (err) {
          showMessage(err.message);
          undo.disabled = false;
        }
      });
      return el('li', {}, el('div', {}, el('code', { title: j.name }, j.name),
        el('div', { class: 'muted' }, `${fmt.date(j.modified)} · ${fmt.plural(j.steps, 'step')}`)), undo);
    };
    return el('section', { id: 'journals', class: 'panel' }, el('h2', {}, 'Journals'), ul, report);
  }

  // --- events ----------------------------------------------------------------------------
  const onFilter = () => {
    dupMemory.tiers = new Set(TIERS.filter((t, i) => tierBoxes[i].checked));
    dupMemory.showHidden = showHidden.checked;
    dupMemory.acceptedOnly = acceptedOnly.checked;
    reset(false);
  };
  [...tierBoxes, showHidden, acceptedOnly].forEach((b) => b.addEventListener('change', onFilter));
  helpButton.addEventListener('click', () => toggleHelp());
  list.addEventListener('scroll', scheduleRender, { passive: true });
  const resize = new ResizeObserver(scheduleRender);
  resize.observe(list);

  reset(false);
  loadJournals();

  return {
    onKey,
    unmount() {
      gen++;
      clearTimeout(pollTimer);
      resize.disconnect();
    },
  };
}

// ===================================================================================
// Index page
// ===================================================================================

function indexPage(root) {
  let pollTimer = 0;
  let alive = true;
  let wasRunning = false;
  const table = el('table', { id: 'index-table', class: 'facts' });
  const button = el('button', { type: 'button', id: 'reindex', class: 'primary' }, 'Re-index now');
  const bar = el('progress', { id: 'reindex-progress', max: 1, value: 0 });
  const phase = el('span', { id: 'reindex-phase' });
  const progress = el('div', { class: 'progress-box', hidden: true }, phase, bar);
  const report = el('div', { id: 'reindex-report' });

  root.append(
    el('h1', {}, 'Index'),
    table,
    el('section', { class: 'panel reindex' },
      el('div', { class: 'panel-head' }, el('h2', {}, 'Re-index'), button),
      el('p', { class: 'muted' }, 'Scans the folders again and embeds new or changed photos only.'),
      progress, report));

  function row(label, value) {
    return el('tr', {}, el('th', { scope: 'row' }, label), el('td', {}, value));
  }

  function renderTable(s) {
    const ix = s.index || {};
    table.replaceChildren(el('tbody', {},
      row('Index', el('code', {}, ix.path || '–')),
      row('Model', ix.model_id || '–'),
      row('Files', fmt.count(ix.files)),
      row('Distinct images', fmt.count(ix.distinct_images)),
      row('Dimension', String(ix.dim ?? '–')),
      row('Graph points', fmt.count(ix.graph_points)),
      row('Size on disk', fmt.bytes(ix.size_on_disk_bytes)),
      row('Roots', (s.roots || []).length ? el('ul', { class: 'plain' }, s.roots.map((r) => el('li', {}, el('code', {}, r)))) : 'none'),
      row('Watch', s.watch ? 'on' : 'off'),
      row('Generation', String(ix.generation ?? '–'))));
  }

  function renderReindex(r) {
    progress.hidden = !r.running;
    button.disabled = r.running;
    if (r.running) {
      phase.textContent = `${r.phase || 'starting'}… ${fmt.count(r.done)}/${fmt.count(r.total)}`;
      bar.max = Math.max(1, r.total || 0);
      bar.value = r.done || 0;
    }
    const parts = [];
    if (r.error) parts.push(el('p', { class: 'error-text' }, `Last re-index failed: ${r.error}`));
    const rep = r.last_report;
    if (rep) {
      const keys = ['scanned', 'embedded', 'unchanged', 'renamed', 'copies', 'removed'];
      const skipped = rep.skipped || [];
      parts.push(el('h3', {}, 'Last re-index'),
        el('p', { class: 'muted' }, [r.finished_at && `finished ${fmt.date(r.finished_at)}`,
          typeof rep.elapsed_s === 'number' && `took ${rep.elapsed_s.toFixed(1)} s`].filter(Boolean).join(' · ')),
        el('dl', { class: 'report' },
          keys.map((k) => [el('dt', {}, k), el('dd', {}, fmt.count(rep[k]))]),
          el('dt', {}, 'skipped'), el('dd', {}, fmt.count(skipped.length))));
      if (skipped.length) {
        parts.push(el('details', {}, el('summary', {}, `Skipped files (${fmt.count(skipped.length)})`),
          el('ul', { class: 'steps' }, skipped.slice(0, 200).map((x) => el('li', {},
            el('code', {}, typeof x === 'string' ? x : Object.values(x).join(' — ')))))));
      }
    } else if (!r.running) {
      parts.push(el('p', { class: 'muted' }, 'No re-index has run since the server started.'));
    }
    report.replaceChildren(...parts);
  }

  async function load(first) {
    const s = await (first ? app.statusReady : refreshStatus());
    if (!alive || !s) return;
    renderTable(s);
    renderReindex(s.reindex || {});
    const running = Boolean(s.reindex && s.reindex.running);
    if (running) pollTimer = setTimeout(() => load(false), 500);
    else if (wasRunning) showMessage('Re-index finished.', 'info');
    wasRunning = running;
  }

  button.addEventListener('click', async () => {
    button.disabled = true;
    try {
      await api('POST', '/api/reindex');
    } catch (err) {
      showMessage(err.message);
    }
    clearTimeout(pollTimer);
    wasRunning = true;
    load(false);
  });

  load(true);
  return { unmount() { alive = false; clearTimeout(pollTimer); } };
}

start();
