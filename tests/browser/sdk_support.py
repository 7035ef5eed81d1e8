"""The partner's page for the browser SDK tests: it loads ``/sdk/tokenward.js`` from the service
given in its query (``?service=http://127.0.0.1:S``) and keeps what the SDK reports in
``window.results`` and every raw ``message`` event in ``window.received``.

``#connect`` calls ``tokenward.connect`` in its click handler with ``window.flowUrl``;
``?auto=1&flow=…[&redirect=…]`` calls it as soon as the SDK has loaded, outside any user
gesture (what a popup blocker refuses). ``#other`` opens a second window at the service (a
window the SDK did not open). Served by :class:`SdkHost` on ``http://localhost:H`` (registered)
and ``http://127.0.0.1:H`` (another origin).
"""

from __future__ import annotations

from browser_support import HostServer

__all__ = ["SdkHost"]

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Partner app (SDK)</title></head>
<body>
<h1>Partner app</h1>
<p><button id="connect">Connect</button> <button id="other">Open another window</button></p>
<pre id="log"></pre>
<script>
  window.results = [];
  window.received = [];
  window.other = null;
  var query = new URLSearchParams(location.search);
  function log(line) { document.getElementById("log").textContent += line + "\\n"; }
  function report(ok) {
    return function (detail) {
      var entry = Object.assign({ ok: ok }, detail);
      window.results.push(entry);
      console.log("tokenward-result " + JSON.stringify(entry));
      log((ok ? "success " : "error ") + JSON.stringify(detail));
    };
  }
  function connect(url, fallback, redirectUrl) {
    window.handle = tokenward.connect({
      url: url, fallback: fallback, redirectUrl: redirectUrl,
      onSuccess: report(true), onError: report(false)
    });
  }
  window.addEventListener("message", function (event) {
    window.received.push({ origin: event.origin, data: event.data });
  });
  document.getElementById("connect").addEventListener("click", function () {
    connect(window.flowUrl, "none");
  });
  document.getElementById("other").addEventListener("click", function () {
    window.other = window.open(query.get("service") + "/healthz", "other", "width=300,height=200");
  });
  var sdk = document.createElement("script");
  sdk.src = query.get("service") + "/sdk/tokenward.js";
  sdk.onload = function () {
    window.sdkLoaded = true;
    if (query.get("auto") === "1") {
      var redirect = query.get("redirect");
      connect(query.get("flow"), redirect ? "redirect" : "none", redirect);
    }
  };
  document.head.appendChild(sdk);
</script>
</body></html>
"""


class SdkHost(HostServer):
    """The partner's web server for the SDK tests: ``HostServer`` answering :data:`PAGE`."""

    def __init__(self) -> None:
        super().__init__(PAGE)
