// casepush's UI works without this script; it only asks before a form marked data-confirm deletes.
document.addEventListener("submit", (event) => {
  const question = event.target.dataset.confirm;
  if (question && !window.confirm(question)) event.preventDefault();
});
