// Roster console: the one piece of JavaScript. A page that is still changing (a running run,
// an import in progress) carries data-refresh="SECONDS" on <main>; its content is fetched
// again and swapped in place (keeping scroll position, and never while someone types in it)
// until the page says it has settled. Without JavaScript a <noscript> meta refresh does it.
(function () {
  "use strict";

  function typing(main) {
    var active = document.activeElement;
    return active && main.contains(active) && /^(INPUT|TEXTAREA|SELECT)$/.test(active.tagName);
  }

  function schedule(main) {
    var seconds = Number(main.getAttribute("data-refresh"));
    if (!seconds) {
      return;
    }
    window.setTimeout(function () { refresh(main); }, seconds * 1000);
  }

  function refresh(main) {
    if (typing(main)) {
      schedule(main);
      return;
    }
    fetch(window.location.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (response.redirected || !response.ok) {
          // Signed out or gone: let the browser show what the server says.
          window.location.reload();
          return null;
        }
        return response.text();
      })
      .then(function (html) {
        if (html === null) {
          return;
        }
        var page = new DOMParser().parseFromString(html, "text/html");
        var fresh = page.querySelector("main");
        var nav = page.querySelector("header.top nav");
        if (!fresh) {
          return;
        }
        main.innerHTML = fresh.innerHTML;
        var next = fresh.getAttribute("data-refresh");
        if (next) {
          main.setAttribute("data-refresh", next);
        } else {
          main.removeAttribute("data-refresh");
        }
        var oldNav = document.querySelector("header.top nav");
        if (nav && oldNav) {
          oldNav.innerHTML = nav.innerHTML;
        }
        document.title = page.title;
        schedule(main);
      })
      .catch(function () {
        // The server may be restarting: try again later.
        schedule(main);
      });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var main = document.querySelector("main[data-refresh]");
    if (main) {
      schedule(main);
    }
  });
})();
