/** The small page served at `/`: a user's live session, features and recommendations. */
export const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Tributary personalization</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:2em;max-width:70em;color:#222}
input{font:inherit;padding:.3em}button{font:inherit;padding:.3em .8em}
section{display:grid;grid-template-columns:repeat(3,1fr);gap:1em;margin-top:1em}
pre{background:#f5f5f5;padding:.8em;overflow:auto;max-height:30em;font-size:12px}
h2{font-size:1em;margin:.2em 0}
</style></head><body>
<h1>Tributary: live personalization</h1>
<p>User <input id="user" value="u1"> <button id="go">Show</button> <span id="status"></span></p>
<section>
<div><h2>Live session</h2><pre id="session"></pre></div>
<div><h2>Features</h2><pre id="features"></pre></div>
<div><h2>Recommendations</h2><pre id="recs"></pre></div>
</section>
<h2>Trending</h2><pre id="trending"></pre>
<script>
const $ = (id) => document.getElementById(id);
async function show() {
  const u = encodeURIComponent($('user').value);
  const get = (p) => fetch(p).then((r) => r.json());
  const [s, f, r, t] = await Promise.all([get('/users/' + u + '/session'), get('/users/' + u + '/features'), get('/recommendations/' + u + '?k=10'), get('/trending?k=10')]);
  $('session').textContent = JSON.stringify(s, null, 2);
  $('features').textContent = JSON.stringify(f, null, 2);
  $('recs').textContent = JSON.stringify(r, null, 2);
  $('trending').textContent = JSON.stringify(t, null, 2);
  $('status').textContent = 'updated ' + new Date().toLocaleTimeString();
}
$('go').onclick = show;
show();
setInterval(show, 3000);
</script></body></html>`;
