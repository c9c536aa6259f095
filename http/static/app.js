// Progressive enhancement for Custodian's pages. Everything works without
// it; with it, dates are shown in the page's language and in the time zone
// the user chose (<html data-tz>), else the browser's own, and the first
// field with an error gets the focus.
(function () {
  'use strict';
  var root = document.documentElement;
  var format;
  try {
    var opts = { dateStyle: 'medium', timeStyle: 'short' };
    if (root.dataset.tz) {
      opts.timeZone = root.dataset.tz;
    }
    format = new Intl.DateTimeFormat(root.lang || undefined, opts);
  } catch (e) {
    format = null;
  }
  // A time zone field left empty offers the browser's own zone.
  var offer = document.querySelector('input[data-browser-zone]');
  if (offer && !offer.value) {
    try {
      offer.value = Intl.DateTimeFormat().resolvedOptions().timeZone || '';
    } catch (e) {
      offer.value = '';
    }
  }
  if (format) {
    var times = document.querySelectorAll('time[datetime]');
    for (var i = 0; i < times.length; i++) {
      var el = times[i];
      var d = new Date(el.getAttribute('datetime'));
      if (!isNaN(d.getTime())) {
        el.title = el.textContent;
        el.textContent = format.format(d);
      }
    }
  }
  // The audit page's date filters are days in the reader's own time zone,
  // as the page shows its times: the form says which zone that is (the
  // one the user chose, else the browser's).
  var zone = document.querySelector('input[data-zone]');
  if (zone && !zone.value) {
    try {
      zone.value = root.dataset.tz || Intl.DateTimeFormat().resolvedOptions().timeZone || '';
    } catch (e) {
      zone.value = '';
    }
  }
  var invalid = document.querySelector('[aria-invalid="true"]');
  if (invalid) {
    invalid.focus();
  }

  // Keyboard shortcuts of the customer list: / searches, j and k move
  // through the rows, Enter opens the current customer, e edits it, and ?
  // lists the shortcuts. Keys typed into a field are left alone.
  var list = document.getElementById('customers');
  var help = document.getElementById('shortcuts');
  var rows = list ? list.querySelectorAll('tbody tr') : [];
  var current = -1;
  function select(i) {
    if (!rows.length) {
      return;
    }
    if (current >= 0) {
      rows[current].classList.remove('current');
      rows[current].removeAttribute('aria-current');
    }
    current = Math.max(0, Math.min(rows.length - 1, i));
    rows[current].classList.add('current');
    rows[current].setAttribute('aria-current', 'true');
    var link = rows[current].querySelector('a');
    if (link) {
      link.focus();
    }
  }
  document.addEventListener('keydown', function (ev) {
    if (ev.ctrlKey || ev.metaKey || ev.altKey || ev.isComposing) {
      return;
    }
    var t = ev.target;
    if (t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName))) {
      return;
    }
    if (help && help.open) {
      return;
    }
    var row = current >= 0 ? rows[current] : null;
    switch (ev.key) {
      case '/':
        var q = document.getElementById('q');
        if (q) {
          ev.preventDefault();
          q.focus();
          q.select();
        }
        break;
      case 'j':
        select(current + 1);
        break;
      case 'k':
        select(current < 0 ? 0 : current - 1);
        break;
      case 'Enter':
        if (row && t === document.body) {
          var a = row.querySelector('a');
          if (a) {
            window.location.href = a.href;
          }
        }
        break;
      case 'e':
        if (row && row.dataset.edit) {
          window.location.href = row.dataset.edit;
        }
        break;
      case '?':
        if (help && help.showModal) {
          ev.preventDefault();
          help.showModal();
        }
        break;
    }
  });
})();
