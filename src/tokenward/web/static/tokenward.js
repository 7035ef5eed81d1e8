/*! tokenward browser SDK 1.0 — connect an account connector in a popup (docs/browser-sdk.md).
 *  Plain JavaScript, no dependencies. Apache-2.0.
 *
 *  tokenward.connect({
 *    url: "https://auth.example.com/connectorauth/updateaccountconnectoroauth?id=…",
 *         // or a function returning the URL (or a Promise of it), e.g. a fetch to your backend
 *    onSuccess: function (result) {},  // {accountConnectorId, message}
 *    onError: function (error) {},     // {code, message, accountConnectorId}
 *  });
 *
 *  Call it inside the click handler: the popup is opened synchronously, before any awaited work,
 *  so that browsers let it open. Messages are accepted only from the service origin (the URL's
 *  origin, or `serviceOrigin`) AND from the popup this call opened (SECURITY.md W-07).
 */
(function (global) {
  "use strict";

  var VERSION = "1.0";
  var MESSAGE_TYPE = "tokenward.connect";
  var CLOSED_POLL_MS = 400;
  // The completion page posts and then closes itself: give its message time to be dispatched
  // before a closed popup is reported as closed by the user.
  var CLOSED_GRACE_MS = 500;
  var TEXTS = {
    popup_blocked: "The browser blocked the sign-in window.",
    popup_closed: "The sign-in window was closed before the connection finished.",
    url_failed: "The sign-in address could not be obtained.",
    access_denied: "The sign-in was cancelled at the provider.",
    provider_error: "The provider refused the connection or could not be reached.",
    invalid_callback: "The provider's answer could not be verified.",
    expired: "The sign-in took too long; please try again.",
    server_error: "The connection could not be finished.",
    error: "The connection failed."
  };

  function noop() {}

  function parseUrl(url) {
    try {
      return new URL(url, global.location.href);
    } catch (err) {
      return null;
    }
  }

  // The service matches its parameter names in any case (docs/webflow.md): so does the SDK.
  function param(parsed, name) {
    var wanted = name.toLowerCase();
    var found = null;
    if (parsed === null) {
      return null;
    }
    parsed.searchParams.forEach(function (value, key) {
      if (found === null && key.toLowerCase() === wanted) {
        found = value;
      }
    });
    return found;
  }

  function failure(code, accountConnectorId) {
    return {
      code: code,
      message: TEXTS[code] || TEXTS.error,
      accountConnectorId: accountConnectorId === undefined ? null : accountConnectorId
    };
  }

  // What the service's completion page posts (docs/webflow.md §2): `callbackMessage` on
  // success, `errorCallbackMessage` or the JSON status string on failure.
  function interpret(data, expected) {
    var doc = null;
    if (typeof data !== "string") {
      return null;
    }
    if (expected.success !== null && data === expected.success) {
      return { ok: true };
    }
    if (expected.error !== null && data === expected.error) {
      return { ok: false, code: "error" };
    }
    if (data.charAt(0) === "{") {
      try {
        doc = JSON.parse(data);
      } catch (err) {
        doc = null;
      }
      if (doc !== null && typeof doc === "object" && doc.type === MESSAGE_TYPE) {
        if (doc.status === "success") {
          return { ok: true, accountConnectorId: doc.AccountConnectorId };
        }
        return { ok: false, code: String(doc.error || "error"), accountConnectorId: doc.AccountConnectorId };
      }
    }
    // Without a known callbackMessage, any other string from the right popup is the success.
    return expected.success === null ? { ok: true } : null;
  }

  function features(options) {
    var width = options.width || 600;
    var height = options.height || 720;
    var left = Math.max(0, Math.round((global.screenX || 0) + ((global.outerWidth || width) - width) / 2));
    var top = Math.max(0, Math.round((global.screenY || 0) + ((global.outerHeight || height) - height) / 2));
    return "popup=yes,width=" + width + ",height=" + height + ",left=" + left + ",top=" + top;
  }

  function resolveUrl(url) {
    try {
      return Promise.resolve(typeof url === "function" ? url() : url);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  var pending = null;  // the call waiting for its popup; a new call replaces it

  function connect(options) {
    var opts = options || {};
    var onSuccess = opts.onSuccess || noop;
    var onError = opts.onError || noop;
    var direct = typeof opts.url === "string";
    var state = { done: false, popup: null, origin: null, expected: null, acId: null, timer: null };
    var handle = {
      popup: null,
      close: function () {
        finish();
        if (state.popup && !state.popup.closed) {
          state.popup.close();
        }
      }
    };

    function finish() {
      state.done = true;
      if (pending === finish) {
        pending = null;
      }
      global.removeEventListener("message", onMessage);
      if (state.timer !== null) {
        global.clearInterval(state.timer);
        state.timer = null;
      }
    }

    function fail(code, acId) {
      if (state.done) {
        return;
      }
      finish();
      onError(failure(code, acId === undefined ? state.acId : acId));
    }

    function onMessage(event) {
      var outcome;
      // W-07: the exact service origin AND the very window this call opened; anything else is
      // somebody else's message and is ignored without a word.
      if (state.done || state.origin === null || event.origin !== state.origin) {
        return;
      }
      if (event.source === null || event.source !== state.popup) {
        return;
      }
      outcome = interpret(event.data, state.expected);
      if (outcome === null) {
        return;
      }
      finish();
      if (outcome.ok) {
        onSuccess({ accountConnectorId: outcome.accountConnectorId || state.acId, message: event.data });
      } else {
        onError(failure(outcome.code, outcome.accountConnectorId || state.acId));
      }
    }

    function watchClosed() {
      state.timer = global.setInterval(function () {
        if (!state.done && state.popup.closed) {
          global.clearInterval(state.timer);
          state.timer = null;
          global.setTimeout(function () { fail("popup_closed"); }, CLOSED_GRACE_MS);
        }
      }, CLOSED_POLL_MS);
    }

    function target(url) {
      var parsed = parseUrl(url);
      var acId = param(parsed, "id");
      state.origin = opts.serviceOrigin || (parsed === null ? null : parsed.origin);
      state.acId = acId !== null && /^\d+$/.test(acId) ? Number(acId) : null;
      state.expected = {
        success: opts.callbackMessage !== undefined ? opts.callbackMessage : param(parsed, "callbackMessage"),
        error: opts.errorCallbackMessage !== undefined ? opts.errorCallbackMessage : param(parsed, "errorCallbackMessage")
      };
      if (state.expected.success === "") {
        state.expected.success = null;
      }
    }

    function redirect() {
      resolveUrl(opts.redirectUrl || opts.url).then(function (url) {
        global.location.assign(url);
      }, noop);
    }

    if (pending !== null) {
      pending();  // the earlier call stops listening, without a report: its window is reused
    }
    pending = finish;
    try {
      state.popup = global.open(direct ? opts.url : "about:blank", opts.windowName || "tokenward-connect", features(opts));
    } catch (err) {
      state.popup = null;
    }
    handle.popup = state.popup;
    if (!state.popup) {
      fail("popup_blocked", null);
      if (opts.fallback !== "none") {
        redirect();
      }
      return handle;
    }
    global.addEventListener("message", onMessage);
    watchClosed();
    if (direct) {
      target(opts.url);
      return handle;
    }
    resolveUrl(opts.url).then(function (url) {
      if (state.done || state.popup.closed) {
        return;  // the closed popup is reported by watchClosed
      }
      target(url);
      state.popup.location.replace(url);
    }, function () {
      fail("url_failed");
      if (!state.popup.closed) {
        state.popup.close();
      }
    });
    return handle;
  }

  global.tokenward = { version: VERSION, connect: connect };
})(window);
