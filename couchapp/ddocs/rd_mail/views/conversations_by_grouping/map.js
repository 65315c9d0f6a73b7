function (doc) {
  // A grouping's conversations, newest first with descending=true:
  // startkey [grouping, {}], endkey [grouping], include_docs for the summaries.
  if (doc.rd_schema_id !== 'rd.conv.summary' || !doc.groupings) return;
  for (var g in doc.groupings) emit([g, doc.groupings[g]], { unread: doc.unread_count, archived: doc.archived === true });
}
