// Copy buttons beside every pre[data-copy] of the connections and personal token pages.
// The pages work without it: the text is there to select.
document.querySelectorAll('pre[data-copy]').forEach((block) => {
  const button = document.createElement('button');
  button.type = 'button';
  button.className = 'small';
  button.textContent = 'Copy';
  button.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(block.textContent);
      button.textContent = 'Copied';
    } catch {
      button.textContent = 'Select the text to copy';
    }
  });
  block.after(button);
});
