function (doc) {
  // Contacts ranked for completion and the contact list, best first with descending=true:
  // people the user writes to, then how often, then how recently they were seen.
  if (doc.rd_schema_id !== 'rd.contact') return;
  emit([doc.sent_by_me_count, doc.message_count, doc.last_seen], doc.name);
}
