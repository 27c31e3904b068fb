// What the live page's scripts (app.js, onboard.js, teach.js) share: element lookup, element
// creation that only ever sets text with textContent, and the JSON API call that carries the
// token from the page's one token field. Plain JS, no build step.
'use strict';

window.mujoPage = (() => {
  const $ = (id) => document.getElementById(id);

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  /** JSON request; resolves to the body, or throws an Error carrying the gateway's code and status. */
  async function api(method, path, body) {
    const headers = {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    const token = $('token').value.trim();
    if (method !== 'GET' && token) headers.authorization = `Bearer ${token}`;
    const res = await fetch(path, {
      method,
      headers,
      cache: 'no-store',
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const data = await res.json().catch(() => ({}));
    if (!res.ok) {
      const err = new Error((data.error && data.error.message) || `HTTP ${res.status}`);
      err.code = (data.error && data.error.code) || `HTTP_${res.status}`;
      err.status = res.status;
      throw err;
    }
    return data;
  }

  return { $, el, api };
})();
