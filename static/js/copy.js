// "Copy" buttons: data-copy names the element whose text goes to the clipboard.
(function () {
  "use strict";
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    button.addEventListener("click", function () {
      const source = document.getElementById(button.dataset.copy);
      const label = button.textContent;
      navigator.clipboard.writeText(source.textContent).then(
        function () { button.textContent = "Copied"; },
        function () { button.textContent = "Select the text and copy it"; }
      );
      setTimeout(function () { button.textContent = label; }, 2000);
    });
  });
})();
