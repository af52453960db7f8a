/* mod_pdshare share page: small enhancements over a page that works without
 * JavaScript (native <audio controls>, plain download links).
 * - one preview plays at a time; in a playlist the next track follows;
 * - the playing track is marked (class "playing", aria-current);
 * - the expiry date is shown in the visitor's locale. */
(function () {
  "use strict";
  var players = Array.prototype.slice.call(document.querySelectorAll("audio.player"));

  players.forEach(function (audio, i) {
    audio.addEventListener("play", function () {
      players.forEach(function (other) {
        if (other !== audio && !other.paused) other.pause();
      });
      mark(audio, true);
    });
    audio.addEventListener("pause", function () { mark(audio, false); });
    audio.addEventListener("ended", function () {
      mark(audio, false);
      var next = players[i + 1];
      if (next && document.body.classList.contains("playlist")) {
        next.play().catch(function () { /* the visitor can press play */ });
      }
    });
  });

  function mark(audio, on) {
    audio.classList.toggle("playing", on);
    var li = audio.closest("li.track");
    if (!li) return;
    if (on) li.setAttribute("aria-current", "true");
    else li.removeAttribute("aria-current");
  }

  var times = document.querySelectorAll("time[datetime]");
  Array.prototype.forEach.call(times, function (t) {
    var d = new Date(t.getAttribute("datetime"));
    if (isNaN(d.getTime())) return;
    try {
      t.textContent = d.toLocaleString(undefined, { dateStyle: "long", timeStyle: "short" });
    } catch (e) {
      t.textContent = d.toString();
    }
  });
})();
