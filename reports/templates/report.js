// Offline behaviour of the report: drill-down panel, matrix filters, the full attention list.
// The cases live in one JSON block (#report-data, written by reports/casedata.py: its docstring
// describes the layout). The matrix and its unfiltered counts are in the page; the filters recount
// them from the data, and a cell's drill-down is built from the data when it opens. Elements are
// made with createElement and filled with textContent, never from HTML strings: no text from a
// result can become markup.
(function () {
  'use strict';
  var $ = function (sel, root) { return (root || document).querySelector(sel); };
  var $$ = function (sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); };
  var D = JSON.parse(document.getElementById('report-data').textContent);
  var C = D.cases;
  var N = C.st.length;
  var PASS = D.statuses.indexOf('pass');
  var PAGE = 200;  // cases a drill-down lists at once; 'Show more' lists the next ones
  var panel = $('#panel');
  var openAnchor = '';  // the drill-down the URL hash names: 'd-CELL' or a case's id, '' when closed
  var shownCell = -1, shownLimit = PAGE, userOpen = {};  // the panel's cell, how many it lists, toggles

  var cellIndex = {};
  D.cells.forEach(function (c, i) { cellIndex[c[0]] = i; });
  var cellOfCase = null;  // case index -> cell index, made when first needed

  // ---------------------------------------------------------------- reading the data
  function text(v) {  // a templated field: see casedata.Templates
    if (typeof v === 'number') { return D.templates[v].join(''); }
    var parts = v.split(','), pieces = D.templates[+parts[0]], s = pieces[0];
    for (var i = 1; i < pieces.length; i += 1) { s += parts[i] + pieces[i]; }
    return s;
  }
  function caseId(i) { return D.strings[C.ih[i]] + D.strings[C.it[i]]; }
  function message(i) { return text(C.ms[i]); }
  function reproduce(i) {
    if (C.rp[i] === null) { return ''; }
    var parts = D.reproduce[C.rp[i]];
    return parts.length === 1 ? parts[0] : parts[0] + caseId(i) + parts[1];
  }
  function cellOf(i) {
    if (!cellOfCase) {
      cellOfCase = new Int32Array(N);
      D.cells.forEach(function (c, k) { cellOfCase.fill(k, c[3], c[3] + c[4]); });
    }
    return cellOfCase[i];
  }
  function anchorOf(i) { var c = D.cells[cellOf(i)]; return c[0] + '-' + (i - c[3]); }
  function safeUrl(u) { return /^https?:\/\//.test(u || '') ? u : '#'; }

  // A drill-down anchor: 'd-CELL' (k = -1) or 'CELL-K' (case K of the cell); null when not one.
  function parseAnchor(anchor) {
    if (!anchor) { return null; }
    if (anchor.indexOf('d-') === 0 && cellIndex.hasOwnProperty(anchor.slice(2))) {
      return { cell: cellIndex[anchor.slice(2)], k: -1 };
    }
    var dash = anchor.lastIndexOf('-'), cell = anchor.slice(0, dash), k = anchor.slice(dash + 1);
    if (dash > 0 && cellIndex.hasOwnProperty(cell) && /^\d+$/.test(k) && +k < D.cells[cellIndex[cell]][4]) {
      return { cell: cellIndex[cell], k: +k };
    }
    return null;
  }

  // ---------------------------------------------------------------- building elements
  function el(tag, attrs, kids) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      var v = attrs[k];
      if (v === null || v === undefined || v === false) { return; }
      if (k === 'class') { e.className = v; } else { e.setAttribute(k, v === true ? '' : String(v)); }
    });
    (kids || []).forEach(function (kid) {
      if (kid === null || kid === undefined || kid === '') { return; }
      e.appendChild(typeof kid === 'string' ? document.createTextNode(kid) : kid);
    });
    return e;
  }
  function badge(st, extra) {
    return el('span', { 'class': 'badge s-' + D.statuses[st] },
              [D.symbols[st] + ' ' + (extra === undefined ? '' : extra + ' ') + D.labels[st]]);
  }
  function code(s, cls) { return el('code', { 'class': cls }, [s]); }
  function link(href, label) { return el('a', { href: safeUrl(href), rel: 'noreferrer' }, [label]); }

  // The <dl> of one case, as it opens.
  function caseBody(i) {
    var kv = [], add = function (term, dd) { kv.push(el('dt', null, [term]), dd); };
    var variant = D.variants[C.va[i]], exp = D.expected[C.ex[i]], more = D.extra[i] || {};
    add('case', el('dd', null, [code(caseId(i))].concat(variant[1] ? [' · op ', code(variant[1])] : [])));
    add('expected', el('dd', null, [exp[0]].concat(exp[1] ? [' · ', code(exp[1])] : [])));
    if (exp[2]) { add('reason', el('dd', { 'class': 'reason' }, [exp[2]])); }
    if (exp[3]) { add('upstream issue', el('dd', null, [link(exp[4], exp[3])])); }
    add('observed', el('dd', null, [code(text(C.ob[i]))]));
    add('message', el('dd', { 'class': 'message' }, [message(i) || '—']));
    if (more.i) {
      var inc = more.i, how = inc.signal || 'exit code ' + inc.exit_code;
      var lines = inc.lines.length ? [el('pre', null, [inc.lines.join('\n')])] : [];
      add('incident', el('dd', { 'class': 'incident' }, [inc.kind + ' · ' + how].concat(lines)));
    }
    if (C.sx[i] !== null) {
      var st = D.stats[C.sx[i]];
      add('statistics', el('dd', null, ['p-value ', el('b', { 'class': 'pval' }, [C.pv[i]]), ' · n ' + st[0] +
        ' · minimum detectable deviation ' + st[1] + ' · false-alarm share ' + st[2]]));
    }
    if (more.w && more.w.length) {
      var items = more.w.map(function (w) { return el('li', null, [w]); });
      add('warnings', el('dd', null, [el('ul', { 'class': 'warnings' }, items)]));
    }
    add('seed', el('dd', null, [code(C.sd[i] === null ? '—' : String(C.sd[i]))]));
    var repro = reproduce(i);
    if (repro) { add('reproduce', el('dd', null, [code(repro, 'repro')])); }
    return el('dl', { 'class': 'kv' }, kv);
  }

  // One case of a drill-down: open when it needs a look (not a pass) or is its cell's only case; the
  // body is built when it opens, so a cell of many passes costs one summary line per case.
  function caseElement(i, k, open) {
    var st = C.st[i], attrs = { 'class': 'case s-' + D.statuses[st], id: D.cells[cellOf(i)][0] + '-' + k,
                                'data-status': D.statuses[st], 'data-i': i };
    var variant = D.variants[C.va[i]];
    D.axes.forEach(function (a, n) { attrs['data-a-' + a.name] = a.values[variant[2 + n]] || ''; });
    var summary = el('summary', null, [badge(st), ' ', el('span', { 'class': 'params' }, [variant[0]])]);
    var details = el('details', attrs, [summary]);
    if (open) { details.open = true; details.appendChild(caseBody(i)); }
    return details;
  }
  panel.addEventListener('toggle', function (e) {
    var d = e.target;
    if (!d.matches || !d.matches('details.case')) { return; }
    var i = +d.getAttribute('data-i');
    userOpen[i] = d.open;
    if (d.open && !$('dl', d)) { d.appendChild(caseBody(i)); }
  }, true);  // toggle does not bubble: listen while it goes down

  // The drill-down of a cell: claim, sources, and the cases the filters keep (a linked case too).
  function renderDetail(c, linkK) {
    var cell = D.cells[c], row = D.rows[cell[1]], col = D.columns[cell[2]], start = cell[3], n = cell[4];
    var counts = D.statuses.map(function () { return 0; }), keep = [];
    var state = currentState;
    for (var i = start; i < start + n; i += 1) {
      counts[C.st[i]] += 1;
      if (caseShown(i, state) || i - start === linkK) { keep.push(i); }
    }
    var shown = keep.length - (linkK >= 0 && !caseShown(start + linkK, state) ? 1 : 0);
    if (linkK >= 0) { shownLimit = Math.max(shownLimit, keep.indexOf(start + linkK) + 1); }
    var summary = [];
    counts.forEach(function (count, st) { if (count) { summary.push(badge(st, count), ' '); } });
    var target = [el('b', null, [col.title]), ' ' + col.subtitle];
    if (col.device) { target.push(' ', el('span', { 'class': 'muted' }, ['(' + col.device + ')'])); }
    var kids = [
      el('p', { 'class': 'crumbs' }, [row.behavior + ' · ', code(row.spec)]),
      el('h2', null, [row.title]),
      el('p', { 'class': 'target' }, target),
      el('p', { 'class': 'summary' }, summary)
    ];
    if (row.claim) { kids.push(el('blockquote', { 'class': 'claim' }, [row.claim])); }
    if (row.sources.length) {
      kids.push(el('ul', { 'class': 'sources' }, row.sources.map(function (s) {
        return el('li', null, [link(s.url, s.name)].concat(s.quote ? [': ', el('q', null, [s.quote])] : []));
      })));
    }
    kids.push(el('h3', null, [el('span', { 'class': 'shown' }, [shown === n ? '' : shown + ' of ']),
                              n + ' case' + (n === 1 ? '' : 's')]));
    var list = el('div', { 'class': 'cases' });
    kids.push(list);
    var section = el('section', { 'class': 'detail', id: 'd-' + cell[0] }, kids);
    function listMore() {
      var from = list.children.length, to = Math.min(keep.length, shownLimit);
      var frag = document.createDocumentFragment();
      for (var j = from; j < to; j += 1) {
        var idx = keep[j], wanted = userOpen.hasOwnProperty(idx) ? userOpen[idx]
          : C.st[idx] !== PASS || n === 1 || idx - start === linkK;
        frag.appendChild(caseElement(idx, idx - start, wanted));
      }
      list.appendChild(frag);
      var button = $('button.more-cases', section);
      if (to < keep.length) {
        if (!button) {
          button = el('button', { type: 'button', 'class': 'linkish more-cases' });
          button.addEventListener('click', function () { shownLimit += PAGE; listMore(); });
          section.appendChild(button);
        }
        button.textContent = 'Show ' + Math.min(PAGE, keep.length - to) + ' more of ' + (keep.length - to);
      } else if (button) {
        button.remove();
      }
    }
    listMore();
    var old = $('.detail', panel);
    if (old) { panel.replaceChild(section, old); } else { panel.appendChild(section); }
    return section;
  }

  function openCell(cellId, caseAnchor) {
    var c = cellIndex.hasOwnProperty(cellId) ? cellIndex[cellId] : -1;
    if (c < 0) { return; }
    var link = caseAnchor ? parseAnchor(caseAnchor) : null;
    var linkK = link && link.cell === c ? link.k : -1;
    if (c !== shownCell) { shownCell = c; shownLimit = PAGE; userOpen = {}; }
    renderDetail(c, linkK);
    panel.hidden = false;
    document.body.classList.add('panel-open');
    $$('button.cell.active').forEach(function (b) { b.classList.remove('active'); });
    var button = document.querySelector('button.cell[data-open="' + cellId + '"]');
    if (button) { button.classList.add('active'); }
    openAnchor = linkK >= 0 ? caseAnchor : 'd-' + cellId;
    writeHash();
    var target = linkK >= 0 && document.getElementById(caseAnchor);
    if (target) {
      target.scrollIntoView({ block: 'start' });  // a linked case is listed even where the filters would not
    } else {
      panel.scrollTop = 0;
    }
  }

  function closePanel() {
    panel.hidden = true;
    document.body.classList.remove('panel-open');
    $$('button.cell.active').forEach(function (b) { b.classList.remove('active'); });
    openAnchor = '';
    writeHash();
  }

  document.addEventListener('click', function (e) {
    var opener = e.target.closest('[data-open]');
    if (opener) { openCell(opener.getAttribute('data-open'), opener.getAttribute('data-case')); }
  });
  document.addEventListener('keydown', function (e) {
    if (e.key === 'Escape' && !panel.hidden) { closePanel(); return; }
    var opener = e.target.closest && e.target.closest('tr[data-open]');
    if (opener && (e.key === 'Enter' || e.key === ' ')) {
      e.preventDefault();
      openCell(opener.getAttribute('data-open'), opener.getAttribute('data-case'));
    }
  });
  $('#panel-close').addEventListener('click', closePanel);

  // The page lists the first rows that need attention; the rest come from the data on request.
  var more = $('#show-more');
  if (more) {
    more.addEventListener('click', function () {
      var body = $('#attention-list tbody'), frag = document.createDocumentFragment();
      D.attention.slice(body.children.length).forEach(function (i) {
        var col = D.columns[D.cells[cellOf(i)][2]], st = C.st[i], anchor = anchorOf(i);
        frag.appendChild(el('tr', { 'class': 's-' + D.statuses[st], 'data-open': D.cells[cellOf(i)][0],
                                    'data-case': anchor, tabindex: '0' }, [
          el('td', null, [badge(st)]),
          el('td', { 'class': 'nowrap' }, [col.title + ' ', el('span', { 'class': 'muted' }, [col.subtitle])]),
          el('td', null, [code(caseId(i))]),
          el('td', { 'class': 'msg' }, [message(i)])
        ]));
      });
      body.appendChild(frag);
      more.hidden = true;
    });
  }

  // ---------------------------------------------------------------- filters
  // Column filters (framework, device, mode) hide targets; behaviour and search hide rows; status and
  // the case axes (dtype, rank, p, ...) pick cases, and every cell, total and the open drill-down are
  // recounted from the cases that pass. Within an axis the ticked values are OR'ed; all filters AND'ed.
  var form = $('#filters');
  var SELECTS = ['framework', 'device', 'mode', 'behavior'];
  var axisNames = D.axes.map(function (a) { return a.name; });
  var currentState = null;

  function axisBox(name) { return $('#f-axis-' + name); }
  function ticked(box) { return $$('input', box).filter(function (i) { return i.checked; }).map(function (i) { return i.value; }); }

  // The matrix is read once: each cell's button, its status spans and its range of cases.
  function cellEntry(td) {
    var button = $('button.cell', td), spans = [];
    var label = button ? button.getAttribute('aria-label') : '';
    if (button) {
      $$('.c', button).forEach(function (span) {
        spans.push({ el: span, st: D.statuses.indexOf(span.getAttribute('data-status')), n: $('.n', span) });
      });
    }
    var c = button ? cellIndex[button.getAttribute('data-open')] : -1, all = D.statuses.map(function () { return 0; });
    if (c >= 0) { for (var i = D.cells[c][3]; i < D.cells[c][3] + D.cells[c][4]; i += 1) { all[C.st[i]] += 1; } }
    return { td: td, col: td.getAttribute('data-col'), button: button, spans: spans, of: button && $('.of', button),
             c: c, last: all.join(','),  // what the page shows: every case counted
             label: label.slice(0, label.lastIndexOf(': ')) };
  }
  var groups = $$('#matrix-table tbody.group').map(function (g) {
    return { el: g, behavior: g.getAttribute('data-behavior'), rows: $$('tr.row', g).map(function (tr) {
      return { el: tr, search: null, text: tr.getAttribute('data-search'),
               spec: tr.getAttribute('data-spec').toLowerCase(), cells: $$('td[data-col]', tr).map(cellEntry) };
    }) };
  });
  var footer = {};
  $$('#matrix-table tfoot td[data-col]').forEach(function (td) { footer[td.getAttribute('data-col')] = td; });
  var headers = $$('#matrix-table thead th[data-col]');
  var columnCells = $$('#matrix-table [data-col]');

  // Search finds a row by its spec, title, claim, sources and the messages of its cases that did not pass.
  function searchText(row) {
    if (row.search === null) {
      var words = [row.text];
      row.cells.forEach(function (cell) {
        if (cell.c < 0) { return; }
        var start = D.cells[cell.c][3], end = start + D.cells[cell.c][4];
        for (var i = start; i < end; i += 1) { if (C.st[i] !== PASS) { words.push(message(i).toLowerCase()); } }
      });
      row.search = words.join(' ');
    }
    return row.search;
  }

  function readState() {
    var state = { text: $('#f-text').value.trim().toLowerCase(), select: {}, anyAxis: false };
    SELECTS.forEach(function (n) { state.select[n] = $('#f-' + n).value; });
    var wanted = {};
    $$('#f-status input').forEach(function (i) { wanted[i.value] = i.checked; });
    state.notRun = Boolean(wanted['not-run']);
    state.status = D.statuses.map(function (s) { return Boolean(wanted[s]); });
    // Per axis the set of kept value indices (null: the axis does not filter), then per variant
    // (what a case ran) whether it passes every axis: a case is then two lookups.
    var keep = D.axes.map(function (a) {
      var keys = ticked(axisBox(a.name));
      if (!keys.length) { return null; }
      state.anyAxis = true;
      return a.values.map(function (v) { return keys.indexOf(v) >= 0; });
    });
    state.variant = new Uint8Array(D.variants.length);
    D.variants.forEach(function (v, n) {
      var ok = 1;
      for (var a = 0; a < keep.length && ok; a += 1) { if (keep[a] && !keep[a][v[2 + a]]) { ok = 0; } }
      state.variant[n] = ok;
    });
    return state;
  }

  function caseShown(i, state) { return state.status[C.st[i]] && state.variant[C.va[i]] === 1; }

  function columnsOk(state) {
    var ok = {}, s = state.select;
    headers.forEach(function (th) {
      ok[th.getAttribute('data-col')] = (!s.framework || th.getAttribute('data-framework') === s.framework) &&
        (!s.device || th.getAttribute('data-device') === s.device) && (!s.mode || th.getAttribute('data-mode') === s.mode);
    });
    return ok;
  }

  function labelOf(cell, tally, shown, total) {
    var parts = [];
    cell.spans.forEach(function (span) {
      if (tally[span.st]) { parts.push(tally[span.st] + ' ' + D.labels[span.st]); }
    });
    var counts = parts.length ? parts.join(', ') : 'no case matches the filters';
    return cell.label + ': ' + counts + (shown === total ? '' : ' (of ' + total + ')');
  }

  // Recount one cell from its cases and repaint it where the count changed.
  function tallyCell(cell, state) {
    var tally = D.statuses.map(function () { return 0; }), shown = 0;
    if (cell.c >= 0) {
      var start = D.cells[cell.c][3], total = D.cells[cell.c][4];
      for (var i = start; i < start + total; i += 1) {
        if (caseShown(i, state)) { tally[C.st[i]] += 1; shown += 1; }
      }
      var key = tally.join(',');
      if (key !== cell.last) {
        cell.last = key;
        var worst = null;
        cell.spans.forEach(function (span) {  // rendered worst first, one per status the cell has
          var n = tally[span.st];
          span.n.textContent = n;
          span.el.hidden = !n;
          if (n && worst === null) { worst = span.st; }
        });
        if (cell.of) { cell.of.hidden = shown === total; cell.of.textContent = 'of ' + total; }
        if (worst !== null) {
          cell.button.className = cell.button.className.replace(/\bs-[a-z-]+/, 's-' + D.statuses[worst]);
        }
        cell.button.setAttribute('aria-label', labelOf(cell, tally, shown, total));
      }
    }
    var visible = cell.button ? shown > 0 : state.notRun;
    if (cell.td.classList.contains('filtered') === visible) { cell.td.classList.toggle('filtered', !visible); }
    return { tally: tally, shown: shown, visible: visible };
  }

  // Write a column's tally into its footer cell (spans rendered worst first, one per status it has).
  function paintFooter(td, tally) {
    $$('.c', td).forEach(function (span) {
      var n = tally ? tally[D.statuses.indexOf(span.getAttribute('data-status'))] : 0;
      $('.n', span).textContent = n;
      span.hidden = !n;
    });
  }

  function applyFilters() {
    var state = readState(), colOk = columnsOk(state), colTally = {}, shownCases = 0, shownRows = 0, rows = 0;
    currentState = state;
    columnCells.forEach(function (el) {
      var hide = !colOk[el.getAttribute('data-col')];
      if (el.hidden !== hide) { el.hidden = hide; }  // only real changes: each one costs a style pass
    });
    groups.forEach(function (g) {
      var anyRow = false, groupOk = !state.select.behavior || g.behavior === state.select.behavior;
      g.rows.forEach(function (row) {
        var rowOk = groupOk && (!state.text || row.spec.indexOf(state.text) >= 0 ||
                                searchText(row).indexOf(state.text) >= 0);
        var anyCell = false;
        row.cells.forEach(function (cell) {
          var r = tallyCell(cell, state);
          if (!rowOk || !colOk[cell.col]) { return; }
          var into = colTally[cell.col] = colTally[cell.col] || D.statuses.map(function () { return 0; });
          r.tally.forEach(function (n, st) { into[st] += n; });
          shownCases += r.shown;
          // Under a case filter a row needs a matching case: a 'not run' dot alone does not keep it.
          anyCell = anyCell || (r.visible && (r.shown > 0 || !state.anyAxis));
        });
        var hide = !(rowOk && anyCell);
        if (row.el.hidden !== hide) { row.el.hidden = hide; }
        rows += 1;
        shownRows += hide ? 0 : 1;
        anyRow = anyRow || !hide;
      });
      if (g.el.hidden === anyRow) { g.el.hidden = !anyRow; }
    });
    Object.keys(footer).forEach(function (col) { paintFooter(footer[col], colTally[col]); });
    $('#f-count').textContent = shownCases + ' of ' + N + ' cases shown · ' + shownRows + ' of ' + rows + ' specs';
    if (!panel.hidden && shownCell >= 0) {  // the open drill-down lists what its cell now counts
      var link = parseAnchor(openAnchor), top = panel.scrollTop;
      renderDetail(shownCell, link && link.cell === shownCell ? link.k : -1);
      panel.scrollTop = top;
    }
    writeHash();
  }

  // ---------------------------------------------------------------- URL hash
  // '#dtype=float16,bfloat16&p=0.5&open=c3-t1-2' holds the filters that differ from the defaults and
  // the open drill-down. A hash without '=' is a plain anchor (#d-CELL, #CASE), as before filters
  // were linkable; with no filter set the hash stays that plain anchor.
  function enc(v) { return encodeURIComponent(v); }
  function dec(v) { try { return decodeURIComponent(v); } catch (e) { return v; } }

  function filterHash() {
    var parts = [];
    SELECTS.forEach(function (n) { var v = $('#f-' + n).value; if (v) { parts.push(n + '=' + enc(v)); } });
    var text = $('#f-text').value.trim();
    if (text) { parts.push('q=' + enc(text)); }
    var status = $$('#f-status input');
    if (status.some(function (i) { return !i.checked; })) { parts.push('status=' + ticked($('#f-status')).map(enc).join(',')); }
    axisNames.forEach(function (n) {
      var keep = ticked(axisBox(n));
      if (keep.length) { parts.push(n + '=' + keep.map(enc).join(',')); }
    });
    return parts;
  }

  // Ours: a filter hash or a drill-down link. Any other anchor (#matrix) is the reader's to keep.
  function ourHash(raw) { return raw.indexOf('=') >= 0 || parseAnchor(dec(raw)) !== null; }

  function writeHash() {
    var parts = filterHash();
    var hash = parts.length ? '#' + parts.concat(openAnchor ? ['open=' + enc(openAnchor)] : []).join('&')
      : (openAnchor ? '#' + openAnchor : '');
    if (hash === location.hash || (!hash && !ourHash(location.hash.slice(1)))) { return; }
    history.replaceState(null, '', location.pathname + location.search + hash);
  }

  function setTicks(box, keys) {
    $$('input', box).forEach(function (i) { i.checked = keys.indexOf(i.value) >= 0; });
  }

  // Set the form from a filter hash (defaults for what it does not name); returns its 'open' anchor.
  function restore(hash) {
    var open = '';
    $$('select', form).forEach(function (s) { s.value = ''; });
    $('#f-text').value = '';
    $$('#f-status input').forEach(function (i) { i.checked = true; });
    $$('#f-axes input').forEach(function (i) { i.checked = false; });
    hash.split('&').forEach(function (part) {
      var eq = part.indexOf('='), key = part.slice(0, eq), raw = part.slice(eq + 1);
      var select = SELECTS.indexOf(key) >= 0 && $('#f-' + key);
      if (key === 'open') { open = dec(raw); }
      else if (key === 'q') { $('#f-text').value = dec(raw); }
      else if (key === 'status') { setTicks($('#f-status'), raw ? raw.split(',').map(dec) : []); }
      else if (select) {
        var v = dec(raw);
        if ($$('option', select).some(function (o) { return o.value === v; })) { select.value = v; }
      } else if (axisNames.indexOf(key) >= 0) { setTicks(axisBox(key), raw.split(',').map(dec)); }
    });
    return open;
  }

  // A drill-down link (#d-CELL or #CASE-ID) opens its panel.
  function openLink(anchor) {
    var link = parseAnchor(anchor);
    if (link) { openCell(D.cells[link.cell][0], link.k >= 0 ? anchor : ''); }
  }

  function fromHash() {
    var raw = location.hash.slice(1);
    if (raw.indexOf('=') < 0) {  // a plain anchor: the filters stay as they are
      if (ourHash(raw)) { openLink(dec(raw)); } else if (filterHash().length) { writeHash(); }
      return;  // (a table-of-contents jump has scrolled; rewriting the hash keeps the filters linkable)
    }
    openAnchor = restore(raw);
    applyFilters();
    if (openAnchor) { openLink(openAnchor); } else if (!panel.hidden) { closePanel(); }
  }

  form.addEventListener('input', applyFilters);  // selects, boxes and typing all fire 'input'
  form.addEventListener('submit', function (e) { e.preventDefault(); });
  form.addEventListener('reset', function () { setTimeout(applyFilters, 0); });
  window.addEventListener('hashchange', fromHash);

  var initial = location.hash.slice(1);
  if (initial.indexOf('=') >= 0) {
    fromHash();
  } else {
    openAnchor = '';
    applyFilters();
    openLink(dec(initial));
  }
}());
