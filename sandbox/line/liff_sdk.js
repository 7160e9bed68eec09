/*
 * LIFF SDK stand-in served by the tsunagu sandbox LINE platform.
 * It acts for the simulated user named by the page's ?sandbox_user= query parameter and gets
 * real ID tokens (verifiable at /oauth2/v2.1/verify or with the JWKS) from the sandbox.
 */
(function () {
  "use strict";

  var sandboxOrigin = new URL(document.currentScript.src).origin;
  var userId = new URLSearchParams(window.location.search).get("sandbox_user");
  var session = { idToken: null, accessToken: null };
  var markReady;

  function loginChannelId(liffId) {
    // A LIFF ID starts with its LINE Login channel ID: "<channelId>-<suffix>".
    return String(liffId).split("-")[0];
  }

  function checked(response) {
    if (!response.ok) {
      throw new Error("LINE sandbox answered " + response.status);
    }
    return response.json();
  }

  function decodePayload(jwt) {
    var part = jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    var bytes = Uint8Array.from(atob(part), function (c) { return c.charCodeAt(0); });
    return JSON.parse(new TextDecoder().decode(bytes));
  }

  var liff = {
    id: null,
    ready: new Promise(function (resolve) { markReady = resolve; }),
    init: function (config) {
      liff.id = config.liffId;
      if (!userId) {
        markReady();
        return Promise.resolve();
      }
      return fetch(sandboxOrigin + "/sandbox/users/" + encodeURIComponent(userId) + "/id-token", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ login_channel_id: loginChannelId(config.liffId) })
      }).then(checked).then(function (tokens) {
        session.idToken = tokens.id_token;
        session.accessToken = tokens.access_token;
        markReady();
      });
    },
    isLoggedIn: function () { return session.idToken !== null; },
    isInClient: function () { return false; },
    getOS: function () { return "web"; },
    getLanguage: function () { return navigator.language; },
    login: function (options) {
      var back = (options && options.redirectUri) || window.location.href;
      window.location.href =
        sandboxOrigin + "/sandbox/liff/login?redirect_uri=" + encodeURIComponent(back);
    },
    logout: function () {
      session.idToken = null;
      session.accessToken = null;
    },
    getIDToken: function () { return session.idToken; },
    getDecodedIDToken: function () {
      return session.idToken ? decodePayload(session.idToken) : null;
    },
    getAccessToken: function () { return session.accessToken; },
    getProfile: function () {
      return fetch(sandboxOrigin + "/v2/profile", {
        headers: { authorization: "Bearer " + session.accessToken }
      }).then(checked);
    },
    closeWindow: function () {
      window.close();
      document.body.innerHTML = "<p>(LIFF window closed)</p>";
    }
  };

  window.liff = liff;
})();
