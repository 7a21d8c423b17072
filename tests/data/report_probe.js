// Evaluated in the Snakemake report by tests/test_report.py (Chrome DevTools protocol, Runtime.evaluate with
// awaitPromise). Drives the report's own UI code for every result (the onClick of its "view" button, then
// its result-info panel) and returns what the page shows: whether the figure decoded, its size, how much of
// it is not background, and the caption's text as the panel shows it.
(async () => {
  const records = [];
  const frame = () => new Promise((resolve) => setTimeout(resolve, 50));
  const settle = async () => { for (let i = 0; i < 4; i++) await frame(); };
  try {
    for (let i = 0; i < 100 && typeof app === "undefined"; i++) await frame();
    const viewer = new ButtonViewManager(app);
    for (const [path, entry] of Object.entries(results)) {
      const rec = { path: path, mime: entry.mime_type };
      viewer.handleSelectedResult(path).props.onClick();
      await settle();
      if (entry.mime_type.startsWith("image/")) {
        const img = document.querySelector("#app div.justify-center img");
        rec.shown = img !== null && img.getAttribute("src") === entry.data_uri;
        if (img !== null) {
          try { await img.decode(); rec.decoded = true; } catch (err) { rec.decoded = false; rec.error = String(err); }
          rec.width = img.naturalWidth;
          rec.height = img.naturalHeight;
          if (rec.decoded && img.naturalWidth > 0) {
            const canvas = document.createElement("canvas");
            canvas.width = img.naturalWidth;
            canvas.height = img.naturalHeight;
            const ctx = canvas.getContext("2d");
            ctx.fillStyle = "#ffffff";
            ctx.fillRect(0, 0, canvas.width, canvas.height);
            ctx.drawImage(img, 0, 0);
            const px = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
            let ink = 0, sum = 0, sum2 = 0;
            const n = px.length / 4;
            for (let k = 0; k < px.length; k += 4) {
              const lum = (px[k] + px[k + 1] + px[k + 2]) / 3;
              if (lum < 245) ink++;
              sum += lum;
              sum2 += lum * lum;
            }
            rec.ink_fraction = ink / n;
            rec.luminance_std = Math.sqrt(Math.max(0, sum2 / n - (sum / n) ** 2));
          }
        }
      } else if (entry.mime_type === "text/html") {
        const frameEl = document.querySelector("#app iframe");
        rec.shown = frameEl !== null && frameEl.getAttribute("src") === entry.data_uri;
      }
      app.showResultInfo(path);
      await settle();
      // The caption is the "prose" item of the result-info panel (the panel also lists the job's params).
      const caption = document.querySelector("#app nav .prose");
      rec.caption = caption === null ? null : caption.innerText;
      records.push(rec);
    }
  } catch (err) {
    records.push({ error: String(err) });
  }
  return records;
})()
