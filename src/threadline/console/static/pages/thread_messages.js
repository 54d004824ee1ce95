// A thread's messages, oldest first: text (annotations as numbered footnotes), images of files
// and by URL, attachments with their tools.

import { Badge, formatTime, html } from "../ui.js";
import { DownloadButton, FileName, ImageFile, MetadataList } from "./thread_parts.js";

/**
 * A text part split at its annotations: [pieces, notes]. A piece is a string or a footnote
 * number; each annotation's cited span (e.g. "【4:0†source】") becomes its number. Indexes
 * count characters (code points), as the server counts them.
 */
export function annotate(value, annotations = []) {
  const characters = Array.from(value);
  const sorted = annotations
    .filter((note) => Number.isInteger(note.start_index) && Number.isInteger(note.end_index))
    .sort((a, b) => a.start_index - b.start_index);
  const pieces = [];
  const notes = [];
  let position = 0;
  for (const note of sorted) {
    if (note.start_index < position) continue; // overlapping spans: the first one wins
    pieces.push(characters.slice(position, note.start_index).join(""));
    notes.push(note);
    pieces.push(notes.length);
    position = Math.max(position, note.end_index);
  }
  pieces.push(characters.slice(position).join(""));
  // Annotations without a span are still listed, after the text.
  for (const note of annotations) if (!sorted.includes(note)) notes.push(note);
  return [pieces.filter((piece) => piece !== ""), notes];
}

function Footnote({ note, id }) {
  if (note.type === "file_citation") {
    const quote = note.file_citation?.quote;
    return html`<li id=${id}>Cites <${FileName} fileId=${note.file_citation?.file_id} />
      ${quote && html`<blockquote>${quote}</blockquote>`}</li>`;
  }
  if (note.type === "file_path") {
    const fileId = note.file_path?.file_id;
    return html`<li id=${id}>File <${FileName} fileId=${fileId} /> <${DownloadButton} fileId=${fileId} /></li>`;
  }
  return html`<li id=${id}>${note.type}: <code>${note.text}</code></li>`;
}

function TextPart({ text, anchor }) {
  const [pieces, notes] = annotate(text.value || "", text.annotations || []);
  const noteId = (number) => `${anchor}-note-${number}`;
  return html`<div class="text-part">
    <p class="text">${pieces.map((piece) => (typeof piece === "number"
      ? html`<sup class="note-ref"><a href=${`#${noteId(piece)}`} aria-label=${`Footnote ${piece}`}>[${piece}]</a></sup>`
      : piece))}</p>
    ${notes.length > 0 && html`<ol class="footnotes" aria-label="Citations">
      ${notes.map((note, index) => html`<${Footnote} note=${note} id=${noteId(index + 1)} />`)}
    </ol>`}
  </div>`;
}

function ImageUrl({ image }) {
  const url = image.url || "";
  // Only inline data is shown: fetching another site's image would leave the server.
  if (url.startsWith("data:image/")) {
    return html`<figure class="image-part"><img src=${url} alt="Image sent inline" /></figure>`;
  }
  const detail = image.detail ? ` (detail ${image.detail})` : "";
  return html`<p class="image-link">Image by URL${detail}: <a href=${url} target="_blank"
    rel="noopener noreferrer">${url}</a></p>`;
}

function ContentPart({ part, anchor }) {
  if (part.type === "text") return html`<${TextPart} text=${part.text} anchor=${anchor} />`;
  if (part.type === "image_file") {
    return html`<${ImageFile} fileId=${part.image_file.file_id} label="Image file" />`;
  }
  if (part.type === "image_url") return html`<${ImageUrl} image=${part.image_url} />`;
  if (part.type === "refusal") return html`<p class="text refusal">Refused: ${part.refusal}</p>`;
  return html`<p class="muted">A ${part.type} part.</p>`;
}

function Attachments({ attachments }) {
  if (!attachments?.length) return null;
  return html`<div class="attachments">
    <p class="part-label">Attachments</p>
    <ul>
      ${attachments.map((attachment) => html`<li key=${attachment.file_id}>
        <${FileName} fileId=${attachment.file_id} />
        <span class="muted"> for ${(attachment.tools || []).map((tool) => tool.type.replaceAll("_", " ")).join(", ") || "no tool"}</span>${" "}
        <${DownloadButton} fileId=${attachment.file_id} />
      </li>`)}
    </ul>
  </div>`;
}

function MessageView({ message }) {
  const incomplete = message.incomplete_details?.reason;
  return html`<article class=${`message ${message.role}`} id=${message.id} aria-label=${`${message.role} message`}>
    <header class="message-head">
      <span class="role">${message.role}</span>
      <span class="muted">${formatTime(message.created_at)}</span>
      ${message.status !== "completed" && html`<${Badge} status=${message.status} />`}
    </header>
    ${message.content.map((part, index) => html`<${ContentPart} part=${part} anchor=${`${message.id}-${index}`} />`)}
    ${incomplete && html`<p class="note warn">Incomplete: ${incomplete.replaceAll("_", " ")}</p>`}
    <${Attachments} attachments=${message.attachments} />
    <footer class="message-foot muted">
      <code>${message.id}</code>
      ${message.run_id && html` · written by <code>${message.run_id}</code>`}
      ${Object.keys(message.metadata || {}).length > 0 && html` · <${MetadataList} metadata=${message.metadata} />`}
    </footer>
  </article>`;
}

export function Transcript({ messages }) {
  if (!messages.length) return html`<p class="empty">No messages yet.</p>`;
  return html`<div class="transcript">
    ${messages.map((message) => html`<${MessageView} key=${message.id} message=${message} />`)}
  </div>`;
}
