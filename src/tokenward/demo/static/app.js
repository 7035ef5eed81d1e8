// The example host page's script: tokenward's browser SDK for the connect flow, and the page's
// own backend (same origin) for everything that needs the partner API's secret.
(function () {
  "use strict";

  var HEADERS = { "X-Requested-With": "tokenward-demo" };  // not sendable cross-site without CORS

  function $(id) { return document.getElementById(id); }

  function say(id, text, kind) {
    var node = $(id);
    node.textContent = text;
    node.className = kind || "";
  }

  function post(path) {
    return fetch(path, { method: "POST", headers: HEADERS }).then(function (response) {
      return response.json().then(function (body) {
        if (!response.ok) { throw new Error(body.error || response.statusText); }
        return body;
      });
    });
  }

  function connectUrl(mode) {
    return function () {
      return post("/demo/connect-url?mode=" + mode).then(function (body) { return body.url; });
    };
  }

  function showState() {
    return fetch("/demo/status", { headers: HEADERS }).then(function (r) { return r.json(); })
      .then(function (state) {
        if (state.authenticated) {
          say("connection", "Connected: the sandbox provider is authenticated (" + state.authState + ").", "ok");
          $("call").disabled = false;
        }
      });
  }

  function connect() {
    say("connection", "Waiting for the sign-in window…");
    tokenward.connect({
      url: connectUrl("popup"),
      redirectUrl: connectUrl("redirect"),
      onSuccess: function () { showState(); },
      onError: function (error) {
        if (error.code !== "popup_blocked") { say("connection", error.message, "error"); }
      }
    });
  }

  function callMethod() {
    say("call-status", "Calling…");
    post("/demo/call").then(function (answer) {
      say("call-status", "The provider answered " + answer.status + " through tokenward.", answer.status < 400 ? "ok" : "error");
      $("result").textContent = JSON.stringify(answer.body, null, 2);
      $("result").hidden = false;
    }, function (err) {
      say("call-status", "The call failed: " + err.message, "error");
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var back = new URLSearchParams(location.search);
    $("connect").addEventListener("click", connect);
    $("call").addEventListener("click", callMethod);
    if (back.get("status") === "error") {  // back from the redirect fallback
      say("connection", "The connection failed (" + back.get("error") + ").", "error");
    }
    showState();
  });
})();
