// Offline behaviour of the report: drill-down panel and matrix filters. No data lives here:
// everything is already in the (escaped) DOM, so this script never builds HTML from strings.
(function () {
  'use strict';
  var $ = function (sel, root) { return (root || document).querySelector(sel); };
  var $$ = function (sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); };
  var panel = $('#panel');
  var openAnchor = '';  // the drill-down the URL hash names: 'd-CELL' or a case's id, '' when closed

  function openCell(cellId, caseAnchor) {
    var detail = document.getElementById('d-' + cellId);
    if (!detail) { return; }
    $$('.detail', panel).forEach(function (d) { d.hidden = d !== detail; });
    panel.hidden = false;
    document.body.classList.add('panel-open');
    $$('button.cell.active').forEach(function (b) { b.classList.remove('active'); });
    var button = document.querySelector('button.cell[data-open="' + cellId + '"]');
    if (button) { button.classList.add('active'); }
    openAnchor = caseAnchor || 'd-' + cellId;
    writeHash();
    var target = caseAnchor && document.getElementById(caseAnchor);
    if (target) {
      target.hidden = false;  // a linked case is shown even where the filters would hide it
      target.open = true;
      target.scrollIntoView({ block: 'start' });
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
  var more = $('#show-more');
  if (more) {
    more.addEventListener('click', function () { $('#attention table').classList.add('all'); more.hidden = true; });
  }

  // ---------------------------------------------------------------- filters
  // Column filters (framework, device, mode) hide targets; behaviour and search hide rows; status and
  // the case axes (dtype, rank, p, ...) pick cases, and every cell, total and panel is recounted from
  // the cases that pass. Within an axis the ticked values are OR'ed; all filters are AND'ed.
  var form = $('#filters');
  var SELECTS = ['framework', 'device', 'mode', 'behavior'];
  var axisNames = $$('#f-axes fieldset[data-axis]').map(function (f) { return f.getAttribute('data-axis'); });
  var allCases = 0;

  function axisBox(name) { return $('#f-axis-' + name); }
  function ticked(box) { return $$('input', box).filter(function (i) { return i.checked; }).map(function (i) { return i.value; }); }

  // The DOM is read once: each cell's cases are the <details> of its drill-down panel.
  function caseOf(el) {
    allCases += 1;
    return { el: el, status: el.getAttribute('data-status'),
             axes: axisNames.map(function (n) { return el.getAttribute('data-a-' + n); }) };
  }
  function cellOf(td) {
    var button = $('button.cell', td);
    var detail = button && document.getElementById('d-' + button.getAttribute('data-open'));
    var label = button ? button.getAttribute('aria-label') : '';
    return { td: td, col: td.getAttribute('data-col'), button: button, detail: detail,
             label: label.slice(0, label.lastIndexOf(': ')),
             cases: detail ? $$('details.case', detail).map(caseOf) : [] };
  }
  var groups = $$('#matrix-table tbody.group').map(function (g) {
    return { el: g, behavior: g.getAttribute('data-behavior'), rows: $$('tr.row', g).map(function (tr) {
      return { el: tr, search: tr.getAttribute('data-search'), spec: tr.getAttribute('data-spec').toLowerCase(),
               cells: $$('td[data-col]', tr).map(cellOf) };
    }) };
  });
  var footer = {};
  $$('#matrix-table tfoot td[data-col]').forEach(function (td) { footer[td.getAttribute('data-col')] = td; });

  function readState() {
    var state = { text: $('#f-text').value.trim().toLowerCase(), select: {}, wanted: {}, anyAxis: false };
    SELECTS.forEach(function (n) { state.select[n] = $('#f-' + n).value; });
    $$('#f-status input').forEach(function (i) { state.wanted[i.value] = i.checked; });
    state.axes = axisNames.map(function (n) {
      var keep = ticked(axisBox(n));
      if (!keep.length) { return null; }  // nothing ticked: the axis does not filter
      state.anyAxis = true;
      var set = {};
      keep.forEach(function (k) { set[k] = true; });
      return set;
    });
    return state;
  }

  function caseShown(c, state) {
    if (!state.wanted[c.status]) { return false; }
    for (var i = 0; i < c.axes.length; i += 1) {
      if (state.axes[i] && !state.axes[i][c.axes[i]]) { return false; }
    }
    return true;
  }

  function columnsOk(state) {
    var ok = {}, s = state.select;
    $$('#matrix-table thead th[data-col]').forEach(function (th) {
      ok[th.getAttribute('data-col')] = (!s.framework || th.getAttribute('data-framework') === s.framework) &&
        (!s.device || th.getAttribute('data-device') === s.device) && (!s.mode || th.getAttribute('data-mode') === s.mode);
    });
    return ok;
  }

  // Write a tally into the status spans of a cell button or a footer cell; returns the worst status
  // left (spans are rendered worst first) and shows 'of N' when some cases are filtered out.
  function paint(el, tally, shown, total) {
    var worst = null;
    $$('.c', el).forEach(function (span) {
      var n = tally[span.getAttribute('data-status')] || 0;
      $('.n', span).textContent = n;
      span.hidden = !n;
      if (n && !worst) { worst = span.getAttribute('data-status'); }
    });
    var of = $('.of', el);
    if (of) { of.hidden = shown === total; of.textContent = 'of ' + total; }
    return worst;
  }

  function labelOf(cell, tally, shown) {
    var parts = $$('.c', cell.button).filter(function (span) { return !span.hidden; }).map(function (span) {
      var s = span.getAttribute('data-status');
      return tally[s] + ' ' + s.replace('-', ' ');
    });
    var counts = parts.length ? parts.join(', ') : 'no case matches the filters';
    return cell.label + ': ' + counts + (shown === cell.cases.length ? '' : ' (of ' + cell.cases.length + ')');
  }

  // Recount one cell from its cases; the drill-down panel shows the same cases the cell counts.
  function tallyCell(cell, state) {
    var tally = {}, shown = 0;
    cell.cases.forEach(function (c) {
      var ok = caseShown(c, state);
      if (c.el.hidden === ok) { c.el.hidden = !ok; }  // only real changes: a sweep has many cases
      if (ok) { tally[c.status] = (tally[c.status] || 0) + 1; shown += 1; }
    });
    if (cell.button) {
      var worst = paint(cell.button, tally, shown, cell.cases.length);
      if (worst) { cell.button.className = cell.button.className.replace(/\bs-[a-z-]+/, 's-' + worst); }
      cell.button.setAttribute('aria-label', labelOf(cell, tally, shown));
      $('.shown', cell.detail).textContent = shown === cell.cases.length ? '' : shown + ' of ';
    }
    var visible = cell.button ? shown > 0 : state.wanted['not-run'];
    cell.td.classList.toggle('filtered', !visible);
    return { tally: tally, shown: shown, visible: visible };
  }

  function addTally(into, tally) {
    Object.keys(tally).forEach(function (s) { into[s] = (into[s] || 0) + tally[s]; });
  }

  function applyFilters() {
    var state = readState(), colOk = columnsOk(state), colTally = {}, shownCases = 0, shownRows = 0, rows = 0;
    $$('#matrix-table [data-col]').forEach(function (el) { el.hidden = !colOk[el.getAttribute('data-col')]; });
    groups.forEach(function (g) {
      var anyRow = false, groupOk = !state.select.behavior || g.behavior === state.select.behavior;
      g.rows.forEach(function (row) {
        var rowOk = groupOk && (!state.text || row.search.indexOf(state.text) >= 0 || row.spec.indexOf(state.text) >= 0);
        var anyCell = false;
        row.cells.forEach(function (cell) {
          var r = tallyCell(cell, state);
          if (!rowOk || !colOk[cell.col]) { return; }
          colTally[cell.col] = colTally[cell.col] || {};
          addTally(colTally[cell.col], r.tally);
          shownCases += r.shown;
          // Under a case filter a row needs a matching case: a 'not run' dot alone does not keep it.
          anyCell = anyCell || (r.visible && (r.shown > 0 || !state.anyAxis));
        });
        row.el.hidden = !(rowOk && anyCell);
        rows += 1;
        shownRows += row.el.hidden ? 0 : 1;
        anyRow = anyRow || !row.el.hidden;
      });
      g.el.hidden = !anyRow;
    });
    Object.keys(footer).forEach(function (col) { paint(footer[col], colTally[col] || {}, 0, 0); });
    $('#f-count').textContent = shownCases + ' of ' + allCases + ' cases shown · ' + shownRows + ' of ' + rows + ' specs';
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
  function ourHash(raw) {
    var anchor = dec(raw), el = anchor && document.getElementById(anchor);
    return raw.indexOf('=') >= 0 || Boolean(el && (anchor.indexOf('d-') === 0 || el.closest('.detail')));
  }

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
    var el = anchor && document.getElementById(anchor);
    if (anchor.indexOf('d-') === 0 && el) {
      openCell(anchor.slice(2));
    } else if (el && el.closest('.detail')) {
      openCell(el.closest('.detail').id.slice(2), anchor);
    }
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
