// Progressive enhancement for Custodian's pages. Everything works without
// it; with it, dates are shown in the reader's own time zone and language,
// and the first field with an error gets the focus.
(function () {
  'use strict';
  var format;
  try {
    format = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
  } catch (e) {
    format = null;
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
  var invalid = document.querySelector('[aria-invalid="true"]');
  if (invalid) {
    invalid.focus();
  }
})();
