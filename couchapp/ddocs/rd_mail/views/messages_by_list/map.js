function (doc) {
  // Messages of a mailing list; reduce _count gives a message count per list.
  if (doc.rd_schema_id !== 'rd.msg.email.mailing-list') return;
  emit(doc.list_id, null);
}
