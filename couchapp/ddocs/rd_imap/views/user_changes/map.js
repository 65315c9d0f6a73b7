function (doc) {
  // User-state items (seen, flagged, archived, deleted) written by the user (CLI, UI):
  // IMAP sync sends each to the server once. Value: [schema, content hash, value].
  var schemas = { 'rd.msg.seen': 'seen', 'rd.msg.flagged': 'flagged', 'rd.msg.archived': 'archived', 'rd.msg.deleted': 'deleted' };
  var field = schemas[doc.rd_schema_id];
  var items = doc.rd_schema_items;
  if (!field || !items || !items.user) return;
  var fields = items.user.fields || doc;
  emit(doc.rd_key, [doc.rd_schema_id, items.user.content_hash, fields[field] === true]);
}
