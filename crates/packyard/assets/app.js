// packyard's only script: it improves pages that work without it.

// Code blocks marked .copy copy their text when clicked, and get a Copy button (a
// keyboard can reach it); without a clipboard (or without this script) neither shows.
const copy = (block) => {
  navigator.clipboard.writeText(block.textContent).then(() => {
    block.classList.add("copied");
    setTimeout(() => block.classList.remove("copied"), 1500);
  });
};
document.addEventListener("click", (event) => {
  const block = event.target.closest("code.copy");
  if (block && navigator.clipboard) copy(block);
});
if (navigator.clipboard) {
  for (const block of document.querySelectorAll("code.copy")) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "copy-button";
    button.textContent = "Copy";
    button.setAttribute("aria-label", "Copy " + block.textContent.trim().slice(0, 60));
    button.addEventListener("click", () => copy(block));
    (block.closest("pre") || block).after(button);
  }
}

// Search as you type on package lists: the list below the filter form is fetched
// again (the same page, the same access rules) and swapped in place.
const filters = document.querySelector("form.filters");
if (filters) {
  const query = filters.querySelector("input[name=q]");
  let timer = null;
  let latest = 0;
  const refresh = async () => {
    const request = ++latest;
    const url = new URL(filters.action || window.location.href, window.location.href);
    const params = new URLSearchParams();
    for (const [key, value] of new FormData(filters)) {
      if (value !== "") params.append(key, value);
    }
    url.search = params.toString();
    const response = await fetch(url, { credentials: "same-origin" });
    if (!response.ok || request !== latest) return;
    const page = new DOMParser().parseFromString(await response.text(), "text/html");
    for (const selector of [".count", "p.empty", "ul.packages", "nav.pager"]) {
      const fresh = page.querySelector(selector);
      const current = document.querySelector(selector);
      if (current && fresh) current.replaceWith(fresh);
      else if (current) current.remove();
      else if (fresh) document.querySelector("ul.packages").after(fresh);
    }
    window.history.replaceState(null, "", url);
  };
  query.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(refresh, 250);
  });
}
