// Opens one HTML report in headless Chromium (Debian's, through playwright-core), twice: served over
// HTTP from 127.0.0.1 (as from a bucket) and from a file (offline). Prints one JSON line: every
// request the browser made, every console message and page error, what the server was asked for,
// the charts as laid out, and where the screenshot went.
//   node check_page.js <chromium> <page.html> <screenshot.png>
const http = require("http");
const fs = require("fs");
const path = require("path");
const { chromium } = require("playwright-core");

async function main() {
  const [executablePath, pageFile, screenshot] = process.argv.slice(2);
  const body = fs.readFileSync(pageFile);
  const served = [];
  const server = http.createServer((req, res) => {
    served.push(req.url);
    if (req.url === "/reports/digest/report.html") {
      res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
      res.end(body);
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const base = `http://127.0.0.1:${server.address().port}`;
  const browser = await chromium.launch({
    executablePath,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
           "--disable-component-update", "--disable-sync"],
  });
  const result = { visits: [] };
  try {
    for (const url of [`${base}/reports/digest/report.html`, "file://" + path.resolve(pageFile)]) {
      const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
      const page = await context.newPage();
      const visit = { url, requests: [], console: [], errors: [], failed: [] };
      page.on("request", (r) => visit.requests.push(r.url()));
      page.on("requestfailed", (r) => visit.failed.push(r.url()));
      page.on("console", (m) => visit.console.push({ type: m.type(), text: m.text() }));
      page.on("pageerror", (e) => visit.errors.push(String(e)));
      const response = await page.goto(url, { waitUntil: "load" });
      visit.status = response ? response.status() : null;
      await page.waitForTimeout(700); // late requests (a favicon) would show up here
      visit.title = await page.title();
      visit.charts = await page.$$eval("figure.chart svg[role=img]", (svgs) => svgs.map((s) => {
        const box = s.getBoundingClientRect();
        return { id: s.id, width: box.width, height: box.height,
                 label: s.getAttribute("aria-labelledby").split(" ").map((i) => document.getElementById(i).textContent) };
      }));
      visit.sections = await page.$$eval("section.agreement", (all) => all.map((s) => s.dataset.agreement));
      // Words a table cell had to cut in the middle (it is narrower than the word): a squeezed layout.
      // Breaks at spaces and after hyphens are fine; each word is measured in its own element's font.
      visit.brokenWords = await page.$$eval("table th, table td", (cells) => {
        const canvas = document.createElement("canvas").getContext("2d");
        const broken = [];
        for (const cell of cells) {
          const style = getComputedStyle(cell);
          const room = cell.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
          const parts = cell.children.length ? [...cell.querySelectorAll("*")].concat([cell]) : [cell];
          for (const part of parts) {
            const text = part === cell && cell.children.length ? "" : part.textContent;
            const font = getComputedStyle(part);
            canvas.font = `${font.fontWeight} ${font.fontSize} ${font.fontFamily}`;
            const spacing = parseFloat(font.letterSpacing) || 0;
            for (const word of text.split(/\s+|(?<=-)/)) {
              const shown = font.textTransform === "uppercase" ? word.toUpperCase() : word;
              const width = canvas.measureText(shown).width + spacing * shown.length;
              if (word && width > room + 1) broken.push({ word, width: Math.round(width), room: Math.round(room) });
            }
          }
        }
        return broken;
      });
      if (url.startsWith("http")) {
        await page.screenshot({ path: screenshot, fullPage: true });
      }
      result.visits.push(visit);
      await context.close();
    }
  } finally {
    await browser.close();
    server.close();
  }
  result.served = served;
  result.screenshot = screenshot;
  console.log(JSON.stringify(result));
}

main().catch((e) => { console.error(e && e.stack || String(e)); process.exit(1); });
