function (newDoc, oldDoc, userCtx, secObj) {
  // Least privilege for the web app's login (a member of the database, not an admin): it
  // may write only the user's own state (read, flagged, archived, deleted, sender
  // verdicts, drafts and outgoing mail), never extensions, schemas or derived items, which
  // would let a stolen session plant code or forge what the queue derived. Admins (the
  // queue, the CLI) pass. The embedded server's auth gate runs this same function.
  if (userCtx.roles.indexOf('_admin') !== -1) return;

  var userSchemas = {
    'rd.msg.seen': { key: 'email', booleans: ['seen'] },
    'rd.msg.flagged': { key: 'email', booleans: ['flagged'] },
    'rd.msg.archived': { key: 'email', booleans: ['archived'] },
    'rd.msg.deleted': { key: 'email', booleans: ['deleted'] },
    'rd.identity.sender-flags': { key: 'identity', booleans: ['bulk'] },
    'rd.msg.outgoing': { key: 'email', booleans: [], attachments: true }
  };
  function deny(why) { throw({ forbidden: why }); }

  function canonical(v) {
    if (v === null || typeof v !== 'object') return JSON.stringify(v);
    if (Array.isArray(v)) return '[' + v.map(canonical).join(',') + ']';
    return '{' + Object.keys(v).sort().map(function (k) { return JSON.stringify(k) + ':' + canonical(v[k]); }).join(',') + '}';
  }
  function base64url(text) {
    var bytes = unescape(encodeURIComponent(text));
    var abc = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    var out = '';
    for (var i = 0; i < bytes.length; i += 3) {
      var n = (bytes.charCodeAt(i) << 16) | ((i + 1 < bytes.length ? bytes.charCodeAt(i + 1) : 0) << 8) | (i + 2 < bytes.length ? bytes.charCodeAt(i + 2) : 0);
      out += abc.charAt((n >> 18) & 63) + abc.charAt((n >> 12) & 63);
      if (i + 1 < bytes.length) out += abc.charAt((n >> 6) & 63);
      if (i + 2 < bytes.length) out += abc.charAt(n & 63);
    }
    return out;
  }

  var id = String(newDoc._id);
  var bang = id.lastIndexOf('!');
  var schema = id.indexOf('rc!') === 0 && bang > 3 ? id.slice(bang + 1) : null;
  var rule = schema && Object.prototype.hasOwnProperty.call(userSchemas, schema) ? userSchemas[schema] : null;
  if (!rule) deny('this login may write only user-state items (' + Object.keys(userSchemas).join(', ') + '), not ' + id);
  if (newDoc._deleted === true) return;

  if (newDoc.rd_schema_id !== schema) deny('rd_schema_id must be ' + schema + ', the schema its id names');
  var key = newDoc.rd_key;
  if (!Array.isArray(key) || key.length !== 2 || key[0] !== rule.key) deny(schema + ' items are keyed ["' + rule.key + '", ...]');
  if (id !== 'rc!' + key[0] + '.' + base64url(canonical(key[1])) + '!' + schema) deny('the _id must be computed from rd_key and the schema (see couchapp/API.md)');

  var items = newDoc.rd_schema_items;
  if (!items || typeof items !== 'object' || !items.user) deny('the item must carry the writer "user"');
  var oldItems = (oldDoc && !oldDoc._deleted && oldDoc.rd_schema_items) || {};
  // A writer alone on a document keeps its fields at top level only; with a second
  // writer they move into its entry. Compare entries with their fields either way.
  function withFields(item, doc, alone) {
    if (!item) return null;
    var full = {};
    for (var k in item) full[k] = item[k];
    if (full.fields === undefined && alone) {
      full.fields = {};
      for (var f in doc) if (f.charAt(0) !== '_' && f.indexOf('rd_') !== 0) full.fields[f] = doc[f];
    }
    return full;
  }
  var oldAlone = Object.keys(oldItems).length === 1;
  var newAlone = Object.keys(items).length === 1;
  for (var w in items) {
    if (w !== 'user' && canonical(withFields(items[w], newDoc, newAlone)) !== canonical(withFields(oldItems[w], oldDoc, oldAlone))) deny('this login may change only the writer "user", not "' + w + '"');
  }
  for (var o in oldItems) if (!items[o]) deny('this login may not remove the writer "' + o + '"');
  var user = items.user;
  if (user.rd_source !== null || user.category !== 'provider' || user.code_hash !== undefined || user.deps !== undefined) deny('the "user" item is a provider with rd_source null, no code hash and no deps');

  var fields = user.fields || newDoc;
  for (var b = 0; b < rule.booleans.length; b++) {
    if (typeof fields[rule.booleans[b]] !== 'boolean') deny(schema + ': "' + rule.booleans[b] + '" must be true or false');
  }
  if (schema === 'rd.msg.outgoing') {
    if (typeof fields.account !== 'string' || typeof fields.subject !== 'string' || typeof fields.text !== 'string') deny('rd.msg.outgoing needs account, subject and text strings');
    if (!fields.from || typeof fields.from.address !== 'string' || !Array.isArray(fields.to)) deny('rd.msg.outgoing needs from.address and a to list');
    if (fields.state !== 'draft' && fields.state !== 'send') deny('rd.msg.outgoing state must be "draft" or "send"');
  }

  var atts = newDoc._attachments || {};
  var oldAtts = (oldDoc && oldDoc._attachments) || {};
  for (var name in atts) {
    var own = rule.attachments && name.indexOf('user/') === 0;
    if (!own && !oldAtts[name]) deny('this login may not add the attachment "' + name + '"');
    if (!own && atts[name].stub !== true) deny('this login may not change the attachment "' + name + '"');
  }
}
