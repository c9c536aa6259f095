// Passkeys (WebAuthn) for Custodian's pages. A form marked
// data-passkey="create", "get" or "second-factor" is completed by the
// authenticator: on submit, the script asks the server for a challenge
// (the JSON API, same origin), hands it to navigator.credentials, writes
// the authenticator's answer into the form's hidden fields and posts the
// form, CSRF token and all. Nothing here is inline, so the strict
// Content-Security-Policy holds; errors are shown in the form's
// [data-passkey-error] element, never in the console.
(function () {
  'use strict';

  // t translates one of the script's messages with the catalogue the page
  // carries (#ui-messages); without it the English id is shown.
  var messages = {};
  try {
    messages = JSON.parse(document.getElementById('ui-messages').textContent) || {};
  } catch (e) {
    messages = {};
  }
  function t(s) {
    return messages[s] || s;
  }

  function toBuffer(s) {
    s = s.replace(/-/g, '+').replace(/_/g, '/');
    while (s.length % 4) {
      s += '=';
    }
    var bin = atob(s);
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) {
      out[i] = bin.charCodeAt(i);
    }
    return out.buffer;
  }

  function toBase64url(buf) {
    var bytes = new Uint8Array(buf);
    var bin = '';
    for (var i = 0; i < bytes.length; i++) {
      bin += String.fromCharCode(bytes[i]);
    }
    return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }

  function descriptors(list) {
    return (list || []).map(function (c) {
      var d = { type: c.type, id: toBuffer(c.id) };
      if (c.transports) {
        d.transports = c.transports;
      }
      return d;
    });
  }

  // creationOptions and requestOptions turn the server's JSON options into
  // what navigator.credentials takes: binary members as ArrayBuffers.
  function creationOptions(o) {
    o.challenge = toBuffer(o.challenge);
    o.user.id = toBuffer(o.user.id);
    o.excludeCredentials = descriptors(o.excludeCredentials);
    return o;
  }

  function requestOptions(o) {
    o.challenge = toBuffer(o.challenge);
    o.allowCredentials = descriptors(o.allowCredentials);
    return o;
  }

  // credentialJSON is the authenticator's answer as WebAuthn JSON.
  function credentialJSON(c) {
    var r = c.response;
    var response = { clientDataJSON: toBase64url(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = toBase64url(r.attestationObject);
      if (typeof r.getTransports === 'function') {
        response.transports = r.getTransports();
      }
    } else {
      response.authenticatorData = toBase64url(r.authenticatorData);
      response.signature = toBase64url(r.signature);
      if (r.userHandle) {
        response.userHandle = toBase64url(r.userHandle);
      }
    }
    return JSON.stringify({
      id: c.id,
      rawId: toBase64url(c.rawId),
      type: c.type,
      authenticatorAttachment: c.authenticatorAttachment || undefined,
      clientExtensionResults: c.getClientExtensionResults ? c.getClientExtensionResults() : {},
      response: response
    });
  }

  function problemText(body, fallback) {
    if (body && body.errors && body.errors.length) {
      return body.errors.map(function (e) { return e.message; }).join(' ');
    }
    return (body && body.detail) || fallback;
  }

  // challenge asks the server for a ceremony.
  function challenge(path, body) {
    return fetch(path, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify(body)
    }).then(function (res) {
      return res.json().then(function (data) {
        if (!res.ok) {
          throw new Error(problemText(data, t('The server refused to start.')));
        }
        return data;
      });
    });
  }

  function field(form, name) {
    return form.querySelector('[name="' + name + '"]');
  }

  function start(form) {
    var mode = form.getAttribute('data-passkey');
    var error = form.querySelector('[data-passkey-error]');
    var button = form.querySelector('[data-passkey-button]') || form.querySelector('button');
    function fail(msg) {
      if (error) {
        error.textContent = msg;
        error.hidden = false;
      }
      if (button) {
        button.disabled = false;
      }
    }
    if (!window.PublicKeyCredential || !navigator.credentials) {
      fail(t('This browser cannot use passkeys.'));
      return;
    }
    if (error) {
      error.hidden = true;
    }
    if (button) {
      button.disabled = true;
    }
    var ask;
    if (mode === 'create') {
      var pw = field(form, 'current_password');
      ask = challenge('/api/auth/passkeys/registration/', { current_password: pw ? pw.value : '' }).then(function (c) {
        field(form, 'ceremony').value = c.ceremony;
        return navigator.credentials.create({ publicKey: creationOptions(c.options) });
      });
    } else {
      ask = challenge('/api/auth/passkeys/challenge/', { second_factor: mode === 'second-factor' }).then(function (c) {
        field(form, mode === 'second-factor' ? 'passkey_ceremony' : 'ceremony').value = c.ceremony;
        return navigator.credentials.get({ publicKey: requestOptions(c.options) });
      });
    }
    ask.then(function (cred) {
      if (!cred) {
        throw new Error(t('No passkey was chosen.'));
      }
      field(form, mode === 'second-factor' ? 'passkey_credential' : 'credential').value = credentialJSON(cred);
      var pw = field(form, 'current_password');
      if (pw) {
        pw.value = ''; // checked when the ceremony began; not posted again
      }
      var otp = field(form, 'otp');
      if (otp) {
        otp.required = false;
      }
      form.submit();
    }).catch(function (e) {
      fail(e && e.name === 'NotAllowedError' ? t('The passkey request was cancelled or timed out. Try again.') : (e && e.message) || t('The passkey did not work. Try again.'));
    });
  }

  var forms = document.querySelectorAll('form[data-passkey]');
  for (var i = 0; i < forms.length; i++) {
    (function (form) {
      var trigger = form.querySelector('[data-passkey-button]');
      if (form.getAttribute('data-passkey') === 'second-factor' && trigger) {
        // The code form submits as usual; its passkey button answers
        // with a passkey instead.
        trigger.hidden = false;
        trigger.addEventListener('click', function (ev) {
          ev.preventDefault();
          start(form);
        });
        return;
      }
      form.hidden = false;
      form.addEventListener('submit', function (ev) {
        ev.preventDefault();
        if (form.reportValidity && !form.reportValidity()) {
          return;
        }
        start(form);
      });
    })(forms[i]);
  }
})();
