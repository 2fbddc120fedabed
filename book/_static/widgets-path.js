// The saved widgets' scripts live beside this file, in vendor/: tell require.js, so that the
// widget modules find their fonts there (each locates them from its own module path).
(function () {
  var here = document.currentScript.src;
  var vendor = here.slice(0, here.lastIndexOf("/")) + "/vendor";
  require.config({
    paths: {"@jupyter-widgets": vendor, "@jupyter-widgets/html-manager/dist": vendor},
  });
})();

// The widget manager typesets with MathJax 2's API (MathJax.Hub.Queue); the book loads
// MathJax 3. Give it the old call, run by MathJax 3 once it has started.
document.addEventListener("DOMContentLoaded", function () {
  if (window.MathJax && !window.MathJax.Hub) {
    window.MathJax.Hub = {
      Queue: function (job) {
        MathJax.startup.promise.then(function () { return MathJax.typesetPromise([job[2]]); });
      },
    };
  }
});
