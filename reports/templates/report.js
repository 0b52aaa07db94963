// Offline behaviour of the report: drill-down panel and matrix filters. No data lives here:
// everything is already in the (escaped) DOM, so this script never builds HTML from strings.
(function () {
  'use strict';
  var $ = function (sel, root) { return (root || document).querySelector(sel); };
  var $$ = function (sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); };
  var panel = $('#panel');

  function openCell(cellId, caseAnchor) {
    var detail = document.getElementById('d-' + cellId);
    if (!detail) { return; }
    $$('.detail', panel).forEach(function (d) { d.hidden = d !== detail; });
    panel.hidden = false;
    document.body.classList.add('panel-open');
    $$('button.cell.active').forEach(function (b) { b.classList.remove('active'); });
    var button = document.querySelector('button.cell[data-open="' + cellId + '"]');
    if (button) { button.classList.add('active'); }
    history.replaceState(null, '', '#' + (caseAnchor || 'd-' + cellId));
    var target = caseAnchor && document.getElementById(caseAnchor);
    if (target) {
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
    history.replaceState(null, '', location.pathname + location.search);
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
  var form = $('#filters');
  function value(id) { return $(id).value; }

  function applyFilters() {
    var fw = value('#f-framework'), dev = value('#f-device'), mode = value('#f-mode');
    var behavior = value('#f-behavior'), text = value('#f-text').trim().toLowerCase();
    var wanted = {};
    $$('#f-status input').forEach(function (i) { wanted[i.value] = i.checked; });
    var colOk = {};
    $$('#matrix-table thead th[data-col]').forEach(function (th) {
      colOk[th.dataset.col] = (!fw || th.dataset.framework === fw) && (!dev || th.dataset.device === dev) &&
        (!mode || th.dataset.mode === mode);
    });
    $$('#matrix-table [data-col]').forEach(function (el) { el.hidden = !colOk[el.dataset.col]; });
    var shown = 0, total = 0;
    $$('#matrix-table tbody.group').forEach(function (group) {
      var groupOk = !behavior || group.dataset.behavior === behavior, anyRow = false;
      $$('tr.row', group).forEach(function (tr) {
        var rowOk = groupOk && (!text || tr.dataset.search.indexOf(text) >= 0 || tr.dataset.spec.toLowerCase().indexOf(text) >= 0);
        var anyCell = false;
        $$('td[data-col]', tr).forEach(function (td) {
          var ok = td.dataset.statuses.split(' ').some(function (s) { return wanted[s]; });
          td.classList.toggle('filtered', !ok);
          if (!colOk[td.dataset.col]) { return; }
          total += 1;
          if (ok && rowOk) { anyCell = true; shown += 1; }
        });
        tr.hidden = !(rowOk && anyCell);
        anyRow = anyRow || !tr.hidden;
      });
      group.hidden = !anyRow;
    });
    $('#f-count').textContent = shown + ' of ' + total + ' cells shown';
  }

  form.addEventListener('input', applyFilters);
  form.addEventListener('change', applyFilters);
  form.addEventListener('submit', function (e) { e.preventDefault(); });
  form.addEventListener('reset', function () { setTimeout(applyFilters, 0); });
  applyFilters();

  // A shared link (#d-CELL or #CELL-CASE) opens its drill-down.
  var hash = decodeURIComponent(location.hash.slice(1));
  if (hash.indexOf('d-') === 0) {
    openCell(hash.slice(2));
  } else if (hash && document.getElementById(hash) && document.getElementById(hash).closest('.detail')) {
    openCell(document.getElementById(hash).closest('.detail').id.slice(2), hash);
  }
}());
