// Live inbox: the element marked data-live-events listens to the hub's server-sent events and,
// when a conversation it shows changes, swaps in its fresh copy from data-live-page.
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
    if (waiting) { return; }
    waiting = setTimeout(function () {
      waiting = null;
      window.htmx.ajax("GET", root.getAttribute("data-live-page"), {
        target: "#" + ID, select: "#" + ID, swap: "outerHTML"
      });
    }, 100);
  });
}());
