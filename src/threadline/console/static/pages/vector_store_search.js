// Searching one vector store (POST /v1/vector_stores/{id}/search): the scored chunks, with the
// words of the query marked in them.

import { post } from "../api.js";
import { describeError, Empty, ErrorNote, Field, html, useAction } from "../ui.js";
import { useState } from "../vendor.js";

const MAX_RESULTS = 10;

/** `text` with the query's words (2 letters or more) in <mark>. */
function Marked({ text, query }) {
  const words = [...new Set(query.toLowerCase().match(/[\p{L}\p{N}_]{2,}/gu) || [])];
  if (!words.length) return text;
  const escaped = words.map((word) => word.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  const pattern = new RegExp(`(${escaped.join("|")})`, "giu");
  // split() with a capturing group puts the matches at the odd indexes.
  return text.split(pattern).map((part, index) => (index % 2 ? html`<mark>${part}</mark>` : part));
}

function Hit({ hit, query }) {
  const text = hit.content.filter((part) => part.type === "text").map((part) => part.text).join("\n");
  return html`<li class="search-hit">
    <div class="search-hit-head">
      <strong class="search-hit-file">${hit.filename || hit.file_id}</strong>
      <span class="score" title="Relevance score">score ${hit.score.toFixed(3)}</span>
    </div>
    <p class="search-hit-text"><${Marked} text=${text} query=${query} /></p>
  </li>`;
}

export function StoreSearch({ storeId }) {
  const [query, setQuery] = useState("");
  const [results, setResults] = useState(null);
  const action = useAction();
  const submit = (event) => {
    event.preventDefault();
    const asked = query.trim();
    if (!asked) return;
    action.run(async () => {
      try {
        const page = await post(`/v1/vector_stores/${encodeURIComponent(storeId)}/search`, {
          query: asked,
          max_num_results: MAX_RESULTS,
        });
        setResults({ query: asked, hits: page.data });
      } catch (error) {
        throw describeError(error);
      }
    });
  };
  return html`<section class="store-search" aria-labelledby="store-search-title">
    <h2 id="store-search-title">Search this store</h2>
    <form class="search-form" onSubmit=${submit} role="search">
      <${Field} label="Search" type="search" value=${query} onInput=${setQuery}
        placeholder="A question or a few words" />
      <button type="submit" disabled=${action.pending || !query.trim()}>Search</button>
    </form>
    <${ErrorNote} error=${action.error} />
    ${results && (results.hits.length
      ? html`<ol class="search-hits" aria-label=${`Chunks matching ${results.query}`}>
          ${results.hits.map((hit, index) => html`<${Hit} key=${index} hit=${hit} query=${results.query} />`)}
        </ol>`
      : html`<${Empty}>No chunk matched “${results.query}”.<//>`)}
  </section>`;
}
