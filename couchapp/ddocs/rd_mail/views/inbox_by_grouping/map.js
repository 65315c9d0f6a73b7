function (doc) {
  // A grouping's conversations still in the inbox (not archived), newest first with
  // descending=true: startkey [grouping, {}], endkey [grouping], include_docs for the
  // summaries. The web app's conversation list; archiving makes a row leave it.
  if (doc.rd_schema_id !== 'rd.conv.summary' || !doc.groupings || doc.archived === true) return;
  for (var g in doc.groupings) emit([g, doc.groupings[g]], { unread: doc.unread_count });
}
