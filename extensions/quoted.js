// @ts-check
// rd.msg.body.quoted <- rd.msg.body: the text split into the sender's own text and what
// it quotes. Deterministic line heuristics (no library does this in the sandbox):
//   - quote:       ">" blocks (depth = fewest ">" of the block; one level stripped);
//                  after a top-level attribution not followed by ">", the rest (top posting)
//   - attribution: "On … wrote:" and its translations (de, fr, es, pt, nl, it, sv/no/da,
//                  cs, pl, ru, ja, zh, ko), joined over up to three wrapped lines
//   - original:    Outlook "-----Original Message-----" (and translations), or a
//                  "From: … / Sent: …" header block (and translations): the rest
//   - forward:     "---------- Forwarded message ---------", "Begin forwarded message:",
//                  "-------- Forwarded Message --------" (and translations): the rest
//   - signature:   after "-- " (or a bare "--" followed by at most 15 lines)
//   - footer:      a mailing-list footer ("____" line, then a few lines naming the list)
//   - header:      From/Subject/Date lines that open the text (mailparser's rendering of
//                  an inline message/rfc822, e.g. a Mailman DMARC wrapper)
//   - text:        everything else: the sender's own words (own_text)

/** @typedef {import('./types/raindrop').Json} Json */
/** @typedef {{type: 'header' | 'text' | 'quote' | 'attribution' | 'original' | 'forward' | 'signature' | 'footer', lines: string[], depth?: number, lang?: string}} Segment */

/** Characters analysed; the rest of a huge body is left out (truncated: true). */
const maxChars = 1_000_000;
/** Longest line tried as an attribution (keeps the patterns' work linear and small). */
const maxAttributionChars = 400;

const quoted = /^[ \t]{0,3}>/;
const depthOf = (/** @type {string} */ line) => {
  let d = 0;
  for (const ch of line) {
    if (ch === '>') d++;
    else if (ch !== ' ' && ch !== '\t') break;
  }
  return d;
};
const stripOne = (/** @type {string} */ line) => line.replace(/^[ \t]{0,3}> ?/, '');

/** Attribution lines, with the language they are in. Tested on one line (wrapped lines joined by a space). */
const attributions = /** @type {Array<[RegExp, string, boolean]>} */ ([
  // [pattern, language, strong: starts with its own introducer, so it counts even without a ">" block after it]
  [/^On\s.{4,}\s(?:wrote|writes|said)\s?:$/i, 'en', true],
  [/^Am\s.{4,}\sschrieb\s.{0,200}:$/, 'de', true],
  [/^Le\s.{4,}\sa\s+écrit\s?:$/, 'fr', true],
  [/^El\s.{4,}\sescribió\s?:$/, 'es', true],
  [/^Em\s.{4,}\sescreveu\s?:$/, 'pt', true],
  [/^Op\s.{4,}\sschreef\s.{0,200}:$/, 'nl', true],
  [/^Il\s.{4,}\sha\s+scritto\s?:$/, 'it', true],
  [/^(?:Den|På)\s.{4,}\sskrev\s.{0,200}:$/, 'sv', true],
  [/^.{0,120}\skl\.\s.{0,120}\sskrev\s[^:]{0,200}:$/, 'no', true],
  [/^Dne\s.{4,}\snapsal(?:\(a\)|a)?\s?:$/, 'cs', true],
  [/^W dniu\s.{4,}\s(?:pisze|napisał(?:\(a\)|a)?)\s?:$/, 'pl', true],
  [/^.{4,}\s(?:пишет|написал(?:\(а\)|а)?)\s?:$/, 'ru', true],
  [/^\d{4}年\d{1,2}月\d{1,2}日.{0,200}[:：]$/, 'ja', true],
  [/書きました[:：]$/, 'ja', true],
  [/(?:写道|寫道)[:：]$/, 'zh', true],
  [/^\d{4}년\s?\d{1,2}월\s?\d{1,2}일.{0,200}작성[:：]$/, 'ko', true],
  // A bare "Name <address> wrote:" counts only when a ">" block follows.
  [/^.{1,200}\s(?:wrote|writes)\s?:$/i, 'en', false],
  [/^.{1,200}\sschrieb\s?:$/, 'de', false],
]);

const originalMessage = /^[ \t]*-{2,}\s*(?:Original Message|Ursprüngliche Nachricht|Message d'origine|Mensaje original|Mensagem original|Oorspronkelijk bericht|Messaggio originale|Originalmeddelande|Ursprungligt meddelande|Opprinnelig melding|Oprindelig meddelelse|Původní zpráva|Oryginalna wiadomość|Исходное сообщение|原始邮件|元のメッセージ)\s*-{2,}[ \t]*$/i;
const forwarded = /^[ \t]*(?:-{2,}\s*(?:Forwarded message|Forwarded Message|Weitergeleitete Nachricht|Message transféré|Mensaje reenviado|Mensagem encaminhada|Doorgestuurd bericht|Messaggio inoltrato|Vidarebefordrat meddelande|Videresendt melding|Videresendt meddelelse|Přeposlaná zpráva|Przekazana wiadomość|Пересылаемое сообщение|転送されたメッセージ|转发的邮件|轉寄的郵件)\s*-{2,}|Begin forwarded message:|Début du message réexpédié\s?:|Anfang der weitergeleiteten Nachricht:|Inicio del mensaje reenviado:)[ \t]*$/i;
/** Outlook's header block in a reply: "From:" then, within four lines, "Sent:" (or "Date:"). */
const headerFrom = /^[ \t]*\*?(?:From|Von|De|Van|Da|Från|Fra|Od|От|差出人|发件人|寄件者)\s?\*?\s?[:：]\s?\*?\s*\S/;
const headerSent = /^[ \t]*\*?(?:Sent|Date|Gesendet|Datum|Envoyé|Enviado|Fecha|Data|Verzonden|Inviato|Skickat|Sendt|Odesláno|Wysłano|Отправлено|送信日時|发送时间|寄件日期)\s?\*?\s?[:：]/;
const headerTo = /^[ \t]*\*?(?:To|Subject|An|Betreff|À|A|Objet|Para|Asunto|Assunto|Aan|Onderwerp|Oggetto|Till|Ämne|Til|Emne|Komu|Předmět|Do|Temat|Кому|Тема|宛先|件名|收件人|主题)\s?\*?\s?[:：]/;
const outlookRule = /^[ \t]*_{20,}[ \t]*$/;
const footerRule = /^[ \t]*_{20,}[ \t]*$/;
const footerWords = /mailing list|listinfo|unsubscribe|lists?\.|mailman/i;

/** The header fields of an original/forward block, by English name. */
const headerNames = /** @type {Record<string, string>} */ ({
  from: 'from', von: 'from', de: 'from', van: 'from', da: 'from', från: 'from', fra: 'from', od: 'from', от: 'from', 差出人: 'from', 发件人: 'from', 寄件者: 'from',
  sent: 'date', date: 'date', gesendet: 'date', datum: 'date', envoyé: 'date', enviado: 'date', fecha: 'date', data: 'date', verzonden: 'date', inviato: 'date', skickat: 'date', sendt: 'date', odesláno: 'date', wysłano: 'date', отправлено: 'date', 送信日時: 'date', 发送时间: 'date', 寄件日期: 'date',
  to: 'to', an: 'to', à: 'to', a: 'to', para: 'to', aan: 'to', till: 'to', til: 'to', komu: 'to', do: 'to', кому: 'to', 宛先: 'to', 收件人: 'to',
  cc: 'cc', kopie: 'cc', копия: 'cc',
  subject: 'subject', betreff: 'subject', objet: 'subject', asunto: 'subject', assunto: 'subject', onderwerp: 'subject', oggetto: 'subject', ämne: 'subject', emne: 'subject', předmět: 'subject', temat: 'subject', тема: 'subject', 件名: 'subject', 主题: 'subject',
});

/** "From: a / Sent: b / To: c / Subject: d" lines after a marker (up to the first blank line after some). */
function headersOf(/** @type {string[]} */ lines) {
  /** @type {Record<string, string>} */
  const out = {};
  let seen = 0;
  for (const raw of lines.slice(0, 12)) {
    const line = raw.replace(/\*/g, '').trim();
    if (line === '') {
      if (seen > 0) break;
      continue;
    }
    const m = /^([^:：]{1,20})\s?[:：]\s?(.*)$/.exec(line);
    if (!m) {
      if (seen > 0) break;
      continue;
    }
    const name = headerNames[m[1].trim().toLowerCase()];
    if (name && !(name in out)) out[name] = m[2].trim();
    seen++;
  }
  return out;
}

/** The attribution starting at line i (one to three wrapped lines ending in ":"), if any. */
function attributionAt(/** @type {string[]} */ lines, /** @type {number} */ i) {
  let joined = '';
  for (let k = 0; k < 3 && i + k < lines.length; k++) {
    const line = lines[i + k].trim();
    if (line === '' || quoted.test(lines[i + k])) return null;
    joined = k === 0 ? line : `${joined} ${line}`;
    if (joined.length > maxAttributionChars) return null;
    if (/[:：]$/.test(joined)) {
      for (const [pattern, lang, strong] of attributions) if (pattern.test(joined)) return { end: i + k + 1, lang, strong };
      return null;
    }
  }
  return null;
}

const nextNonBlank = (/** @type {string[]} */ lines, /** @type {number} */ i) => {
  while (i < lines.length && lines[i].trim() === '') i++;
  return i;
};

/** Splits text into segments. Exported through the handler only; pure. */
function split(/** @type {string} */ text) {
  const lines = text.split('\n');
  // The mailing-list footer: the last "____" rule followed by at most 8 lines naming a list.
  let end = lines.length;
  for (let i = lines.length - 1; i >= Math.max(0, lines.length - 12); i--) {
    if (footerRule.test(lines[i]) && footerWords.test(lines.slice(i + 1).join('\n'))) {
      end = i;
      break;
    }
  }
  /** @type {Segment[]} */
  const segments = [];
  const push = (/** @type {Segment} */ s) => {
    const last = segments[segments.length - 1];
    if (last && last.type === s.type && last.depth === s.depth && s.type !== 'attribution') last.lines.push(...s.lines);
    else segments.push(s);
  };
  let inSignature = false;
  let i = 0;
  while (i < end) {
    const line = lines[i];
    if (quoted.test(line)) {
      // A ">" block; blank lines inside it (followed by more ">") belong to it.
      const block = [];
      let depth = Infinity;
      while (i < end) {
        if (quoted.test(lines[i])) {
          depth = Math.min(depth, depthOf(lines[i]));
          block.push(lines[i]);
          i++;
        } else if (lines[i].trim() === '' && nextNonBlank(lines, i) < end && quoted.test(lines[nextNonBlank(lines, i)])) {
          const j = nextNonBlank(lines, i);
          while (i < j) block.push(lines[i++]);
        } else break;
      }
      push({ type: 'quote', lines: block.map(stripOne), depth: depth === Infinity ? 1 : depth });
      inSignature = false;
      continue;
    }
    if (originalMessage.test(line) || (outlookRule.test(line) && headerFrom.test(lines[nextNonBlank(lines, i + 1)] ?? ''))) {
      push({ type: 'original', lines: lines.slice(i, end) });
      i = end;
      break;
    }
    if (/^(?:From|Subject|Date|To|Cc): /.test(line) && segments.every((x) => x.lines.every((l) => l.trim() === ''))) {
      // mailparser renders an inline message/rfc822 (a Mailman DMARC wrapper, a forward
      // as attachment) with its From/Subject/Date/To lines first: the message's own
      // header, not a quote.
      let j = i;
      while (j < end && /^(?:From|Subject|Date|To|Cc): /.test(lines[j])) j++;
      if (j - i >= 2 && (j === end || lines[j].trim() === '')) {
        push({ type: 'header', lines: lines.slice(i, j) });
        i = j;
        continue;
      }
    }
    if (headerFrom.test(line) && lines.slice(i + 1, i + 6).some((l) => headerSent.test(l)) && lines.slice(i + 1, i + 6).some((l) => headerTo.test(l)) && (i === 0 || lines[i - 1].trim() === '' || outlookRule.test(lines[i - 1]))) {
      push({ type: 'original', lines: lines.slice(i, end) });
      i = end;
      break;
    }
    if (forwarded.test(line)) {
      push({ type: 'forward', lines: lines.slice(i, end) });
      i = end;
      break;
    }
    const attribution = attributionAt(lines, i);
    if (attribution) {
      const next = nextNonBlank(lines, attribution.end);
      const followedByQuote = next < end && quoted.test(lines[next]);
      if (followedByQuote || attribution.strong) {
        push({ type: 'attribution', lines: lines.slice(i, attribution.end), lang: attribution.lang });
        i = attribution.end;
        inSignature = false;
        if (!followedByQuote) {
          // Top posting: the quoted message follows without ">".
          push({ type: 'quote', lines: lines.slice(i, end), depth: 1 });
          i = end;
        }
        continue;
      }
    }
    if (line === '-- ' || (line === '--' && lines.slice(i + 1, end).filter((l) => l.trim() !== '').length <= 15)) {
      inSignature = true;
      push({ type: 'signature', lines: [] });
      i++;
      continue;
    }
    push({ type: inSignature ? 'signature' : 'text', lines: [line] });
    i++;
  }
  if (end < lines.length) push({ type: 'footer', lines: lines.slice(end) });
  return segments;
}

/** Trims blank lines at both ends. */
const trimLines = (/** @type {string[]} */ lines) => {
  let a = 0;
  let b = lines.length;
  while (a < b && lines[a].trim() === '') a++;
  while (b > a && lines[b - 1].trim() === '') b--;
  return lines.slice(a, b).join('\n');
};

/** @type {import('./types/raindrop').Extension} */
export default {
  id: 'rd.ext.quoted',
  source_schemas: ['rd.msg.body'],
  emits: ['rd.msg.body.quoted'],
  category: 'provider',
  confidence: 1,
  handler(doc, rd) {
    const full = typeof doc.text === 'string' ? doc.text.replace(/\r\n?/g, '\n') : '';
    const truncated = full.length > maxChars;
    const text = truncated ? full.slice(0, maxChars) : full;
    /** @type {Json[]} */
    const parts = [];
    const own = [];
    for (const s of split(text)) {
      const body = trimLines(s.lines);
      if (body === '' && s.type !== 'signature') continue;
      /** @type {Record<string, Json>} */
      const part = { type: s.type, text: body };
      if (s.type === 'quote') part.depth = s.depth ?? 1;
      if (s.lang !== undefined) part.lang = s.lang;
      if (s.type === 'original' || s.type === 'forward' || s.type === 'header') {
        const h = headersOf(s.lines.slice(originalMessage.test(s.lines[0]) || forwarded.test(s.lines[0]) || outlookRule.test(s.lines[0]) ? 1 : 0));
        if (Object.keys(h).length > 0) part.headers = h;
      }
      if (s.type === 'signature' && body === '') continue;
      parts.push(part);
      if (s.type === 'text') own.push(body);
    }
    /** @type {Record<string, Json>} */
    const fields = {
      own_text: own.join('\n\n'),
      parts,
      has_quote: parts.some((p) => { const t = /** @type {{type: string}} */ (p).type; return t === 'quote' || t === 'original' || t === 'forward'; }),
    };
    if (truncated) fields.truncated = true;
    rd.emit('rd.msg.body.quoted', fields);
  },
};
