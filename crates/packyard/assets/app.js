// packyard's only script: it improves pages that work without it.
// Clicking a code block marked .copy copies its text.
document.addEventListener("click", (event) => {
  const block = event.target.closest("code.copy");
  if (!block || !navigator.clipboard) return;
  navigator.clipboard.writeText(block.textContent).then(() => {
    block.classList.add("copied");
    setTimeout(() => block.classList.remove("copied"), 1500);
  });
});
