// Fields with data-maxlength: show "123 / 2,000" under them, and how many characters too many,
// instead of the browser cutting pasted text short without a word (the server checks the limit).
(function () {
  "use strict";
  const number = new Intl.NumberFormat("en-GB");
  for (const field of document.querySelectorAll("[data-maxlength]")) {
    const limit = Number(field.dataset.maxlength);
    const counter = document.createElement("div");
    counter.className = "counter";
    counter.id = (field.id || field.name) + "_counter";
    counter.setAttribute("aria-live", "polite");
    field.insertAdjacentElement("afterend", counter);
    field.setAttribute("aria-describedby", ((field.getAttribute("aria-describedby") || "") + " " + counter.id).trim());
    const update = () => {
      const length = field.value.length;
      const over = length - limit;
      counter.classList.toggle("counter--over", over > 0);
      counter.textContent = number.format(length) + " / " + number.format(limit) + " characters" +
        (over > 0 ? ": " + number.format(over) + " too many" : "");
    };
    field.addEventListener("input", update);
    update();
  }
})();
