// Live inbox: the element marked data-live-events listens to the hub's server-sent events and,
// when a conversation it shows changes, swaps in its fresh copy from data-live-page. When
// someone opens or leaves the conversation shown, or starts typing in it, the presence line
// (#presence) is asked again; when this page closes, it says so.
(function () {
  "use strict";
  var ID = "live";
  var first = document.getElementById(ID);
  if (!first || !window.EventSource || !window.htmx) { return; }
  var source = new EventSource(first.getAttribute("data-live-events"));
  var waiting = null;
  source.addEventListener("conversation", function (event) {
    var root = document.getElementById(ID);
    if (!root) { return; }
    var data = JSON.parse(event.data);
    var only = root.getAttribute("data-live-conversation");
    if (only && String(data.conversation_id) !== only) { return; }
    if (data.kind === "presence") {
      if (only) { window.htmx.trigger(document.body, "presence"); }
      return;
    }
    if (waiting) { return; }
    waiting = setTimeout(function () {
      waiting = null;
      window.htmx.ajax("GET", root.getAttribute("data-live-page"), {
        target: "#" + ID, select: "#" + ID, swap: "outerHTML"
      });
    }, 100);
  });
  var presence = document.getElementById("presence");
  if (presence && navigator.sendBeacon) {
    window.addEventListener("pagehide", function () {
      var form = new FormData();
      form.append("csrf_token", presence.getAttribute("data-csrf"));
      navigator.sendBeacon(presence.getAttribute("data-leave"), form);
    });
  }
}());
