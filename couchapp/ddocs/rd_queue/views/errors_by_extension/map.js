function (doc) {
  if (doc.rd_schema_id === 'rd.core.error' && doc.rd_schema_items) {
    for (var ext in doc.rd_schema_items) emit(ext, null);
  }
}
