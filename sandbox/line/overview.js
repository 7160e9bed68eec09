/* Buttons of the /sandbox page: act as a simulated user, then show the new state. */
(function () {
  "use strict";

  function value(id) {
    return document.getElementById(id).value;
  }

  function request(button) {
    var user = button.dataset.user;
    var action = button.dataset.action;
    if (action === "add-user") {
      return ["/sandbox/users", { display_name: value("new-user") }];
    }
    var path = "/sandbox/users/" + encodeURIComponent(user) + "/" + action;
    if (action === "send-text") { return [path, { text: value("input-" + user) }]; }
    if (action === "postback") { return [path, { data: value("input-" + user) }]; }
    return [path, {}];
  }

  document.querySelectorAll("[data-action]").forEach(function (button) {
    button.addEventListener("click", function (event) {
      event.preventDefault();
      var target = request(button);
      fetch(target[0], {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(target[1])
      }).then(function () { window.location.reload(); });
    });
  });
})();
